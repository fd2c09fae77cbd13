"""Attention flow, norm-based attention and value zeroing against independent computations: the papers'
formulas written out by hand on a tiny BERT's own weights and its eager attentions and hidden states
(networkx for the max-flows, a hand-written BERT layer for value zeroing)."""

import threading

import networkx as nx
import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attribution import prepare, run
from attnviz.attribution.attention_based import FLOW_MAX_TOKENS
from attnviz.errors import InputError
from tests.helpers import random_sentence


@pytest.fixture(scope="module")
def tiny(tiny_model_dirs):
    """(handle, independent eager model) for the tiny BERT classifier ([CLS] readout)."""
    path = tiny_model_dirs["bert-classifier"]
    eager = transformers.BertForSequenceClassification.from_pretrained(str(path), attn_implementation="eager").eval()
    return attnviz.load_model(path), eager


def _eager(eager, ctx):
    with torch.no_grad():
        return eager(input_ids=ctx.input_ids, attention_mask=ctx.attention_mask, token_type_ids=ctx.token_type_ids,
                     output_attentions=True, output_hidden_states=True)


def _networkx_flow(attentions, source_rows):
    """Abnar & Zuidema's flow with float capacities in networkx: rows normalised per output node."""
    layers, n = len(attentions), attentions[0].shape[-1]
    graph = nx.DiGraph()
    for layer, att in enumerate(attentions, start=1):
        a_hat = 0.5 * att[0].double().mean(0).numpy() + 0.5 * np.eye(n)
        a_hat /= a_hat.sum(-1, keepdims=True)
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer, i), (layer - 1, j), capacity=float(a_hat[i, j]))
    flows = np.array([[nx.maximum_flow_value(graph, (layers, i), (0, j)) for j in range(n)] for i in source_rows])
    return flows / flows.sum(1, keepdims=True)


def test_attention_flow_equals_networkx_max_flow_on_eager_attentions(tiny, rng):
    handle, eager = tiny
    ctx = prepare(handle, random_sentence(rng, 8), None, None)
    ours = run(ctx, "attention_flow")
    ref = _networkx_flow(_eager(eager, ctx).attentions, [0])[0]  # [CLS] readout
    np.testing.assert_allclose(ours.scores, ref, atol=2e-5)
    assert ours.settings["readout"] == "cls" and ours.scores.sum() == pytest.approx(1, abs=1e-5)


def test_attention_flow_mean_readout_on_minilm(default_handle):
    ctx = prepare(default_handle, "Short and sweet.", None, None)
    ours = run(ctx, "attention_flow")
    eager = transformers.AutoModel.from_pretrained(str(attnviz.models.loading.default_model_path()),
                                                   attn_implementation="eager").eval()
    with torch.no_grad():
        atts = eager(input_ids=ctx.input_ids, attention_mask=ctx.attention_mask,
                     token_type_ids=ctx.token_type_ids, output_attentions=True).attentions
    ref = _networkx_flow(atts, range(ctx.n)).mean(0)
    np.testing.assert_allclose(ours.scores, ref, atol=2e-5)


def test_attention_flow_refuses_long_inputs_with_a_clear_message(tiny):
    handle, _ = tiny
    with pytest.raises(InputError, match=f"limited to {FLOW_MAX_TOKENS} tokens"):
        handle.attribute(" ".join(["word"] * (FLOW_MAX_TOKENS + 5)), "attention_flow")


def _head_vectors(eager, hidden, layer):
    """f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h for every head h and token j: [h, n, D] (no b_O)."""
    block = eager.bert.encoder.layer[layer]
    heads = eager.config.num_attention_heads
    d = eager.config.hidden_size // heads
    v = hidden[0] @ block.attention.self.value.weight.T + block.attention.self.value.bias  # [n, D]
    w_o = block.attention.output.dense.weight  # [D, D]: y = x W_Oᵀ
    return torch.stack([v[:, h * d:(h + 1) * d] @ w_o[:, h * d:(h + 1) * d].T for h in range(heads)])


