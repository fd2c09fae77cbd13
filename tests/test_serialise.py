"""attnviz.serialise: every result type round-trips bit for bit; arrays are compact; documents from the
hand-written version-1 writers still load; every bad document is an InputError, never another exception."""

from __future__ import annotations

import base64
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from attnviz import serialise
from attnviz.attention import AttentionResult
from attnviz.attribution.evaluate import Evaluation
from attnviz.attribution.result import Attribution
from attnviz.audit.cache import ResultCache
from attnviz.audit.results import STAT_NAMES, AuditResult, ExampleResult
from attnviz.bias.counterfactual import CounterfactualResult
from attnviz.bias.mlm import PairsResult
from attnviz.bias.weat import WeatResult
from attnviz.diff import Alignment, AttentionDiff, AttributionDiff
from attnviz.errors import InputError
from attnviz.generation import GenerationResult
from attnviz.serialise import dumps, from_document, loads, serialisable, to_document
from attnviz.session import SessionFile

RNG = np.random.default_rng(7)
NAN, INF = float("nan"), float("inf")
KINDS = ("cls", "text", "text", "punct", "sep")
TOKENS = ("[CLS]", "caf", "##é", "!", "[SEP]")
WORDS = (("[CLS]", (0,)), ("café", (1, 2)), ("!", (3,)), ("[SEP]", (4,)))


def attention(n: int = 5, dtype=np.float32, layers=(0, 1), heads: int = 3, **kw) -> AttentionResult:
    att = RNG.random((len(layers), heads, n, n)).astype(dtype)
    tokens = kw.pop("tokens", TOKENS[:n] if n <= 5 else tuple(f"t{i}" for i in range(n)))
    kinds = kw.pop("kinds", KINDS[:n] if n <= 5 else ("text",) * n)
    return AttentionResult(tokens=tokens, attentions=att, layers=tuple(layers), kinds=kinds,
                           segments=np.array([-1, 0, 0, 0, -1][:n] if n <= 5 else [0] * n, dtype=np.int8),
                           **kw)


def seq2seq() -> AttentionResult:
    return attention(decoder_tokens=("<s>", "hi"), decoder_kinds=("cls", "text"),
                     decoder_attentions=RNG.random((2, 3, 2, 2)).astype(np.float32),
                     cross_attentions=np.full((2, 3, 2, 5), NAN, dtype=np.float32), readout="mean",
                     meta={"device": "cpu", "window": (0, 5), "scale": np.float32(0.5), "none": None})


def attribution(**kw) -> Attribution:
    scores = np.array([0.0, -1.5, NAN, INF, 2.25], dtype=np.float32)
    return Attribution(tokens=TOKENS, scores=scores, method="integrated_gradients", target="p(positive | x)",
                       label="positive", output=0.875, kinds=KINDS, words=WORDS, delta=NAN, base_value=None,
                       settings={"n_steps": 16, "baseline": "pad", "sizes": (1, 2), "nested": {"x": [1.5, NAN]}},
                       model_name="mini", **kw)


def generation() -> GenerationResult:
    att = attention(n=5, tokens=("The", "Ġcat", "Ġsat", "Ġon", "Ġit"), kinds=("text",) * 5)
    return GenerationResult(prompt="The cat", token_ids=(464, 3797, 3332, 319, 340), n_prompt=2,
                            continuation=" sat on it", probabilities=np.array([0.5, 0.25, 1e-8], np.float32),
                            attention=att, words=(("The", (0,)), (" cat", (1,))), settings={"seed": 3},
                            stop_reason="eos", model_name="gpt2",
                            alternatives=((("Ġsat", 0.5), ("Ġran", 0.25)),) * 3)


def alignment() -> Alignment:
    return Alignment(("[CLS]", "he", "is"), ("[CLS]", "she", "really", "is"), ((0, 0), (1, 1), (-1, 2), (2, 3)))


def attention_diff() -> AttentionDiff:
    a = RNG.random((2, 1, 4, 4)).astype(np.float32)
    a[:, :, 2, :] = a[:, :, :, 2] = NAN
    return AttentionDiff("A: he", "B: she", alignment(), a, a[::-1].copy(), ("layer 0", "layer 1"), False,
                         note="B − A")


def attribution_diff() -> AttributionDiff:
    a = np.array([[0.1, NAN, -0.2, 0.3]], dtype=np.float32)
    return AttributionDiff("A", "B", alignment(), ("saliency",), a, a * 2, ("t",), ("t",), (0.5,), (NAN,),
                           scale="share")


