"""Link state (attnviz.sharing): every parameter kind round-trips, tampered values are rejected by name."""

import pytest

from attnviz.errors import InputError
from attnviz.sharing import (
    MAX_TEXT_IN_LINK,
    StateParam,
    dump_model,
    dump_state,
    parse_model,
    parse_state,
)

PARAMS = [
    StateParam.text("text", "k_text", default="hello"),
    StateParam.integer("layer", "k_layer", 0, 5, default=0),
    StateParam.number("tau", "k_tau", 0.005, 1.0, default=0.05),
    StateParam.boolean("hide", "k_hide"),
    StateParam.choice("view", "k_view", ["Model view", "Head view"], default="Model view"),
    StateParam.choice("lr", "k_lr", [1e-4, 3e-3]),
    StateParam.choices("method", "k_methods", ["shap", "lime", "occlusion"], default=["shap"]),
]


def as_query(dumped):
    """What st.query_params.get_all gives back: a list of strings per name."""
    return {k: [v] if isinstance(v, str) else list(v) for k, v in dumped.items()}


def test_values_round_trip_through_link_strings():
    state = {"k_text": "Ünïcode & spaces\nand a newline", "k_layer": 4, "k_tau": 0.125, "k_hide": True,
             "k_view": "Head view", "k_lr": 3e-3, "k_methods": ["lime", "occlusion"]}
    dumped = dump_state(PARAMS, state)
    assert dumped["layer"] == "4" and dumped["hide"] == "1" and dumped["method"] == ["lime", "occlusion"]
    values, rejected = parse_state(PARAMS, as_query(dumped))
    assert rejected == [] and values == state
    assert type(values["k_layer"]) is int and type(values["k_lr"]) is float


def test_defaults_and_absent_keys_are_left_out():
    assert dump_state(PARAMS, {"k_text": "hello", "k_layer": 0, "k_methods": ["shap"], "k_hide": False}) == {}
    assert dump_state(PARAMS, {}) == {}


@pytest.mark.parametrize("name, raw", [
    ("layer", "6"), ("layer", "-1"), ("layer", "2.5"), ("layer", "x"), ("layer", "1e400"),
    ("tau", "nan"), ("tau", "inf"), ("tau", "2"), ("hide", "maybe"), ("view", "<script>"),
    ("lr", "0.5"), ("method", ["shap", "rm -rf"]), ("text", "a\x00b"), ("text", "x" * (MAX_TEXT_IN_LINK + 1)),
])
def test_tampered_values_are_rejected_by_name(name, raw):
    neighbour = ("hide", ["1"]) if name != "hide" else ("layer", ["3"])  # a valid value next to the bad one
    query = {name: raw if isinstance(raw, list) else [raw], neighbour[0]: neighbour[1]}
    values, rejected = parse_state(PARAMS, query)
    assert rejected == [name]
    assert next(p.key for p in PARAMS if p.name == name) not in values
    assert list(values) == [next(p.key for p in PARAMS if p.name == neighbour[0])]


def test_parse_raises_input_error_directly():
    with pytest.raises(InputError):
        StateParam.integer("layer", "k", 0, 3).parse("9")
    with pytest.raises(ValueError):
        StateParam("model", "k", "text")  # app-level names are reserved
    with pytest.raises(ValueError):
        StateParam("x", "k", "colour")


def test_long_texts_stay_out_of_links_but_go_into_files():
    param = StateParam.text("text", "k")
    long = "word " * 1000
    assert param.dump(long) is None
    assert param.dump(long, in_file=True) == long
    assert param.parse(long, in_file=True) == long
    with pytest.raises(InputError):
        param.parse(long)


DEFAULT = ("bundled", "auto", "float32")


def test_model_key_round_trips_and_session_models_are_not_shared():
    key = ("prajjwal1/bert-tiny", "cpu", "float16")
    query = as_query(dump_model(key, DEFAULT))
    assert parse_model(query, DEFAULT) == (key, [])
    assert dump_model(DEFAULT, DEFAULT) == {}
    for name in ("/home/me/models/bert tiny", "C:\\models\\bert", "~/m/v1.2", "org/model-v2_x"):
        assert parse_model({"model": [name]}, DEFAULT) == ((name, "auto", "float32"), [])
    assert dump_model(("session:lab [abc]", "cpu", "float32"), DEFAULT) == {}
    assert parse_model({}, DEFAULT) == (None, [])


@pytest.mark.parametrize("query, rejected", [
    ({"model": ["session:lab [1]"]}, ["model"]),
    ({"model": ["x" * 301]}, ["model"]),
    ({"model": ["bad\nname"]}, ["model"]),
    ({"model": ["![x](http://evil.example/p.png)"]}, ["model"]),
    ({"model": ["<img src=x onerror=alert(1)>"]}, ["model"]),
    ({"device": ["tpu"]}, ["device"]),
    ({"dtype": ["int4"]}, ["dtype"]),
])
def test_tampered_model_parameters_are_rejected(query, rejected):
    key, bad = parse_model(query, DEFAULT)
    assert key is None and bad == rejected


def test_a_valid_device_survives_a_bad_model_name():
    key, bad = parse_model({"model": ["session:x"], "device": ["cpu"]}, DEFAULT)
    assert key == ("bundled", "cpu", "float32") and bad == ["model"]


@pytest.mark.parametrize("raw, ok", [
    ("gpt2", True), ("", True), ("  ", True), ("/models/my bert", True), ("org/model-v1.2", True),
    ("session:lab [1234abcd]", False), ("[click](javascript:alert(1))", False), ("a<b", False), ("x" * 400, False),
])
def test_a_second_model_name_in_a_link_is_a_hub_id_or_a_path(raw, ok):
    param = StateParam.model("model_b", "k_model_b")
    values, rejected = parse_state([param], {"model_b": [raw]})
    assert (values, rejected) == (({"k_model_b": raw}, []) if ok else ({}, ["model_b"]))
    assert dump_state([param], {"k_model_b": raw}) == ({"model_b": raw} if ok and raw else {})
