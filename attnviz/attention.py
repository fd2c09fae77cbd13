"""Attention extraction and what is computed from it: head means, rollout, head statistics.

Shapes are written once, here:
    attentions          [layers, heads, n, n]   rows (queries) sum to 1 over keys
    decoder_attentions  [layers, heads, m, m]   (encoder-decoder models)
    cross_attentions    [layers, heads, m, n]   decoder queries over encoder keys
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from .errors import InputError, ResourceError
from .models import encoding as limits
from .models.encoding import SPECIAL_KINDS, AttentionSite, encode_decoder_text
from .serialise import Serialisable, serialisable

READOUTS = {
    "mean": "mean over all unmasked query rows (the model mean-pools its tokens, specials included)",
    "cls": "the first token's row ([CLS]: what a classifier head reads)",
    "last": "the last token's row (what a causal LM predicts from)",
}


@serialisable(version=1)
@dataclass(frozen=True)
class AttentionResult(Serialisable):
    """Attention of one input. Arrays are float32 numpy; see the module docstring for shapes.

    ``layers`` gives the model layer of each row of ``attentions`` (all layers unless fewer were
    requested). ``kinds`` labels each token "cls", "sep", "special", "punct" or "text";
    ``segments`` is 0 for ``text``, 1 for ``text_pair`` and -1 for special tokens.
    """

    tokens: tuple[str, ...]
    attentions: np.ndarray
    layers: tuple[int, ...]
    kinds: tuple[str, ...]
    segments: np.ndarray
    readout: str = "cls"
    causal: bool = False
    model_name: str = ""
    truncated: bool = False
    n_input_tokens: int = 0
    decoder_tokens: tuple[str, ...] | None = None
    decoder_kinds: tuple[str, ...] | None = None
    decoder_attentions: np.ndarray | None = None
    cross_attentions: np.ndarray | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        att = self.attentions
        n = len(self.tokens)
        if att.ndim != 4 or att.shape[2:] != (n, n) or att.shape[0] != len(self.layers):
            raise ValueError(f"attentions {att.shape} do not match {len(self.layers)} layers × {n} tokens")
        if len(self.kinds) != n or len(self.segments) != n:
            raise ValueError("kinds/segments must have one entry per token")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {sorted(READOUTS)}")
        if self.decoder_attentions is not None:
            m = len(self.decoder_tokens or ())
            if self.decoder_attentions.shape[2:] != (m, m):
                raise ValueError("decoder_attentions do not match decoder_tokens")
            if self.cross_attentions is not None and self.cross_attentions.shape[2:] != (m, n):
                raise ValueError("cross_attentions must be [layers, heads, decoder tokens, encoder tokens]")

    # ------------------------------------------------------------------ shape
    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def patch_grid(self) -> tuple[int, int] | None:
        """(rows, columns) of image patches for a vision model's result (tokens after the prefix); None for text."""
        grid = self.meta.get("patch_grid")
        return None if grid is None else (int(grid[0]), int(grid[1]))

    @property
    def special(self) -> np.ndarray:
        return np.array([k in SPECIAL_KINDS for k in self.kinds], dtype=bool)

    def stack(self, which: str = "self") -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
        """(attentions, query tokens, key tokens) of one stack: "self", "decoder" or "cross"."""
        if which == "self":
            return self.attentions, self.tokens, self.tokens
        if self.decoder_attentions is None:
            raise InputError("This model has no decoder: only the 'self' attention stack exists.")
        if which == "decoder":
            return self.decoder_attentions, self.decoder_tokens, self.decoder_tokens
        if which == "cross":
            return self.cross_attentions, self.decoder_tokens, self.tokens
        raise InputError(f"Unknown attention stack '{which}': use 'self', 'decoder' or 'cross'.")

    @property
    def kv_groups(self) -> tuple[tuple[int, ...], ...] | None:
        """Grouped-query attention: the query heads sharing each key/value head (None: every head its own).

        Read from ``meta["kv_groups"]`` (set at extraction from the model's ``num_key_value_heads``).
        """
        groups = self.meta.get("kv_groups")
        return tuple(tuple(int(h) for h in g) for g in groups) if groups else None

    # ------------------------------------------------------------ aggregations
    def group_mean(self, stack: str = "self") -> np.ndarray:
        """[layers, kv groups, q, k]: the mean over the query heads that share each key/value head.

        Raises InputError for a model without grouped-query attention (see :attr:`kv_groups`).
        """
        groups = self.kv_groups
        if not groups:
            raise InputError("This model has no grouped-query attention: every query head has its own keys.")
        return kv_group_mean(self.stack(stack)[0], groups)

    def mean_heads(self) -> np.ndarray:
        """[layers, n, n]: the plain average over heads (the 'head fusion' of rollout)."""
        return self.attentions.mean(axis=1)

    def rollout(self) -> np.ndarray:
        """[n, n] attention rollout (Abnar & Zuidema 2020) through all captured layers.

        Â_l = 0.5·mean_h A_l + 0.5·I with rows renormalised, R = Â_L ⋯ Â_1. Row i says how much
        of token i's final representation traces back to each input token.
        """
        if self.layers != tuple(range(self.layers[0], self.layers[0] + len(self.layers))) or self.layers[0] != 0:
            raise InputError("Rollout needs every layer from the first one: extract all layers.")
        return attention_rollout(self.attentions, causal=self.causal)

    def rollout_readout(self) -> np.ndarray:
        """[n] one score per input token, read off the rollout with this model's readout (see READOUTS)."""
        return readout_scores(self.rollout(), self.readout)

    def head_statistics(self) -> pd.DataFrame:
        """One row per (layer, head): Clark et al. (2019) statistics, see :func:`head_statistics`."""
        df = head_statistics(self.attentions, self.kinds)
        df["layer"] = [self.layers[i] for i in df["layer"]]
        return df

    def subset(self, keep: np.ndarray) -> AttentionResult:
        """A new result with only the tokens where ``keep`` is true (rows are NOT renormalised).

        Used to hide special tokens: the remaining weights keep their meaning (share of the full row).
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(self.tokens),) or not keep.any():
            raise InputError("Nothing would be left to show: keep at least one token.")
        idx = np.flatnonzero(keep)
        cross = None if self.cross_attentions is None else self.cross_attentions[..., idx]
        return replace(
            self,
            tokens=tuple(self.tokens[i] for i in idx),
            kinds=tuple(self.kinds[i] for i in idx),
            segments=self.segments[idx],
            attentions=np.ascontiguousarray(self.attentions[:, :, idx][:, :, :, idx]),
            cross_attentions=cross,
            meta={**self.meta, "hidden_tokens": int((~keep).sum())},
        )

    def without_special(self) -> AttentionResult:
        return self.subset(~self.special)

    # ----------------------------------------------------------- serialising
    def to_dataframe(self, stack: str = "self") -> pd.DataFrame:
        """Long format: one row per (layer, head, query, key) weight."""
        att, q_tokens, k_tokens = self.stack(stack)
        L, H, nq, nk = att.shape
        layer, head, qi, ki = np.meshgrid(np.array(self.layers), np.arange(H), np.arange(nq), np.arange(nk),
                                          indexing="ij")
        return pd.DataFrame({
            "layer": layer.ravel(), "head": head.ravel(), "query_index": qi.ravel(),
            "query_token": np.asarray(q_tokens, dtype=object)[qi.ravel()], "key_index": ki.ravel(),
            "key_token": np.asarray(k_tokens, dtype=object)[ki.ravel()], "weight": att.ravel(),
        })


# ------------------------------------------------------------------ math
def kv_group_mean(attentions: np.ndarray, groups) -> np.ndarray:
    """[layers, heads, q, k] → [layers, len(groups), q, k]: the mean over each group's query heads."""
    heads = attentions.shape[1]
    if sorted(h for g in groups for h in g) != list(range(heads)):
        raise InputError(f"The key/value groups {[list(g) for g in groups]} do not cover the {heads} heads once each.")
    return np.stack([attentions[:, list(g)].mean(axis=1) for g in groups], axis=1).astype(np.float32)


