"""Scores read off attention: rollout and gradient-weighted attention (Chefer et al. 2021, generic rule)."""

from __future__ import annotations

import numpy as np
import torch

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


def _attentions(ctx) -> np.ndarray:
    inputs = {"input_ids": ctx.input_ids, "attention_mask": ctx.attention_mask}
    if ctx.token_type_ids is not None:
        inputs["token_type_ids"] = ctx.token_type_ids
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
