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
        _TEMPLATE.replace("__HEIGHT__", str(int(height)))
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


_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>attnviz head view</title>
<style>
body{margin:0;font:12px/1.3 system-ui,sans-serif;color:#222;background:#fff}
#av-root{height:__HEIGHT__px;display:flex;flex-direction:column}
#av-legend{padding:4px 6px;display:flex;flex-wrap:wrap;gap:4px 10px;align-items:center}
#av-legend label{display:inline-flex;align-items:center;gap:3px;cursor:pointer;user-select:none}
#av-legend .sw{width:11px;height:11px;border-radius:2px;display:inline-block}
#av-legend button{font-size:11px;padding:0 6px}
#av-hint{color:#777;font-size:11px;padding:0 6px 4px}
#av-scroll{flex:1;overflow:auto;border-top:1px solid #ddd}
#av-grid{display:flex;align-items:flex-start;position:relative}
.av-col{width:150px;flex:none}
.av-tok{height:__ROW__px;line-height:__ROW__px;padding:0 6px;white-space:pre;overflow:hidden;
  text-overflow:ellipsis;cursor:pointer;border-radius:3px;font-family:ui-monospace,monospace}
#av-left .av-tok{text-align:right}
.av-tok:hover,.av-tok.av-focus{background:#ffe9a8}
.av-tok.av-tgt{background:#eef3ff;font-weight:600}
.av-tok.av-pin{outline:2px solid #e0a800}
#av-canvas{flex:none;display:block;position:sticky;top:0}
#av-tip{position:fixed;display:none;z-index:10;background:#fff;border:1px solid #bbb;
  border-radius:4px;box-shadow:0 2px 6px rgba(0,0,0,.2);padding:4px 6px;max-width:280px;
  pointer-events:none}
#av-tip .row{display:flex;gap:6px;align-items:center;white-space:pre}
#av-tip .sw{width:9px;height:9px;flex:none}
#av-tip .tok{overflow:hidden;text-overflow:ellipsis;max-width:170px;
  font-family:ui-monospace,monospace}
#av-tip .w{margin-left:auto;font-variant-numeric:tabular-nums}
#av-tip .hd{font-weight:600;margin-bottom:2px}
</style></head>
<body><div id="av-root">
<div id="av-legend"></div>
<div id="av-hint">Hover a token to focus it, click to pin. Weights are quantised to 1/255.</div>
<div id="av-scroll"><div id="av-grid">
<div class="av-col" id="av-left"></div><canvas id="av-canvas"></canvas>
<div class="av-col" id="av-right"></div>
</div></div></div>
<div id="av-tip"></div>
<script type="application/json" id="av-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var ROW = __ROW__, WIDTH = 220, MAX_TIP = 12;
  var D = JSON.parse(document.getElementById("av-data").textContent);
  function bytes(b64) {
    var s = atob(b64), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  var counts = bytes(D.counts), W = bytes(D.weights);
  var K = new Uint16Array(bytes(D.keyIdx).buffer);
  var nQ = D.queries.length, nK = D.keys.length, nH = D.nHeads, nL = K.length;
  // CSR indexes: links of row (h * nQ + q) are start[row]..start[row+1];
  // links into key k are byKey[kStart[k]..kStart[k+1]] (link ids).
  var start = new Uint32Array(counts.length + 1), rowOf = new Uint32Array(nL);
  var kStart = new Uint32Array(nK + 1), byKey = new Uint32Array(nL), next;
  for (var r = 0; r < counts.length; r++) {
    start[r + 1] = start[r] + counts[r];
    rowOf.fill(r, start[r], start[r + 1]);
  }
  for (var j = 0; j < nL; j++) kStart[K[j] + 1]++;
  for (var k = 0; k < nK; k++) kStart[k + 1] += kStart[k];
  next = kStart.slice(0, nK);
  for (j = 0; j < nL; j++) byKey[next[K[j]]++] = j;

  var active = [];
  for (var h = 0; h < nH; h++) active.push(D.shown.indexOf(h) >= 0);
  function color(h) { return D.palette[h % D.palette.length]; }
  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("av-canvas"), ctx = canvas.getContext("2d"), tip = $("av-tip");
  var scroller = $("av-scroll"), cssH = ROW * Math.max(nQ, nK, 1);
  var scale = Math.min(window.devicePixelRatio || 1, 2), viewH = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function column(id, toks, side) {
    var col = $(id), out = [];
    col.style.height = cssH + "px";
    toks.forEach(function (t, i) {
      var e = el("div", "av-tok", t);
      e.title = t; e.dataset.side = side; e.dataset.i = i;
      col.appendChild(e); out.push(e);
    });
    return out;
  }
  var leftEls = column("av-left", D.queries, "q"), rightEls = column("av-right", D.keys, "k");

  function legend() {
    var box = $("av-legend");
    for (var h = 0; h < nH; h++) {
      var lab = el("label"), cb = el("input"), sw = el("span", "sw");
      cb.type = "checkbox"; cb.checked = active[h]; cb.dataset.h = h;
      cb.style.accentColor = color(h); sw.style.background = color(h);
      lab.appendChild(cb); lab.appendChild(sw); lab.appendChild(el("span", "", "H" + h));
      box.appendChild(lab);
    }
    box.addEventListener("change", function (ev) {
      active[+ev.target.dataset.h] = ev.target.checked; render();
    });
    [["all", true], ["none", false]].forEach(function (b) {
      var btn = el("button", "", b[0]);
      btn.type = "button";
      btn.addEventListener("click", function () {
        active = active.map(function () { return b[1]; });
        box.querySelectorAll("input").forEach(function (c) { c.checked = b[1]; });
        render();
      });
      box.appendChild(btn);
    });
  }

  // Links as {h, q, k, w} objects, active heads only.
  function link(j) {
    var row = rowOf[j];
    return {h: Math.floor(row / nQ), q: row % nQ, k: K[j], w: W[j]};
  }
  function fromQuery(q, out) {
    for (var h = 0; h < nH; h++) {
      if (!active[h]) continue;
      for (var j = start[h * nQ + q]; j < start[h * nQ + q + 1]; j++) out.push(link(j));
    }
    return out;
  }
  function intoKey(k, out, skipQ) {
    for (var i = kStart[k]; i < kStart[k + 1]; i++) {
      var l = link(byKey[i]);
      if (active[l.h] && !(skipQ && skipQ(l.q))) out.push(l);
    }
    return out;
  }
  // Overview: only links touching a visible row, so cost stays flat at 512 tokens.
  function visibleLinks() {
    var lo = Math.floor(scroller.scrollTop / ROW), hi = lo + Math.ceil(viewH / ROW) + 1, out = [];
    var seen = function (q) { return q >= lo && q <= hi; };
    for (var q = lo; q <= hi && q < nQ; q++) fromQuery(q, out);
    for (var k = lo; k <= hi && k < nK; k++) intoKey(k, out, seen);
    return out;
  }
  function draw(list, width, minAlpha) {
    var top = scroller.scrollTop;
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.clearRect(0, 0, WIDTH, viewH);
    ctx.lineWidth = width;
    // Bucket by (head, alpha) so thousands of links cost a few hundred strokes.
    var buckets = {};
    list.forEach(function (l) {
      var a = Math.max(minAlpha, l.w / 255), key = l.h + ":" + Math.round(a * 20);
      (buckets[key] = buckets[key] || []).push(l);
    });
    Object.keys(buckets).forEach(function (key) {
      var p = key.split(":");
      ctx.strokeStyle = color(+p[0]); ctx.globalAlpha = +p[1] / 20;
      ctx.beginPath();
      buckets[key].forEach(function (l) {
        ctx.moveTo(2, l.q * ROW + ROW / 2 - top); ctx.lineTo(WIDTH - 2, l.k * ROW + ROW / 2 - top);
      });
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
  }

  var focus = null, pinned = false;
  function focusLinks() {
    return focus.side === "q" ? fromQuery(focus.i, []) : intoKey(focus.i, []);
  }
  function drawLines() {
    if (focus) draw(focusLinks(), 2, 0.15); else draw(visibleLinks(), 1, 0.05);
  }
  function mark(els, cls, idx) {
    els.forEach(function (e) { e.classList.remove(cls); });
    idx.forEach(function (i) { els[i].classList.add(cls); });
  }
  function render() {
    ["av-focus", "av-tgt", "av-pin"].forEach(function (c) {
      mark(leftEls, c, []); mark(rightEls, c, []);
    });
    drawLines();
    if (!focus) { tip.style.display = "none"; return; }
    var isQ = focus.side === "q", i = focus.i, list = focusLinks();
    var own = isQ ? leftEls : rightEls, other = isQ ? rightEls : leftEls;
    mark(own, "av-focus", [i]);
    if (pinned) mark(own, "av-pin", [i]);
    mark(other, "av-tgt", list.map(function (l) { return isQ ? l.k : l.q; }));
    showTip(own[i], isQ, list);
  }
  function showTip(anchor, isQ, list) {
    tip.replaceChildren();
    tip.appendChild(el("div", "hd", (isQ ? "query " : "key ") + anchor.textContent));
    list.sort(function (a, b) { return b.w - a.w; });
    list.slice(0, MAX_TIP).forEach(function (l) {
      var row = el("div", "row"), sw = el("span", "sw");
      sw.style.background = color(l.h);
      row.appendChild(sw);
      row.appendChild(el("span", "", "H" + l.h));
      row.appendChild(el("span", "tok", isQ ? D.keys[l.k] : D.queries[l.q]));
      row.appendChild(el("span", "w", (l.w / 255).toFixed(3)));
      tip.appendChild(row);
    });
    if (!list.length) tip.appendChild(el("div", "", "no links above threshold"));
    var more = list.length - MAX_TIP;
    if (more > 0) tip.appendChild(el("div", "", "+" + more + " more"));
    tip.style.display = "block";
    place();
  }
  function place() {
    if (!focus) return;
    var isQ = focus.side === "q", anchor = (isQ ? leftEls : rightEls)[focus.i];
    var r = anchor.getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
    var gr = $("av-right").getBoundingClientRect().right + 8;  // beside the grid if it fits
    var x = gr + tw <= window.innerWidth ? gr : isQ ? r.right + 8 : r.left - tw - 8;
    tip.style.left = Math.max(2, Math.min(x, window.innerWidth - tw - 2)) + "px";
    tip.style.top = Math.max(2, Math.min(r.top, window.innerHeight - th - 2)) + "px";
  }
  function target(ev) {
    var t = ev.target.closest && ev.target.closest(".av-tok");
    return t ? {side: t.dataset.side, i: +t.dataset.i} : null;
  }
  function same(a, b) { return !!a && !!b && a.side === b.side && a.i === b.i; }
  function resize() {
    viewH = Math.max(ROW, Math.min(scroller.clientHeight, cssH));
    canvas.style.width = WIDTH + "px"; canvas.style.height = viewH + "px";
    canvas.width = Math.round(WIDTH * scale); canvas.height = Math.round(viewH * scale);
    drawLines();
  }

  var grid = $("av-grid"), queued = false;
  grid.addEventListener("mouseover", function (ev) {
    if (pinned) return;
    var t = target(ev);
    if (!same(t, focus)) { focus = t; render(); }
  });
  grid.addEventListener("mouseleave", function () {
    if (!pinned && focus) { focus = null; render(); }
  });
  grid.addEventListener("click", function (ev) {
    var t = target(ev);
    pinned = !!t && !(pinned && same(t, focus));
    focus = t; render();
  });
  scroller.addEventListener("scroll", function () {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; drawLines(); place(); });
  });
  window.addEventListener("resize", resize);
  legend();
  resize();
  render();
})();
</script>
</body></html>
"""
