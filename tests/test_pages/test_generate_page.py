"""The Generate page through AppTest: the encoder explanation, a tiny GPT-2's continuation, token choice."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.generation import attribute_generated, generate
from attnviz.ui import MODEL_KEY

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(model_key=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if model_key is not None:
        at.session_state[MODEL_KEY] = model_key
    at.run()
    return at.switch_page("pages/generate.py").run()


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def z_of(spec) -> np.ndarray:
    z = spec["data"][0]["z"]
    if isinstance(z, dict):
        shape = tuple(int(v) for v in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(float)
    return np.asarray(z, dtype=float)


@pytest.fixture(scope="module")
def gpt2_key(tiny_model_dirs):
    return (str(tiny_model_dirs["gpt2"]), "cpu", "float32")


def test_encoder_model_gets_an_explanation_not_a_failure():
    at = open_page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Generate"
    assert at.info and "causal language model" in at.info[0].value and "gpt2" in at.info[0].value
    assert not at.get("plotly_chart")


def test_tiny_gpt2_generates_and_the_view_follows_the_chosen_token(gpt2_key):
    at = open_page(gpt2_key)
    at.text_area(key="generate_prompt").set_value("Seven green dogs")
    at.slider(key="generate_max_new").set_value(5)
    next(b for b in at.button if b.label == "Generate").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    expected = generate(handle, "Seven green dogs", max_new_tokens=5)
    assert at.text[0].value == expected.continuation
    at.select_slider(key="generate_step").set_value(3)
    at.selectbox(key="generate_method").set_value("input_x_gradient")
    at = at.run()
    assert not at.exception and not at.error
    probs, rows, attribution = specs(at)[:3]
    colors = probs["data"][0]["marker"]["color"]
    assert colors[3] != colors[0]  # the chosen token is highlighted
    top_token, top_p = expected.alternatives[3][0]
    assert any(c.value.startswith("Step 3, the model's most probable tokens") and f"{top_p:.3g}" in c.value
               for c in at.caption)
    np.testing.assert_allclose(z_of(rows), expected.attention_row(3).mean(1), atol=1e-6)
    reference = attribute_generated(handle, expected, 3, "input_x_gradient")
    assert any(f"{reference.output:.4g}" in m.value and "p(next" in m.value for m in at.markdown)
    assert z_of(attribution).shape == (1, expected.n_prompt + 3)
    at.selectbox(key="generate_layer").set_value(1)
    at.radio(key="generate_row").set_value("own")
    at = at.run()
    np.testing.assert_allclose(z_of(specs(at)[1]), expected.attention_row(3, which="own")[1], atol=1e-6)


def test_sampling_with_a_seed_and_an_empty_prompt(gpt2_key):
    at = open_page(gpt2_key)
    at.radio(key="generate_decoding").set_value("sampling")
    at.number_input(key="generate_seed").set_value(7)
    at.slider(key="generate_max_new").set_value(4)
    next(b for b in at.button if b.label == "Generate").click()
    at = at.run()
    assert not at.exception and not at.error
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    assert at.text[0].value == generate(handle, at.text_area(key="generate_prompt").value, max_new_tokens=4,
                                        do_sample=True, seed=7).continuation
    at.text_area(key="generate_prompt").set_value("  ")
    next(b for b in at.button if b.label == "Generate").click()
    at = at.run()
    assert not at.exception and at.error and "empty" in at.error[0].value