@pytest.mark.parametrize("layer", [None, 0])
def test_attention_norm_equals_kobayashi_formula_on_the_models_weights(tiny, rng, layer):
    handle, eager = tiny
    ctx = prepare(handle, random_sentence(rng, 9), None, None)
    out = _eager(eager, ctx)
    chosen = eager.config.num_hidden_layers - 1 if layer is None else layer
    with torch.no_grad():
        f = _head_vectors(eager, out.hidden_states[chosen], chosen).double()
        alpha = out.attentions[chosen][0].double()  # [h, n, n]
        summed = torch.stack([sum(alpha[h, i, :, None] * f[h] for h in range(len(f))).norm(dim=-1)
                              for i in range(ctx.n)])  # [n, n]: ‖Σ_h α^h_ij f^h(x_j)‖
        head2 = alpha[2] * f[2].norm(dim=-1)[None, :]
    ours = run(ctx, "attention_norm", layer=layer)
    np.testing.assert_allclose(ours.scores, summed[0].numpy(), rtol=1e-5, atol=1e-6)
    assert ours.settings["layer"] == chosen and ours.settings["head"] == "all"
    one = run(ctx, "attention_norm", layer=layer, head=2)
    np.testing.assert_allclose(one.scores, head2[0].numpy(), rtol=1e-5, atol=1e-6)


def test_attention_norm_rejects_bad_layers_and_heads(tiny):
    handle, _ = tiny
    for bad in ({"layer": 7}, {"layer": "top"}, {"head": 4}):
        with pytest.raises(InputError):
            handle.attribute("Some words.", "attention_norm", **bad)


