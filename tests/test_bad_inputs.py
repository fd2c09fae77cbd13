"""The bad-input corpus (tests/bad_inputs.py) against the library: every input gives a result or an
InputError/ModelLoadError with a message saying what to do — never another exception."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import attnviz
import attnviz.bias as bias
from attnviz.errors import AttnvizError, InputError, ModelLoadError
from attnviz.models.targets import SimilarityTarget, ZeroShotTarget
from tests.bad_inputs import HOSTILE, MODEL_IDS, REFUSED, TEXTS, short


@pytest.mark.parametrize("name", list(TEXTS))
def test_attention_gives_a_result_or_an_input_error(default_handle, name):
    text = TEXTS[name]
    if name in REFUSED:
        with pytest.raises(InputError) as err:
            default_handle.attention(text)
        assert any(w in str(err.value) for w in ("empty", "limit")), str(err.value)
        return
    result = default_handle.attention(text)
    n = len(result.tokens)
    assert result.attentions.shape == (6, 12, n, n)
    assert np.isfinite(result.attentions).all()
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-4)  # rows are distributions
    assert n <= default_handle.max_length
    assert result.truncated == (result.n_input_tokens > default_handle.max_length)
    assert all("\x00" not in t for t in result.tokens)
    json.loads(result.to_json())  # every token survives serialisation


def test_twenty_thousand_words_are_truncated_not_refused(default_handle):
    result = default_handle.attention(TEXTS["long_20000_words"])
    assert result.truncated and result.n_input_tokens > 20_000
    assert len(result.tokens) == default_handle.max_length


IG_TEXTS = ["empty", "long_20000_words", "control_and_nul", "emoji", "rtl", "special_tokens", "over_char_limit"]


@pytest.mark.parametrize("method,name", [("saliency", n) for n in TEXTS] + [("integrated_gradients", n) for n in IG_TEXTS])
def test_gradient_attribution_gives_a_result_or_an_input_error(default_handle, name, method):
    text = TEXTS[name]
    if name in REFUSED:
        with pytest.raises(InputError):
            default_handle.attribute(text, method, n_steps=8) if method != "saliency" else \
                default_handle.attribute(text, method)
        return
    settings = {"n_steps": 8} if method == "integrated_gradients" else {}
    attr = default_handle.attribute(text, method, **settings)
    assert attr.scores.shape == (len(attr.tokens),) and np.isfinite(attr.scores).all()
    words = attr.to_words()
    assert np.isclose(words.scores.sum(), attr.scores.sum(), atol=1e-4)  # regrouping keeps the total


@pytest.mark.parametrize("name", ["emoji", "cjk", "rtl", "combining", "control_and_nul", "script_tag",
                                  "markdown_link", "special_tokens", "empty"])
def test_shap_gives_a_result_or_an_input_error(default_handle, name):
    text = short()[name]
    if name in REFUSED:
        with pytest.raises(InputError):
            default_handle.attribute(text, "shap", max_evals=40)
        return
    attr = default_handle.attribute(text, "shap", max_evals=40)
    assert np.isfinite(attr.scores).all()
    # Shapley efficiency: the base value plus the scores add up to f(x)
    assert attr.base_value + attr.scores.sum() == pytest.approx(attr.output, abs=1e-3)


@pytest.mark.parametrize("name", ["empty", "whitespace", "control_and_nul", "markdown_link", "over_char_limit"])
def test_sentence_pairs_and_targets_from_the_corpus(default_handle, name):
    text = TEXTS[name]
    # an empty/whitespace second sentence is "no pair"; a bad one is an InputError, never a crash
    try:
        result = default_handle.attention("A plain first sentence.", text)
        assert np.isfinite(result.attentions).all()
    except InputError as exc:
        assert name == "over_char_limit" and "limit" in str(exc)
    try:
        attr = default_handle.attribute("A plain first sentence.", "saliency", target=SimilarityTarget(text))
        assert np.isfinite(attr.scores).all()
    except InputError as exc:
        assert name in REFUSED, exc


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_nan_producing_temperature_is_refused(default_handle, bad):
    target = ZeroShotTarget.from_dict({"positive": ["good"], "negative": ["bad"]}, temperature=bad)
    with pytest.raises(InputError, match="temperature"):
        default_handle.attribute("A fine day.", "saliency", target=target)


def test_infinite_temperature_gives_finite_uniform_probabilities(default_handle):
    target = ZeroShotTarget.from_dict({"positive": ["good"], "negative": ["bad"]}, temperature=float("inf"))
    try:
        attr = default_handle.attribute("A fine day.", "saliency", target=target)
    except InputError as exc:
        assert "temperature" in str(exc)
        return
    assert attr.output == pytest.approx(0.5, abs=1e-6) and np.isfinite(attr.scores).all()


@pytest.mark.parametrize("kwargs", [{"n_steps": 0}, {"n_steps": -3}, {"n_steps": 10**9}, {"bogus": 1}])
def test_nonsense_settings_are_input_errors(default_handle, kwargs):
    with pytest.raises(AttnvizError) as err:
        default_handle.attribute("A fine day.", "integrated_gradients", **kwargs)
    assert str(err.value)


@pytest.mark.parametrize("layers", [[99], [-99], [], ["0"], [0.5]])
def test_bad_layer_choices_are_input_errors(default_handle, layers):
    with pytest.raises(InputError, match="layer"):
        default_handle.attention("A fine day.", layers=layers)


@pytest.mark.parametrize("bad", MODEL_IDS)
def test_unknown_and_malformed_model_ids(bad):
    with pytest.raises((InputError, ModelLoadError)) as err:
        attnviz.load_model(bad)
    message = str(err.value)
    assert 0 < len(message) < 600  # a 500-character id is cut in the message, not echoed whole
    assert "\x00" not in message


def test_remote_code_directory_is_refused_and_its_code_never_runs(tiny_model_dirs, tmp_path, monkeypatch):
    target = tmp_path / "remote"
    shutil.copytree(tiny_model_dirs["bert"], target)
    marker = tmp_path / "remote_code_ran.txt"
    cfg = json.loads((target / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}
    (target / "config.json").write_text(json.dumps(cfg))
    (target / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.delenv("ATTNVIZ_TRUST_REMOTE_CODE", raising=False)
    for flag in (None, False):
        with pytest.raises(ModelLoadError, match="ATTNVIZ_TRUST_REMOTE_CODE"):
            attnviz.load_model(target, trust_remote_code=flag)
    monkeypatch.setenv("ATTNVIZ_TRUST_REMOTE_CODE", "0")
    with pytest.raises(ModelLoadError):
        attnviz.load_model(target)
    assert not marker.exists(), "remote code ran without the operator flag"
    # the operator's flag is what lets it run; code that then fails is still a typed error
    monkeypatch.setenv("ATTNVIZ_TRUST_REMOTE_CODE", "1")
    with pytest.raises(ModelLoadError, match="remote code of"):
        attnviz.load_model(target)
    assert marker.exists(), "with the operator flag the model's own code is imported"


def test_operator_flag_is_what_enables_remote_code(monkeypatch):
    from attnviz.models.loading import operator_trusts_remote_code
    from attnviz.ui import apply_launch_flags

    # setenv, not delenv: delenv of an unset variable records nothing, so the flag set below would outlive the
    # test (and turned remote code on for every later test of the session)
    monkeypatch.setenv("ATTNVIZ_TRUST_REMOTE_CODE", "0")
    assert not operator_trusts_remote_code()
    apply_launch_flags(["--server.port", "1"])
    assert not operator_trusts_remote_code()
    apply_launch_flags(["--trust-remote-code"])
    assert operator_trusts_remote_code()


# ------------------------------------------------------------------- bias probes
def _terms(a: str, b: str) -> pd.DataFrame:
    return pd.DataFrame({"axis": ["x", "x"], "group": ["A", "B"], "term": [a, b]})


@pytest.mark.parametrize("name", ["emoji", "cjk", "rtl", "control_and_nul", "script_tag", "markdown_link",
                                  "format_strings", "html_entities"])
def test_counterfactual_probe_with_hostile_terms_and_templates(default_handle, name):
    text = short()[name][:200]
    templates = pd.DataFrame({"template": [f"{text} {{identity}} is here.", "The {identity} spoke."],
                              "polarity": ["neutral", "neutral"]})
    try:
        result = bias.counterfactual(default_handle, templates, _terms(text[:40] or "x", "teacher"),
                                     method="saliency", attention=True)
    except InputError as exc:  # e.g. a brace in the text is read as a second slot
        assert str(exc)
        return
    assert np.isfinite(result.swaps["gap"]).all() and len(result.swaps) > 0


@pytest.mark.parametrize("terms", [_terms("", "b"), _terms("same", "same"),
                                   pd.DataFrame({"axis": ["x"], "group": ["A"], "term": ["only"]}),
                                   pd.DataFrame({"wrong": [1]}), _terms("a" * 600, "b")])
def test_malformed_term_tables_are_input_errors(default_handle, terms):
    with pytest.raises(InputError):
        bias.counterfactual(default_handle, None, terms, method=None, attention=False)


@pytest.mark.parametrize("data", [b"", b"\x00\x01binary", "axis,group,term\nx,A,Müslim\n".encode("latin-1"),
                                  b"axis,group,term\n" + b"x,A,t\n" * 300_000, b'"unterminated,quote\n1,2',
                                  b"a,b\n1,2\n"])
def test_malformed_and_oversized_uploads_are_input_errors(data):
    with pytest.raises(InputError) as err:
        bias.read_csv(data, "terms")
    assert str(err.value)


@pytest.mark.parametrize("name", ["emoji", "cjk", "control_and_nul", "script_tag", "empty"])
def test_weat_with_corpus_words(default_handle, name):
    word = short()[name][:60]
    try:
        result = bias.weat(default_handle, [word, "rose"], ["ant"], ["good"], ["bad"], n_samples=100)
    except InputError as exc:
        assert name in REFUSED, exc
        return
    assert np.isfinite(result.effect_size) and abs(result.effect_size) <= 2  # WEAT's d is bounded by 2


def test_hostile_text_tokens_are_kept_as_text(default_handle):
    result = default_handle.attention(HOSTILE)
    pieces = "".join(t.removeprefix("##") for t, k in zip(result.tokens, result.kinds) if k not in ("cls", "sep"))
    assert pieces == HOSTILE.replace(" ", "").lower()  # every character kept; escaping happens when drawn
