"""Attention weights without giving up the fast path.

transformers 5 runs `sdpa` by default, which returns no weights; `eager` returns them but is slower
for every forward, also those that need no weights (attribution, batches). We register our own
attention implementation, ``"attnviz"``: it is exactly transformers' sdpa path unless the current
thread has opened a :func:`capture` scope that asks for a module's weights. Then that module
computes softmax(QKᵀ·s + mask) explicitly, with the same masking rules as sdpa, and hands the
weights to the scope.

The scope lives in a ContextVar, so each Streamlit session thread sees only its own captures: the
shared cached model carries no per-request state and no hooks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

IMPLEMENTATION = "attnviz"


#: which call this is: (id of the attention module, how many times it ran before in this forward). A
#: module shared by several layers (ALBERT) runs once per layer, so its id alone does not name a layer.
CallKey = tuple[int, int]


@dataclass
class Capture:
    """Weights recorded during one forward, in call order: (call key, module, weights[batch, heads, q, k])."""

    wants: Callable[[CallKey], bool]
    records: list[tuple[CallKey, torch.nn.Module, torch.Tensor]] = field(default_factory=list)
    #: optional destination per call (call key → [b, h, q, k] float32 tensor): the weights are computed
    #: in place there, so a caller that preallocates one [layers, ...] array pays for no copies.
    buffers: dict[CallKey, torch.Tensor] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)
    #: optional per module (id → [b, k] tensor): multiplies each key position's value vector before it is
    #: mixed (value zeroing: 0 removes token k's value for every query and head of that batch row).
    value_scales: dict[int, torch.Tensor] = field(default_factory=dict)
    #: optional per module (id → [h] or [b, h] tensor): multiplies each head's context vector before the
    #: output projection (head masks ξ, ablation); may require grad, so ∂f/∂ξ flows back to it.
    head_scales: dict[int, torch.Tensor] = field(default_factory=dict)
    #: optional per module (id → [h] bool): those heads' context vectors are replaced by their mean over
    #: the (query) positions of each row (mean ablation), after any head scale.
    head_means: dict[int, torch.Tensor] = field(default_factory=dict)
    #: keep each wanted call's value states [b, h_kv, k, d] (after any value scale), in call order.
    keep_values: bool = False
    values: list[tuple[torch.nn.Module, torch.Tensor]] = field(default_factory=list)
    #: bounded memory: when set, a wanted call's weights are never materialised whole. The forward runs on
    #: the fast path and ``reduce(call key, KeptAttention)`` is handed what the weights are a function of,
    #: to compute any rows and heads it needs (see :meth:`KeptAttention.rows`); nothing goes to ``records``.
    reduce: Callable[[CallKey, KeptAttention], None] | None = None
    #: optional per module (id → ([b, h] bool, [b, q, h, d] tensor)): the chosen heads of each row take the
    #: given context vectors instead of their own (activation patching), after any scale or mean.
    head_patches: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    #: keep every call's per-head context vectors [b, q, h, d] (after scales, means and patches), in call
    #: order, wanted or not; they stay in the graph, so ∂f/∂z flows back to them (AtP).
    keep_heads: bool = False
    heads: list[tuple[torch.nn.Module, torch.Tensor]] = field(default_factory=list)

    def next_call(self, module: torch.nn.Module) -> CallKey:
        count = self.calls.get(id(module), 0)
        self.calls[id(module)] = count + 1
        return id(module), count


_CURRENT: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("attnviz_capture", default=None)


@contextlib.contextmanager
def capture(wants: Callable[[CallKey], bool] = lambda key: True,
            buffers: dict[CallKey, torch.Tensor] | None = None, *,
            value_scales: dict[int, torch.Tensor] | None = None,
            head_scales: dict[int, torch.Tensor] | None = None,
            head_means: dict[int, torch.Tensor] | None = None,
            keep_values: bool = False,
            head_patches: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
            keep_heads: bool = False,
            reduce: Callable[[CallKey, KeptAttention], None] | None = None) -> Iterator[Capture]:
    """Record attention weights of the calls for which ``wants(call key)`` is true, in this thread only.

    ``value_scales``, ``head_scales``, ``head_means`` and ``head_patches`` (keyed by ``id(module)``, see
    :class:`Capture`) change this thread's forward passes inside the scope only; ``keep_values`` also records
    the value states, ``keep_heads`` every call's per-head context vectors; ``reduce`` switches to bounded
    memory (see :class:`Capture`).
    """
    cap = Capture(wants, buffers=buffers or {}, value_scales=value_scales or {}, head_scales=head_scales or {},
                  head_means=head_means or {}, keep_values=keep_values, head_patches=head_patches or {},
                  keep_heads=keep_heads, reduce=reduce)
    token = _CURRENT.set(cap)
    try:
        yield cap
    finally:
        _CURRENT.reset(token)


def attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    position_bias: torch.Tensor | None = None,
    **kwargs,
):
    cap = _CURRENT.get()
    call = cap.next_call(module) if cap is not None else None
    sinks, softcap = kwargs.get("s_aux"), kwargs.get("softcap")
    if cap is None and sinks is None and softcap is None:
        kwargs.pop("output_attentions", None)
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
            is_causal=is_causal, position_bias=position_bias, **kwargs,
        )
    wanted = cap is not None and cap.wants(call)
    if cap is not None:
        value_scale = cap.value_scales.get(id(module))
        if value_scale is not None:
            value = value * value_scale[:, None, :, None].to(value.dtype)
        if wanted and cap.keep_values:
            cap.values.append((module, value))
    if wanted and cap.reduce is not None:
        cap.reduce(call, KeptAttention(
            query=query, key=key, attention_mask=attention_mask, scaling=scaling, is_causal=is_causal,
            default_causal=getattr(module, "is_causal", True), position_bias=position_bias, softcap=softcap,
            sinks=sinks))
        wanted = False
    if wanted or sinks is not None or softcap is not None:
        # sdpa has no attention sinks (GPT-OSS: it would silently drop them) nor softcapping (Gemma 2:
        # it refuses): these run the explicit formula, keeping the weights only when wanted.
        weights, output = explicit_attention(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
            is_causal=is_causal, position_bias=position_bias, softcap=softcap, sinks=sinks,
            out=cap.buffers.get(call) if wanted else None,
        )
        if wanted:
            cap.records.append((call, module, weights))  # in the graph when gradients are on (grad × attention)
        else:
            weights = None
    else:
        kwargs.pop("output_attentions", None)
        output, weights = sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
            is_causal=is_causal, position_bias=position_bias, **kwargs,
        )
    if cap is not None:
        head_scale = cap.head_scales.get(id(module))
        if head_scale is not None:  # output [b, q, h, d]: one factor per head (and batch row)
            scale = head_scale[None, None, :, None] if head_scale.dim() == 1 else head_scale[:, None, :, None]
            output = output * scale.to(output.dtype)
        head_mean = cap.head_means.get(id(module))
        if head_mean is not None and bool(head_mean.any()):
            chosen = head_mean.to(output.device)[None, None, :, None]
            output = torch.where(chosen, output.mean(dim=1, keepdim=True).expand_as(output), output)
        head_patch = cap.head_patches.get(id(module))
        if head_patch is not None:
            rows, patched = head_patch
            output = torch.where(rows.to(output.device)[:, None, :, None], patched.to(output.dtype), output)
        if cap.keep_heads:
            cap.heads.append((module, output))
    return output, weights


def explicit_attention(
    module, query, key, value, attention_mask, *, dropout=0.0, scaling=None, is_causal=None,
    position_bias=None, softcap=None, sinks=None, out=None,
):
    """softmax(QKᵀ·scaling + bias + mask)·V with the masking rules of transformers' sdpa path.

    ``sinks`` (GPT-OSS): one logit per head joins each row's softmax and is dropped after it.
    Shapes: query [b, h, q, d], key/value [b, h_kv, k, d]; returns weights [b, h, q, k] and the
    output [b, q, h, d] (the layout every transformers attention function returns). With ``out`` (a
    float32 [b, h, q, k] tensor, no gradient) the weights are computed in place there.
    """
    groups = getattr(module, "num_key_value_groups", 1) or 1
    value = repeat_kv(value, groups)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    weights = attention_weights(query, repeat_kv(key, groups), attention_mask, scaling=scaling, causal=causal,
                                position_bias=position_bias, softcap=softcap, sinks=sinks, out=out)
    value = value[:, :, :weights.shape[-1]]
    mixed = weights.to(value.dtype)
    if dropout and module.training:
        mixed = torch.nn.functional.dropout(mixed, p=dropout)
    output = torch.matmul(mixed, value).transpose(1, 2).contiguous()
    return weights, output


def attention_weights(query, key, attention_mask, *, scaling=None, causal=True, position_bias=None, softcap=None,
                      sinks=None, out=None, rows: slice | None = None, trim: bool = False):
    """The weights of :func:`explicit_attention`; ``rows`` computes only those query rows (the same numbers).

    ``key`` has one head per query head here (repeat_kv done); ``causal`` is the module's causal flag.
    ``trim`` (causal rows only): leave out the keys after the last row, whose weights are exactly 0.
    """
    q_len, kv_len = query.shape[2], key.shape[2]
    causal = bool(q_len > 1 and attention_mask is None and causal)
    if causal and kv_len > q_len:
        key = key[:, :, :q_len]
        if position_bias is not None:
            position_bias = position_bias[..., :q_len]
        kv_len = q_len
    first = 0
    if rows is not None:
        first = rows.start or 0
        query = query[:, :, rows]
        if trim and causal:
            kv_len = min(kv_len, first + query.shape[2])
            key = key[:, :, :kv_len]
            if position_bias is not None:
                position_bias = position_bias[..., :kv_len]
        if attention_mask is not None and attention_mask.shape[-2] > 1:
            attention_mask = attention_mask[..., rows, :]
        if position_bias is not None and position_bias.shape[-2] > 1:
            position_bias = position_bias[..., rows, :]
    n_rows = query.shape[2]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5

    in_place = (out is not None and query.dtype == torch.float32 and not torch.is_grad_enabled()
                and sinks is None)
    if in_place and out.shape == (query.shape[0], query.shape[1], n_rows, kv_len):
        scores = torch.matmul(query, key.transpose(-1, -2), out=out)
    else:
        in_place = False
        scores = torch.matmul(query, key.transpose(-1, -2))
    if scale != 1.0:
        scores.mul_(scale)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap  # not in place: tanh keeps its output for backward
    if position_bias is not None:
        scores = scores + position_bias
    lowest = torch.finfo(scores.dtype).min
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, lowest)
        else:
            scores = scores + attention_mask
    if causal:
        row_ids = torch.arange(first, first + n_rows, device=scores.device)[:, None]
        upper = torch.arange(kv_len, device=scores.device)[None, :] > row_ids
        scores.masked_fill_(upper, lowest)
    if sinks is not None:  # one learnt logit per head that takes its share of the row, then is dropped
        sink = sinks.reshape(1, -1, 1, 1).to(scores.dtype).expand(scores.shape[0], -1, n_rows, 1)
        combined = torch.cat([scores, sink], dim=-1)
        combined = combined - combined.amax(dim=-1, keepdim=True)
        weights = torch.softmax(combined, dim=-1, dtype=torch.float32)[..., :-1]
        if out is not None and out.shape == weights.shape:
            out.copy_(weights)
    elif in_place and scores.data_ptr() == out.data_ptr():
        weights = torch.softmax(scores, dim=-1, out=out)  # row-wise, safe in place
    else:
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)
        if out is not None and out.shape == weights.shape:
            out.copy_(weights)
    return weights


@dataclass(frozen=True)
class KeptAttention:
    """What one attention call's weights are a function of: queries, keys, mask and the module's settings.

    A few MB per layer even at thousands of tokens (the weights are h·n² values): a bounded result keeps
    these and computes any head's rows again, with the same formula, whenever they are asked for.
    Shapes: query [b, h, q, d], key [b, h_kv, k, d].
    """

    query: torch.Tensor
    key: torch.Tensor
    attention_mask: torch.Tensor | None
    scaling: float | None
    is_causal: bool | None
    default_causal: bool
    position_bias: torch.Tensor | None = None
    softcap: float | None = None
    sinks: torch.Tensor | None = None

    @property
    def num_heads(self) -> int:
        return self.query.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        """(queries, keys) of the weights."""
        q_len, kv_len = self.query.shape[2], self.key.shape[2]
        causal = self.is_causal if self.is_causal is not None else self.default_causal
        if q_len > 1 and self.attention_mask is None and causal:
            kv_len = min(kv_len, q_len)
        return q_len, kv_len

    @property
    def causal(self) -> bool:
        """Whether each query row attends only to the keys up to its own position (no mask tensor)."""
        causal = self.is_causal if self.is_causal is not None else self.default_causal
        return bool(self.query.shape[2] > 1 and self.attention_mask is None and causal)

    def rows(self, heads=None, rows: slice | None = None, *, trim: bool = False) -> torch.Tensor:
        """Weights [b, len(heads), rows, k] (float32) of the chosen heads (None = all) and query rows.

        ``trim``: when :attr:`causal`, only the keys up to the last row (the others' weights are 0).
        """
        heads = list(range(self.num_heads)) if heads is None else [int(h) for h in heads]
        groups = self.num_heads // self.key.shape[1]
        index = torch.tensor(heads, device=self.query.device)
        query = self.query.index_select(1, index)
        key = self.key.index_select(1, torch.div(index, groups, rounding_mode="floor"))
        bias = self.position_bias
        if bias is not None and bias.shape[1] > 1:
            bias = bias.index_select(1, index.to(bias.device))
        sinks = None if self.sinks is None else self.sinks.reshape(-1)[index]
        causal = self.is_causal if self.is_causal is not None else self.default_causal
        return attention_weights(query, key, self.attention_mask, scaling=self.scaling, causal=causal,
                                 position_bias=bias, softcap=self.softcap, sinks=sinks, rows=rows, trim=trim).float()


AttentionInterface.register(IMPLEMENTATION, attention_forward)
if IMPLEMENTATION not in ALL_MASK_ATTENTION_FUNCTIONS:
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


def output_projection(model: torch.nn.Module, module: torch.nn.Module) -> torch.nn.Module | None:
    """The projection W_O that maps an attention module's concatenated heads back to the hidden size.

    Found by name: on the module itself (``o_proj``, ``out_proj``, ``c_proj``, ``out``: Llama, BART, GPT-2,
    T5) or, for BERT-style layouts, the sibling ``output.dense`` of its parent. None when neither exists.
    """
    for name in ("o_proj", "out_proj", "c_proj", "out"):
        proj = getattr(module, name, None)
        if isinstance(proj, torch.nn.Module) and hasattr(proj, "weight"):
            return proj
    for parent in model.modules():
        if any(child is module for child in parent.children()):
            dense = getattr(getattr(parent, "output", None), "dense", None)
            if isinstance(dense, torch.nn.Module) and hasattr(dense, "weight"):
                return dense
            return None
    return None
