"""Attention of long inputs in bounded memory: summaries computed while each layer runs, full weights on demand.

A result of :func:`extract_attention` holds layers × heads × n² float32 weights: 8.6 billion of them (34 GB)
for an 8-layer, 16-head model at 8,192 tokens. :func:`extract_bounded` keeps instead, per layer, what the
weights are a function of (queries, keys, mask: a few MB, see :class:`~attnviz.models.capture.KeptAttention`)
and, computed block of query rows by block of rows while the layer runs (at most ``CHUNK_BYTES`` of weights
at a time):

    pooled_max, pooled_mean  [layers, heads, nb, nb]   max / mean of each block × block tile (the model view)
    stats                    [layers, heads, 9]        HEAD_STAT_COLUMNS (the same formulas as head_statistics)
    top_keys, top_weights    [layers, n, k]            each query's k most attended keys, mean over heads
    rollout_scores           [n]                       the rollout read out as in AttentionResult.rollout_readout

Any head's full matrix (or a window of it) is computed again from the kept queries and keys when asked:
``result.head(layer, head)`` equals the eager weights. Recomputing one head costs one n×n matmul + softmax
(~0.3 s at 8,192 tokens on 2 CPU cores); keeping the weights on disk would cost writing h·n² floats per layer
(4.3 GB a layer at 8,192 tokens) to read back one head: recomputing wins, measured in bench/bench_long.py.
The rollout needs the head-mean matrices in reverse layer order: they are spooled to a temporary file as
float16 (the causal triangle only: about n² bytes a layer) and read back block by block, so memory stays
bounded there too.

Speed: the summaries cost a fixed number of passes over each block of weights, so the block is kept small
(``CHUNK_BYTES``) and reused. For plain layers (no mask tensor, bias, softcap or sinks: Llama-style causal
stacks, unpadded encoders) :class:`_RowWeights` computes a block as one matmul per key head (the query heads
that share it together), masks only the block's diagonal square, and keeps the logits next to the weights:
the smoothed entropy then comes from the logits (:func:`_smoothed_entropy`, no log pass). Tiles are pooled
over rows first, and the masses on [CLS]/[SEP]/punctuation come from per-key totals. Other layers take
``KeptAttention.rows`` (the general formula) and the direct entropy. Measured in bench/bench_long.py.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .attention import HEAD_STAT_COLUMNS, READOUTS, choose_layers, head_pattern
from .errors import InputError, ResourceError
from .models import encoding as limits
from .models.capture import KeptAttention
from .models.encoding import SPECIAL_KINDS, AttentionSite
from .serialise import Serialisable, serialisable

BLOCKS = 64
"""Overview tiles per side: a model view thumbnail is at most BLOCKS × BLOCKS."""
TOP_K = 8
"""Keys kept per query (head mean) for the text view."""
CHUNK_BYTES = 4 * 2**20
"""Float32 weights computed at once (a few query rows of all heads of a layer; measured at 8,192 tokens: 4 MB
beat 1, 2 and 8 MB, the passes over the block stay in the CPU's caches and the Python calls per block stay few)."""

Progress = Callable[[float, str], None]


@serialisable(version=1)
@dataclass(frozen=True)
class LongAttentionResult(Serialisable):
    """Attention of one long input, summarised (see the module docstring for the arrays and shapes).

    ``layers`` gives the model layer of each row of the arrays; ``block`` is the tile side in tokens
    (tile i covers tokens [i·block, (i+1)·block)). Full weights come from :meth:`head` / :meth:`window`
    while the result is in memory (a result read back from a file holds the summaries only).
    """

    tokens: tuple[str, ...]
    kinds: tuple[str, ...]
    segments: np.ndarray
    layers: tuple[int, ...]
    block: int
    pooled_max: np.ndarray
    pooled_mean: np.ndarray
    stats: np.ndarray
    top_keys: np.ndarray
    top_weights: np.ndarray
    rollout_scores: np.ndarray | None = None
    readout: str = "cls"
    causal: bool = False
    model_name: str = ""
    truncated: bool = False
    n_input_tokens: int = 0
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        n, L = len(self.tokens), len(self.layers)
        nb = math.ceil(n / self.block)
        if self.pooled_max.shape[:1] != (L,) or self.pooled_max.shape[2:] != (nb, nb):
            raise ValueError(f"pooled_max {self.pooled_max.shape} does not match {L} layers × {nb} blocks")
        if self.top_keys.shape[:2] != (L, n) or self.top_weights.shape != self.top_keys.shape:
            raise ValueError("top_keys/top_weights must be [layers, tokens, k]")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {sorted(READOUTS)}")

    # ------------------------------------------------------------------ shape
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_heads(self) -> int:
        return self.pooled_max.shape[1]

    @property
    def special(self) -> np.ndarray:
        return np.array([k in SPECIAL_KINDS for k in self.kinds], dtype=bool)

    @property
    def can_fetch(self) -> bool:
        """Whether full weights can be computed (False for a result read back from a file)."""
        return bool(getattr(self, "_kept", None))

    # ------------------------------------------------------------ full weights
    def head(self, layer: int, head: int) -> np.ndarray:
        """[n, n] float32: the full weights of one head of model layer ``layer`` (equal to eager)."""
        return self.window(layer, head)

    def window(self, layer: int, head: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """[rows, cols] of one head's weights: only those query rows are computed (each over all keys)."""
        kept = self._kept_layer(layer)
        if not 0 <= head < self.num_heads:
            raise InputError(f"Head {head!r} does not exist: this model has heads 0–{self.num_heads - 1}.")
        start, stop, _ = rows.indices(len(self.tokens))
        weights = kept.rows([head], slice(start, max(start, stop)))[0, 0]
        return weights[:, cols].cpu().numpy()

    def pooled_window(self, layer: int, head: int, rows: slice = slice(None), cols: slice = slice(None), *,
                      side: int = 512, how: str = "max") -> np.ndarray:
        """``block_average(self.window(layer, head, rows, cols), side, how)`` without holding the window: its
        rows are computed a chunk at a time (a few MB) and pooled at once, so a whole head at 8,192 tokens
        never takes its 268 MB. Cells follow block_average's edges (np.linspace over each axis)."""
        kept = self._kept_layer(layer)
        if not 0 <= head < self.num_heads:
            raise InputError(f"Head {head!r} does not exist: this model has heads 0–{self.num_heads - 1}.")
        n = len(self.tokens)
        first, last, _ = rows.indices(n)
        c0, c1, _ = cols.indices(n)
        nq, nk = max(0, last - first), max(0, c1 - c0)
        row_edges = np.linspace(0, nq, side + 1).astype(int) if nq > side else np.arange(nq + 1)
        col_edges = np.linspace(0, nk, side + 1).astype(int)[:-1] if nk > side else None
        reduce = np.maximum.reduceat if how == "max" else np.add.reduceat
        step = max(1, _chunk_rows(1, n))
        out, g = [], 0
        while g < len(row_edges) - 1:  # whole cells of rows per chunk
            h = g + 1
            while h < len(row_edges) - 1 and row_edges[h + 1] - row_edges[g] <= step:
                h += 1
            lo, hi = row_edges[g], row_edges[h]
            w = kept.rows([head], slice(first + lo, first + hi))[0, 0][:, c0:c1].cpu().numpy()
            if col_edges is not None:
                w = reduce(w, col_edges, axis=1)
            out.append(reduce(w, row_edges[g:h] - lo, axis=0) if nq > side else w)
            g = h
        small = np.concatenate(out, axis=0) if out else np.zeros((0, min(nk, side)), np.float32)
        if how != "max":  # means, as block_average: sums over each cell's rows × columns
            small = small / np.diff(row_edges)[:, None]
            if col_edges is not None:
                small = small / np.diff(np.append(col_edges, nk))[None, :]
        return small.astype(np.float32)

    def head_top_keys(self, layer: int, head: int | None = None, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
        """([n, k] key indices, [n, k] weights) of each query: one head, or the mean over heads (head=None)."""
        if head is None:
            pos = self._layer_pos(layer)
            return self.top_keys[pos, :, :k], self.top_weights[pos, :, :k].astype(np.float32)
        kept = self._kept_layer(layer)
        n = len(self.tokens)
        k = min(k, n)
        step = _chunk_rows(1, n)
        idx, val = np.empty((n, k), np.int32), np.empty((n, k), np.float32)
        for start in range(0, n, step):
            # causal: the keys after the chunk's last row weigh 0 (left out; put back as zeros if fewer than k)
            w = kept.rows([head], slice(start, min(n, start + step)), trim=True)[0, 0]
            if w.shape[1] < k:
                w = torch.nn.functional.pad(w, (0, k - w.shape[1]))
            top = w.topk(k, dim=-1)
            idx[start:start + step], val[start:start + step] = top.indices.cpu().numpy(), top.values.cpu().numpy()
        return idx, val

    def _layer_pos(self, layer: int) -> int:
        if layer not in self.layers:
            raise InputError(f"Layer {layer!r} was not extracted: this result has layers {list(self.layers)}.")
        return self.layers.index(layer)

    def _kept_layer(self, layer: int) -> KeptAttention:
        self._layer_pos(layer)
        if not self.can_fetch:
            raise InputError("This result was read back from a file and holds summaries only: run the model on "
                             "the text again to see full attention weights.")
        return self._kept[layer]

    # ------------------------------------------------------------ summaries
    def head_statistics(self) -> pd.DataFrame:
        """One row per (layer, head), the columns of :func:`attnviz.attention.head_statistics`."""
        L, H, _ = self.stats.shape
        layer, head = np.meshgrid(np.array(self.layers), np.arange(H), indexing="ij")
        df = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel(),
                           **{name: self.stats[:, :, i].ravel().astype(np.float32)
                              for i, name in enumerate(HEAD_STAT_COLUMNS)}})
        df["pattern"] = [head_pattern(row) for row in df.itertuples()]
        return df

    def rollout_readout(self) -> np.ndarray:
        """[n] rollout read out with this model's readout (see READOUTS)."""
        if self.rollout_scores is None:
            raise InputError("Rollout needs every layer from the first one: extract all layers.")
        return self.rollout_scores


# ------------------------------------------------------------- extraction
def applies(handle, text: str, text_pair: str | None = None, *, layers=None) -> bool:
    """Whether ``handle.attention`` takes the bounded path: full weights would pass MAX_ATTENTION_VALUES and
    the model captures through attnviz's implementation (self-attention stacks only)."""
    if not handle.captures_natively or handle.kind == "encoder-decoder":
        return False
    n = len(handle.encode(text, text_pair).tokens)
    return len(choose_layers(layers, handle.num_layers)) * handle.num_heads * n * n > limits.MAX_ATTENTION_VALUES


def extract_bounded(handle, text: str, text_pair: str | None = None, *, layers=None,
                    progress: Progress | None = None) -> LongAttentionResult:
    """Run ``handle`` once on the input, reducing each chosen layer's weights as it runs (see the module doc).

    ``progress(fraction, what)`` is called after each layer. Refused (ResourceError) only when even this
    path would not fit in the memory left (:func:`check_fits`).
    """
    if not handle.captures_natively or handle.kind == "encoder-decoder":
        raise ResourceError(f"{handle.name} cannot use bounded-memory attention ("
                            f"{handle.eager_reason or 'encoder-decoder models keep the full path'}): "
                            "use a shorter text or fewer layers.")
    enc = handle.encode(text, text_pair)
    chosen = choose_layers(layers, handle.num_layers)
    n, H = len(enc.tokens), handle.num_heads
    check_fits(handle, n, len(chosen))
    reduction = _Reduction(n, chosen, H, enc.kinds, rollout=chosen == list(range(handle.num_layers)),
                           progress=progress)
    with reduction:
        handle.forward(enc.inputs, capture_sites=lambda s: s.stack == "self" and s.layer in reduction.positions,
                       reduce=reduction, body_only=True)
        if len(reduction.kept) != len(chosen):
            raise RuntimeError(f"attention weights missing for layers {sorted(set(chosen) - set(reduction.kept))}")
        rollout = reduction.rollout(handle.readout) if reduction.spool is not None else None
    result = LongAttentionResult(
        tokens=enc.tokens, kinds=enc.kinds, segments=enc.segments, layers=tuple(chosen), block=reduction.block,
        pooled_max=reduction.pmax.astype(np.float16), pooled_mean=reduction.pooled_mean().astype(np.float16),
        stats=reduction.statistics(), top_keys=reduction.top_idx, top_weights=reduction.top_val.astype(np.float16),
        rollout_scores=rollout, readout=handle.readout, causal=handle.kind == "decoder", model_name=handle.name,
        truncated=enc.truncated, n_input_tokens=enc.n_input_tokens,
        meta={"max_tokens": handle.max_length, "device": str(handle.device), "bounded": True,
              **({"kv_groups": [list(g) for g in groups]} if (groups := getattr(handle, "kv_groups", None))
                 else {})},
    )
    object.__setattr__(result, "_kept", dict(reduction.kept))
    return result


def estimate_bytes(handle, n: int, n_layers: int) -> int:
    """Peak memory of :func:`extract_bounded` beyond the loaded model, in bytes (an upper estimate)."""
    config = handle.config
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0) or 1024)
    ffn = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    H = handle.num_heads
    head_dim = int(getattr(config, "head_dim", 0) or hidden // max(H, 1))
    item = 2 if handle.dtype in (torch.float16, torch.bfloat16) else 4
    activations = n * (6 * hidden + 2 * ffn) * item  # one layer's hidden states, MLP and projections
    kept = n_layers * 2 * H * n * head_dim * item    # queries + keys (keys at most as many heads)
    chunk = 4 * max(CHUNK_BYTES, H * n * 4)
    mask = n * n                                    # a materialised boolean mask, when the model builds one
    summaries = n_layers * (n * TOP_K * 6 + 2 * H * BLOCKS * BLOCKS * 4)
    return activations + kept + chunk + mask + summaries


def available_bytes() -> int | None:
    """Memory this process may still use (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(handle, n: int, n_layers: int) -> None:
    """Refuse (ResourceError) only when even the bounded path cannot fit in the memory left."""
    need, left = estimate_bytes(handle, n, n_layers), available_bytes()
    if handle.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(handle.device)
        left = free
    if left is not None and need > left:
        raise ResourceError(
            f"{n:,} tokens need about {need / 2**30:.1f} GB even with bounded-memory attention, and only "
            f"{left / 2**30:.1f} GB are free on the {handle.device.type.upper()}: use a shorter text.")


def _chunk_rows(heads: int, n: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return max(1, chunk_bytes // max(1, heads * n * 4))


def _pool_last(x: torch.Tensor, block: int, how: str) -> torch.Tensor:
    """Max or sum over consecutive ``block``-wide groups of the last axis (the last group may be shorter)."""
    n = x.shape[-1]
    full = n // block * block
    parts = []
    if full:
        grouped = x[..., :full].unflatten(-1, (full // block, block))
        parts.append(grouped.amax(-1) if how == "max" else grouped.sum(-1))
    if full < n:
        rest = x[..., full:]
        parts.append(rest.amax(-1, keepdim=True) if how == "max" else rest.sum(-1, keepdim=True))
    return torch.cat(parts, -1) if len(parts) > 1 else parts[0]


def _smoothed_entropy(w, scores, top, a: float, b: float) -> torch.Tensor:
    """[H, c] entropy −Σ s·log s of each row's smoothed weights s = a·w + b, from the logits (no log pass).

    log w = scores − lse, with lse = max scores − log(max w). Then log s = log a + max(log w, log(b/a))
    + log1p(e^−|log w − log(b/a)|); the last term times s is b·min(w·a/b, 1) up to 0.39·b near w = b/a and
    far less elsewhere: the result is within 4e-5 nats of the direct formula even if every key sits at
    b/a (checked in tests), and within 1e-8 for ordinary rows. ``scores`` is overwritten.
    """
    e = w.shape[-1]
    lse = scores.amax(-1, keepdim=True).sub_(top.log()[..., None])
    floor = math.log(b / a)
    z = scores.sub_(lse).clamp_min_(floor)                                      # log w, floored at log(b/a)
    total = torch.linalg.vecdot(w, z).mul_(a).add_(z.sum(-1), alpha=b).add_((a + b * e) * math.log(a))
    near = torch.clamp_max(w, b / a, out=scores).sum(-1)                          # Σ min(w, b/a)
    return total.add_(near, alpha=a).neg_()


def _pool_rows(x: torch.Tensor, block: int, how: str) -> torch.Tensor:
    """[H, rows, e] → [H, tiles, e]: max or sum over consecutive ``block`` rows (the last group may be shorter)."""
    rows = x.shape[1]
    full = rows // block * block
    parts = []
    if full:
        grouped = x[:, :full].unflatten(1, (full // block, block))
        parts.append(grouped.amax(2) if how == "max" else grouped.sum(2))
    if full < rows:
        rest = x[:, full:]
        parts.append(rest.amax(1, keepdim=True) if how == "max" else rest.sum(1, keepdim=True))
    return torch.cat(parts, 1) if len(parts) > 1 else parts[0]


class _RowWeights:
    """Weights of a block of query rows, all heads, computed into one reused buffer (no mask tensor, no bias).

    The same formula as :meth:`KeptAttention.rows` (softmax of q·kᵀ·scale, causal rows see keys ≤ their own),
    for the summaries only: fetched heads still go through ``KeptAttention.rows``. Faster because the query
    heads that share a key head are one matmul (no repeat of the keys), the causal mask touches only the
    block's diagonal square, and nothing is allocated per block (the buffer stays in the CPU's cache).
    """

    def __init__(self, kept: KeptAttention, max_rows: int):
        query, key = kept.query[0].float(), kept.key[0].float()
        H, n, d = query.shape
        self.H, self.n, self.kv_heads = H, n, key.shape[0]
        self.groups = H // self.kv_heads
        scale = kept.scaling if kept.scaling is not None else d ** -0.5
        # the scale goes on the queries (h·n·d values, not h·n²): the same numbers up to rounding
        self.query = (query * scale).view(self.kv_heads, self.groups, n, d)
        self.key_t = key.transpose(-1, -2)  # [h_kv, d, n]
        self.causal = kept.causal
        self.buffer = torch.empty(2 * H * max_rows * n, device=query.device)
        self.upper = torch.ones(max_rows, max_rows, dtype=torch.bool, device=query.device).triu(1)

    @staticmethod
    def applies(kept: KeptAttention) -> bool:
        n = kept.query.shape[2]
        return (kept.query.shape[0] == 1 and kept.key.shape[2] == n and kept.attention_mask is None
                and kept.position_bias is None and kept.softcap is None and kept.sinks is None
                and kept.query.shape[1] % kept.key.shape[1] == 0)

    def __call__(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights, scores), both [H, rows, e] float32 views of the two buffers; e = stop for causal rows
        (later keys weigh exactly 0), else n. ``scores`` are the scaled logits (−inf where masked)."""
        c, e = stop - start, stop if self.causal else self.n
        size = self.H * c * e
        scores = self.buffer[:size].view(self.kv_heads, self.groups * c, e)
        rows = self.query[:, :, start:stop].reshape(self.kv_heads, self.groups * c, -1)
        torch.matmul(rows, self.key_t[:, :, :e], out=scores)
        scores = scores.view(self.H, c, e)
        if self.causal:
            scores[:, :, start:stop].masked_fill_(self.upper[:c, :c], -math.inf)
        weights = torch.softmax(scores, dim=-1, out=self.buffer[size:2 * size].view(self.H, c, e))
        return weights, scores


