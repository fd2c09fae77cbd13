"""Scores read off attention: rollout, attention flow, gradient-weighted attention (Chefer et al. 2021,
generic rule), norm-based attention (Kobayashi et al. 2020) and value zeroing (Mohebbi et al. 2023).

Every per-call change to the forward pass (captured weights and values, zeroed values) goes through the
ContextVar scope of :mod:`attnviz.models.capture`: nothing is left on the shared model.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow
from transformers.integrations.sdpa_attention import repeat_kv

from ..attention import attention_rollout, readout_scores
from ..errors import InputError
from ..models import capture as _capture
from .result import MethodOutput


def rollout(ctx):
    """Attention rollout (Abnar & Zuidema 2020) read out the way the model reads its output."""
    att = _attentions(ctx)
    readout = ctx.handle.readout
    scores = readout_scores(attention_rollout(att), readout)
    return MethodOutput(scores, {"readout": readout, "residual": "0.5·A + 0.5·I"})


def _inputs(ctx) -> dict:
    inputs = {"input_ids": ctx.input_ids, "attention_mask": ctx.attention_mask}
    if ctx.token_type_ids is not None:
        inputs["token_type_ids"] = ctx.token_type_ids
    return inputs


def _attentions(ctx) -> np.ndarray:
    inputs = _inputs(ctx)
    _, records = ctx.handle.forward(inputs, capture_sites=lambda s: s.stack == "self")
    layers = sorted(records, key=lambda s: s.layer)
    return torch.stack([records[s][0] for s in layers]).float().cpu().numpy()


def grad_attention(ctx):
    """Gradient-weighted attention relevance (Chefer et al., ICCV 2021 generic rule).

    R = I; for each layer: Ā = mean_h[(∂f/∂A ⊙ A)⁺], R ← R + Ā·R. Scores are the readout of R − I
    (relevance that flowed through attention; the identity is each token's own residual path).
    """
    handle = ctx.handle
    if not handle.captures_natively:
        raise InputError("Gradient-weighted attention needs attnviz's attention capture, which this model "
                         "could not take.")
    sites = handle.attention_sites()
    self_calls = {key for key, s in sites.items() if s.stack == "self"}
    # The weights are frozen, so the graph needs one input that asks for gradients: the embeddings.
    kwargs = {"inputs_embeds": ctx.embeds.clone().requires_grad_(True), "attention_mask": ctx.attention_mask}
    if ctx.token_type_ids is not None:
        kwargs["token_type_ids"] = ctx.token_type_ids
    with torch.enable_grad(), _capture.capture(lambda key: key in self_calls) as cap:
        outputs = handle.model(**kwargs)
        value = ctx.scorer.fn(outputs, ctx.attention_mask, ctx.input_ids)[0]
        order = sorted(cap.records, key=lambda r: sites[r[0]].layer)
        weights = [w for _, _, w in order]
        grads = torch.autograd.grad(value, weights)
    n = ctx.n
    relevance = torch.eye(n, dtype=torch.float64)
    for att, grad in zip(weights, grads):
        a_bar = (grad * att).clamp(min=0).mean(dim=1)[0].detach().double().cpu()
        relevance = relevance + a_bar @ relevance
    scores = readout_scores((relevance - torch.eye(n, dtype=torch.float64)).numpy(), handle.readout)
    return MethodOutput(scores, {"rule": "R ← R + mean_h[(∇A ⊙ A)⁺]·R",
                                 "readout": handle.readout + " row(s) of R − I"})


# ------------------------------------------------------------------------------------------ attention flow
#: exact max-flow per (output, input) pair: cost grows like n² max-flows on an (L+1)·n-node graph
FLOW_MAX_TOKENS = 64
#: scipy's max-flow takes integer capacities: Â is scaled by 2²⁰ and rounded, so each capacity is exact to
#: 2⁻²¹ ≈ 5·10⁻⁷ and a flow to at most n such steps
FLOW_SCALE = 2**20


def attention_flow(ctx):
    """Attention flow (Abnar & Zuidema 2020): max-flow through the layer graph of Â_l = 0.5·mean_h A_l + 0.5·I.

    Nodes are (layer, token) for layers 0…L; edge (l, i) → (l−1, j) has capacity Â_l[i, j]. flow(i, j) is
    the maximum flow from output node (L, i) to input node (0, j), normalised over j per output node, and
    the scores are the readout row(s) of that matrix, as for rollout. Exact, so limited to
    :data:`FLOW_MAX_TOKENS` tokens.
    """
    n = ctx.n
    if n > FLOW_MAX_TOKENS:
        raise InputError(f"Attention flow solves one max-flow problem per pair of tokens and is limited to "
                         f"{FLOW_MAX_TOKENS} tokens; this input has {n}. Shorten the text or use attention rollout.")
    readout = ctx.handle.readout
    rows = range(n) if readout == "mean" else [0 if readout == "cls" else n - 1]
    matrix = np.zeros((n, n), dtype=np.float64)
    matrix[list(rows)] = flow_matrix(_attentions(ctx), rows)
    scores = readout_scores(matrix, readout)
    return MethodOutput(scores, {"readout": readout, "residual": "0.5·A + 0.5·I",
                                 "capacity_scale": FLOW_SCALE, "max_tokens": FLOW_MAX_TOKENS})


def flow_matrix(attentions: np.ndarray, rows) -> np.ndarray:
    """[layers, heads, n, n] → [len(rows), n]: normalised max-flow from top token i (each of ``rows``) to each input.

    Capacities Â_l = rownorm(0.5·mean_h A_l + 0.5·I), scaled by :data:`FLOW_SCALE` to integers for
    ``scipy.sparse.csgraph.maximum_flow``.
    """
    layers, _, n, _ = attentions.shape
    eye = np.eye(n)
    src, dst, cap = [], [], []
    for layer, att in enumerate(attentions.astype(np.float64), start=1):
        a_hat = 0.5 * att.mean(axis=0) + 0.5 * eye
        a_hat /= a_hat.sum(axis=-1, keepdims=True)
        i, j = np.nonzero(a_hat > 0)
        src.append(layer * n + i)
        dst.append((layer - 1) * n + j)
        cap.append(np.rint(a_hat[i, j] * FLOW_SCALE))
    size = (layers + 1) * n
    graph = csr_array((np.concatenate(cap).astype(np.int32), (np.concatenate(src), np.concatenate(dst))),
                      shape=(size, size))
    flows = np.zeros((len(rows), n), dtype=np.float64)
    for r, i in enumerate(rows):
        for j in range(n):
            flows[r, j] = maximum_flow(graph, layers * n + i, j, method="dinic").flow_value
    total = flows.sum(axis=1, keepdims=True)
    return flows / np.where(total > 0, total, 1.0)


# ------------------------------------------------------------------------------ norm-based (Kobayashi)
def self_attention_modules(handle) -> list[int]:
    """Module ids of the self-attention layers, bottom to top: what per-module interventions (value and head
    scales in the capture scope) are keyed by. Needs attnviz's capture implementation."""
    if not handle.captures_natively:
        raise InputError("This method needs attnviz's attention capture, which this model could not take.")
    sites = handle.attention_sites()
    ids = [key[0] for key, s in sorted(sites.items(), key=lambda kv: kv[1].layer) if s.stack == "self"]
    if len(set(ids)) != len(ids):
        raise InputError("This method needs one attention module per layer; this model shares one module across "
                         "its layers (ALBERT-style).")
    return ids


def _check_layer(layer, count: int) -> int:
    if layer is None or layer == "last":
        return count - 1
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -count <= layer < count:
        raise InputError(f"layer must be a layer index from 0 to {count - 1} (or negative from the top); got {layer!r}.")
    return int(layer) % count


def norm_matrices(handle, inputs: dict, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Kobayashi et al.'s norms for one layer: per head [h, n, n] ‖α^h_ij f^h(x_j)‖ and summed [n, n] ‖Σ_h α^h_ij f^h(x_j)‖.

    f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h: the value vector through the head's slice of the output
    projection, without the output bias b_O (the same for every token).
    """
    layer_ids = self_attention_modules(handle)
    target = layer_ids[layer]
    with torch.inference_mode(), _capture.capture(lambda key: key[0] == target, keep_values=True) as cap:
        handle.model(**inputs)
    (_, module, weights), (_, value) = cap.records[0], cap.values[0]
    proj = _capture.output_projection(handle.model, module)
    if proj is None:
        raise InputError("Norm-based attention needs the attention output projection, which attnviz could not "
                         "find in this architecture.")
    weights = weights[0].double()  # [h, n, n]
    heads = weights.shape[0]
    value = repeat_kv(value, heads // value.shape[1])[0]  # [h, n, d]
    d = value.shape[-1]
    with torch.inference_mode():
        blocks = torch.zeros(heads, value.shape[1], heads * d, dtype=value.dtype, device=value.device)
        for h in range(heads):
            blocks[h, :, h * d:(h + 1) * d] = value[h]
        transformed = (proj(blocks) - proj(torch.zeros_like(blocks[:1, :1]))).double()  # [h, n, D], no b_O
    per_head = weights * transformed.norm(dim=-1)[:, None, :]
    summed = torch.einsum("hij,hjd->ijd", weights, transformed).norm(dim=-1)
    return per_head.cpu().numpy(), summed.cpu().numpy()


def attention_norm(ctx, *, layer: int | None = None, head: int | None = None):
    """Norm-based attention (Kobayashi et al., EMNLP 2020): ‖α_ij · f(x_j)‖ instead of α_ij alone.

    One layer (the last unless ``layer`` says otherwise; "last" = None); ``head`` None (or "all") sums the heads' vectors before the
    norm (‖Σ_h α^h_ij f^h(x_j)‖), an index takes that head alone. Scores are the readout row(s) of the
    [n, n] norm matrix, as for rollout, in units of the hidden state's norm.
    """
    layers = len(self_attention_modules(ctx.handle))
    layer = _check_layer(layer, layers)
    head = None if head == "all" else head
    per_head, summed = norm_matrices(ctx.handle, _inputs(ctx), layer)
    if head is None:
        matrix = summed
    else:
        heads = per_head.shape[0]
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < heads:
            raise InputError(f"head must be a head index from 0 to {heads - 1}, or None for all heads; got {head!r}.")
        matrix = per_head[int(head)]
    readout = ctx.handle.readout
    return MethodOutput(readout_scores(matrix, readout),
                        {"layer": layer, "head": "all" if head is None else int(head), "readout": readout,
                         "norm": "‖Σ_h α^h_ij (x_j W_V^h + b_V^h) W_O^h‖" if head is None
                         else "‖α^h_ij (x_j W_V^h + b_V^h) W_O^h‖"})


# ----------------------------------------------------------------------------- value zeroing (Mohebbi)
VALUE_ZEROING_MAX_TOKENS = 256


def value_zeroing_matrices(handle, inputs: dict, layers, *, batch_size: int = 64) -> dict[int, np.ndarray]:
    """{layer: [n, n]} cosine distance between token i's layer output with and without token j's value vector.

    Each (layer, j) is one row of a batched forward in which that layer's attention zeroes the value of
    key j for every query and head (through the capture scope); everything else is the real forward.
    """
    layer_ids = self_attention_modules(handle)
    n = inputs["input_ids"].shape[1]
    with torch.inference_mode():
        base = handle.model(**inputs, output_hidden_states=True).hidden_states
    if base is None or len(base) != len(layer_ids) + 1:
        raise InputError("Value zeroing needs the model's per-layer hidden states, which this model does not return.")
    distances = {layer: np.zeros((n, n)) for layer in layers}
    jobs = [(layer, j) for layer in layers for j in range(n)]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        b = len(chunk)
        scales = {}
        for r, (layer, j) in enumerate(chunk):
            mid = layer_ids[layer]
            if mid not in scales:
                scales[mid] = torch.ones(b, n, device=handle.device)
            scales[mid][r, j] = 0.0
        batch = {k: v.expand(b, -1) for k, v in inputs.items()}
        with torch.inference_mode(), _capture.capture(lambda key: False, value_scales=scales):
            hidden = handle.model(**batch, output_hidden_states=True).hidden_states
        for r, (layer, j) in enumerate(chunk):
            original, altered = base[layer + 1][0].double(), hidden[layer + 1][r].double()
            cos = torch.nn.functional.cosine_similarity(original, altered, dim=-1)
            distances[layer][:, j] = (1 - cos).cpu().numpy()
    return distances


def value_zeroing(ctx, *, layer: int | None = None):
    """Value zeroing (Mohebbi et al., EACL 2023): how much token i's layer output moves without token j's value.

    Per layer, C[i, j] = cosine distance between token i's output of the layer (after its FFN) with and
    without the value vector of j (zeroed for every head), rows normalised to sum to 1. ``layer`` None (or
    "all") combines all layers by rollout (R = C_L ⋯ C_1, no extra identity: the residual is inside C); an index
    takes that layer alone. Scores are the readout row(s), as for rollout. Cost: n·L extra forwards, batched.
    """
    n = ctx.n
    if n > VALUE_ZEROING_MAX_TOKENS:
        raise InputError(f"Value zeroing runs one forward per token and layer and is limited to "
                         f"{VALUE_ZEROING_MAX_TOKENS} tokens; this input has {n}. Shorten the text.")
    count = len(self_attention_modules(ctx.handle))
    chosen = None if layer in (None, "all") else _check_layer(layer, count)
    layers = range(count) if chosen is None else [chosen]
    distances = value_zeroing_matrices(ctx.handle, _inputs(ctx), layers)
    matrix = np.eye(n)
    for index in layers:
        c = distances[index]
        total = c.sum(axis=-1, keepdims=True)
        matrix = (c / np.where(total > 0, total, 1.0)) @ matrix
    readout = ctx.handle.readout
    return MethodOutput(readout_scores(matrix, readout),
                        {"layer": "all (rollout)" if chosen is None else chosen, "readout": readout,
                         "distance": "1 − cos(x̃_i, x̃_i without v_j)", "rows": "normalised to sum 1"})


# --------------------------------------------------------------------------------- ALTI (Ferrando 2022)
def _post_norm(handle, module):
    """(W_O, LayerNorm) of a BERT-style post-LN block (``parent.output.dense`` / ``.LayerNorm``), or None."""
    for parent in handle.model.modules():
        if any(child is module for child in parent.children()):
            out = getattr(parent, "output", None)
            dense, norm = getattr(out, "dense", None), getattr(out, "LayerNorm", None)
            if isinstance(dense, torch.nn.Linear) and isinstance(norm, torch.nn.LayerNorm):
                return dense, norm
            return None
    return None


def alti_matrices(handle, inputs: dict) -> list[np.ndarray]:
    """Per layer [n, n]: ALTI contributions c_ij of input token j to token i's attention-block output.

    The block output x̃_i = LN(Σ_h Σ_j α^h_ij f^h(x_j) + b_O + x_i) is split into T_i(x_j) with the
    LayerNorm's mean and scale of that very input held fixed (so Σ_j T_i(x_j) + LN's share of the biases =
    x̃_i exactly); c_ij = max(0, ‖x̃_i‖₁ − ‖x̃_i − T_i(x_j)‖₁), normalised over j.
    """
    layer_ids = self_attention_modules(handle)
    wanted = set(layer_ids)
    with torch.inference_mode(), _capture.capture(lambda key: key[0] in wanted, keep_values=True) as cap:
        out = handle.model(**inputs, output_hidden_states=True)
    hidden = out.hidden_states
    if hidden is None or len(hidden) != len(layer_ids) + 1:
        raise InputError("ALTI needs the model's per-layer hidden states, which this model does not return.")
    values = {id(m): v for m, v in cap.values}
    matrices = []
    with torch.inference_mode():
        for layer, (_, module, weights) in enumerate(sorted(cap.records, key=lambda r: layer_ids.index(r[0][0]))):
            parts = _post_norm(handle, module)
            if parts is None:
                raise InputError("ALTI is implemented for BERT-style encoders (attention → add → LayerNorm); this "
                                 "model's blocks are laid out differently. Use value zeroing or rollout.")
            dense, norm = parts
            alpha = weights[0].double()  # [h, n, n]
            heads = alpha.shape[0]
            value = repeat_kv(values[id(module)], heads // values[id(module)].shape[1])[0].double()  # [h, n, d]
            d = value.shape[-1]
            w_o = dense.weight.double()  # [D, h·d]
            f = torch.stack([value[h] @ w_o[:, h * d:(h + 1) * d].T for h in range(heads)])  # [h, n, D]
            x = hidden[layer][0].double()
            n = x.shape[0]
            z = torch.einsum("hij,hjd->ijd", alpha, f)  # [n, n, D]
            z[torch.arange(n), torch.arange(n)] += x  # the residual belongs to the token itself
            bias = dense.bias.double() if dense.bias is not None else torch.zeros_like(x[0])
            y = z.sum(1) + bias  # the LayerNorm's input [n, D]
            sigma = torch.sqrt(y.var(-1, unbiased=False) + norm.eps)  # [n]
            gamma = norm.weight.double()
            t = (z - z.mean(-1, keepdim=True)) / sigma[:, None, None] * gamma
            beta = norm.bias.double() if norm.bias is not None else 0.0
            x_tilde = t.sum(1) + (bias - bias.mean()) / sigma[:, None] * gamma + beta  # = LN(y)
            c = (x_tilde.abs().sum(-1)[:, None] - (x_tilde[:, None, :] - t).abs().sum(-1)).clamp(min=0)
            total = c.sum(-1, keepdim=True)
            matrices.append((c / torch.where(total > 0, total, 1.0)).cpu().numpy())
    return matrices


def alti(ctx):
    """ALTI (Ferrando et al., EMNLP 2022): token-to-token contributions through attention, residual and LayerNorm.

    Chosen over GlobEnc because it needs no choice about the second LayerNorm (GlobEnc's norms after LN2
    skip the FFN they normalise) and scores contributions by how close each part lies to the whole output,
    which keeps them non-negative and comparable across tokens. Layers are combined by rollout
    (R = C_L ⋯ C_1); the scores are the readout row(s), one share per token. BERT-style post-LN encoders only.
    """
    matrix = np.eye(ctx.n)
    for c in alti_matrices(ctx.handle, _inputs(ctx)):
        matrix = c @ matrix
    readout = ctx.handle.readout
    return MethodOutput(readout_scores(matrix, readout),
                        {"readout": readout, "contribution": "max(0, ‖x̃_i‖₁ − ‖x̃_i − T_i(x_j)‖₁), rows sum to 1",
                         "layers": "rollout of per-layer contributions (no extra identity)"})
