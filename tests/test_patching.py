"""Activation patching and AtP against a hand-written BERT forward on a tiny classifier's own weights."""

import threading

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz import patching
from attnviz.errors import InputError
from attnviz.models.targets import ClassTarget
from attnviz.patching import PatchingResult, layer_blocks, patch
from attnviz.serialise import loads

CLEAN, CORRUPTED = "the river was bright and open", "the storm was heavy and open"
TARGET = ClassTarget(label=1, output="logit")


def _forward(eager, ids, tt, resid_patch=None, head_patch=None, record=None):
    """The classifier by hand: embeddings, BERT layers written out, pooler, classifier → logit of class 1.

    ``resid_patch`` (layer, position, vector) replaces the hidden state after that layer; ``head_patch``
    (layer, head, [n, d]) replaces that head's context vectors; ``record`` collects hidden states [n, D]
    and context vectors [h, n, d] per layer (kept in the graph).
    """
    x = eager.bert.embeddings(input_ids=ids, token_type_ids=tt)[0]
    for layer, block in enumerate(eager.bert.encoder.layer):
        att = block.attention.self
        heads, d = att.num_attention_heads, att.attention_head_size
        n = x.shape[0]
        q, k, v = (t.view(n, heads, d).transpose(0, 1) for t in (att.query(x), att.key(x), att.value(x)))
        context = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, -1) @ v  # [h, n, d]
        if head_patch is not None and head_patch[0] == layer:
            context = torch.stack([head_patch[2] if h == head_patch[1] else context[h] for h in range(heads)])
        if record is not None:
            record.setdefault("heads", []).append(context)
        out = block.attention.output
        h1 = out.LayerNorm(out.dense(context.transpose(0, 1).reshape(n, heads * d)) + x)
        x = block.output.LayerNorm(block.output.dense(torch.nn.functional.gelu(block.intermediate.dense(h1))) + h1)
        if resid_patch is not None and resid_patch[0] == layer:
            x = torch.cat([x[:resid_patch[1]], resid_patch[2][None], x[resid_patch[1] + 1:]])
        if record is not None:
            record.setdefault("resid", []).append(x)
    return eager.classifier(eager.bert.pooler(x[None]))[0, 1]


@pytest.fixture(scope="module")
def tiny(tiny_model_dirs):
    path = tiny_model_dirs["bert-classifier"]
    handle = attnviz.load_model(path)
    eager = transformers.BertForSequenceClassification.from_pretrained(str(path), attn_implementation="eager").eval()
    return handle, eager


@pytest.fixture(scope="module")
def result(tiny):
    return patch(tiny[0], CLEAN, CORRUPTED, target=TARGET)


def test_patching_and_atp_equal_a_hand_forward(tiny, result):
    handle, eager = tiny
    clean, bad = handle.encode(CLEAN).inputs, handle.encode(CORRUPTED).inputs
    with torch.no_grad():
        rec = {}
        f_clean = float(_forward(eager, clean["input_ids"], clean["token_type_ids"], record=rec))
        f_bad = float(_forward(eager, bad["input_ids"], bad["token_type_ids"]))
    gap = f_clean - f_bad
    assert result.clean_output == pytest.approx(f_clean, abs=1e-5)
    assert result.corrupted_output == pytest.approx(f_bad, abs=1e-5)
    layers, n = result.residual.shape
    assert (layers, n) == (2, len(result.clean_tokens)) and result.heads.shape == (2, 4)
    with torch.no_grad():
        resid = np.array([[float(_forward(eager, bad["input_ids"], bad["token_type_ids"],
                                          resid_patch=(lay, p, rec["resid"][lay][p]))) for p in range(n)]
                          for lay in range(layers)])
        heads = np.array([[float(_forward(eager, bad["input_ids"], bad["token_type_ids"],
                                          head_patch=(lay, h, rec["heads"][lay][h]))) for h in range(4)]
                          for lay in range(layers)])
    # raw effects f(patched) − f(corrupted) to float32 precision (the fractions divide by a small gap)
    np.testing.assert_allclose(result.residual * gap, resid - f_bad, atol=2e-5)
    np.testing.assert_allclose(result.heads * gap, heads - f_bad, atol=2e-5)
    assert np.abs(result.residual).max() > 0.1  # the changed positions matter: the test can tell

    # AtP: (a_clean − a_corrupted)·∂f/∂a at the corrupted run, by autograd on the hand forward
    bad_rec = {}
    value = _forward(eager, bad["input_ids"], bad["token_type_ids"], record=bad_rec)
    grads = torch.autograd.grad(value, bad_rec["resid"] + bad_rec["heads"])
    atp_resid = np.stack([((c - b) * g).sum(-1).detach().numpy()
                          for c, b, g in zip(rec["resid"], bad_rec["resid"], grads[:layers])]) / gap
    atp_heads = np.stack([((c - b) * g).sum(dim=(1, 2)).detach().numpy()
                          for c, b, g in zip(rec["heads"], bad_rec["heads"], grads[layers:])]) / gap
    np.testing.assert_allclose(result.residual_atp * gap, atp_resid * gap, atol=2e-5)
    np.testing.assert_allclose(result.heads_atp * gap, atp_heads * gap, atol=2e-5)
    # the last layer's residual reaches f only through [CLS]: AtP is exactly 0 elsewhere, patching ≈ 0
    np.testing.assert_array_equal(result.residual_atp[-1, 1:], 0)
    assert np.abs(result.residual[-1, 1:] * gap).max() < 2e-5


def test_result_reports_agreement_and_round_trips(result):
    for kind in ("residual", "heads"):
        assert set(result.agreement[kind]) == {"pearson", "spearman"}
        assert -1 <= result.agreement[kind]["spearman"] <= 1
    again = loads(result.to_json(), PatchingResult)
    np.testing.assert_array_equal(again.residual, result.residual)
    frame = result.to_dataframe()
    assert len(frame) == result.residual.size + result.heads.size
    assert list(result.changed) == [a != b for a, b in zip(result.clean_tokens, result.corrupted_tokens)]


def test_unequal_lengths_and_no_gap_are_input_errors(tiny):
    handle = tiny[0]
    with pytest.raises(InputError, match="same number of tokens"):
        patch(handle, CLEAN, CLEAN + " and green")
    with pytest.raises(InputError, match="same on both"):
        patch(handle, CLEAN, CLEAN, target=TARGET)


def test_no_hooks_left_and_other_threads_unaffected(tiny, monkeypatch):
    handle = tiny[0]
    blocks = layer_blocks(handle)
    ids = handle.encode(CLEAN).inputs
    with torch.no_grad():
        plain = handle.model(**ids).logits
    seen = []

    def other():  # a forward in another thread while patching runs must see the ordinary model
        for _ in range(5):
            with torch.no_grad():
                seen.append(torch.equal(handle.model(**ids).logits, plain))

    thread = threading.Thread(target=other)
    thread.start()
    patch(handle, CLEAN, CORRUPTED, target=TARGET)
    thread.join()
    assert all(seen) and seen
    assert all(not b._forward_hooks for b in blocks)

    def broken(self, layer, hidden):
        raise RuntimeError("mid-forward")

    monkeypatch.setattr(patching._ResidualScope, "on_block", broken)
    with pytest.raises(RuntimeError, match="mid-forward"):
        patch(handle, CLEAN, CORRUPTED, target=TARGET)
    assert all(not b._forward_hooks for b in blocks)