def attention_rollout(attentions: np.ndarray, *, causal: bool = False) -> np.ndarray:
    """[layers, heads, n, n] → [n, n]: R = Â_L ⋯ Â_1 with Â_l = rownorm(0.5·mean_h A_l + 0.5·I)."""
    del causal  # the formula is the same; kept so callers state what they pass
    n = attentions.shape[-1]
    eye = np.eye(n, dtype=np.float64)
    rollout = eye
    for layer in attentions.astype(np.float64):
        a_hat = 0.5 * layer.mean(axis=0) + 0.5 * eye
        a_hat /= a_hat.sum(axis=-1, keepdims=True)
        rollout = a_hat @ rollout
    return rollout.astype(np.float32)


def readout_scores(matrix: np.ndarray, readout: str) -> np.ndarray:
    """[n, n] → [n]: the row(s) the model's output is read from (see READOUTS)."""
    if readout == "mean":
        return matrix.mean(axis=0)
    if readout == "cls":
        return matrix[0]
    if readout == "last":
        return matrix[-1]
    raise InputError(f"Unknown readout '{readout}'.")


HEAD_STAT_COLUMNS = {
    "entropy": "mean row entropy in nats (Clark et al.: Ã = 0.9999·A + 0.0001/n)",
    "entropy_norm": "entropy / ln n: 1 = uniform over all tokens, 0 = one token",
    "to_cls": "mean over queries of the weight on [CLS]/<s> tokens",
    "to_sep": "mean over queries of the weight on [SEP]/</s> tokens",
    "to_punct": "mean over queries of the weight on punctuation tokens",
    "to_self": "mean over queries i of A[i, i]",
    "to_prev": "mean over queries i ≥ 1 of A[i, i−1] (the token before)",
    "to_next": "mean over queries i < n−1 of A[i, i+1] (the token after)",
    "max_weight": "mean over queries of the largest weight in the row",
}


