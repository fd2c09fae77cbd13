"""Shareable links through AppTest: a link's settings open the same view, the URL follows the widgets,
tampered links are ignored with a notice, and the model travels in the link."""

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.ui import MODEL_KEY
from tests.helpers import chart_specs, click, open_link, strings_in


def heatmap_title(at: AppTest) -> str:
    return chart_specs(at)[0]["layout"]["title"]["text"]


def test_attention_link_opens_the_same_view():
    at = open_link({"text": "Otters juggle pebbles.", "layer": "4", "head": "7", "view": "Heatmap",
                    "hide_special": "1"})
    assert not at.exception and not at.error and not at.warning
    assert at.text_area[0].value == "Otters juggle pebbles."
    assert at.selectbox(key="attention_layer").value == 4 and at.selectbox(key="attention_head").value == 7
    assert at.segmented_control(key="attention_view").value == "Heatmap"
    assert at.toggle(key="attention_hide_special").value is True
    spec = strings_in(chart_specs(at)[0])
    assert heatmap_title(at).startswith("Layer 4 · head 7")
    assert "pebbles" in spec and "[CLS]" not in spec


def test_the_url_and_the_copy_link_follow_the_widgets():
    at = open_link({})
    assert at.query_params == {}  # all defaults: a bare link
    at.segmented_control(key="attention_view").set_value("Heatmap").run()
    at.selectbox(key="attention_layer").set_value(2)
    at.selectbox(key="attention_head").set_value(11).run()
    at.text_area[0].set_value("Herons wait patiently.")
    click(at, "Analyse")
    assert at.query_params == {"view": "Heatmap", "layer": "2", "head": "11", "text": "Herons wait patiently."}
    link = at.sidebar.code[0].value
    assert "view=Heatmap" in link and "layer=2" in link and "head=11" in link
    assert "text=Herons%20wait%20patiently." in link


def test_a_link_round_trips_into_a_fresh_session():
    first = open_link({})
    first.segmented_control(key="attention_view").set_value("Mean over heads").run()
    first.selectbox(key="attention_layer").set_value(5).run()
    first.text_area[0].set_value("Two words.")
    click(first, "Analyse")
    second = open_link({k: v for k, v in first.query_params.items()})
    assert not second.exception and not second.warning
    assert second.segmented_control(key="attention_view").value == "Mean over heads"
    assert second.selectbox(key="attention_layer").value == 5 and second.text_area[0].value == "Two words."
    assert second.get("plotly_chart")[0].proto.spec == first.get("plotly_chart")[0].proto.spec


@pytest.mark.parametrize("query, bad", [
    ({"layer": "99"}, "layer"), ({"head": "-1"}, "head"), ({"view": "<img src=x onerror=alert(1)>"}, "view"),
    ({"hide_special": "perhaps"}, "hide_special"), ({"text": "x" * 5000}, "text"),
    ({"model": "session:lab [1234]"}, "model"), ({"device": "tpu"}, "device"), ({"presenter": "2"}, "presenter"),
])
def test_tampered_links_are_ignored_with_a_notice(query, bad):
    at = open_link({**query, "head": "3"} if "head" not in query else query)
    assert not at.exception and not at.error
    assert any(f"`{bad}`" in w.value for w in at.warning)
    assert not any("<img" in w.value for w in at.warning)  # values are never echoed
    assert at.selectbox(key="attention_layer").value == 0 and MODEL_KEY not in at.session_state  # the default model
    if "head" not in query:
        assert at.selectbox(key="attention_head").value == 3  # the valid neighbour still applies


def test_the_model_travels_in_the_link(tiny_model_dirs):
    path = str(tiny_model_dirs["bert"])
    at = open_link({"model": path, "device": "cpu", "layer": "1"})
    assert not at.exception and not at.error
    assert at.session_state[MODEL_KEY] == (path, "cpu", "float32")
    assert at.query_params["model"] == path and at.query_params["device"] == "cpu"
    assert at.selectbox(key="attention_layer").value == 1


def test_a_session_lab_model_is_left_out_of_the_link(default_handle):
    at = open_link({})
    at.session_state[MODEL_KEY] = ("session:lab [abcd1234]", "cpu", "float32")
    at.session_state["attnviz_session_models"] = {"session:lab [abcd1234]": default_handle}
    at.run()
    assert not at.exception and "model" not in at.query_params
    assert any("lab model is not in the link" in c.value for c in at.sidebar.caption)


def test_attribution_link():
    at = open_link({"text": "Terrible pacing but a wonderful ending.", "method": ["saliency", "rollout"],
                    "units": "token"}, page="attribution")
    assert not at.exception and not at.error and not at.warning
    assert at.multiselect(key="attribution_methods").value == ["saliency", "rollout"]
    assert at.radio(key="attribution_level").value == "token"
    assert "wonderful" in strings_in(chart_specs(at)[0])
    assert at.query_params["method"] == ["saliency", "rollout"]


def test_bias_and_lab_links():
    at = open_link({"probe": "weat", "steps": "8"}, page="bias")
    assert not at.exception and not at.warning and at.radio(key="bias_probe").value == "weat"
    assert at.query_params == {"probe": "weat", "steps": "8"}
    at = open_link({"task": "copy", "layers": "1", "lr": "0.01", "shift": "1"}, page="lab")
    assert not at.exception and not at.warning
    assert at.selectbox(key="lab_task").value == "copy" and at.selectbox(key="lab_layers").value == 1
    assert at.select_slider(key="lab_lr").value == 0.01 and at.toggle(key="lab_shift").value is True
    assert at.session_state["lab_trainer"].task.name == "copy"  # the model is built from the link's settings
    assert at.session_state["lab_trainer"].config.num_hidden_layers == 1


def test_presenter_mode_from_the_link():
    at = open_link({"presenter": "1", "view": "Head statistics"})
    assert not at.exception
    assert at.toggle(key="attnviz_presenter").value is True and at.query_params["presenter"] == "1"
    assert any("font-size" in m.value for m in at.markdown)  # the fixed stylesheet
    assert not [e for e in at.expander if e.label == "Tokens"] and not at.main.get("download_button")
    assert [e for e in at.sidebar.expander if e.label == "Change model"]  # the model picker folds away
    at.toggle(key="attnviz_presenter").set_value(False).run()
    assert "presenter" not in at.query_params and [e for e in at.expander if e.label == "Tokens"]
    assert not any("font-size" in m.value for m in at.markdown)
