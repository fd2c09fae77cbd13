"""Compare two (attnviz.diff): alignment, attention and attribution differences, against direct extraction."""

import numpy as np
import pytest

import attnviz
from attnviz.diff import (
    Alignment,
    AttentionDiff,
    AttributionDiff,
    align,
    attention_diff,
    attribution_diff,
    compare_attention,
    compare_attributions,
    shared_target,
    word_attention,
)
from attnviz.errors import InputError


@pytest.fixture(scope="module")
def tiny_bert(tiny_model_dirs):
    return attnviz.load_model(str(tiny_model_dirs["bert"]), device="cpu")


@pytest.fixture(scope="module")
def bpe_gpt2(tmp_path_factory):
    """A tiny GPT-2 with its own byte-level BPE tokenizer (trained here): a different tokenizer than MiniLM's."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["Nurses vaccinate children in the city.", "The engineer walked quietly."] * 5,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    path = tmp_path_factory.mktemp("bpe-gpt2")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                               bos_token_id=0, eos_token_id=0)).save_pretrained(path)
    tok.save_pretrained(path)
    return attnviz.load_model(str(path), device="cpu")


# ------------------------------------------------------------------ alignment
def test_same_length_swap_aligns_one_to_one():
    al = align(["[CLS]", "he", "is", "a", "nurse", "[SEP]"], ["[CLS]", "she", "is", "a", "nurse", "[SEP]"])
    assert al.pairs == tuple((i, i) for i in range(6))
    assert al.labels[1] == "he→she" and al.n_gaps == 0


def test_insertions_and_unequal_replacements_are_gaps():
    al = align(["the", "cat", "sat"], ["the", "big", "black", "cat", "sat"])
    assert al.pairs == ((0, 0), (-1, 1), (-1, 2), (1, 3), (2, 4))
    assert al.labels == ("the", "big (B only)", "black (B only)", "cat", "sat")
    # a one-token run replaced by two tokens is not forced into a 1:1 pairing
    al = align(["a", "nurse", "."], ["a", "care", "##giver", "."])
    assert al.pairs == ((0, 0), (1, -1), (-1, 1), (-1, 2), (2, 3))
    assert "1 only in A, 2 only in B" in al.gap_note()


def test_specials_align_by_kind_and_case_and_subword_marks_are_ignored():
    al = align(["[CLS]", "Paris", "[SEP]"], ["<s>", "Ġparis", "</s>"], kinds_a=["cls", "text", "sep"],
               kinds_b=["cls", "text", "sep"])
    assert al.n_gaps == 0


def test_alignment_rejects_pairs_that_skip_a_unit():
    with pytest.raises(ValueError):
        Alignment(("a", "b"), ("a",), ((0, 0),))


def test_word_attention_sums_keys_and_averages_queries():
    att = np.array([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]], dtype=np.float32)
    words = (("x", (0,)), ("yz", (1, 2)))
    got = word_attention(att, words)
    expected = np.array([[0.5, 0.5], [(0.1 + 0.2) / 2, (0.9 + 0.8) / 2]])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(InputError):
        word_attention(att, (("x", (0,)),))


# ------------------------------------------------------------------ attention
def test_counterfactual_swap_is_b_minus_a_head_by_head(default_handle):
    a = default_handle.attention("He is a nurse.")
    b = default_handle.attention("She is a nurse.")
    d = attention_diff(a, b)
    assert d.level == "token" and d.per_head and d.labels[1] == "he→she"
    assert d.diff.shape == a.attentions.shape
    np.testing.assert_array_equal(d.diff, b.attentions - a.attentions)
    summary = d.head_summary()
    assert len(summary) == a.num_layers * a.num_heads
    layer, h = 4, 7
    np.testing.assert_allclose(summary.loc[layer * a.num_heads + h, "mean_abs_diff"],
                               np.abs(b.attentions[layer, h] - a.attentions[layer, h]).mean(), rtol=1e-5)
    np.testing.assert_allclose(d.layer_diff(2), (b.attentions[2] - a.attentions[2]).mean(0), atol=1e-6)


def test_inserted_words_are_gaps_and_aligned_cells_match_the_extractions(default_handle, rng):
    # fresh inserted words, none of them a word of the sentence itself
    extra = " ".join(rng.choice(["quietly", "bright", "seven", "green", "heavy", "never", "under"], size=2))
    text_a, text_b = "The doctor read the paper.", f"The doctor {extra} read the paper."
    a, b = default_handle.attention(text_a), default_handle.attention(text_b)
    d = attention_diff(a, b, name_a="A", name_b="B")
    n_extra = len(b.tokens) - len(a.tokens)
    assert d.alignment.n_gaps >= n_extra > 0 and "only in B" in d.note
    gap = ~d.alignment.matched
    assert np.isnan(d.diff[:, :, gap, :]).all() and np.isnan(d.diff[:, :, :, gap]).all()
    # "doctor" → "paper" cell, looked up by token position in each extraction
    qa, ka = a.tokens.index("doctor"), a.tokens.index("paper")
    qb, kb = b.tokens.index("doctor"), b.tokens.index("paper")
    q, k = d.labels.index("doctor"), d.labels.index("paper")
    np.testing.assert_allclose(d.diff[3, 5, q, k], b.attentions[3, 5, qb, kb] - a.attentions[3, 5, qa, ka],
                               atol=1e-7)
    df = d.to_dataframe()
    assert len(df) == a.num_layers * a.num_heads * int(d.alignment.matched.sum()) ** 2
    assert not df["diff"].isna().any()


def test_two_models_compare_mean_over_heads_per_word(default_handle, tiny_bert):
    text = "Nurses vaccinate children."
    d = compare_attention(default_handle, text, tiny_bert)
    assert d.level == "word" and not d.per_head
    assert d.layer_labels == ("mean of all layers (A: 6, B: 2)",)
    assert "mean over heads" in d.note and "word" in d.note
    # independent reference: pool each model's attention by hand
    for handle, side in ((default_handle, d.a), (tiny_bert, d.b)):
        att = handle.attention(text).attentions.mean(axis=(0, 1))
        words = handle.encode(text).words
        pooled = np.array([[att[np.ix_(qi, ki)].sum(1).mean() for _, ki in words] for _, qi in words])
        np.testing.assert_allclose(side[0, 0], pooled, atol=1e-5)
    with pytest.raises(InputError, match="same layers and heads"):
        compare_attention(default_handle, text, tiny_bert, per_head=True)


def test_attention_diff_round_trips_through_json(default_handle):
    d = compare_attention(default_handle, "A cat.", text_b="A small cat.")
    back = AttentionDiff.from_json(d.to_json())
    np.testing.assert_array_equal(back.diff, d.diff)
    assert back.labels == d.labels and back.note == d.note
    with pytest.raises(InputError):
        AttentionDiff.from_json('{"format": "other"}')


# ---------------------------------------------------------------- attribution
def test_attribution_diff_is_b_minus_a_per_method(default_handle):
    target = shared_target(default_handle, "He is a nurse.")
    methods = ["input_x_gradient", "saliency"]
    attrs_a = {m: default_handle.attribute("He is a nurse.", m, target=target) for m in methods}
    attrs_b = {m: default_handle.attribute("She is a nurse.", m, target=target) for m in methods}
    d = attribution_diff(attrs_a, attrs_b, level="token")
    assert d.methods == tuple(methods) and d.same_targets
    for i, m in enumerate(methods):
        np.testing.assert_allclose(d.diff[i], attrs_b[m].scores - attrs_a[m].scores, atol=1e-7)
    share = attribution_diff(attrs_a, attrs_b, level="token", scale="share")
    np.testing.assert_allclose(np.abs(share.a).sum(1), 1.0, atol=1e-5)
    back = AttributionDiff.from_json(d.to_json())
    np.testing.assert_array_equal(back.diff, d.diff)
    assert len(d.to_dataframe()) == len(methods) * len(d.labels)


def test_shared_target_fixes_a_s_label_for_both_sides(default_handle):
    d = compare_attributions(default_handle, "What a lovely, kind nurse.", text_b="What a horrible, rude nurse.",
                             methods=["input_x_gradient"])
    assert d.targets_a == d.targets_b  # both explain A's predicted label
    own = compare_attributions(default_handle, "What a lovely, kind nurse.", text_b="What a horrible, rude nurse.",
                               methods=["input_x_gradient"], target=None)
    assert own.targets_a != own.targets_b and "different numbers" in own.note


def test_attribution_words_align_across_models(default_handle, tiny_bert):
    text = "Engineers fix bridges."
    d = compare_attributions(default_handle, text, tiny_bert, methods=["input_x_gradient"], scale="share")
    assert d.level == "word" and d.alignment.n_gaps == 0
    words = [w for w, _ in default_handle.encode(text).words]
    assert list(d.labels) == words
    with pytest.raises(InputError, match="no attribution method in common"):
        attribution_diff({"saliency": None}, {"occlusion": None})


def test_different_tokenizers_align_by_words(default_handle, bpe_gpt2):
    text = "Nurses vaccinate zebras."
    tokens_b = bpe_gpt2.encode(text).tokens
    assert len(tokens_b) != len(default_handle.encode(text).tokens)  # really different tokenizations
    d = compare_attention(default_handle, text, bpe_gpt2)
    assert d.labels == ("[CLS] (A only)", "Nurses", "vaccinate", "zebras", ".", "[SEP] (A only)")
    assert d.level == "word" and not d.per_head and "2 only in A" in d.note
    # B's "zebras" row: the BPE model's token attention pooled by hand (mean over layers and heads)
    att_b = bpe_gpt2.attention(text).attentions.mean(axis=(0, 1))
    words_b = bpe_gpt2.encode(text).words
    zebras = next(idx for w, idx in words_b if w.strip() == "zebras")
    nurses = next(idx for w, idx in words_b if w.strip() == "Nurses")
    expected = att_b[np.ix_(zebras, nurses)].sum(1).mean()
    assert d.b[0, 0, 3, 1] == pytest.approx(expected, abs=1e-6)
    attr = compare_attributions(default_handle, text, bpe_gpt2, methods=["input_x_gradient"], scale="share")
    assert attr.labels == d.labels and "different numbers" in attr.note
    np.testing.assert_allclose(np.nansum(np.abs(attr.b)), 1.0, atol=1e-5)  # B has no gaps: all its share
