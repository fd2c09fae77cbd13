"""Session files through AppTest: the Save button is offered, a saved session restores the inputs,
settings and model, and bad or tampered files give a clear error, never a trace."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.session import SessionFile
from attnviz.ui import MODEL_KEY
from tests.helpers import click, open_link

DEFAULT = ("sentence-transformers/all-MiniLM-L6-v2", "auto", "float32")


def fresh(page: str = "attention") -> AppTest:
    return open_link({}, page)


def upload(at: AppTest, page: str, data: bytes) -> AppTest:
    at.file_uploader(key=f"session_upload_{page}").set_value(("session.json", data, "application/json"))
    return at.run()


def test_every_page_offers_save_and_load():
    for page in ("attention", "attribution", "bias"):
        at = fresh(page)
        if page == "attribution":
            at.multiselect(key="attribution_methods").set_value(["saliency"])
            click(at, "Explain")
        if page == "bias":
            click(at, "Run probe")
        assert not at.exception
        assert at.file_uploader(key=f"session_upload_{page}")
        assert [b for b in at.sidebar.get("download_button") if b.label == "Save session (.json)"], page


def test_a_saved_session_restores_the_view(tiny_model_dirs):
    # the state a user built, as the page writes it to its link (the same strings go into the file)
    first = fresh()
    first.segmented_control(key="attention_view").set_value("Heatmap").run()
    first.selectbox(key="attention_layer").set_value(3)
    first.selectbox(key="attention_head").set_value(9).run()
    long_text = "A long text that is kept in full by session files. " * 60  # too long for a link
    first.text_area[0].set_value(long_text)
    click(first, "Analyse")
    assert "text" not in first.query_params and any("Too long for a link" in c.value for c in first.sidebar.caption)
    state = dict(first.query_params)
    state["text"] = long_text
    data = SessionFile.build("attention", DEFAULT, state).to_json().encode()

    at = upload(fresh(), "attention", data)
    assert not at.exception and not at.error
    assert at.success and "Session loaded" in at.success[0].value
    assert at.segmented_control(key="attention_view").value == "Heatmap"
    assert (at.selectbox(key="attention_layer").value, at.selectbox(key="attention_head").value) == (3, 9)
    assert at.text_area[0].value == long_text
    assert at.get("plotly_chart")[0].proto.spec == first.get("plotly_chart")[0].proto.spec

    other = SessionFile.build("attention", (str(tiny_model_dirs["bert"]), "cpu", "float32"), {"layer": "1"})
    at = upload(fresh(), "attention", other.to_json().encode())
    assert not at.exception and at.session_state[MODEL_KEY] == (str(tiny_model_dirs["bert"]), "cpu", "float32")
    assert at.selectbox(key="attention_layer").value == 1


def good() -> dict:
    return json.loads(SessionFile.build("attention", DEFAULT, {"layer": "2"}).to_json())


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (json.dumps({**good(), "version": 99}).encode(), "version"),
    (json.dumps({**good(), "format": "other"}).encode(), "not an attnviz session"),
    (json.dumps({**good(), "state": {"layer": 2}}).encode(), "must be text"),
    (json.dumps({**good(), "page": "bias"}).encode(), "saved on the 'bias' page"),
])
def test_bad_files_give_a_clear_error(data, message):
    at = upload(fresh(), "attention", data)
    assert not at.exception
    assert at.error and message in at.error[0].value and "Could not load the session file" in at.error[0].value
    assert at.selectbox(key="attention_layer").value == 0  # nothing was applied


def test_tampered_settings_in_a_valid_file_are_ignored_by_name():
    doc = good()
    doc["state"] = {"layer": "77", "head": "4", "view": "<b>x</b>"}
    at = upload(fresh(), "attention", json.dumps(doc).encode())
    assert not at.exception and not at.error
    assert at.warning and "`layer`" in at.warning[0].value and "`view`" in at.warning[0].value
    assert "<b>" not in at.warning[0].value
    assert at.selectbox(key="attention_layer").value == 0 and at.selectbox(key="attention_head").value == 4
