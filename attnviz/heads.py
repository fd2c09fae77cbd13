"""Head-level interventions on a shared model: Michel et al.'s head importance and head ablation.

Both act through the per-call scope of :mod:`attnviz.models.capture` (a head scale ξ or a mean
replacement applied to each head's context vector before the output projection), so nothing is left on
the shared model and other threads see the ordinary forward.

    >>> model = attnviz.load_model()
    >>> importance(model, ["A warm film.", "A dull film."]).nlargest(3, "importance")
    >>> ablate(model, "A warm film.", heads=[(5, 3)]).output      # the pooled, normalised embedding
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .attribution import prepare
from .attribution.attention_based import self_attention_modules
from .errors import InputError
from .models import capture as _capture
from .models.targets import mean_pool

ABLATIONS = ("zero", "mean")


def importance(model, texts: Sequence[str], target=None) -> pd.DataFrame:
    """Head importance (Michel et al., NeurIPS 2019): I_h = mean over texts of |∂f(x)/∂ξ_h| at ξ = 1.

    Each head's context vector is multiplied by a gate ξ_h before the output projection; f is the explained
    number of ``target`` (None: each text's own prediction, e.g. p(predicted label | x)). Raw values, no
    per-layer or global normalisation (Michel et al. normalise per layer for pruning only).

    Returns:
        DataFrame with columns layer, head, importance (one row per head, layer-major).
    """
    if isinstance(texts, str) or not texts:
        raise InputError("Give a list of one or more texts to measure head importance on.")
    layer_ids = self_attention_modules(model)
    heads = model.num_heads
    total = torch.zeros(len(layer_ids), heads, dtype=torch.float64)
    for text in texts:
        ctx = prepare(model, text, None, target)
        gates = {mid: torch.ones(heads, device=model.device, requires_grad=True) for mid in layer_ids}
        kwargs = {"inputs_embeds": ctx.embeds, "attention_mask": ctx.attention_mask}
        if ctx.token_type_ids is not None:
            kwargs["token_type_ids"] = ctx.token_type_ids
        with torch.enable_grad(), _capture.capture(lambda key: False, head_scales=gates):
            value = ctx.scorer.fn(model.model(**kwargs), ctx.attention_mask, ctx.input_ids)[0]
            grads = torch.autograd.grad(value, [gates[mid] for mid in layer_ids])
        total += torch.stack([g.abs().double().cpu() for g in grads])
    mean = (total / len(texts)).numpy()
    layer, head = np.meshgrid(np.arange(len(layer_ids)), np.arange(heads), indexing="ij")
    return pd.DataFrame({"layer": layer.ravel(), "head": head.ravel(), "importance": mean.ravel()})


@dataclass(frozen=True)
class HeadAblation:
    """The model's output and attention with some heads ablated.

    ``output``: for a sentence-transformers model its mean-pooled, normalised sentence embedding [D];
    otherwise the first output's logits for the input ([labels] or [n, vocab]), or the last hidden state
    [n, D]. ``attention`` [layers, heads, n, n] (self-attention, with the ablation in place: the weights of
    later layers change, the ablated heads' own weights do not). ``heads`` [(layer, head)]; ``how`` "zero" or
    "mean" (the head's context vector replaced by its mean over the text's positions).
    """

    tokens: tuple[str, ...]
    output: np.ndarray
    attention: np.ndarray
    heads: tuple[tuple[int, int], ...]
    how: str


def ablate(model, text: str, heads: Sequence[tuple[int, int]], how: str = "zero") -> HeadAblation:
    """Run ``text`` with ``heads`` [(layer, head), …] ablated (their context vectors zeroed or mean-replaced)."""
    if how not in ABLATIONS:
        raise InputError(f"how must be one of {', '.join(ABLATIONS)}; got {how!r}.")
    layer_ids = self_attention_modules(model)
    count, per_layer = len(layer_ids), model.num_heads
    chosen = []
    for item in heads:
        try:
            layer, head = (int(v) for v in item)
        except (TypeError, ValueError):
            raise InputError(f"Each head is a (layer, head) pair of integers; got {item!r}.") from None
        if not (0 <= layer < count and 0 <= head < per_layer):
            raise InputError(f"Head ({layer}, {head}) does not exist: layers 0–{count - 1}, heads 0–{per_layer - 1}.")
        chosen.append((layer, head))
    encoding = model.encode(text, max_length=model.sentence_max_length if model.pooling else None)
    inputs = encoding.inputs
    masks = {mid: torch.zeros(per_layer, dtype=torch.bool) for mid in layer_ids}
    for layer, head in chosen:
        masks[layer_ids[layer]][head] = True
    scales = {mid: (~m).to(model.dtype).to(model.device) for mid, m in masks.items()} if how == "zero" else None
    means = masks if how == "mean" else None
    wanted = set(layer_ids)
    with torch.inference_mode(), _capture.capture(lambda key: key[0] in wanted, head_scales=scales,
                                                  head_means=means) as cap:
        out = model.model(**inputs)
    order = sorted(cap.records, key=lambda r: layer_ids.index(r[0][0]))
    attention = torch.stack([w[0] for _, _, w in order]).float().cpu().numpy()
    if model.pooling:
        output = mean_pool(out.last_hidden_state, inputs["attention_mask"])[0]
    elif getattr(out, "logits", None) is not None:
        output = out.logits[0]
    else:
        output = out.last_hidden_state[0]
    return HeadAblation(encoding.tokens, output.float().cpu().numpy(), attention, tuple(chosen), how)


def prune_curve(model, texts: Sequence[str], table: pd.DataFrame, ks: Sequence[int] | None = None,
                target=None) -> pd.DataFrame:
    """f(x) as the k least important heads (by ``table``'s importance, see :func:`importance`) are zeroed.

    f is each text's explained number bound without pruning (None: p(its unpruned prediction)); ``kept`` is
    the share of texts whose f is still at least half its unpruned value. Returns a DataFrame with columns
    removed, mean_f, kept (one row per k; k = 0 is the unpruned model).
    """
    if isinstance(texts, str) or not texts:
        raise InputError("Give a list of one or more texts for the pruning curve.")
    layer_ids = self_attention_modules(model)
    heads = model.num_heads
    order = table.sort_values("importance", kind="stable")[["layer", "head"]].to_numpy()
    total = len(layer_ids) * heads
    ks = sorted({int(k) for k in (ks if ks is not None else np.linspace(0, total, 9).round())})
    if any(not 0 <= k <= total for k in ks):
        raise InputError(f"Numbers of heads to remove must lie between 0 and {total}.")
    contexts = [prepare(model, text, None, target) for text in texts]
    values = np.zeros((len(ks), len(contexts)))
    for row, k in enumerate(ks):
        scales = {mid: torch.ones(heads, dtype=model.dtype, device=model.device) for mid in layer_ids}
        for layer, head in order[:k]:
            scales[layer_ids[int(layer)]][int(head)] = 0
        for col, ctx in enumerate(contexts):
            with torch.inference_mode(), _capture.capture(lambda key: False, head_scales=scales):
                values[row, col] = float(ctx.forward_embeds(ctx.embeds)[0])
    kept = (values >= 0.5 * values[:1]).mean(1) if 0 in ks else np.full(len(ks), np.nan)
    return pd.DataFrame({"removed": ks, "mean_f": values.mean(1), "kept": kept})
