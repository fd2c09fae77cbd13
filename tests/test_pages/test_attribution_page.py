"""The Attribution page through AppTest: methods, agreement, faithfulness, targets and bad input."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import chart_specs, click, open_page, strings_in

FAST = ["integrated_gradients", "input_x_gradient", "rollout", "grad_attention"]


def explain(at: AppTest, text: str | None = None, methods=None) -> AppTest:
    if text is not None:
        at.text_area[0].set_value(text)
    if methods is not None:
        at.multiselect[0].set_value(methods)
    return click(at, "Explain")


def test_default_methods_render_with_agreement_and_faithfulness():
    at = open_page("attribution")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Attribution"
    assert any("zero-shot" in m.value for m in at.markdown)
    specs = chart_specs(at)
    assert len(specs) == 4  # token rows, agreement, faithfulness bars, curves
    assert "Integrated Gradients" in strings_in(specs[0]) and "Grad × attention" in strings_in(specs[0])
    tables = [d.value for d in at.dataframe]
    assert any("random ranking" in t["method"].tolist() for t in tables if "method" in t)


def test_custom_labels_and_token_level():
    at = open_page("attribution")
    at.text_area[1].set_value("sports: football | a match\npolitics: an election | parliament")
    units = next(r for r in at.radio if r.label == "Units")
    units.set_value("token")
    at = explain(at, "The striker scored twice in the final.", FAST)
    assert not at.exception and not at.error
    assert any("p(sports | x)" in m.value for m in at.markdown)


def test_single_method_explains_without_agreement():
    at = explain(open_page("attribution"), "Quiet rain.", ["occlusion"])
    assert not at.exception and not at.error
    assert any("two or more" in i.value for i in at.info)


def test_bad_labels_and_empty_text_are_messages():
    at = open_page("attribution")
    at.text_area[1].set_value("only: one label")
    at = explain(at, None, FAST)
    assert not at.exception and at.error and "two labels" in at.error[0].value
    at = explain(open_page("attribution"), "   ", FAST)
    assert not at.exception and at.error and "empty" in at.error[0].value


@pytest.mark.parametrize("family,text,target_label", [
    ("bert-classifier", "Some words.", "Class"),
    ("bert-mlm", "Paris is the [MASK] of France.", "Token to explain (empty = the top prediction)"),
    ("gpt2", "Once upon a", "Token to explain (empty = the top prediction)"),
])
def test_other_model_kinds_get_their_own_target(tiny_model_dirs, family, text, target_label):
    at = open_page("attribution", (str(tiny_model_dirs[family]), "cpu", "float32"))
    labels = [w.label for w in list(at.selectbox) + list(at.text_input)]
    assert target_label in labels
    at = explain(at, text, FAST)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 4


def test_new_attention_methods_are_offered_and_explained():
    at = open_page("attribution")
    assert {"Attention flow", "Norm-based attention", "Value zeroing"} <= set(at.multiselect[0].options)
    at = explain(at, "Quiet rain again.", ["rollout", "attention_flow", "attention_norm", "value_zeroing"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Attention flow" in strings_in(chart_specs(at)[0])
    texts = " ".join(m.value for m in at.markdown)
    assert "Kobayashi" in texts and "Mohebbi" in texts and "Abnar" in texts
