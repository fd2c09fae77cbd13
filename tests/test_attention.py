"""Attention extraction is checked against the model's own eager `output_attentions` on fresh inputs."""

import threading

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attention import AttentionResult, attention_rollout, head_statistics, readout_scores
from attnviz.errors import InputError, ResourceError
from attnviz.models.loading import default_model_path
from tests.helpers import random_sentence


def eager_reference(source, inputs, arch=None):
    """The model's own weights, loaded independently with attn_implementation='eager'."""
    cls = getattr(transformers, arch) if arch else transformers.AutoModel
    model = cls.from_pretrained(str(source), attn_implementation="eager").eval()
    with torch.no_grad():
        return model(**inputs, output_attentions=True)


def as_numpy(tensors):
    return torch.stack([t[0] for t in tensors]).numpy()


def test_default_model_matches_eager_on_the_issue_sentence(default_handle):
    result = default_handle.attention("The cat sat on the mat.")
    enc = default_handle.encode("The cat sat on the mat.")
    ref = eager_reference(default_model_path(), enc.inputs)
    assert result.attentions.shape == (6, 12, len(result.tokens), len(result.tokens))
    assert result.attentions.dtype == np.float32
    np.testing.assert_allclose(result.attentions, as_numpy(ref.attentions), atol=1e-5)


def test_default_model_matches_eager_on_fresh_pairs(default_handle, rng):
    for _ in range(3):
        text, pair = random_sentence(rng, int(rng.integers(3, 20))), random_sentence(rng, 5)
        result = default_handle.attention(text, pair)
        ref = eager_reference(default_model_path(), default_handle.encode(text, pair).inputs)
        np.testing.assert_allclose(result.attentions, as_numpy(ref.attentions), atol=1e-5)
        assert set(result.segments.tolist()) == {-1, 0, 1}


@pytest.mark.parametrize("family,arch", [("bert", "BertModel"), ("bert-classifier", "BertForSequenceClassification"),
                                         ("gpt2", "GPT2LMHeadModel")])
def test_single_stack_families_match_eager(tiny_model_dirs, family, arch, rng):
    handle = attnviz.load_model(tiny_model_dirs[family])
    text = random_sentence(rng, 12)
    result = handle.attention(text)
    ref = eager_reference(tiny_model_dirs[family], handle.encode(text).inputs, arch)
    np.testing.assert_allclose(result.attentions, as_numpy(ref.attentions), atol=1e-5)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)
    if family == "gpt2":
        assert result.causal and result.readout == "last"
        upper = np.triu(np.ones(result.attentions.shape[-2:], dtype=bool), 1)
        assert np.all(result.attentions[..., upper] == 0)


@pytest.mark.parametrize("family,arch", [("bart", "BartForConditionalGeneration"),
                                         ("t5", "T5ForConditionalGeneration")])
def test_encoder_decoder_self_and_cross_attention_match_eager(tiny_model_dirs, family, arch, rng):
    handle = attnviz.load_model(tiny_model_dirs[family])
    text, target = random_sentence(rng, 9), random_sentence(rng, 6)
    result = handle.attention(text, target=target)
    inputs = dict(handle.encode(text).inputs)
    from attnviz.attention import _decoder_inputs

    inputs["decoder_input_ids"] = _decoder_inputs(handle, target)[0]
    ref = eager_reference(tiny_model_dirs[family], inputs, arch)
    np.testing.assert_allclose(result.attentions, as_numpy(ref.encoder_attentions), atol=1e-5)
    np.testing.assert_allclose(result.decoder_attentions, as_numpy(ref.decoder_attentions), atol=1e-5)
    np.testing.assert_allclose(result.cross_attentions, as_numpy(ref.cross_attentions), atol=1e-5)
    m, n = len(result.decoder_tokens), len(result.tokens)
    assert result.cross_attentions.shape[2:] == (m, n)