def head_statistics(attentions: np.ndarray, kinds) -> pd.DataFrame:
    """Per-head statistics after Clark et al. (2019), with previous/next defined explicitly.

    Args:
        attentions: [layers, heads, n, n].
        kinds: per token "cls", "sep", "special", "punct" or "text".
    Returns:
        DataFrame with columns layer, head, and HEAD_STAT_COLUMNS, plus a coarse ``pattern`` label
        (Clark's thresholds: special ≥ 0.6, positional ≥ 0.5, broad when entropy_norm ≥ 0.8).
    """
    att = np.asarray(attentions, dtype=np.float64)
    L, H, n, _ = att.shape
    kinds = np.asarray(kinds)
    smoothed = 0.9999 * att + 0.0001 / n
    entropy = -(smoothed * np.log(smoothed)).sum(-1).mean(-1)
    diag = np.diagonal(att, axis1=-2, axis2=-1)
    prev = np.diagonal(att, offset=-1, axis1=-2, axis2=-1).mean(-1) if n > 1 else np.zeros((L, H))
    nxt = np.diagonal(att, offset=1, axis1=-2, axis2=-1).mean(-1) if n > 1 else np.zeros((L, H))

    def mass_on(mask):
        return att[..., mask].sum(-1).mean(-1) if mask.any() else np.zeros((L, H))

    stats = {
        "entropy": entropy,
        "entropy_norm": entropy / np.log(n) if n > 1 else np.zeros((L, H)),
        "to_cls": mass_on(kinds == "cls"),
        "to_sep": mass_on(kinds == "sep"),
        "to_punct": mass_on(kinds == "punct"),
        "to_self": diag.mean(-1),
        "to_prev": prev,
        "to_next": nxt,
        "max_weight": att.max(-1).mean(-1),
    }
    layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
    df = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel(),
                       **{k: v.ravel().astype(np.float32) for k, v in stats.items()}})
    df["pattern"] = [head_pattern(row) for row in df.itertuples()]
    return df


def head_pattern(row) -> str:
    special = row.to_cls + row.to_sep
    if special >= 0.6:
        return "special tokens"
    for name, value in (("previous token", row.to_prev), ("next token", row.to_next), ("self", row.to_self)):
        if value >= 0.5:
            return name
    if row.to_punct >= 0.6:
        return "punctuation"
    if row.entropy_norm >= 0.8:
        return "broad"
    return "mixed"


