"""The lab model: score functions and masks on hand-built tensors, both attention paths, the handle."""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import attnviz
from attnviz.errors import InputError
from attnviz.lab.model import (
    MASKS,
    SCORES,
    LabAttention,
    LabConfig,
    LabForMaskedLM,
    build_model,
    build_tokenizer,
    keep_top_k,
    mask_pattern,
)
from attnviz.lab.tasks import VOCAB

TEXT = "a 1 b 2 c 3 d 4 | c ? a ?"


def config(**kw):
    return LabConfig(vocab=list(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, **kw)


def model(**kw):
    torch.manual_seed(0)
    return build_model(config(**kw)).eval()


# ------------------------------------------------------------------------------------------ masks
def test_mask_patterns_by_hand():
    n = 6
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    assert (mask_pattern("full", n).numpy() == 1).all()
    assert (mask_pattern("causal", n).numpy() == (j <= i)).all()
    assert (mask_pattern("local", n, window=1).numpy() == (abs(i - j) <= 1)).all()
    strided = mask_pattern("strided", n, stride=3).numpy()
    assert (strided == ((abs(i - j) < 3) | ((i - j) % 3 == 0))).all()
    assert strided[5, 0] == 0 and strided[5, 2] == 1 and strided[0, 3] == 1  # 5−2 = 3, 0−3 ≡ 0 (mod 3)
    with pytest.raises(InputError):
        mask_pattern("diagonal", n)


def test_keep_top_k_keeps_k_per_row_among_allowed():
    scores = torch.tensor([[[3.0, 1.0, 2.0, 0.0], [0.0, 5.0, 4.0, 9.0]]])
    allowed = torch.tensor([[True, True, True, True], [True, True, True, False]])
    keep = keep_top_k(scores, allowed, 2)
    assert keep.tolist() == [[[True, False, True, False], [False, True, True, False]]]  # 9 is masked
    assert keep_top_k(scores, allowed, 10)[0, 1].sum() == 3  # never more than allowed


# ---------------------------------------------------------------------------------------- scores
@pytest.mark.parametrize("score", list(SCORES))
def test_score_functions_on_hand_built_vectors(score):
    cfg = LabConfig(vocab=["x", "y"], hidden_size=4, num_attention_heads=2, score=score)
    att = LabAttention(cfg, 0)
    q = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [-1.0, 0.0]]]])  # [b=1, h=2, n=2, d=2]
    k = torch.tensor([[[[2.0, 0.0], [1.0, 1.0]], [[0.0, 3.0], [1.0, -1.0]]]])
    got = att.scores(q, k)
    dots = torch.einsum("bhqd,bhkd->bhqk", q, k)
    if score == "scaled_dot":
        want = dots / math.sqrt(2)
    elif score == "dot":
        want = dots
    elif score == "cosine":
        tau = att.temperature()[None, :, None, None]
        want = tau * dots / (q.norm(dim=-1)[..., None] * k.norm(dim=-1)[..., None, :])
        assert torch.allclose(att.temperature(), torch.full((2,), 10.0))  # the configured initial τ
    else:
        w = att.additive_vector
        want = torch.empty(1, 2, 2, 2)
        for h, a, b in itertools.product(range(2), range(2), range(2)):
            want[0, h, a, b] = w[h] @ torch.tanh(q[0, h, a] + k[0, h, b])
    assert torch.allclose(got, want, atol=1e-6)


def test_cosine_temperature_is_learnt_and_clamped():
    att = LabAttention(LabConfig(vocab=["x", "y"], hidden_size=4, num_attention_heads=2, score="cosine"), 0)
    assert att.log_temperature.requires_grad
    with torch.no_grad():
        att.log_temperature.fill_(20.0)
    assert torch.allclose(att.temperature(), torch.full((2,), 100.0))


# ------------------------------------------------------------------------------ masks really block
def _weights(m, text=TEXT):
    tok = build_tokenizer(VOCAB)
    with torch.no_grad():
        out = m(**tok(text, return_tensors="pt"), output_attentions=True)
    return torch.stack(out.attentions)[:, 0]  # [layers, heads, n, n]


def test_causal_weights_above_the_diagonal_are_zero():
    att = _weights(model(mask="causal"))
    n = att.shape[-1]
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    assert (att[..., upper] == 0).all()
    assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-6)


@pytest.mark.parametrize("mask,kw", [("local", {"window": 1}), ("strided", {"stride": 3})])
def test_structured_masks_block_exactly_what_they_forbid(mask, kw):
    att = _weights(model(mask=mask, **kw))
    allowed = mask_pattern(mask, att.shape[-1], **kw)
    assert (att[..., ~allowed] == 0).all()
    assert (att[..., allowed] > 0).all()


@pytest.mark.parametrize("score", list(SCORES))
def test_top_k_keeps_k_keys_per_row(score):
    att = _weights(model(mask="topk", top_k=3, score=score))
    assert ((att > 0).sum(-1) == 3).all()
    assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-6)