def test_a_model_loaded_with_sdpa_is_wrapped_correctly(tiny_model_dirs, tokenizer, rng):
    model = transformers.AutoModel.from_pretrained(str(tiny_model_dirs["bert"]), attn_implementation="sdpa")
    handle = attnviz.from_pretrained_model(model, tokenizer)
    text = random_sentence(rng, 10)
    ref = eager_reference(tiny_model_dirs["bert"], handle.encode(text).inputs)
    np.testing.assert_allclose(handle.attention(text).attentions, as_numpy(ref.attentions), atol=1e-5)


def test_eager_fallback_path_gives_the_same_weights(tiny_model_dirs, tokenizer, rng):
    model = transformers.AutoModel.from_pretrained(str(tiny_model_dirs["bert"]), attn_implementation="eager")
    from attnviz.models.handle import ModelHandle

    eager_handle = ModelHandle(model, tokenizer, name="eager", kind="encoder", pooling=None,
                               device=torch.device("cpu"))
    assert not eager_handle.captures_natively
    native = attnviz.load_model(tiny_model_dirs["bert"])
    text = random_sentence(rng, 7)
    np.testing.assert_allclose(eager_handle.attention(text).attentions, native.attention(text).attentions,
                               atol=1e-6)


def test_requested_layers_equal_the_slice_of_all_layers(default_handle):
    text = "Layers can be asked for one at a time."
    full = default_handle.attention(text)
    some = default_handle.attention(text, layers=[-1, 2])
    assert some.layers == (2, 5)
    np.testing.assert_allclose(some.attentions, full.attentions[[2, 5]], atol=1e-6)
    with pytest.raises(InputError):
        default_handle.attention(text, layers=[6])
    with pytest.raises(InputError):
        some.rollout()


def test_no_sdpa_forward_is_disturbed_by_capture(default_handle):
    """Outputs with and without capture are identical: the capture path computes the same attention."""
    enc = default_handle.encode("Capture must not change the model's output.")
    plain, _ = default_handle.forward(enc.inputs, need_weights=False)
    captured, records = default_handle.forward(enc.inputs)
    assert len(records) == 6
    torch.testing.assert_close(plain.last_hidden_state, captured.last_hidden_state, atol=1e-5, rtol=1e-5)


def test_long_text_is_truncated_with_a_flag(default_handle):
    text = "word " * 2000
    result = default_handle.attention(text, layers=[0])
    assert result.truncated and len(result.tokens) == 512 and result.n_input_tokens > 512


@pytest.mark.parametrize("bad", ["", "   \n\t", "\x00\x01", 42, None])
def test_bad_text_is_an_input_error(default_handle, bad):
    with pytest.raises(InputError):
        default_handle.attention(bad)


def test_odd_unicode_and_html_survive_as_tokens(default_handle):
    result = default_handle.attention("<script>alert(1)</script> 😀 中文 مرحبا e\u0301")
    assert "<" in result.tokens and "script" in result.tokens
    np.testing.assert_allclose(result.attentions.sum(-1), 1, atol=1e-5)


def test_memory_cap_refuses_huge_requests(default_handle, monkeypatch):
    import attnviz.models.encoding as limits

    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", 1000)
    text = "This is more than a thousand attention values."
    with pytest.raises(ResourceError, match="fewer layers"):
        default_handle.attention(text, bounded=False)
    # by default such inputs take the bounded-memory path (tests/test_bounded.py) instead of being refused
    long = default_handle.attention(text)
    assert long.meta["bounded"] and long.head(5, 3).shape == (len(long.tokens), len(long.tokens))


def test_threads_sharing_one_model_get_their_own_weights(default_handle):
    texts = [f"Sentence number {i} is about {w}." for i, w in enumerate(["cats", "rain", "jazz", "law",
                                                                          "tea", "maps", "ice", "owls"])]
    serial = [default_handle.attention(t).attentions for t in texts]
    results, errors = [None] * len(texts), []

    def run(i):
        try:
            for _ in range(3):
                results[i] = default_handle.attention(texts[i]).attentions
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, serial):
        np.testing.assert_allclose(got, want, atol=1e-6)