# ------------------------------------------------------------- extraction
def extract_attention(handle, text: str, text_pair: str | None = None, *, target: str | None = None,
                      layers=None, chat_template: bool = False) -> AttentionResult:
    """Run ``handle`` on the input and collect its attention weights (see ModelHandle.attention).

    Args:
        text, text_pair: the input (a sentence pair goes to the encoder as one sequence).
        target: encoder-decoder models only: the decoder's text (default: ``text`` again).
        layers: layer indices to keep (negative counts from the end); None = all. Fewer layers cost
            less: the other layers run on the fast sdpa path.
    """
    enc = handle.encode(text, text_pair, chat_template=True) if chat_template else handle.encode(text, text_pair)
    n_layers = handle.num_layers
    chosen = choose_layers(layers, n_layers)
    n = len(enc.tokens)
    values = len(chosen) * handle.num_heads * n * n * (3 if handle.kind == "encoder-decoder" else 1)
    if values > limits.MAX_ATTENTION_VALUES:
        fit = limits.MAX_ATTENTION_VALUES * len(chosen) // values
        how = (f"request fewer layers (at most {fit} fit: pick them under 'Layers', or pass layers=[...]) "
               "or a shorter text." if fit else "even one layer is too many: use a shorter text (fewer layers "
               "will not help).")
        raise ResourceError(
            f"{len(chosen)} layers × {handle.num_heads} heads × {n}² tokens is {values:,} attention values "
            f"(limit {limits.MAX_ATTENTION_VALUES:,}): {how}"
        )
    inputs = dict(enc.inputs)
    dec_tokens = dec_kinds = None
    if handle.kind == "encoder-decoder":
        dec_ids, dec_tokens, dec_kinds = _decoder_inputs(handle, target if target is not None else text)
        inputs["decoder_input_ids"] = dec_ids
    elif target is not None:
        raise InputError("A decoder target only applies to encoder-decoder models.")
    n_dec = 0 if dec_tokens is None else len(dec_tokens)
    shapes = {"self": (n, n)} if dec_tokens is None else {"self": (n, n), "decoder": (n_dec, n_dec),
                                                           "cross": (n_dec, n)}
    H = handle.num_heads
    # One float32 array per stack, filled in place by the capture (no per-layer copies, no stacking).
    arrays = {stack: np.empty((len(chosen), H, *shape), dtype=np.float32) for stack, shape in shapes.items()}
    buffers = {}
    if handle.device.type == "cpu":
        for stack, arr in arrays.items():
            tensor = torch.from_numpy(arr)
            for i, layer in enumerate(chosen):
                buffers[AttentionSite(stack, layer)] = tensor[i:i + 1]
    wanted = set(chosen)
    _, records = handle.forward(inputs, capture_sites=lambda s: s.layer in wanted, buffers=buffers)

    def gather(stack):
        arr = arrays[stack]
        for i, layer in enumerate(chosen):
            weights = records.get(AttentionSite(stack, layer))
            if weights is None:
                raise RuntimeError(f"attention weights missing for {stack} layer {layer}")
            view = buffers.get(AttentionSite(stack, layer))
            if view is None or weights.data_ptr() != view.data_ptr():
                arr[i] = weights[0].float().cpu().numpy()
        return arr

    result = AttentionResult(
        tokens=enc.tokens, attentions=gather("self"), layers=tuple(chosen), kinds=enc.kinds,
        segments=enc.segments, readout=handle.readout, causal=handle.kind == "decoder",
        model_name=handle.name, truncated=enc.truncated, n_input_tokens=enc.n_input_tokens,
        decoder_tokens=dec_tokens, decoder_kinds=dec_kinds,
        decoder_attentions=gather("decoder") if dec_tokens else None,
        cross_attentions=gather("cross") if dec_tokens else None,
        meta={"max_tokens": handle.max_length, "device": str(handle.device),
              **({"chat_template": True} if chat_template else {}),
              **({"kv_groups": [list(g) for g in groups]} if (groups := getattr(handle, "kv_groups", None))
                 else {})},
    )
    return result


def choose_layers(layers, n_layers: int) -> list[int]:
    """Sorted model layer indices from ``layers`` (None = all, an int, or a list; negatives count from the end)."""
    if layers is None:
        return list(range(n_layers))
    if isinstance(layers, int):
        layers = [layers]
    chosen = []
    for layer in layers:
        if not isinstance(layer, (int, np.integer)) or not -n_layers <= layer < n_layers:
            raise InputError(f"Layer {layer!r} does not exist: this model has layers 0–{n_layers - 1}.")
        chosen.append(int(layer) % n_layers)
    if not chosen:
        raise InputError("Choose at least one layer.")
    return sorted(set(chosen))


def _decoder_inputs(handle, target: str):
    return encode_decoder_text(handle.tokenizer, handle.config, target, max_length=handle.max_length,
                               device=handle.device)
