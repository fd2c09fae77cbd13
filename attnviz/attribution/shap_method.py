"""SHAP: Owen values from shap's Partition explainer over the tree of shap's Text masker.

The plain recipe, ``shap.Explainer(f, shap.maskers.Text(tokenizer))(text)``, edits the *string* for
every coalition and re-tokenises it (subword fragments can merge into new tokens), and with the Text
masker's batch size of 5 it runs ~80-90 small forward passes, each paying the model's fixed per-pass
cost. Here the same explainer (``shap.explainers.Partition``) and the same partition tree
(``shap.maskers.Text``'s clustering) run on the input's own token ids:

* the masker hands the explainer boolean *keep rows* over the maskable tokens, and the model
  function turns them into ids itself: deleted tokens (the default) or a replacement id;
* the explainer asks for a whole tree level at a time; every distinct row is evaluated once, sorted
  by length and packed into forward passes of ~512 token positions (``inference_mode``);
* special tokens (and an MLM's predicted mask) are not players: they are never masked, score exactly
  0 and cost no evaluations (the plain call spends some of its 500 on splits that change nothing).

The values equal the plain call's whenever both expand the whole tree within ``max_evals``; when the
budget runs out first, which groups get refined depends on the batch size and the budget, so the
approximations differ (bench/bench_attribution.py compares both with the exact values). On CPU the
model's arithmetic is most of the cost for both, so the gain is bounded by the fixed cost saved per pass.

Why deletion by default: SHAP's Text masker replaces tokens with ``[MASK]``, which all-MiniLM-L6-v2 never
saw in its sentence-embedding training (METHODS.md, section E), so a coalition would be scored on text
the model was not trained on. Deleting tokens gives the shorter sentence the model does understand.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import torch

from ..errors import InputError
from .context import seeded
from .result import MethodOutput

#: mask setting → what the attribution's settings call it
MASKS = {"delete": "deleted tokens", "mask": "[MASK] token", "pad": "[PAD] token", "unk": "[UNK] token"}
#: Token positions per forward pass. On a 2-core CPU 512 was fastest (activations stay in cache; 2048
#: and 4096 were 9% and 23% slower, bench/bench_attribution.py); accelerators want far larger passes.
CPU_TOKENS_PER_PASS = 512
ACCELERATOR_TOKENS_PER_PASS = 16384
CLUSTERING = "shap.maskers.Text partition tree over the input's tokens, special tokens left out"


def shap_values(ctx, *, max_evals: int = 500, mask: str = "delete", batch_size: int | None = None,
                seed: int = 0):
    """Owen values of f over the input tokens (Partition SHAP), with ``base_value + Σφ = f(x)``.

    Args:
        max_evals: model evaluations shap may spend (its default, 500). Long inputs stop refining
            the tree early; the unrefined groups share their credit evenly (shap's rule).
        mask: how a coalition hides a token: ``"delete"`` (default) or replace it with the
            ``"mask"``, ``"pad"`` or ``"unk"`` token.
        batch_size: coalitions the explainer asks for at a time. None (default) = ``max_evals``:
            one request per tree level. When ``max_evals`` cuts the tree short, which groups get
            refined depends on this (shap's own default is 5 for text), so values then equal a
            plain shap call with the same ``batch_size``; a fully expanded tree gives the same
            values for any batch size.
        seed: shap breaks priority ties with NumPy's global RNG; seeded for repeatable results.

    Returns:
        MethodOutput with ``base_value`` = f(only the special tokens), ``output`` = f(x),
        ``delta`` = base_value + Σφ − f(x) and the settings used.
    """
    if mask not in MASKS:
        raise InputError(f"Unknown SHAP mask '{mask}': use one of {', '.join(MASKS)}.")
    if not 10 <= int(max_evals) <= 100_000:
        raise InputError("SHAP needs max_evals between 10 and 100000.")
    max_evals = int(max_evals)
    batch_size = max_evals if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise InputError("SHAP's batch_size must be at least 1.")

    fixed = ctx.fixed_mask
    players = np.flatnonzero(~fixed)
    model = _KeepRowModel(ctx, players, mask)
    settings = {"mask": MASKS[mask], "max_evals": max_evals, "clustering": CLUSTERING, "batch_size": batch_size,
                "seed": seed}
    scores = np.zeros(ctx.n, dtype=np.float64)
    if len(players) == 0:  # nothing to mask: f(x) is all base value
        output = float(model(np.ones((1, 0), dtype=bool))[0])
        base, evals = output, 1
    else:
        tree = _without_leaves(_text_tree(ctx), fixed)
        masker = _KeepRowMasker(len(players), tree, [ctx.encoding.tokens[i] for i in players])
        import_shap()  # optional heavy import: shap takes seconds, load on first use
        from shap.explainers import Partition

        with seeded(seed):
            explainer = Partition(model, masker)
            explanation = explainer(np.arange(len(players))[None], max_evals=max_evals, batch_size=batch_size,
                                    silent=True)
        scores[players] = explanation.values[0]
        base = float(explanation.base_values[0])
        output = float(model(np.ones((1, len(players)), dtype=bool))[0])  # f(x), from the cache
        evals = int(explainer.last_eval_count) + 2
    delta = base + float(scores.sum()) - output
    if abs(delta) > 1e-4:  # shap's Owen values are efficient by construction: this is a bug, never noise
        raise RuntimeError(f"SHAP values do not add up to f(x) − base value (gap {delta:.2e}).")
    settings.update(evaluations=evals, distinct_rows=model.rows_run, model_calls=model.forward_passes)
    return MethodOutput(scores.astype(np.float32), settings, delta=delta, base_value=base, output=output)


# ------------------------------------------------------------------ first call
_warm = threading.Event()
_warm_lock = threading.Lock()
_warm_started = threading.Event()
_start_lock = threading.Lock()  # not _warm_lock: that one is held through the whole (seconds-long) warm-up
_import_lock = threading.Lock()


def import_shap():
    """shap, imported whole by one thread at a time.

    shap's package imports are circular (``shap.utils`` ↔ ``shap.links``): a page importing
    ``shap.maskers`` while the warm-up thread imports ``shap.explainers`` can meet a half-initialised
    module and fail with ImportError. Every import of shap in attnviz goes through here first.
    """
    with _import_lock:
        import shap
    return shap


def warm_up() -> None:
    """Import shap and compile its numba helpers on a 4-token toy problem, once per process.

    The first Partition explanation in a process otherwise pays shap's import and the JIT compile of
    its numba helpers (bench/README.md: about 3.5 s on 2 cores) inside the user's click. The toy call
    uses the same argument types as :func:`shap_values` (bool keep rows, float64 outputs), so the
    compiled code is the code real explanations run.
    """
    if _warm.is_set():
        return
    with _warm_lock:
        if _warm.is_set():
            return
        import_shap()  # heavy (seconds): this is the warm-up that pays it early
        from shap.explainers import Partition

        tree = np.array([[0, 1, 1.0, 2], [2, 3, 1.0, 2], [4, 5, 2.0, 4]], dtype=np.float64)
        masker = _KeepRowMasker(4, tree, ["a", "b", "c", "d"])
        with seeded(0):
            Partition(lambda rows: np.asarray(rows, dtype=bool).sum(1).astype(np.float64), masker)(
                np.arange(4)[None], max_evals=50, batch_size=50, silent=True)
        _warm.set()


def warm_up_in_background() -> None:
    """:func:`warm_up` on a low-priority daemon thread, started once (a server calls this at launch)."""
    with _start_lock:
        if _warm_started.is_set():
            return
        _warm_started.set()

    def work():
        with contextlib.suppress(OSError, AttributeError):  # a lower priority where the OS allows it
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        with contextlib.suppress(Exception):  # best effort: the first real call compiles it otherwise
            warm_up()

    threading.Thread(target=work, name="attnviz-shap-warm-up", daemon=True).start()


# ------------------------------------------------------------------ the masker and the model
class _KeepRowMasker:
    """shap's masker protocol over the maskable tokens: a coalition is passed on as its keep row.

    The explainer's row argument is only a placeholder (the token positions); the model function
    knows the input and turns keep rows into ids. ``clustering`` is a fixed array, so the explainer
    builds its coalition masks once.
    """

    def __init__(self, n_players: int, clustering: np.ndarray, names: list[str]):
        self.shape = (1, n_players)
        self.clustering = clustering
        self._names = names
        self.immutable_outputs = True  # each call returns a fresh array

    def __call__(self, mask, *args):
        return (np.array(mask, dtype=bool).reshape(1, -1),)

    def mask_shapes(self, *args):
        return [(self.shape[1],)]

    def feature_names(self, *args):
        return [list(self._names)]


class _KeepRowModel:
    """f on keep rows [rows, players] → [rows]: each distinct model input once, length-sorted, packed."""

    def __init__(self, ctx, players: np.ndarray, mask: str):
        self.ctx, self.players, self.mask = ctx, players, mask
        self.cache: dict[bytes, float] = {}
        self.rows_run = 0
        self.forward_passes = 0
        ids = ctx.input_ids[0].cpu().numpy().astype(np.int64)
        types = None if ctx.token_type_ids is None else ctx.token_type_ids[0].cpu().numpy().astype(np.int64)
        self._tokens = ids if types is None else np.stack([ids, types], 1)  # what a deleted row keeps

    def _key(self, row: np.ndarray) -> bytes:
        """The model's input for a keep row: with deletion, coalitions that leave the same token sequence
        (e.g. "the" kept at either of two places) are one evaluation; with replacement, the row itself."""
        if self.mask != "delete":
            return np.packbits(row).tobytes()
        keep = self.ctx.fixed_mask.copy()
        keep[self.players] = row
        return self._tokens[keep].tobytes()

    def __call__(self, rows) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(rows, dtype=bool))
        keys = [self._key(row) for row in rows]
        todo: dict[bytes, np.ndarray] = {}
        for key, row in zip(keys, rows):
            if key not in self.cache and key not in todo:
                todo[key] = row
        if todo:
            keep = np.tile(self.ctx.fixed_mask, (len(todo), 1))
            keep[:, self.players] = np.stack(list(todo.values()))
            self.cache.update(zip(todo, self._evaluate(keep).tolist()))
            self.rows_run += len(todo)
        return np.array([self.cache[key] for key in keys], dtype=np.float64)

    def _evaluate(self, keep: np.ndarray) -> np.ndarray:
        """f for full-length keep masks [m, n], in forward passes of at most ``budget`` token positions."""
        lengths = keep.sum(1) if self.mask == "delete" else np.full(len(keep), keep.shape[1])
        on_cpu = self.ctx.input_ids.device.type == "cpu"
        budget = CPU_TOKENS_PER_PASS if on_cpu else ACCELERATOR_TOKENS_PER_PASS
        order = np.argsort(lengths, kind="stable")
        out = np.empty(len(keep), dtype=np.float64)
        start = 0
        while start < len(order):
            stop = start + 1  # lengths ascend, so the chunk's width is its last row's length
            while stop < len(order) and (stop - start + 1) * lengths[order[stop]] <= budget:
                stop += 1
            chunk = order[start:stop]
            out[chunk] = self._forward(keep[chunk])
            self.forward_passes += 1
            start = stop
        return out

    def _forward(self, keep: np.ndarray) -> np.ndarray:
        ctx = self.ctx
        if self.mask == "delete":
            return ctx.predict_keep(keep, batch_size=len(keep))
        # Replacement keeps every position, so f gets embeddings: an MLM target then reads its fixed
        # mask position instead of searching the ids for a [MASK] that may now be a replaced token.
        ids = ctx.input_ids.expand(len(keep), -1).clone()
        ids[~torch.as_tensor(keep, device=ids.device)] = ctx.replacement_id(self.mask)
        with torch.inference_mode():
            embeds = ctx.handle.model.get_input_embeddings()(ids)
            return ctx.forward_embeds(embeds).float().cpu().numpy()


# ------------------------------------------------------------------ the partition tree
def _text_tree(ctx) -> np.ndarray:
    """shap.maskers.Text's partition tree over ctx's tokens (scipy linkage rows, one leaf per token).

    ``Text.clustering`` builds its tree from the masker's ``token_segments`` (each token's text with
    the whitespace after it). This masker is told the input's segments instead of re-tokenising a
    string, which covers text pairs and truncated inputs too.
    """
    import_shap()  # heavy import, see shap_values
    from shap.maskers import Text

    segments = _segments(ctx)
    masker = Text(None)  # shap's simple tokenizer: no prefix/suffix tokens, no separator token
    masker.token_segments = lambda s: (list(segments), list(range(len(segments))))
    return masker.clustering("")


def _segments(ctx) -> list[str]:
    """Each token's text as shap's Text masker cuts it, with the whitespace after it.

    Words come from the encoding (the input's own text, cased); a word of several tokens is cut by
    the tokens' lengths so its pieces join without spaces (shap reads that as one word's parts).
    The tokenizer's [CLS]/[SEP] have no text (empty, as in shap); a special token written in the
    text, such as an MLM's [MASK], keeps its name, which shap's tree treats as a boundary.
    """
    tokens = ctx.encoding.tokens
    segments = [""] * len(tokens)
    for text, idx in ctx.encoding.words:
        kind = ctx.encoding.kinds[idx[0]]
        if kind in ("cls", "sep"):
            continue
        if kind == "special":
            segments[idx[0]] = tokens[idx[0]] + " "
            continue
        pieces = [tokens[i].removeprefix("##").lstrip("Ġ▁") for i in idx]
        if len(idx) > 1 and sum(map(len, pieces)) == len(text):
            cuts = np.cumsum([0, *map(len, pieces)])
            pieces = [text[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        elif len(idx) == 1:
            pieces = [text]
        pieces[-1] += " "
        for i, piece in zip(idx, pieces):
            segments[i] = piece
    return segments


def _without_leaves(tree: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """The linkage ``tree`` over len(drop) leaves with the ``drop`` leaves removed (parents collapse).

    Dropped tokens are not players: keeping them as leaves would only spend evaluations on splits
    that change nothing, and let truncated groups hand them credit.
    """
    keep_leaves = np.flatnonzero(~drop)
    new_id: list[int | None] = [None] * len(drop)  # old node id -> new node id (None: nothing left)
    for rank, leaf in enumerate(keep_leaves):
        new_id[leaf] = rank
    sizes = [1] * len(keep_leaves)
    rows = []
    for left, right, dist, _ in tree:
        a, b = new_id[int(left)], new_id[int(right)]
        if a is None or b is None:
            new_id.append(b if a is None else a)
            continue
        rows.append((a, b, dist, sizes[a] + sizes[b]))
        sizes.append(sizes[a] + sizes[b])
        new_id.append(len(keep_leaves) + len(rows) - 1)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)