def counterfactual(with_attention: bool = True) -> CounterfactualResult:
    fills = pd.DataFrame({"template_id": [0, 0, 1], "template": ["The {identity}."] * 3,
                          "axis": ["religion"] * 3, "group": ["a", "b", "a"], "term": ["x", "y", "x"],
                          "output": [0.5, NAN, 0.25], "attention_uniform": np.array([0.1, 0.2, 0.3], np.float32)})
    swaps = pd.DataFrame({"term_a": ["x"], "term_b": ["y"], "gap": [0.25], "flagged": [True]})
    empty = pd.DataFrame({"axis": pd.Series([], dtype=object), "ctf_gap": pd.Series([], dtype=float)})
    att = RNG.random((3, 2, 3)).astype(np.float32) if with_attention else None
    return CounterfactualResult(fills=fills, swaps=swaps, gaps=empty, groups=fills.head(1), axes=swaps,
                                attention=att, target="p(positive | x)", method=None, model_name="mini",
                                settings={"mode": "sentence", "seconds": 1.5, "is_probability": True})


def pairs() -> PairsResult:
    table = pd.DataFrame({"sent_more": ["a b", "c"], "sent_less": ["a c", "d"], "bias_type": ["race", "age"],
                          "score_more": [-1.0, -2.123456789012], "n_shared": np.array([2, 0]),
                          "preferred": ["more", "tie"]})
    by_type = pd.DataFrame({"bias_type": ["race", "age"], "n": [1, 1], "metric": [100.0, 0.0]})
    return PairsResult(pairs=table, metric=50.0, ci_low=0.0, ci_high=100.0, by_type=by_type, scoring="pll",
                       model_name="bert", settings={"seed": 0})


def weat() -> WeatResult:
    return WeatResult(effect_size=1.25, p_value=NAN, statistic=-0.5, n_permutations=6, exact=True,
                      x_units=("x1", "x2"), y_units=("y1",), x_associations=(0.1, INF), y_associations=(-0.1,),
                      names=("X", "Y", "pleasant", "unpleasant"), n_attributes=(2, 3), templates=("This is {word}.",),
                      aggregate="sentence", test="T1")


def example(index: int = 0, status: str = "ok") -> ExampleResult:
    if status == "error":
        return ExampleResult(index=index, text="bad", status="error", error="too long")
    return ExampleResult(index=index, text="Café!", text_pair=None, gold="positive", slices={"source": "web", "n": 3},
                         tokens=TOKENS, kinds=KINDS, words=WORDS, truncated=False, predicted="positive",
                         target="p(positive | x)", probabilities={"positive": 0.75, "negative": np.float32(0.25)},
                         output=NAN, scores={"saliency": np.array([0, 1, 2, 3, 4], np.float32)},
                         deltas={"saliency": None}, head_stats=RNG.random((2, 3, len(STAT_NAMES))).astype(np.float32),
                         rollout=np.linspace(0, 1, 5, dtype=np.float32),
                         agreement={"a|b": {"spearman": NAN, "kendall": 0.5}},
                         faithfulness={"saliency": {"comprehensiveness": 0.25}}, seconds=0.125)


def audit() -> AuditResult:
    return AuditResult(examples=(example(0), example(1, "error")), settings={"methods": ["saliency"], "n_steps": 16},
                       provenance={"model": {"id": "mini", "sha256": "ab"}}, dataset={"format": "csv", "rows": 2},
                       total=3, layers=2, heads=3, label_names=("positive", "negative"), slice_columns=("source",),
                       cancelled=True, cache_hits=1, bias={"axes": [{"axis": "age", "gap": NAN}]})


def evaluation() -> Evaluation:
    agreement = pd.DataFrame({"method_a": ["a"], "method_b": ["b"], "spearman": [NAN], "k": [2]})
    eraser = {"a": {"thresholds": (0.1, 0.2), "comprehensiveness": [0.5, NAN], "aopc_comprehensiveness": 0.25,
                    "rationale_sizes": [1, 2]}}
    return Evaluation(units=("café", "!"), level="word", agreement=agreement, eraser=eraser,
                      curves={"a": {"deletion": [1.0, 0.5]}}, random_eraser={"mean": {"x": 1.0}, "repeats": 3},
                      k=2, rank_by="abs")


RESULTS = {
    "attention": attention, "attention_float16": lambda: attention(dtype=np.float16), "seq2seq": seq2seq,
    "attribution": attribution, "generation": generation, "attention_diff": attention_diff,
    "attribution_diff": attribution_diff, "counterfactual": counterfactual,
    "counterfactual_no_attention": lambda: counterfactual(False), "pairs": pairs, "weat": weat,
    "example": example, "example_error": lambda: example(3, "error"), "audit": audit, "evaluation": evaluation,
}


