"""Session files (attnviz.session): round trip with a real attention result; every kind of bad file is an
InputError with a message, never another exception."""

import json

import numpy as np
import pytest

from attnviz.attention import AttentionResult
from attnviz.errors import InputError
from attnviz.session import FORMAT, MAX_BYTES, VERSION, SessionFile

MODEL = ("sentence-transformers/all-MiniLM-L6-v2", "auto", "float32")


@pytest.fixture(scope="module")
def attention(default_handle):
    return default_handle.attention("The trophy didn't fit in the suitcase.")


def saved(attention) -> str:
    return SessionFile.build("attention", MODEL, {"text": "The trophy", "layer": "3", "heads": ["1", "2"]},
                             {"attention": attention.to_json()}).to_json()


def test_round_trip_keeps_inputs_settings_and_the_result(attention):
    text = saved(attention)
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["version"] == VERSION == 1 and doc["page"] == "attention"
    loaded = SessionFile.from_json(text.encode("utf-8"))
    assert loaded.model == MODEL and loaded.state == {"text": "The trophy", "layer": "3", "heads": ["1", "2"]}
    again = loaded.result("attention", AttentionResult)
    assert again.tokens == attention.tokens
    np.testing.assert_array_equal(again.attentions, attention.attentions)
    assert loaded.result("missing", AttentionResult) is None


def test_session_models_are_saved_without_a_model():
    doc = SessionFile.build("attention", ("session:lab [1]", "cpu", "float32"), {})
    assert doc.model is None and SessionFile.from_json(doc.to_json()).model is None


def test_oversized_results_are_left_out_and_named(monkeypatch):
    import attnviz.session as session

    monkeypatch.setattr(session, "MAX_RESULT_CHARS", 10)
    doc = SessionFile.build("attention", MODEL, {}, {"attention": json.dumps({"x": "y" * 20})})
    assert doc.results == {} and doc.omitted == ("attention",)


def tamper(attention, **changes) -> str:
    doc = json.loads(saved(attention))
    for key, value in changes.items():
        if value is KeyError:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


@pytest.mark.parametrize("changes, message", [
    ({"version": 2}, "version"),
    ({"version": "1"}, "version"),
    ({"version": True}, "version"),
    ({"version": KeyError}, "version"),
    ({"format": "something-else"}, "not an attnviz session"),
    ({"page": "../../etc"}, "page"),
    ({"page": 3}, "page"),
    ({"model": "x"}, "model"),
    ({"model": {"name": "m", "device": "tpu", "dtype": "float32"}}, "device"),
    ({"model": {"name": "session:lab", "device": "cpu", "dtype": "float32"}}, "model name"),
    ({"model": {"name": "![x](http://e.co/p.png)", "device": "cpu", "dtype": "float32"}}, "model name"),
    ({"state": ["text"]}, "state"),
    ({"state": {"text": 5}}, "text"),
    ({"state": {"Bad Name": "x"}}, "invalid name"),
    ({"state": {"text": "x" * 100_001}}, "text"),
    ({"results": {"attention": "not an object"}}, "result"),
    ({"results": []}, "results"),
    ({"omitted": "x"}, "omitted"),
    ({"created": 7}, "created"),
    ({"created": "![x](http://evil.example/x.png)"}, "created"),
    ({"version": "![x](http://e.co)"}, "no valid version"),
])
def test_tampered_files_are_input_errors(attention, changes, message):
    with pytest.raises(InputError, match=message):
        SessionFile.from_json(tamper(attention, **changes))


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b"[1, 2, 3]", "not an attnviz session"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    (b" " * (MAX_BYTES + 1), "larger than"),
])
def test_malformed_files_are_input_errors(data, message):
    with pytest.raises(InputError, match=message):
        SessionFile.from_json(data)


def test_a_damaged_stored_result_is_an_input_error(attention):
    doc = json.loads(saved(attention))
    doc["results"]["attention"]["attentions"]["shape"] = [1, 2, 3]
    loaded = SessionFile.from_json(json.dumps(doc))
    with pytest.raises(InputError, match="damaged"):
        loaded.result("attention", AttentionResult)
