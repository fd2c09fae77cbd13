"""The Compare-two page through AppTest: a counterfactual pair, two models, gaps and bad input."""

import numpy as np
from streamlit.testing.v1 import AppTest

import attnviz
from tests.helpers import chart_specs, click, open_link, open_page, z_of

FAST = ["input_x_gradient", "saliency"]


def compare(at: AppTest, text_a=None, text_b=None, model_b=None, methods=FAST) -> AppTest:
    if text_a is not None:
        at.text_area(key="compare_text_a").set_value(text_a)
    if text_b is not None:
        at.text_area(key="compare_text_b").set_value(text_b)
    if model_b is not None:
        at.text_input(key="compare_model_b").set_value(model_b)
    at.multiselect(key="compare_methods").set_value(methods)
    return click(at, "Compare")


def test_counterfactual_pair_shows_both_sides_and_the_difference(default_handle):
    at = compare(open_page("compare_two"))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Compare two"
    specs = chart_specs(at)
    assert len(specs) == 6  # A, B, B − A, head grid, attribution B − A, bars
    diff_spec = specs[2]
    assert "he→she" in diff_spec["data"][0]["x"] and "all 7 tokens aligned" in diff_spec["layout"]["title"]["text"]
    # the page's default view: layer 0, mean over heads — check B − A against a direct extraction
    a = default_handle.attention("He is a nurse.").attentions[0].mean(0)
    b = default_handle.attention("She is a nurse.").attentions[0].mean(0)
    z = z_of(diff_spec)
    np.testing.assert_allclose(z, b - a, atol=1e-5)
    assert any("A's predicted label" in c.value or "predicted for A" in c.value for c in at.caption)


def test_head_choice_and_gaps_are_reflected():
    at = open_page("compare_two")
    at = compare(at, "The doctor read.", "The young doctor read.")
    assert not at.exception and not at.error
    at.selectbox(key="compare_head").set_value(3)
    at.selectbox(key="compare_layer").set_value(5)
    at = at.run()
    spec = chart_specs(at)[2]
    assert "layer 5 · head 3" in spec["layout"]["title"]["text"]
    assert "1 only in B" in spec["layout"]["title"]["text"]
    assert any("young (B only)" in x for x in spec["data"][0]["x"])