def assert_same(a, b, path="result"):
    """Equal field by field: arrays in dtype, shape and bytes (NaN included), frames with their dtypes.
    Numpy scalars in untyped places (a ``dict`` field) come back as the Python number they hold."""
    if isinstance(a, np.generic):
        a = a.item()
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), path
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=path)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), path
    else:
        assert a == b, path


def reject_constant(name):
    raise AssertionError(f"non-standard JSON constant {name}")


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", RESULTS)
def test_every_result_round_trips_bit_for_bit(name):
    result = RESULTS[name]()
    text = result.to_json()
    doc = json.loads(text, parse_constant=reject_constant)  # strict JSON: no NaN / Infinity literals
    assert doc["format"] == f"attnviz.{type(result).__name__}" and isinstance(doc["version"], int)
    copies = (type(result).from_json(text), loads(text), loads(text.encode("utf-8"), type(result)),
              from_document(json.loads(json.dumps(to_document(result)))), type(result).from_dict(result.to_dict()))
    for again in copies:
        assert_same(result, again)
        assert dumps(again) == text  # stable: the same document again


def test_nested_tuples_and_untyped_values_keep_their_types():
    again = Attribution.from_json(attribution().to_json())
    assert again.words == WORDS and isinstance(again.words[1][1], tuple)
    assert again.settings["sizes"] == (1, 2) and isinstance(again.settings["nested"]["x"], list)
    assert math.isnan(again.delta) and again.base_value is None and again.scores.dtype == np.float32
    gen = GenerationResult.from_json(generation().to_json())
    assert gen.alternatives[0] == (("Ġsat", 0.5), ("Ġran", 0.25)) and isinstance(gen.attention, AttentionResult)
    assert gen.attention.segments.dtype == np.int8


def test_arrays_are_compact_base64():
    result = attention(n=64, layers=range(6), heads=12)  # MiniLM: 6 layers × 12 heads
    raw = result.attentions.nbytes
    text = dumps(result)
    assert len(text) < 1.5 * raw
    doc = json.loads(text)["attentions"]
    assert doc["dtype"] == "float32" and doc["shape"] == [6, 12, 64, 64]
    little = np.frombuffer(base64.b64decode(doc["data"]), dtype="<f4").reshape(doc["shape"])
    np.testing.assert_array_equal(little, result.attentions)


def test_big_endian_arrays_are_written_little_endian():
    result = attention()
    swapped = dataclasses.replace(result, attentions=result.attentions.astype(">f4"))
    doc = json.loads(dumps(swapped))["attentions"]
    assert base64.b64decode(doc["data"]) == result.attentions.astype("<f4").tobytes()
    assert_same(loads(dumps(swapped)), result)


def test_tables_stay_readable_records_with_their_column_types():
    result = counterfactual()
    doc = result.to_dict()
    assert doc["fills"][1]["output"] is None and doc["swaps"] == [{"term_a": "x", "term_b": "y", "gap": 0.25,
                                                                    "flagged": True}]
    assert doc["attention_shape"] == [3, 2, 3] and doc["gaps"] == []
    assert ["attention_uniform", "float32"] in doc["schema"]["fills"]
    again = CounterfactualResult.from_dict(doc)
    assert list(again.gaps.columns) == ["axis", "ctf_gap"] and again.gaps["ctf_gap"].dtype == np.float64
    assert PairsResult.from_json(pairs().to_json()).to_dict()["scoring_description"].startswith("pseudo")


def test_excluded_fields_are_not_written():
    result = dataclasses.replace(weat(), meta={"embeddings": object()})
    assert "meta" not in result.to_dict() and WeatResult.from_json(result.to_json()).meta == {}


def test_session_files_and_the_audit_cache_embed_documents(tmp_path):
    diff = attention_diff()
    session = SessionFile.build("compare_two", None, {}, {"attention_diff": diff,  # an object or its JSON
                                                          "attribution": attribution().to_json()})
    loaded = SessionFile.from_json(session.to_json())
    assert loaded.results["attention_diff"]["format"] == "attnviz.AttentionDiff"
    assert_same(loaded.result("attention_diff", AttentionDiff), diff)
    assert_same(loaded.result("attribution", Attribution), attribution())
    with pytest.raises(InputError, match="damaged"):
        loaded.result("attribution", AttentionDiff)
    cache, ex = ResultCache(tmp_path), example()
    cache.put("abcd", ex)
    assert_same(ex, cache.get("abcd"))
    (tmp_path / "ab" / "abcd.json").write_text(json.dumps({"index": 0, "text": "old cache entry"}))
    assert cache.get("abcd") is None  # an entry from before the serialiser is recomputed


