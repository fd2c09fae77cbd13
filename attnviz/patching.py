"""Activation patching between a clean and a corrupted input, and AtP, its one-pass gradient estimate.

Patching (Meng et al. 2022; Wang et al. 2023): run the corrupted input, put back one component's clean
activation, and see how much of f(clean) − f(corrupted) returns. Components are the residual stream after
each layer at each position, and each head's context vector (all positions). AtP (Kramár et al. 2024)
estimates every patch at once from one backward pass on the corrupted run: (a_clean − a_corrupted) · ∂f/∂a.
Both are reported as the recovered fraction of the gap, with their agreement.

    >>> model = attnviz.load_model()
    >>> result = patch(model, "The film was wonderful.", "The film was terrible.")
    >>> result.residual.shape, result.agreement["residual"]["spearman"]      # [layers, n], ρ

Clean and corrupted must tokenise to the same number of tokens (a counterfactual pair: swap a word for a
word of the same length in tokens); otherwise positions would not line up and this is an InputError.
f is the target bound on the clean input (None: the clean prediction), read on both inputs.

Head patches and head records go through the capture scope (:mod:`attnviz.models.capture`). The residual
stream is read and patched by forward hooks on the layer blocks that exist only for the duration of one
call and act only for the scope that registered them (a ContextVar), so other threads running the shared
model at the same time see the ordinary forward, and nothing stays on the model afterwards.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .attribution import prepare
from .attribution.attention_based import self_attention_modules
from .errors import InputError
from .models import capture as _capture
from .serialise import Serialisable, serialisable

#: Corrupted rows per forward when patching (one row per patched component).
PATCH_ROWS = 64
#: Below this |f(clean) − f(corrupted)| there is nothing to recover and fractions are meaningless.
MIN_GAP = 1e-6


@serialisable(version=1)
@dataclass(frozen=True)
class PatchingResult(Serialisable):
    """Activation patching and AtP for one clean/corrupted pair, as recovered fractions of the gap.

    ``residual`` / ``residual_atp`` [layers, n]: patching the residual stream after layer l at position p
    (the real effect / AtP's estimate), each (f(patched) − f(corrupted)) / (f(clean) − f(corrupted)): 1 means
    that one activation restores the clean output, 0 that it changes nothing. ``heads`` / ``heads_atp``
    [layers, heads]: patching one head's context vector at every position. ``agreement``: Pearson and
    Spearman correlation of AtP with patching, per component kind.
    """

    clean_tokens: tuple[str, ...]
    corrupted_tokens: tuple[str, ...]
    target: str
    clean_output: float
    corrupted_output: float
    residual: np.ndarray
    residual_atp: np.ndarray
    heads: np.ndarray
    heads_atp: np.ndarray
    agreement: dict = field(default_factory=dict)
    model_name: str = ""

    def __post_init__(self):
        n = len(self.clean_tokens)
        if len(self.corrupted_tokens) != n or self.residual.shape[1:] != (n,):
            raise ValueError("residual must be [layers, n] for n clean and corrupted tokens")
        if self.residual_atp.shape != self.residual.shape or self.heads_atp.shape != self.heads.shape:
            raise ValueError("AtP estimates must have the shapes of the patching effects")

    @property
    def changed(self) -> np.ndarray:
        """[n] bool: positions whose token differs between clean and corrupted."""
        return np.array([a != b for a, b in zip(self.clean_tokens, self.corrupted_tokens)])

    def to_dataframe(self) -> pd.DataFrame:
        """One row per component: kind (residual/head), layer, index (position or head), label, patching, atp."""
        layers, n = self.residual.shape
        heads = self.heads.shape[1]
        lay, pos = np.meshgrid(np.arange(layers), np.arange(n), indexing="ij")
        hl, hh = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
        residual = pd.DataFrame({"kind": "residual", "layer": lay.ravel(), "index": pos.ravel(),
                                 "label": [f"{self.clean_tokens[p]} → {self.corrupted_tokens[p]}"
                                           if self.clean_tokens[p] != self.corrupted_tokens[p]
                                           else self.clean_tokens[p] for p in pos.ravel()],
                                 "patching": self.residual.ravel(), "atp": self.residual_atp.ravel()})
        head = pd.DataFrame({"kind": "head", "layer": hl.ravel(), "index": hh.ravel(),
                             "label": [f"L{a}H{b}" for a, b in zip(hl.ravel(), hh.ravel())],
                             "patching": self.heads.ravel(), "atp": self.heads_atp.ravel()})
        return pd.concat([residual, head], ignore_index=True)


def agreement(patching: np.ndarray, atp: np.ndarray) -> dict:
    """Pearson r and Spearman ρ (average ranks for ties) between patching effects and AtP estimates."""
    a, b = pd.Series(np.ravel(patching)), pd.Series(np.ravel(atp))
    if a.nunique() < 2 or b.nunique() < 2:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(a.corr(b)), "spearman": float(a.corr(b, method="spearman"))}


# ------------------------------------------------------------------ residual-stream scope
@dataclass
class _ResidualScope:
    """This call's residual reads and patches: layer → ([k] rows, [k] positions, [k, d] values)."""

    record: bool = False
    records: dict[int, torch.Tensor] = field(default_factory=dict)
    patches: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def on_block(self, layer: int, hidden: torch.Tensor) -> torch.Tensor:
        patch = self.patches.get(layer)
        if patch is not None:
            rows, positions, values = patch
            hidden = hidden.index_put((rows, positions), values.to(hidden.dtype))
        if self.record:
            self.records[layer] = hidden
        return hidden


_SCOPE: contextvars.ContextVar[_ResidualScope | None] = contextvars.ContextVar("attnviz_residual", default=None)


def layer_blocks(handle) -> list[torch.nn.Module]:
    """The transformer blocks, bottom to top: the ModuleList whose i-th entry holds layer i's self-attention."""
    ids = self_attention_modules(handle)
    for candidate in handle.model.modules():
        if isinstance(candidate, torch.nn.ModuleList) and len(candidate) == len(ids):
            if all(any(id(m) == mid for m in block.modules()) for block, mid in zip(candidate, ids)):
                return list(candidate)
    raise InputError("Patching needs one block per layer holding that layer's self-attention; this model has none.")


@contextlib.contextmanager
def residual_scope(handle, scope: _ResidualScope) -> Iterator[_ResidualScope]:
    """Read/patch the residual stream after each block in this thread's forwards, for this scope only."""

    def make_hook(layer: int):
        def hook(module, args, output):
            if _SCOPE.get() is not scope:  # another thread's forward, or another scope's hooks
                return None
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = scope.on_block(layer, hidden)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
        return hook

    token = _SCOPE.set(scope)
    handles = []
    try:
        for layer, block in enumerate(layer_blocks(handle)):
            handles.append(block.register_forward_hook(make_hook(layer)))
        yield scope
    finally:
        for h in handles:
            h.remove()
        _SCOPE.reset(token)


# ------------------------------------------------------------------ the computation
def patch(model, clean: str, corrupted: str, *, target=None) -> PatchingResult:
    """Activation patching (residual stream per layer × position, and per head) and AtP for one pair.

    Args:
        model: a loaded handle (``attnviz.load_model()``) whose attention attnviz captures.
        clean, corrupted: two texts that tokenise to the same number of tokens.
        target: what f is (None: the clean input's prediction), bound on the clean input.

    Cost: 2 forwards and 1 backward for AtP; layers × (n + heads) patched rows for patching, batched.
    """
    ctx = prepare(model, clean, None, target)
    bad = prepare(model, corrupted, None, target)
    if bad.n != ctx.n:
        raise InputError(f"Clean and corrupted texts must have the same number of tokens to patch position by "
                         f"position; they have {ctx.n} and {bad.n}. Swap words for words of the same token length.")
    module_ids = self_attention_modules(model)
    layers, heads = len(module_ids), model.num_heads

    def run(input_ids, scope, embeds=None, **capture):
        b = input_ids.shape[0]
        tt = None if ctx.token_type_ids is None else ctx.token_type_ids.expand(b, -1)
        with residual_scope(model, scope), _capture.capture(lambda key: False, **capture) as cap:
            value = ctx.scorer(input_ids=input_ids, inputs_embeds=embeds,
                               attention_mask=ctx.attention_mask.expand(b, -1), token_type_ids=tt)
        return value, cap

    # clean activations, then the corrupted run with its gradients (AtP)
    with torch.inference_mode():
        clean_scope = _ResidualScope(record=True)
        f_clean, clean_cap = run(ctx.input_ids, clean_scope, keep_heads=True)
    clean_resid = torch.stack([clean_scope.records[layer][0] for layer in range(layers)]).float()  # [L, n, d]
    clean_heads = torch.stack([z[0] for _, z in clean_cap.heads]).float()  # [L, n, h, d]
    with torch.enable_grad():
        bad_scope = _ResidualScope(record=True)
        # from the embeddings, which require grad, so the graph reaches every activation (weights do not)
        f_bad, bad_cap = run(bad.input_ids, bad_scope, bad.embeds.detach().requires_grad_(), keep_heads=True)
        resid = [bad_scope.records[layer] for layer in range(layers)]
        zs = [z for _, z in bad_cap.heads]
        grads = torch.autograd.grad(f_bad[0], resid + zs, allow_unused=True)
    f_clean, f_bad = float(f_clean[0]), float(f_bad.detach()[0])
    gap = f_clean - f_bad
    if abs(gap) < MIN_GAP:
        raise InputError(f"f is the same on both texts ({f_clean:.6g}): there is no difference for patching to "
                         "recover. Choose a corrupted text that changes the output.")

    def zero_if_none(g, like):
        return torch.zeros_like(like) if g is None else g

    bad_resid = torch.stack([r[0].detach() for r in resid]).float()
    grad_resid = torch.stack([zero_if_none(g, r)[0] for g, r in zip(grads[:layers], resid)]).float()
    resid_atp = ((clean_resid - bad_resid) * grad_resid).sum(-1) / gap  # [L, n]
    bad_heads = torch.stack([z[0].detach() for z in zs]).float()
    grad_heads = torch.stack([zero_if_none(g, z)[0] for g, z in zip(grads[layers:], zs)]).float()
    heads_atp = ((clean_heads - bad_heads) * grad_heads).sum(dim=(1, 3)) / gap  # [L, h]

    # real patching, one corrupted row per component
    n = ctx.n
    resid_effect = np.zeros(layers * n)
    cells = [(layer, p) for layer in range(layers) for p in range(n)]
    with torch.inference_mode():
        for start in range(0, len(cells), PATCH_ROWS):
            chunk = cells[start:start + PATCH_ROWS]
            scope = _ResidualScope()
            for layer in {c[0] for c in chunk}:
                rows = [i for i, c in enumerate(chunk) if c[0] == layer]
                positions = [chunk[i][1] for i in rows]
                scope.patches[layer] = (torch.tensor(rows), torch.tensor(positions),
                                        clean_scope.records[layer][0, positions])
            value, _ = run(bad.input_ids.expand(len(chunk), -1), scope)
            resid_effect[start:start + len(chunk)] = value.float().cpu().numpy()
        head_cells = [(layer, h) for layer in range(layers) for h in range(heads)]
        head_effect = np.zeros(layers * heads)
        for start in range(0, len(head_cells), PATCH_ROWS):
            chunk = head_cells[start:start + PATCH_ROWS]
            patches = {}
            for layer in {c[0] for c in chunk}:
                rows = torch.zeros(len(chunk), heads, dtype=torch.bool)
                for i, (lay, h) in enumerate(chunk):
                    if lay == layer:
                        rows[i, h] = True
                patches[module_ids[layer]] = (rows, clean_cap.heads[layer][1].expand(len(chunk), -1, -1, -1))
            value, _ = run(bad.input_ids.expand(len(chunk), -1), _ResidualScope(), head_patches=patches)
            head_effect[start:start + len(chunk)] = value.float().cpu().numpy()
    residual = ((resid_effect - f_bad) / gap).reshape(layers, n)
    head_frac = ((head_effect - f_bad) / gap).reshape(layers, heads)
    resid_atp, heads_atp = resid_atp.cpu().numpy(), heads_atp.cpu().numpy()
    return PatchingResult(
        clean_tokens=ctx.encoding.tokens, corrupted_tokens=bad.encoding.tokens, target=ctx.scorer.description,
        clean_output=f_clean, corrupted_output=f_bad,
        residual=residual.astype(np.float32), residual_atp=resid_atp.astype(np.float32),
        heads=head_frac.astype(np.float32), heads_atp=heads_atp.astype(np.float32),
        agreement={"residual": agreement(residual, resid_atp), "heads": agreement(head_frac, heads_atp)},
        model_name=getattr(model, "name", ""),
    )