class _Reduction:
    """The ``reduce`` callback of a capture: one layer's weights, block of rows by block of rows.

    Rows go in chunks of at most ``chunk_bytes`` of weights that start on a tile boundary: whole tile rows
    (``block`` rows each) when they fit, else parts of one. A chunk is pooled over its rows first (one pass),
    then over keys on the small [H, tiles, e].
    """

    def __init__(self, n: int, layers: list[int], heads: int, kinds, *, rollout: bool, progress: Progress | None,
                 chunk_bytes: int = CHUNK_BYTES):
        self.n, self.H, self.progress = n, heads, progress
        self.positions = {layer: i for i, layer in enumerate(layers)}
        self.block = max(1, math.ceil(n / BLOCKS))
        rows = min(_chunk_rows(heads, n, chunk_bytes), max(1, n // 16))  # ≥ 16 chunks: causal rows skip keys
        self.step = rows // self.block * self.block if rows >= self.block else rows
        nb = math.ceil(n / self.block)
        L, k = len(layers), min(TOP_K, n)
        self.pmax = np.zeros((L, heads, nb, nb), np.float32)  # weights ≥ 0: 0 is max's neutral element
        self.psum = np.zeros((L, heads, nb, nb), np.float64)
        self.sums = np.zeros((L, heads, len(HEAD_STAT_COLUMNS)), np.float64)
        self.top_idx = np.zeros((L, n, k), np.int32)
        self.top_val = np.zeros((L, n, k), np.float32)
        kinds = np.asarray(kinds)
        self.masses = np.stack([kinds == "cls", kinds == "sep", kinds == "punct"], axis=1)
        self.kept: dict[int, KeptAttention] = {}
        self.want_rollout = rollout
        self.spool = None
        self.spooled: list[list[tuple[int, int, int, int]]] = [[] for _ in layers]  # (start, stop, e, offset)

    def __enter__(self):
        if self.want_rollout:
            self.spool = tempfile.TemporaryFile(prefix="attnviz-rollout-")
        return self

    def __exit__(self, *exc):
        if self.spool is not None:
            self.spool.close()

    def chunks(self):
        """(first tile, start, stop) of each chunk of rows."""
        if self.step >= self.block:  # whole tile rows
            for start in range(0, self.n, self.step):
                yield start // self.block, start, min(self.n, start + self.step)
            return
        for tile, first in enumerate(range(0, self.n, self.block)):
            last = min(self.n, first + self.block)
            for start in range(first, last, self.step):
                yield tile, start, min(last, start + self.step)

    def __call__(self, site: AttentionSite, kept: KeptAttention) -> None:
        i = self.positions[site.layer]
        n, H, block = self.n, self.H, self.block
        if kept.shape != (n, n):
            raise RuntimeError(f"layer {site.layer} attends {kept.shape}, expected {(n, n)}")
        self.kept[site.layer] = kept
        device = kept.query.device
        fast = _RowWeights(kept, self.step) if _RowWeights.applies(kept) else None  # else: KeptAttention.rows
        nb = self.pmax.shape[-1]
        tile_max = torch.zeros(H, nb, nb, device=device)
        tile_sum = torch.zeros(H, nb, nb, dtype=torch.float64, device=device)
        key_total = torch.zeros(H, n, dtype=torch.float64, device=device)  # Σ over queries, per key
        sums = torch.zeros(H, len(HEAD_STAT_COLUMNS), dtype=torch.float64, device=device)
        for tile, start, stop in self.chunks():
            # causal: keys after the block's last row weigh exactly 0 and are left out (half the work)
            if fast is not None:
                w, scores = fast(start, stop)
            else:
                w, scores = kept.rows(rows=slice(start, stop), trim=True)[0], None
            e = w.shape[-1]
            row_max, row_sum = _pool_rows(w, block, "max"), _pool_rows(w, block, "sum")  # [H, tiles, e]
            kb, tiles = math.ceil(e / block), slice(tile, tile + row_max.shape[1])
            torch.maximum(tile_max[:, tiles, :kb], _pool_last(row_max, block, "max"), out=tile_max[:, tiles, :kb])
            tile_sum[:, tiles, :kb] += _pool_last(row_sum, block, "sum")
            key_total[:, :e] += row_sum.sum(1)
            sums += self._statistics(start, w, scores)
            self._head_mean(i, start, w)
        for column, is_kind in zip((2, 3, 4), self.masses.T):  # to_cls, to_sep, to_punct
            sums[:, column] = key_total[:, torch.from_numpy(is_kind).to(device)].sum(-1)
        self.pmax[i] = tile_max.cpu().numpy()
        self.psum[i] = tile_sum.cpu().numpy()
        self.sums[i] = sums.cpu().numpy()
        if self.progress is not None:
            self.progress(len(self.kept) / len(self.positions), f"layer {site.layer}")

    def _statistics(self, start, w, scores) -> torch.Tensor:
        """[H, columns] sums over this block's rows of the HEAD_STAT_COLUMNS terms (entropy_norm and the
        three masses are filled in per layer)."""
        n, e, stop = self.n, w.shape[-1], start + w.shape[1]
        a, b = 0.9999, 0.0001 / n  # Clark's smoothing Ã = a·A + b
        top = w.amax(-1)                                                                   # [H, c]
        if scores is None:
            smoothed = w * a + b
            entropy = -torch.linalg.vecdot(smoothed, smoothed.log())
        else:
            entropy = _smoothed_entropy(w, scores, top, a, b)
        entropy += (n - e) * -b * math.log(b)  # the keys left out (weight 0) all count as b
        diag = w[:, :, start:stop].diagonal(0, 1, 2)
        prev = w[:, :, start - 1:stop].diagonal(0, 1, 2) if start else w[:, :, :stop].diagonal(-1, 1, 2)
        nxt = w[:, :, start + 1:min(e, stop + 1)].diagonal(0, 1, 2)
        zero = torch.zeros_like(entropy[:, 0])
        return torch.stack([entropy.sum(-1), zero, zero, zero, zero, diag.sum(-1), prev.sum(-1), nxt.sum(-1),
                            top.sum(-1)], dim=-1).double()

    def _head_mean(self, i, start, w):
        mean = w.mean(0)                                                                   # [c, e]
        k = self.top_idx.shape[-1]
        if mean.shape[1] < k:  # fewer keys than k in a causal block: the rest weigh 0
            mean = torch.nn.functional.pad(mean, (0, k - mean.shape[1]))
        top = mean.topk(k, dim=-1)
        stop = start + mean.shape[0]
        self.top_idx[i, start:stop] = top.indices.cpu().numpy()
        self.top_val[i, start:stop] = top.values.cpu().numpy()
        if self.spool is not None:
            # Â = 0.5·mean + 0.5·I: its rows already sum to 1 (up to rounding, far below float16's)
            a_hat = mean[:, :self.n].mul(0.5)
            a_hat[:, start:stop].diagonal().add_(0.5)
            self.spooled[i].append((start, stop, a_hat.shape[1], self.spool.tell()))
            self.spool.write(a_hat.to(torch.float16).cpu().numpy().tobytes())

    def pooled_mean(self) -> np.ndarray:
        sizes = np.full(self.pmax.shape[-1], self.block, np.float64)
        sizes[-1] = self.n - self.block * (len(sizes) - 1)
        return (self.psum / np.outer(sizes, sizes)).astype(np.float32)

    def statistics(self) -> np.ndarray:
        n = self.n
        stats = self.sums / n
        stats[..., 1] = stats[..., 0] / np.log(n) if n > 1 else 0.0
        for col in (6, 7):  # previous / next: n − 1 queries have one
            stats[..., col] = self.sums[..., col] / (n - 1) if n > 1 else 0.0
        return stats.astype(np.float32)

    def rollout(self, readout: str) -> np.ndarray:
        """v·Â_L⋯Â_1 for the readout's row vector v, reading the spooled Â_l block of rows by block."""
        n = self.n
        if readout == "mean":
            v = np.full(n, 1.0 / n)
        else:
            v = np.zeros(n)
            v[0 if readout == "cls" else n - 1] = 1.0
        for layer in reversed(range(len(self.positions))):
            out = np.zeros(n)
            for start, stop, e, offset in self.spooled[layer]:
                self.spool.seek(offset)
                rows = np.fromfile(self.spool, dtype=np.float16, count=(stop - start) * e).reshape(-1, e)
                out[:e] += v[start:stop] @ rows.astype(np.float64)
            v = out
        return v.astype(np.float32)