# ------------------------------------------------------------------ old documents
def test_version_1_documents_of_the_old_writers_still_load():
    att = attention()
    old_attention = {"format": "attnviz.AttentionResult", "version": 1, "tokens": list(att.tokens),
                     "attentions": {"__ndarray__": True, "dtype": "float32", "shape": list(att.attentions.shape),
                                    "data": base64.b64encode(att.attentions.tobytes()).decode()},
                     "layers": [0, 1], "kinds": list(att.kinds),
                     "segments": {"__ndarray__": True, "dtype": "int8", "shape": [5],
                                  "data": base64.b64encode(att.segments.tobytes()).decode()},
                     "readout": "cls", "causal": False, "model_name": "", "truncated": False, "n_input_tokens": 0,
                     "decoder_tokens": None, "decoder_kinds": None, "decoder_attentions": None,
                     "cross_attentions": None, "meta": {}}
    assert_same(AttentionResult.from_json(json.dumps(old_attention)), att)

    attr = attribution()
    old_attr = {"format": "attnviz.Attribution", "version": 1, "tokens": list(attr.tokens),
                "scores": attr.scores.astype(float).tolist(), "method": attr.method, "target": attr.target,
                "label": attr.label, "output": attr.output, "kinds": list(attr.kinds),
                "words": [[w, list(i)] for w, i in attr.words], "delta": NAN, "base_value": None,
                "settings": {"n_steps": 16}, "model_name": "mini", "level": "token", "signed": True}
    again = Attribution.from_json(json.dumps(old_attr))  # NaN literals as json.dumps wrote them
    assert again.scores.dtype == np.float32 and again.scores.tobytes() == attr.scores.tobytes()
    assert again.words == attr.words

    gen = generation()
    old_gen = {"format": "attnviz.GenerationResult", "version": 1, "prompt": gen.prompt,
               "token_ids": list(gen.token_ids), "n_prompt": 2, "continuation": gen.continuation,
               "probabilities": gen.probabilities.astype(float).tolist(), "attention": gen.attention.to_json(),
               "words": [[w, list(i)] for w, i in gen.words], "settings": gen.settings, "stop_reason": "eos",
               "model_name": "gpt2", "alternatives": [[[t, p] for t, p in step] for step in gen.alternatives]}
    assert_same(GenerationResult.from_json(json.dumps(old_gen)), gen)

    diff = attention_diff()
    old_pack = lambda a: {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}  # noqa: E731
    al = diff.alignment
    old_diff = {"format": "attnviz.AttentionDiff", "version": 1, "name_a": diff.name_a, "name_b": diff.name_b,
                "alignment": {"units_a": list(al.units_a), "units_b": list(al.units_b),
                              "pairs": [list(p) for p in al.pairs], "level": al.level},
                "a": old_pack(diff.a), "b": old_pack(diff.b), "layer_labels": list(diff.layer_labels),
                "per_head": False, "note": diff.note}
    assert_same(AttentionDiff.from_json(json.dumps(old_diff)), diff)

    cf = counterfactual()
    old_cf = {"format": "attnviz.CounterfactualResult", "version": 1, "target": cf.target, "method": None,
              "model_name": "mini", "settings": cf.settings,
              **{name: json.loads(getattr(cf, name).to_json(orient="records"))
                 for name in ("fills", "swaps", "gaps", "groups", "axes")},
              "attention": cf.attention.astype(float).tolist(), "attention_shape": [3, 2, 3]}
    again = CounterfactualResult.from_json(json.dumps(old_cf))
    assert again.attention.tobytes() == cf.attention.tobytes() and len(again.swaps) == 1
    assert again.fills["output"].tolist()[0] == 0.5 and again.swaps["flagged"].tolist() == [True]


# ------------------------------------------------------------------ bad documents
def good_doc() -> dict:
    return attribution().to_dict()


def edited(**changes) -> str:
    doc = good_doc()
    for key, value in changes.items():
        if value is KeyError:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