def test_two_models_compare_words_and_mean_over_heads(tiny_model_dirs):
    at = compare(open_page("compare_two"), "Nurses help.", "Nurses help.", model_b=str(tiny_model_dirs["bert"]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("mean over heads per aligned word" in c.value for c in at.caption)
    assert [o for o in at.selectbox(key="compare_head").options] == ["mean over heads"]
    spec = chart_specs(at)[2]
    assert "mean of all layers (A: 6, B: 2)" in spec["layout"]["title"]["text"]
    assert at.radio(key="compare_scale_two_models").value == "share"


def test_missing_model_b_and_empty_text_are_messages(tmp_path):
    at = compare(open_page("compare_two"), model_b=str(tmp_path / "no-such-model"))
    assert not at.exception and at.error
    at = compare(open_page("compare_two"), text_b="   ")
    assert not at.exception and at.error and "empty" in at.error[0].value


def test_lab_or_other_model_as_a_is_used_for_both_sides(tiny_model_dirs):
    key = (str(tiny_model_dirs["bert-classifier"]), "cpu", "float32")
    at = compare(open_page("compare_two", key), "Good film.", "Bad film.")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(attnviz.load_model(key[0]).name in c.value for c in at.caption)


# ------------------------------------------------------------------ links, session files, guidance, presenter
LINK = {"a": "The doctor read.", "b": "The young doctor read.", "tab": "Attribution", "layer": "5", "head": "3",
        "method": ["saliency", "input_x_gradient"], "scale": "share", "bars": "input_x_gradient"}


def test_a_link_reopens_the_same_comparison(default_handle):
    at = open_link(LINK, "compare_two")
    assert not at.exception and not at.error and not at.warning, [w.value for w in at.warning]
    assert (at.text_area(key="compare_text_a").value, at.text_area(key="compare_text_b").value) == (
        "The doctor read.", "The young doctor read.")
    assert at.session_state["compare_tab"] == "Attribution"
    assert (at.selectbox(key="compare_layer").value, at.selectbox(key="compare_head").value) == (5, 3)
    assert at.multiselect(key="compare_methods").value == ["saliency", "input_x_gradient"]
    assert at.radio(key="compare_scale_one_model").value == "share"
    assert at.selectbox(key="compare_bars_method").value == "input_x_gradient"
    specs = chart_specs(at)
    assert "layer 5 · head 3" in specs[2]["layout"]["title"]["text"]
    a = default_handle.attention("The doctor read.").attentions[5, 3]
    b = default_handle.attention("The young doctor read.").attentions[5, 3]
    z = z_of(specs[2])  # B − A with a blank row/column for "young (B only)"
    keep_b = [i for i in range(b.shape[0]) if i != 2]  # [CLS] the young doctor … : "young" is B's token 2
    np.testing.assert_allclose(z[np.ix_(keep_b, keep_b)], b[np.ix_(keep_b, keep_b)] - a, atol=1e-5)
    assert "(share)" in specs[4]["layout"]["title"]["text"]
    assert dict(at.query_params) == LINK  # the URL carries exactly the link's settings
    # the link the sidebar offers reopens exactly this view in a fresh session
    again = open_link(dict(at.query_params), "compare_two")
    assert not again.exception and not again.warning
    assert [c.proto.spec for c in again.get("plotly_chart")] == [c.proto.spec for c in at.get("plotly_chart")]


def test_the_url_follows_the_widgets_and_defaults_stay_out():
    at = open_link({}, "compare_two")
    assert not at.exception and at.query_params == {}  # all defaults: a bare link
    at.radio(key="compare_level").set_value("word").run()
    at.selectbox(key="compare_head").set_value(7).run()
    assert at.query_params == {"align": "word", "head": "7"}
    assert "align=word" in at.sidebar.code[0].value and "head=7" in at.sidebar.code[0].value
    at.selectbox(key="compare_head").set_value("mean").run()
    assert at.query_params == {"align": "word"}


def test_tampered_compare_links_are_ignored_with_a_notice():
    at = open_link({"layer": "99", "head": "<b>x</b>", "tab": "Secrets", "method": ["saliency", "rm -rf /"],
                    "model_b": "[click](javascript:alert(1))", "scale": "huge", "a": "Cats purr."}, "compare_two")
    assert not at.exception and not at.error
    warning = " ".join(w.value for w in at.warning)
    for name in ("layer", "head", "tab", "method", "model_b", "scale"):
        assert f"`{name}`" in warning, name
    assert "javascript" not in warning and "<b>" not in warning and "rm -rf" not in warning  # never echoed
    assert at.text_area(key="compare_text_a").value == "Cats purr."  # the valid parameter still applies
    assert at.text_input(key="compare_model_b").value == ""
    assert (at.selectbox(key="compare_layer").value, at.selectbox(key="compare_head").value) == (0, "mean")
    assert at.multiselect(key="compare_methods").value == ["integrated_gradients", "input_x_gradient"]
    assert at.session_state["compare_tab"] == "Attention"


def test_a_session_file_restores_the_comparison(tiny_model_dirs):
    from attnviz.session import SessionFile

    first = open_link({"method": ["saliency"]}, "compare_two")
    assert [b for b in first.sidebar.get("download_button") if b.label == "Save session (.json)"]
    first.text_area(key="compare_text_a").set_value("A long first text. " * 120)  # too long for a link
    first.text_area(key="compare_text_b").set_value("A long second text. " * 120)
    click(first, "Compare")
    first.selectbox(key="compare_layer").set_value(2).run()
    assert "a" not in first.query_params and any("Too long for a link" in c.value for c in first.sidebar.caption)
    state = {**first.query_params, "a": "A long first text. " * 120, "b": "A long second text. " * 120}
    data = SessionFile.build("compare_two", ("sentence-transformers/all-MiniLM-L6-v2", "auto", "float32"),
                             state).to_json().encode()

    at = open_link({}, "compare_two")
    at.file_uploader(key="session_upload_compare_two").set_value(("s.json", data, "application/json")).run()
    assert not at.exception and not at.error and at.success and "Session loaded" in at.success[0].value
    assert at.text_area(key="compare_text_a").value == "A long first text. " * 120
    assert at.selectbox(key="compare_layer").value == 2 and at.multiselect(key="compare_methods").value == ["saliency"]
    assert at.get("plotly_chart")[2].proto.spec == first.get("plotly_chart")[2].proto.spec

    bad = SessionFile.build("compare_two", None, {"layer": "77", "model_b": "session:lab [1234abcd]"})
    at = open_link({}, "compare_two")
    at.file_uploader(key="session_upload_compare_two").set_value(("s.json", bad.to_json().encode(),
                                                                  "application/json")).run()
    assert not at.exception and not at.error
    assert any("`layer`" in w.value and "`model_b`" in w.value for w in at.warning)
    assert at.selectbox(key="compare_layer").value == 0 and at.text_input(key="compare_model_b").value == ""


def test_guidance_for_both_tabs_is_shown():
    from attnviz.guidance import GUIDANCE

    at = open_link({"method": ["saliency"]}, "compare_two")
    assert not at.exception
    guides = [e for e in at.expander if e.label == "What am I looking at?"]
    texts = [m.value for e in guides for m in e.markdown]
    assert GUIDANCE["compare_two/attention"] in texts and GUIDANCE["compare_two/attribution"] in texts


def test_presenter_mode_hides_the_advanced_controls_but_keeps_their_values():
    at = open_link({"presenter": "1", "method": ["saliency"], "scale": "share"}, "compare_two")
    assert not at.exception and not at.error
    assert not at.main.get("download_button")
    assert not [r for r in at.radio if r.key == "compare_scale_one_model"]
    assert "(share)" in chart_specs(at)[4]["layout"]["title"]["text"]  # the link's scale still applies
    assert at.query_params["scale"] == "share"
    at.toggle(key="attnviz_presenter").set_value(False).run()
    assert at.radio(key="compare_scale_one_model").value == "share" and at.main.get("download_button")