def test_padding_keys_get_no_weight():
    m = model()
    tok = build_tokenizer(VOCAB)
    batch = tok(["a 1 b 2 | a ?", "a 1 | a ?"], padding=True, return_tensors="pt")
    with torch.no_grad():
        padded = m(**batch, output_attentions=True)
        alone = m(**tok("a 1 | a ?", return_tensors="pt"), output_attentions=True)
    short = padded.attentions[0][1]  # second example: 5 tokens then 2 pads
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 1, 0, 0]
    assert (short[:, :5, 5:] == 0).all()
    assert torch.allclose(short[:, :5, :5], alone.attentions[0][0], atol=1e-6)
    assert torch.allclose(padded.logits[1, :5], alone.logits[0], atol=1e-5)


# ------------------------------------------------------------------------- the two attention paths
ROUTED = [(s, m) for s in ("scaled_dot", "dot", "cosine") for m in ("full", "causal", "local", "strided")]


@pytest.mark.parametrize("score,mask", ROUTED)
def test_attention_interface_path_equals_the_explicit_code(score, mask):
    m = model(score=score, mask=mask, window=1, stride=3)
    assert m.config.uses_attention_interface and m.config._attn_implementation == "sdpa"
    tok = build_tokenizer(VOCAB)
    inputs = tok(TEXT, return_tensors="pt")
    with torch.no_grad():
        fast = m(**inputs).logits  # sdpa through transformers' attention interface
        explicit = m(**inputs, output_attentions=True).logits  # this file's own arithmetic
    assert torch.allclose(fast, explicit, atol=1e-5)


@pytest.mark.parametrize("score,mask", [("additive", "full"), ("scaled_dot", "topk"), ("cosine", "topk")])
def test_own_code_only_configs_refuse_other_attention_implementations(score, mask):
    m = model(score=score, mask=mask)
    assert not m.config.uses_attention_interface
    with pytest.raises(ValueError, match="own code"):
        m.set_attn_implementation("attnviz")
    m.set_attn_implementation("eager")


@pytest.mark.parametrize("score,mask", list(itertools.product(SCORES, MASKS)))
def test_handle_attention_equals_the_models_own_weights(score, mask):
    """Whichever path the handle takes (attnviz capture or eager output_attentions), it reports the true weights."""
    m = model(score=score, mask=mask, window=1, stride=3, top_k=3)
    own = _weights(m).numpy()
    handle = attnviz.from_pretrained_model(copy.deepcopy(m), build_tokenizer(VOCAB), name="lab")
    assert handle.captures_natively == m.config.uses_attention_interface
    result = handle.attention(TEXT)
    assert result.tokens == tuple(TEXT.split())
    np.testing.assert_allclose(result.attentions, own, atol=1e-5)


def test_the_attribution_page_target_is_the_first_answer():
    handle = attnviz.from_pretrained_model(model(), build_tokenizer(VOCAB), name="lab")
    attr = handle.attribute(TEXT, "input_x_gradient")
    assert attr.target.startswith("p(") and "at ?" in attr.target
    assert attr.scores.shape == (len(TEXT.split()),)
    grad = handle.attribute(TEXT, "grad_attention")  # needs the capture path: routed configs have it
    assert np.isfinite(grad.scores).all()


def test_inputs_embeds_give_the_same_output_as_ids():
    m = model(token_shift=True)
    ids = build_tokenizer(VOCAB)(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        a = m(input_ids=ids).logits
        b = m(inputs_embeds=m.get_input_embeddings()(ids)).logits
    assert torch.allclose(a, b, atol=1e-6)


def test_token_shift_hands_each_position_its_left_neighbour():
    m = model(token_shift=True)
    ids = torch.tensor([[4, 5, 6]])
    emb = m.embed_tokens(ids)
    shifted = emb + m.shift(F.pad(emb, (0, 0, 1, 0))[:, :-1])
    assert torch.allclose(shifted[0, 0], emb[0, 0])  # the first position has no left neighbour
    with torch.no_grad():
        hidden = m(input_ids=ids, output_hidden_states=True).hidden_states[0]
    assert torch.allclose(hidden, shifted + m.embed_positions.weight[None, :3], atol=1e-6)


# ----------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("kw,message", [
    ({"hidden_size": 30, "num_attention_heads": 4}, "multiple"),
    ({"score": "bilinear"}, "score function"),
    ({"mask": "random"}, "mask"),
    ({"attention_dropout": 1.5}, "attention_dropout"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"vocab": ["a", "a"]}, "vocab"),
    ({"cosine_temperature": -1.0}, "temperature"),
])
def test_invalid_settings_are_input_errors(kw, message):
    settings = {"vocab": ["a", "b"], **kw}
    with pytest.raises(InputError, match=message):
        LabConfig(**settings)


def test_registered_with_transformers_auto_classes():
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.for_model("attnviz-lab", vocab=["a", "b", "c"], hidden_size=8, num_attention_heads=2)
    assert isinstance(cfg, LabConfig)
    assert isinstance(AutoModel.from_config(cfg), LabForMaskedLM)