def bad_array(**changes) -> dict:
    arr = serialise.array_document(np.zeros(5, np.float32))
    arr.update(changes)
    return arr


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    (b"\xff\xfe\x00", "not JSON"),
    ("[" * 50_000 + "]" * 50_000, "not JSON"),
    ("[1, 2]", "not an attnviz"),
    ('"<b>text</b>"', "not an attnviz"),
    (edited(format="attnviz.Nothing<script>"), "format"),
    (edited(format=KeyError), "format"),
    (json.dumps(attention().to_dict()), "it is an attnviz AttentionResult"),
    (edited(version=99), "newer attnviz"),
    (edited(version=0), "version"),
    (edited(version="2"), "version"),
    (edited(version=True), "version"),
    (edited(version=KeyError), "version"),
    (edited(tokens=KeyError), "'Attribution.tokens' is missing"),
    (edited(tokens="abcde"), "must be a list"),
    (edited(tokens=[1, 2, 3, 4, 5]), "must be text"),
    (edited(output="high"), "must be a number"),
    (edited(output=True), "must be a number"),
    (edited(signed=1), "true or false"),
    (edited(words=[["a", [0]], ["b"]]), "2 entries"),
    (edited(words=[["a", [0.5]]]), "whole number"),
    (edited(settings=[1]), "must be an object"),
    (edited(scores=[0.0, 1.0, 2.0, 3.0, 4.0]), "must be an array"),
    (edited(scores=bad_array(dtype="object")), "array type"),
    (edited(scores=bad_array(dtype=["float32"])), "array type"),
    (edited(scores=bad_array(shape=[6])), "does not match"),
    (edited(scores=bad_array(shape=[-5])), "shape"),
    (edited(scores=bad_array(shape="5")), "shape"),
    (edited(scores=bad_array(data="@@not base64@@")), "base64"),
    (edited(scores=bad_array(data=None)), "data"),
    (edited(scores=bad_array(**{"__ndarray__": 1})), "must be an array"),
    (edited(scores=serialise.array_document(np.zeros(4, np.float32))), "does not validate"),
    (edited(delta={"__float__": "huge"}), "non-finite"),
    (edited(settings={"x": {"__tuple__": 5}}), "tuple"),
    (edited(surprise="<img src=x>"), "1 field"),
])
def test_bad_documents_are_input_errors(text, message):
    with pytest.raises(InputError, match=message) as err:
        Attribution.from_json(text)
    for injected in ("<script>", "<b>", "<img", "surprise", "huge"):
        assert injected not in str(err.value)


@pytest.mark.parametrize("make, change, message", [
    (generation, lambda d: d["attention"].update(format="attnviz.Attribution"), "GenerationResult.attention"),
    (generation, lambda d: d["attention"].update(version=7), "newer"),
    (generation, lambda d: d.update(attention="not an object"), "must be an object"),
    (audit, lambda d: d["examples"][0].pop("index"), "examples\\[0\\].index"),
    (counterfactual, lambda d: d.update(schema={"fills": "x"}), "schema"),
    (counterfactual, lambda d: d["schema"].update(fills=[["output", "no-such-dtype"]]), "column types"),
    (counterfactual, lambda d: d.update(fills=[1, 2]), "row objects"),
    (attention_diff, lambda d: d["alignment"].update(pairs=[[0, 0]]), "does not validate"),
])
def test_bad_nested_documents_are_input_errors(make, change, message):
    doc = make().to_dict()
    change(doc)
    with pytest.raises(InputError, match=message):
        from_document(json.loads(json.dumps(doc)))


def test_old_versions_without_an_upgrade_are_refused():
    doc = weat().to_dict()
    doc["version"] = 0
    with pytest.raises(InputError, match="version"):
        from_document(doc)

    @serialisable(version=3, upgrades={2: lambda doc, cls: {**doc, "x": int(doc["x"])}})
    @dataclasses.dataclass(frozen=True)
    class Versioned(serialise.Serialisable):
        x: int

    assert Versioned.from_dict({"format": "attnviz.Versioned", "version": 2, "x": "4"}).x == 4
    with pytest.raises(InputError, match="no longer reads"):
        Versioned.from_dict({"format": "attnviz.Versioned", "version": 1, "x": 4})
    with pytest.raises(InputError, match="upgraded from version 2"):
        Versioned.from_dict({"format": "attnviz.Versioned", "version": 2, "x": "four"})


def test_registration_guards_against_mistakes():
    with pytest.raises(TypeError, match="reserved"):
        @serialisable()
        @dataclasses.dataclass
        class Clash:
            format: str

    with pytest.raises(TypeError, match="two result classes"):
        @serialisable()
        @dataclasses.dataclass
        class Attribution:  # noqa: F811 — another class under a registered name
            x: int

    with pytest.raises(TypeError, match="not a registered"):
        dumps(alignment())
    with pytest.raises(TypeError, match="object"):
        serialise.array_document(np.array(["a"], dtype=object))


def test_plain_is_json_for_people():
    value = {1: np.float32(0.5), "a": (np.int64(2), np.bool_(True)), "n": [NAN, INF], "arr": np.arange(2)}
    assert serialise.plain(value) == {"1": 0.5, "a": [2, True], "n": [None, None], "arr": [0, 1]}
