"""From token scores to patch maps, and the distance statistics of vision heads (pure numpy).

A vision result's tokens are the prefix ([CLS], [DIST], registers) then ``rows × cols`` patches, row-major;
``result.meta`` holds ``patch_grid`` (rows, cols) and ``patch_size`` (pixels of the model's input).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..attention import AttentionResult
from ..errors import InputError


def grid_of(result: AttentionResult) -> tuple[int, int]:
    """(rows, cols) of a vision result's patches; InputError for a text result."""
    grid = result.meta.get("patch_grid")
    if grid is None:
        raise InputError("This result has no image patches: it comes from a text model.")
    return int(grid[0]), int(grid[1])


def n_prefix(result: AttentionResult) -> int:
    rows, cols = grid_of(result)
    return len(result.tokens) - rows * cols


def to_grid(scores: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """[prefix + rows·cols] or [rows·cols] scores → [rows, cols] (the prefix tokens are dropped)."""
    rows, cols = grid
    scores = np.asarray(scores)
    if scores.shape[-1] < rows * cols:
        raise InputError(f"{scores.shape[-1]} scores cannot fill a {rows}×{cols} patch grid.")
    return scores[..., scores.shape[-1] - rows * cols:].reshape(*scores.shape[:-1], rows, cols)


def query_map(result: AttentionResult, layer_pos: int, head: int | None, query: int) -> np.ndarray:
    """[rows, cols]: the weights token ``query`` gives each patch in one head (None: mean over heads)."""
    att = result.attentions[layer_pos]
    row = att[:, query].mean(axis=0) if head is None else att[head, query]
    return to_grid(row, grid_of(result))


def rollout_map(result: AttentionResult) -> np.ndarray:
    """[rows, cols]: the [CLS] row of the attention rollout over the patches."""
    return to_grid(result.rollout()[0], grid_of(result))


def patch_distances(grid: tuple[int, int], patch_size: int) -> np.ndarray:
    """[P, P] Euclidean distance in input pixels between patch centres (row-major patches)."""
    rows, cols = grid
    r, c = np.divmod(np.arange(rows * cols), cols)
    return patch_size * np.hypot(r[:, None] - r[None, :], c[:, None] - c[None, :])


def mean_attention_distance(result: AttentionResult, *, renormalise: bool = False) -> pd.DataFrame:
    """One row per (layer, head): the mean attention distance of Dosovitskiy et al. (2021), Figure 7.

    For each patch query i: d_i = Σ_j A_ij·‖pos_i − pos_j‖ over patch keys j (pixels of the model's input,
    patch centres); the head's value is the mean of d_i over patch queries ([CLS] and registers are not
    queries, and have no position as keys). ``renormalise``: divide each row by its weight on patches first
    (the distance among patches attended, whatever share [CLS]/registers take).
    """
    grid = grid_of(result)
    start = n_prefix(result)
    dist = patch_distances(grid, int(result.meta.get("patch_size", 1)))
    patches = result.attentions[:, :, start:, start:].astype(np.float64)
    if renormalise:
        patches = patches / np.maximum(patches.sum(axis=-1, keepdims=True), 1e-12)
    per_head = (patches * dist).sum(axis=-1).mean(axis=-1)  # [layers, heads]
    layers, heads = np.meshgrid(np.array(result.layers), np.arange(result.num_heads), indexing="ij")
    return pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "mean_distance": per_head.ravel()})