# ------------------------------------------------------------- the math
def _softmax_rows(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_rollout_of_identity_attention_is_identity():
    att = np.broadcast_to(np.eye(5, dtype=np.float32), (3, 2, 5, 5))
    np.testing.assert_allclose(attention_rollout(att), np.eye(5), atol=1e-7)


def test_rollout_one_layer_is_half_mean_plus_half_identity(rng):
    att = _softmax_rows(rng.normal(size=(1, 4, 6, 6))).astype(np.float32)
    expected = 0.5 * att[0].mean(0) + 0.5 * np.eye(6)
    np.testing.assert_allclose(attention_rollout(att), expected, atol=1e-6)


def test_rollout_composes_later_layers_on_the_left(rng):
    att = _softmax_rows(rng.normal(size=(3, 2, 5, 5))).astype(np.float32)
    hats = [0.5 * a.mean(0) + 0.5 * np.eye(5) for a in att]
    np.testing.assert_allclose(attention_rollout(att), hats[2] @ hats[1] @ hats[0], atol=1e-6)
    np.testing.assert_allclose(attention_rollout(att).sum(-1), 1, atol=1e-6)


def test_readouts():
    m = np.arange(9, dtype=float).reshape(3, 3)
    assert readout_scores(m, "cls").tolist() == [0, 1, 2]
    assert readout_scores(m, "last").tolist() == [6, 7, 8]
    assert readout_scores(m, "mean").tolist() == [3, 4, 5]


def test_head_statistics_on_hand_built_heads():
    n = 6
    prev = np.eye(n, k=-1)
    prev[0, 0] = 1  # first token has no previous one: attends to itself
    nxt = np.eye(n, k=1)
    nxt[-1, -1] = 1
    to_cls = np.zeros((n, n))
    to_cls[:, 0] = 1
    uniform = np.full((n, n), 1 / n)
    att = np.stack([prev, nxt, to_cls, uniform])[None].astype(np.float32)
    kinds = ["cls", "text", "text", "punct", "text", "sep"]
    df = head_statistics(att, kinds).set_index("head")
    assert df.loc[0, "to_prev"] == pytest.approx(1.0) and df.loc[0, "to_next"] == pytest.approx(0.0)
    assert df.loc[1, "to_next"] == pytest.approx(1.0) and df.loc[1, "to_prev"] == pytest.approx(0.0)
    assert df.loc[0, "pattern"] == "previous token" and df.loc[1, "pattern"] == "next token"
    assert df.loc[2, "to_cls"] == pytest.approx(1.0) and df.loc[2, "pattern"] == "special tokens"
    assert df.loc[3, "entropy_norm"] == pytest.approx(1.0, abs=1e-3)
    assert df.loc[3, "to_punct"] == pytest.approx(1 / n) and df.loc[3, "to_sep"] == pytest.approx(1 / n)
    assert df.loc[2, "entropy"] < 0.01


def test_result_validates_shapes_and_round_trips_json(default_handle):
    result = default_handle.attention("Round trip.", "And back.")
    again = AttentionResult.from_json(result.to_json())
    np.testing.assert_array_equal(again.attentions, result.attentions)
    assert again.tokens == result.tokens and again.segments.tolist() == result.segments.tolist()
    with pytest.raises(ValueError):
        AttentionResult(tokens=("a",), attentions=np.zeros((1, 1, 2, 2), np.float32), layers=(0,),
                        kinds=("text",), segments=np.zeros(1))
    with pytest.raises(InputError):
        AttentionResult.from_json('{"format": "something else"}')


def test_hiding_special_tokens_keeps_weights_unrenormalised(default_handle):
    result = default_handle.attention("Hide the specials.")
    hidden = result.without_special()
    assert "[CLS]" not in hidden.tokens and "[SEP]" not in hidden.tokens
    keep = ~result.special
    np.testing.assert_array_equal(hidden.attentions, result.attentions[:, :, keep][:, :, :, keep])
    df = hidden.to_dataframe()
    assert len(df) == 6 * 12 * len(hidden.tokens) ** 2