def _bert_layer(block, x, mask, zero=None):
    """One BERT layer written out: self-attention (value of token ``zero`` removed), add & norm, FFN, add & norm."""
    att = block.attention.self
    heads, d = att.num_attention_heads, att.attention_head_size
    n = x.shape[0]

    def split(t):
        return t.view(n, heads, d).transpose(0, 1)  # [h, n, d]

    q, k, v = split(att.query(x)), split(att.key(x)), split(att.value(x))
    if zero is not None:
        v = v.clone()
        v[:, zero] = 0
    scores = q @ k.transpose(-1, -2) / d ** 0.5 + (1 - mask)[None, None, :] * torch.finfo(x.dtype).min
    context = (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(n, heads * d)
    out = block.attention.output
    h1 = out.LayerNorm(out.dense(context) + x)
    ffn = torch.nn.functional.gelu(block.intermediate.dense(h1))
    return block.output.LayerNorm(block.output.dense(ffn) + h1)


def test_value_zeroing_equals_a_hand_written_bert_layer(tiny, rng):
    handle, eager = tiny
    ctx = prepare(handle, random_sentence(rng, 7), None, None)
    n = ctx.n
    out = _eager(eager, ctx)
    mask = ctx.attention_mask[0].float()
    matrices = []
    with torch.no_grad():
        for layer, block in enumerate(eager.bert.encoder.layer):
            x = out.hidden_states[layer][0]
            base = _bert_layer(block, x, mask)
            assert torch.allclose(base, out.hidden_states[layer + 1][0], atol=1e-5)  # the hand layer is BERT's
            c = np.zeros((n, n))
            for j in range(n):
                altered = _bert_layer(block, x, mask, zero=j)
                c[:, j] = (1 - torch.nn.functional.cosine_similarity(base.double(), altered.double(), -1)).numpy()
            matrices.append(c / c.sum(-1, keepdims=True))
    rollout = np.eye(n)
    for c in matrices:
        rollout = c @ rollout
    np.testing.assert_allclose(run(ctx, "value_zeroing").scores, rollout[0], atol=1e-5)
    np.testing.assert_allclose(run(ctx, "value_zeroing", layer=1).scores, matrices[1][0], atol=1e-5)


def test_value_zeroing_leaves_other_threads_untouched(default_handle):
    """A value-zeroing run in one thread while another thread runs plain forwards on the same model."""
    texts = ["The soup was cold.", "What a lovely surprise!"]
    serial = {t: default_handle.attribute(t, "input_x_gradient").scores for t in texts}
    zeroed = default_handle.attribute(texts[0], "value_zeroing").scores
    got, errors = {}, []

    def plain():
        try:
            for _ in range(3):
                for t in texts:
                    np.testing.assert_allclose(default_handle.attribute(t, "input_x_gradient").scores, serial[t],
                                               atol=1e-5)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    def zeroing():
        got["vz"] = default_handle.attribute(texts[0], "value_zeroing").scores

    threads = [threading.Thread(target=plain), threading.Thread(target=zeroing)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(got["vz"], zeroed, atol=1e-5)


def test_alti_equals_the_decomposition_written_out_and_adds_up_to_the_block_output(tiny, rng):
    """ALTI (Ferrando et al. 2022) by hand: T_i(x_j) through attention, residual and LayerNorm, per token pair."""
    handle, eager = tiny
    ctx = prepare(handle, random_sentence(rng, 7), None, None)
    n = ctx.n
    out = _eager(eager, ctx)
    mask = ctx.attention_mask[0].float()
    rollout = np.eye(n)
    with torch.no_grad():
        for layer, block in enumerate(eager.bert.encoder.layer):
            x = out.hidden_states[layer][0].double()
            f = _head_vectors(eager, out.hidden_states[layer], layer).double()  # [h, n, D]
            alpha = out.attentions[layer][0].double()
            ln = block.attention.output.LayerNorm
            b_o = block.attention.output.dense.bias.double()
            gamma, beta = ln.weight.double(), ln.bias.double()
            c = np.zeros((n, n))
            for i in range(n):
                parts = [sum(alpha[h, i, j] * f[h, j] for h in range(len(f))) + (x[i] if i == j else 0)
                         for j in range(n)]
                y = sum(parts) + b_o
                sigma = torch.sqrt(y.var(unbiased=False) + ln.eps)
                t = [(p - p.mean()) / sigma * gamma for p in parts]
                whole = sum(t) + (b_o - b_o.mean()) / sigma * gamma + beta
                real = _bert_layer_attention_block(block, out.hidden_states[layer][0], mask)[i].double()
                assert torch.allclose(whole, real, atol=1e-5)  # the parts add up to the block's real output
                for j in range(n):
                    c[i, j] = max(0.0, float(whole.abs().sum() - (whole - t[j]).abs().sum()))
            rollout = (c / c.sum(-1, keepdims=True)) @ rollout
    np.testing.assert_allclose(run(ctx, "alti").scores, rollout[0], atol=1e-6)


def _bert_layer_attention_block(block, x, mask):
    """LN(attention output + x): the part of a BERT layer before its FFN, written out."""
    att = block.attention.self
    heads, d = att.num_attention_heads, att.attention_head_size
    n = x.shape[0]

    def split(t):
        return t.view(n, heads, d).transpose(0, 1)

    scores = split(att.query(x)) @ split(att.key(x)).transpose(-1, -2) / d ** 0.5
    scores = scores + (1 - mask)[None, None, :] * torch.finfo(x.dtype).min
    context = (torch.softmax(scores, -1) @ split(att.value(x))).transpose(0, 1).reshape(n, heads * d)
    return block.attention.output.LayerNorm(block.attention.output.dense(context) + x)


def test_registry_defaults_are_valid_settings(tiny):
    from attnviz.attribution import METHODS

    handle, _ = tiny
    for name in ("attention_flow", "attention_norm", "value_zeroing", "alti"):
        record = METHODS[name]
        assert record.family == "attention" and not record.default and not record.signed
        assert np.all(np.isfinite(handle.attribute("Two words.", name, **record.defaults).scores))
