"""Page logic through Streamlit's AppTest (no browser): every view renders, bad input gives a message."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import chart_specs, click, open_page, strings_in

VIEWS = ["Model view", "Head view", "Heatmap", "Mean over heads", "Rollout", "Head statistics"]


def analyse(at: AppTest, text: str, pair: str = "") -> AppTest:
    at.text_area[0].set_value(text)
    if pair:
        next(t for t in at.text_input if t.label.startswith("Second sentence")).set_value(pair)
    return click(at, "Analyse")


def test_default_model_opens_on_the_model_view():
    at = open_page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Attention"
    assert len(at.get("plotly_chart")) == 2  # model view grid + the enlarged head
    assert any("6 layers × 12 heads" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_renders(view):
    at = open_page()
    at.segmented_control(key="attention_view").set_value(view).run()
    assert not at.exception and not at.error
    if view == "Head view":
        assert len(at.get("iframe")) == 1
    else:
        assert len(at.get("plotly_chart")) >= 1
    if view == "Head statistics":
        assert len(at.dataframe) >= 1


def test_layer_head_and_hidden_specials_change_the_heatmap():
    at = open_page()
    at.segmented_control(key="attention_view").set_value("Heatmap").run()
    before = at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="attention_layer").set_value(4)
    at.selectbox(key="attention_head").set_value(7)
    at.toggle(key="attention_hide_special").set_value(True).run()
    after = at.get("plotly_chart")[0].proto.spec
    assert not at.exception and before != after
    heatmap = chart_specs(at)[0]
    assert "Layer 4 · head 7" in heatmap["layout"]["title"]["text"] and "[CLS]" not in strings_in(heatmap)


def test_sentence_pair_and_hostile_text_are_shown_as_text():
    at = analyse(open_page(), "<script>alert('x')</script> <img src=x onerror=alert(1)>", "[link](http://evil)")
    assert not at.exception and not at.error
    heatmap = chart_specs(at)[1]["data"][0]
    labels = heatmap["x"]
    assert "&lt;" in labels and "script" in labels  # '<' became a token, escaped for plotly's markup
    assert not any("<" in label for label in labels)


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_empty_text_gives_a_message_not_a_trace(text):
    at = analyse(open_page(), text)
    assert not at.exception
    assert at.error and "empty" in at.error[0].value


def test_long_text_is_truncated_with_a_notice():
    at = analyse(open_page(), "tokens " * 700)
    assert not at.exception and not at.error
    assert at.warning and "reads at most 512" in at.warning[0].value


def test_unknown_model_is_an_error_message_and_the_default_is_one_click_away():
    at = open_page(model_key=("nobody/does-not-exist", "auto", "float32"))
    assert not at.exception
    assert at.error and "not in the local Hugging Face cache" in at.error[0].value
    back = [b for b in at.button if "default" in b.label]
    assert back
    back[0].click().run()
    assert not at.error and len(at.get("plotly_chart")) == 2


def test_encoder_decoder_model_offers_decoder_and_cross_attention(tiny_model_dirs):
    at = open_page(model_key=(str(tiny_model_dirs["bart"]), "cpu", "float32"))
    assert not at.exception and not at.error
    assert any("Decoder text" in t.label for t in at.text_input)
    at.selectbox(key="attention_stack").set_value("cross").run()
    assert not at.exception and not at.error
    assert "cross-attention" in strings_in(chart_specs(at)[1])


def test_every_submitted_text_is_analysed_in_turn():
    """A text area without a key lost every other submission (its identity changed with its value)."""
    at = open_page()
    for text in ("Cats smile.", "Dogs hold hands.", "Birds dance at noon."):
        at = analyse(at, text)
        labels = chart_specs(at)[1]["data"][0]["x"]
        assert text.split()[1].strip(".") in labels, (text, labels)
