"""Head importance and ablation against hand-written BERT forwards on the models' own weights."""

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attribution import prepare
from attnviz.errors import InputError
from attnviz.heads import ablate, importance
from attnviz.models.loading import default_model_path


def _layer(block, x, gates=None, zero=(), mean=()):
    """One BERT layer by hand; each head's context vector times gates[h], zeroed (``zero``) or mean-replaced."""
    att = block.attention.self
    heads, d = att.num_attention_heads, att.attention_head_size
    n = x.shape[0]

    def split(t):
        return t.view(n, heads, d).transpose(0, 1)

    q, k, v = split(att.query(x)), split(att.key(x)), split(att.value(x))
    context = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, -1) @ v  # [h, n, d]
    if gates is not None:
        context = context * gates[:, None, None]
    context = torch.stack([torch.zeros_like(context[h]) if h in zero
                           else context[h].mean(0, keepdim=True).expand_as(context[h]) if h in mean
                           else context[h] for h in range(heads)])
    context = context.transpose(0, 1).reshape(n, heads * d)
    out = block.attention.output
    h1 = out.LayerNorm(out.dense(context) + x)
    return block.output.LayerNorm(block.output.dense(torch.nn.functional.gelu(block.intermediate.dense(h1))) + h1)


@pytest.fixture(scope="module")
def eager_minilm():
    return transformers.AutoModel.from_pretrained(str(default_model_path()), attn_implementation="eager").eval()


@pytest.mark.parametrize("how", ["zero", "mean"])
def test_ablation_equals_a_hand_forward_with_those_heads_removed(default_handle, eager_minilm, how):
    text = "Removing a head changes the sentence embedding."
    heads = [(0, 3), (2, 0), (2, 7), (5, 11)]
    result = ablate(default_handle, text, heads, how=how)
    ids = default_handle.encode(text).inputs
    with torch.no_grad():
        x = eager_minilm.embeddings(input_ids=ids["input_ids"], token_type_ids=ids["token_type_ids"])[0]
        for layer, block in enumerate(eager_minilm.encoder.layer):
            chosen = {h for lay, h in heads if lay == layer}
            x = _layer(block, x, zero=chosen if how == "zero" else (), mean=chosen if how == "mean" else ())
        ref = torch.nn.functional.normalize(x.mean(0), dim=-1).numpy()
    assert np.abs(result.output - ref).max() <= 1e-5
    plain = ablate(default_handle, text, [])
    assert np.abs(plain.output - result.output).max() > 1e-4  # the ablation did something
    assert result.attention.shape == (6, 12, len(result.tokens), len(result.tokens))
    np.testing.assert_allclose(result.attention[0], plain.attention[0], atol=1e-6)  # layer 0 weights unchanged
    assert np.abs(result.attention[1] - plain.attention[1]).max() > 1e-6


def test_importance_equals_the_gate_gradient_of_a_hand_forward(tiny_model_dirs):
    path = tiny_model_dirs["bert-classifier"]
    handle = attnviz.load_model(path)
    eager = transformers.BertForSequenceClassification.from_pretrained(str(path), attn_implementation="eager").eval()
    texts = ["A short one.", "Another, slightly longer sentence here."]
    table = importance(handle, texts)
    assert list(table.columns) == ["layer", "head", "importance"] and len(table) == 2 * 4
    total = np.zeros((2, 4))
    for text in texts:
        ctx = prepare(handle, text, None, None)
        label = int(ctx.scorer.label.split("_")[-1])
        gates = [torch.ones(4, requires_grad=True) for _ in range(2)]
        x = eager.bert.embeddings(input_ids=ctx.input_ids, token_type_ids=ctx.token_type_ids)[0]
        for block, g in zip(eager.bert.encoder.layer, gates):
            x = _layer(block, x, gates=g)
        logits = eager.classifier(eager.bert.pooler(x[None]))
        grads = torch.autograd.grad(torch.softmax(logits, -1)[0, label], gates)
        total += np.stack([g.abs().numpy() for g in grads])
    np.testing.assert_allclose(table["importance"].to_numpy().reshape(2, 4), total / len(texts), atol=1e-6)


def test_bad_head_requests_are_input_errors(default_handle):
    for bad in ([(6, 0)], [(0, 12)], [("a", 1)], [(1,)]):
        with pytest.raises(InputError):
            ablate(default_handle, "Hello.", bad)
    with pytest.raises(InputError):
        ablate(default_handle, "Hello.", [(0, 0)], how="drop")
    with pytest.raises(InputError):
        importance(default_handle, "not a list")
