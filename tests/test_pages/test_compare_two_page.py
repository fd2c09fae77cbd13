"""The Compare-two page through AppTest: a counterfactual pair, two models, gaps and bad input."""

from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.ui import MODEL_KEY

APP = str(Path(__file__).resolve().parents[2] / "app.py")
FAST = ["input_x_gradient", "saliency"]


def open_page(model_key=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if model_key is not None:
        at.session_state[MODEL_KEY] = model_key
    at.run()
    return at.switch_page("pages/compare_two.py").run()


def compare(at: AppTest, text_a=None, text_b=None, model_b=None, methods=FAST) -> AppTest:
    if text_a is not None:
        at.text_area(key="compare_text_a").set_value(text_a)
    if text_b is not None:
        at.text_area(key="compare_text_b").set_value(text_b)
    if model_b is not None:
        at.text_input(key="compare_model_b").set_value(model_b)
    at.multiselect(key="compare_methods").set_value(methods)
    next(b for b in at.button if b.label == "Compare").click()
    return at.run()


def charts(at: AppTest) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_counterfactual_pair_shows_both_sides_and_the_difference(default_handle):
    at = compare(open_page())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Compare two"
    specs = charts(at)
    assert len(specs) == 6  # A, B, B − A, head grid, attribution B − A, bars
    diff_spec = specs[2]
    assert "he→she" in diff_spec["data"][0]["x"] and "all 7 tokens aligned" in diff_spec["layout"]["title"]["text"]
    # the page's default view: layer 0, mean over heads — check B − A against a direct extraction
    a = default_handle.attention("He is a nurse.").attentions[0].mean(0)
    b = default_handle.attention("She is a nurse.").attentions[0].mean(0)
    z = _z(diff_spec)
    np.testing.assert_allclose(z, b - a, atol=1e-5)
    assert any("A's predicted label" in c.value or "predicted for A" in c.value for c in at.caption)


def _z(spec):
    import base64

    z = spec["data"][0]["z"]
    if isinstance(z, dict):  # plotly's typed array
        shape = tuple(int(v) for v in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(float)
    return np.asarray(z, dtype=float)


def test_head_choice_and_gaps_are_reflected():
    at = open_page()
    at = compare(at, "The doctor read.", "The young doctor read.")
    assert not at.exception and not at.error
    at.selectbox(key="compare_head").set_value(3)
    at.selectbox(key="compare_layer").set_value(5)
    at = at.run()
    spec = charts(at)[2]
    assert "layer 5 · head 3" in spec["layout"]["title"]["text"]
    assert "1 only in B" in spec["layout"]["title"]["text"]
    assert any("young (B only)" in x for x in spec["data"][0]["x"])


def test_two_models_compare_words_and_mean_over_heads(tiny_model_dirs):
    at = compare(open_page(), "Nurses help.", "Nurses help.", model_b=str(tiny_model_dirs["bert"]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("mean over heads per aligned word" in c.value for c in at.caption)
    assert [o for o in at.selectbox(key="compare_head").options] == ["mean over heads"]
    spec = charts(at)[2]
    assert "mean of all layers (A: 6, B: 2)" in spec["layout"]["title"]["text"]
    assert at.radio(key="compare_scale_two_models").value == "share"


def test_missing_model_b_and_empty_text_are_messages(tmp_path):
    at = compare(open_page(), model_b=str(tmp_path / "no-such-model"))
    assert not at.exception and at.error
    at = compare(open_page(), text_b="   ")
    assert not at.exception and at.error and "empty" in at.error[0].value


def test_lab_or_other_model_as_a_is_used_for_both_sides(tiny_model_dirs):
    key = (str(tiny_model_dirs["bert-classifier"]), "cpu", "float32")
    at = compare(open_page(key), "Good film.", "Bad film.")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(attnviz.load_model(key[0]).name in c.value for c in at.caption)
