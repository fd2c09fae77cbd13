"""Compact, self-contained "head view" of one attention layer (bertviz style).

Why this module exists: bertviz's head view embeds every attention weight as a
nested JSON float list, which reaches hundreds of megabytes for 512 tokens x 12
heads and pulls scripts from a CDN.  Here each (head, query) row is sparsified
to its strongest links, quantised to ``uint8`` weights and ``uint16`` key
indices and shipped as base64 typed arrays, so a 512 x 12 layer stays well under
1.5 MB.  The page is one HTML string with inline CSS and vanilla JS (no network,
no ``eval``), drawn on a single ``<canvas>`` between two scrolling token columns.

Tokens are untrusted text: they are embedded as JSON with ``<``, ``>``, ``&``
and U+2028/U+2029 escaped as ``\\uXXXX`` (so ``</script>`` or ``<!--`` cannot
break out of the data block) and the script only ever renders them through
``textContent``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["head_view_html", "head_view_height"]

ROW_PX = 18
_HEADER_PX = 64
_MAX_DEFAULT_HEIGHT = 640

# Distinct qualitative colours (d3 category10 without grey, plus extras);
# heads beyond the palette reuse colours cyclically.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#ad494a",
    "#637939",
)

_JS_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def head_view_height(n_query: int, n_key: int) -> int:
    """Default widget height in px for ``n_query`` x ``n_key`` tokens.

    Pass the same value to ``streamlit.components.v1.html(..., height=...)``.
    """
    return min(_MAX_DEFAULT_HEIGHT, _HEADER_PX + ROW_PX * max(n_query, n_key) + 24)


def head_view_html(
    tokens: Sequence[str],
    attentions: np.ndarray,
    heads: Sequence[int] | None = None,
    *,
    query_tokens: Sequence[str] | None = None,
    max_links_per_query: int = 16,
    min_weight: float = 0.01,
    height: int | None = None,
) -> str:
    """Render one attention layer as an interactive, self-contained HTML page.

    Queries are listed on the left, keys on the right, one colour per head.
    Hovering a token shows only its lines plus a tooltip with its strongest
    links; clicking pins that focus (click again to release).

    Args:
        tokens: Key tokens, length ``n_key``.
        attentions: Float array ``[n_heads, n_query, n_key]`` for ONE layer
            (rows are softmax distributions).
        heads: Head indices checked initially (default: all). Every head is
            still embedded and can be toggled on in the page.
        query_tokens: Query tokens, length ``n_query``; defaults to ``tokens``
            (pass different ones for cross-attention).
        max_links_per_query: Keep at most this many (1..255) largest weights
            per head and query row.
        min_weight: Drop weights below this value.
        height: Widget height in px (default :func:`head_view_height`); use
            the same value as the Streamlit component height.

    Returns:
        One HTML document string with inline ``<style>``/``<script>`` and no
        external references. Weights shown in the tooltip are the quantised
        values (``round(w * 255) / 255``, i.e. +-0.002).

    Raises:
        ValueError: On inconsistent shapes, non-finite weights or bad options.
    """
    keys = [str(t) for t in tokens]
    queries = keys if query_tokens is None else [str(t) for t in query_tokens]
    att = _check_attentions(attentions, len(queries), len(keys))
    n_heads = att.shape[0]
    shown = list(range(n_heads)) if heads is None else [int(h) for h in heads]
    if any(h < 0 or h >= n_heads for h in shown):
        raise ValueError(f"heads {shown} out of range for {n_heads} heads")
    if not 1 <= max_links_per_query <= 255:
        raise ValueError("max_links_per_query must be in 1..255")
    counts, key_idx, weights = _sparsify(att, max_links_per_query, min_weight)
    payload = {
        "keys": keys,
        "queries": queries,
        "nHeads": n_heads,
        "shown": shown,
        "palette": list(PALETTE),
        "counts": _b64(counts.astype(np.uint8)),
        "keyIdx": _b64(key_idx.astype("<u2")),
        "weights": _b64(weights.astype(np.uint8)),
    }
    if height is None:
        height = head_view_height(len(queries), len(keys))
    return (
        _template().replace("__HEIGHT__", str(int(height)))
        .replace("__ROW__", str(ROW_PX))
        .replace("__DATA__", _safe_json(payload))
    )


def _check_attentions(attentions: np.ndarray, n_query: int, n_key: int) -> np.ndarray:
    att = np.asarray(attentions, dtype=np.float32)
    if att.ndim != 3 or att.shape[1:] != (n_query, n_key):
        raise ValueError(f"attentions must be [heads, {n_query}, {n_key}], got {att.shape}")
    if n_key > 65535:
        raise ValueError("at most 65535 key tokens are supported")
    if not np.isfinite(att).all():
        raise ValueError("attentions contain NaN or inf")
    return att


def _sparsify(att: np.ndarray, k: int, min_weight: float):
    """Top-k links per (head, query) row.

    Returns ``counts`` ``[heads * n_query]`` (links kept per row) and the flat,
    row-major ``key_idx`` / quantised ``weights`` of the kept links, each row
    sorted by weight descending (ties: lower key index first).
    """
    n_key = att.shape[2]
    k = min(k, n_key)
    order = np.argsort(-att, axis=2, kind="stable")[:, :, :k]
    top = np.take_along_axis(att, order, axis=2)
    quant = np.clip(np.rint(top * 255.0), 0, 255).astype(np.uint8)
    keep = (top >= min_weight) & (quant > 0)  # sorted, so kept links are a prefix
    counts = keep.sum(axis=2).reshape(-1)
    return counts, order[keep], quant[keep]


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")


def _safe_json(obj: object) -> str:
    """JSON safe to inline in ``<script>``: no raw ``<``, ``>``, ``&``, U+2028/9."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.translate(_JS_ESCAPES)


@cache
def _template() -> str:
    """The page itself (HTML, CSS, JS) lives beside this module: ``head_view.html``."""
    return (Path(__file__).with_name("head_view.html")).read_text(encoding="utf-8")
