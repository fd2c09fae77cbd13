"""What the attention page sends to the browser at 512 tokens, and how fast the heatmap appears.

    HF_HUB_OFFLINE=1 python bench/bench_payload.py                      # (a) + (b) at 512 + (c)
    HF_HUB_OFFLINE=1 python bench/bench_payload.py --bertviz-tokens 128  # bertviz at 128 only (fast)
    HF_HUB_OFFLINE=1 python bench/bench_payload.py --bertviz-tokens 128 512 --no-browser
    HF_HUB_OFFLINE=1 python bench/bench_payload.py --quick               # 1 cold + 1 warm run, bertviz at 128

(a) Our bytes for the default "Model view": the JSON of the two plotly figures the view draws
    (``fig.to_json()``: the layers x heads thumbnail grid and the enlarged head heatmap), and the
    head-view HTML for 1 and for 12 heads (the "Head view" tab, one layer).
(b) bertviz 1.4.1's ``model_view(..., html_action="return").data`` for the same attentions
    (install with ``pip install --no-deps -r bench/requirements.txt``; skipped when missing). It runs
    in a child process; at 512 tokens it needs ~20-30 s and ~4.5 GB of memory. Ratio = bertviz / ours.
(c) The real page: ``streamlit run app.py`` on a free localhost port, driven by Debian's Chromium
    through Playwright. A text of > 512 tokens (truncated by the page to 512) is typed into "Text"
    and "Analyse" clicked; the time runs from the click (a capture listener in the page) until the
    enlarged heatmap (second ``.js-plotly-plot``) holds the new n x n head and its ``.heatmaplayer``
    image is drawn (checked every animation frame). Cold = a text the server has not seen (attention
    computed); warm = the same text again after a short text in between (attention from
    ``st.cache_data``; figures rebuilt). Every measured run starts from the page of a short text, so the
    previous 512 x 512 heatmap is never taken for the new one. Bytes = payloads of all websocket frames received from the
    click until the app is idle (no frame for 1 s).

Goals (from the issue): payload < 5 MB, time to the first heatmap < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402
from _quiet import QuietGate  # noqa: E402
from bench_attention import text_of_exactly  # noqa: E402

import attnviz  # noqa: E402
from attnviz.figures import attention as figs  # noqa: E402
from attnviz.figures.head_view import head_view_html  # noqa: E402

GOAL_BYTES = 5_000_000
GOAL_SECONDS = 1.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
BERTVIZ_PIN = "bertviz==1.4.1"
SHORT_TEXT = "Quokkas smile at curious photographers."


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


# ------------------------------------------------------------ (a) our bytes
def our_bytes(handle, result) -> dict[str, float]:
    """Bytes of what the default view sends, plus the head view, for one AttentionResult."""
    n = len(result.tokens)
    t0 = time.perf_counter()
    mv = figs.model_view(result.attentions, layers=result.layers, selected=(0, 0), title=f"{n} × {n} tokens")
    t1 = time.perf_counter()
    hm = figs.head_heatmap(result, 0, 0)
    t2 = time.perf_counter()
    mv_json, hm_json = mv.to_json(), hm.to_json()
    t3 = time.perf_counter()
    hv1 = head_view_html(list(result.tokens), result.attentions[0], [0])
    t4 = time.perf_counter()
    hv12 = head_view_html(list(result.tokens), result.attentions[0], list(range(result.num_heads)))
    t5 = time.perf_counter()
    return {
        "n": n,
        "model_view_json": len(mv_json.encode()),
        "heatmap_json": len(hm_json.encode()),
        "model_view_page": len(mv_json.encode()) + len(hm_json.encode()),
        "head_view_1": len(hv1.encode()),
        "head_view_12": len(hv12.encode()),
        "raw_float32": result.attentions.nbytes,
        "result_to_json": len(result.to_json()),
        "ms_model_view_fig": (t1 - t0) * 1e3,
        "ms_heatmap_fig": (t2 - t1) * 1e3,
        "ms_to_json_both": (t3 - t2) * 1e3,
        "ms_head_view_1": (t4 - t3) * 1e3,
        "ms_head_view_12": (t5 - t4) * 1e3,
    }


# ------------------------------------------------------- (b) bertviz bytes
_BERTVIZ_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from bertviz import model_view
att = np.load(sys.argv[1])
tokens = json.load(open(sys.argv[2]))
attention = tuple(torch.from_numpy(np.ascontiguousarray(att[i][None])) for i in range(att.shape[0]))
del att
t0 = time.perf_counter()
html = model_view(attention=attention, tokens=tokens, html_action="return")
seconds = time.perf_counter() - t0
data = html.data
nbytes = len(data) if data.isascii() else len(data.encode("utf-8"))
print(json.dumps({"bytes": nbytes, "seconds": seconds,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "external_script": "cdnjs.cloudflare.com" in data}))
"""


def bertviz_installed() -> bool:
    return find_spec("bertviz") is not None


def bertviz_bytes(result, timeout: float) -> dict:
    """bertviz.model_view(...).data length for result's attentions, in a child process."""
    with tempfile.TemporaryDirectory(prefix="attnviz-bench-") as tmp:
        npy, tok = Path(tmp) / "att.npy", Path(tmp) / "tokens.json"
        np.save(npy, result.attentions)
        tok.write_text(json.dumps(list(result.tokens)))
        proc = subprocess.run([sys.executable, "-c", _BERTVIZ_CHILD, str(npy), str(tok)], capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"bertviz child failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------- (c) browser
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc._bench_log = log  # type: ignore[attr-defined]
    return proc


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Streamlit server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the Streamlit server did not answer /_stcore/health within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server we started (its own process group: streamlit and nothing else)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    log = getattr(proc, "_bench_log", None)
    if log is not None:
        log.close()


# Installed before each click: a capture listener stamps the click, then every animation frame checks
# whether the enlarged heatmap (second plotly plot) holds an n x n heatmap whose image is drawn, or
# whether the "Text" box shows another text again (the submission was dropped; see analyse()).
_ARM_JS = """
([n, text]) => {
  const b = window.__bench = {start: null, heatmap: null, firstPlot: null, lost: null, n: n};
  const box = () => document.querySelector('textarea[aria-label="Text"]') || document.querySelector('textarea');
  const heatmapOf = (gd) => (gd && gd.data || []).find(t => t.type === 'heatmap');
  const side = (t) => t ? (t.x && t.x.length) || (t.y && t.y.length) || 0 : 0;
  const drawn = (gd) => {
    const img = gd.querySelector('.heatmaplayer image');
    if (!img) return false;
    const r = img.getBoundingClientRect();
    const href = img.getAttribute('href') || img.getAttribute('xlink:href') || '';
    return r.width > 0 && r.height > 0 && href.length > 100;
  };
  const poll = () => {
    const plots = document.querySelectorAll('.js-plotly-plot');
    const now = performance.now();
    if (b.firstPlot === null && plots.length >= 1) {
      const gd = plots[0];
      const title = ((gd.layout || {}).title || {}).text || '';
      if (title.includes(String(n))) b.firstPlot = now;
    }
    if (b.heatmap === null && plots.length >= 2 && side(heatmapOf(plots[1])) === n && drawn(plots[1])) {
      b.heatmap = now;
    }
    // the rerun came back with another text in the box: the app dropped this submission
    if (b.heatmap === null && box() && box().value !== text) b.lost = now;
    if (b.heatmap === null && b.lost === null && now - b.start < 600000) requestAnimationFrame(poll);
  };
  document.addEventListener('click', (e) => {
    const btn = e.target.closest && e.target.closest('button');
    if (!btn || btn.innerText.trim() !== 'Analyse' || b.start !== null) return;
    b.start = performance.now();
    requestAnimationFrame(poll);
  }, {capture: true});
}
"""


_STATE_JS = """
() => ({bench: window.__bench, plots: [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
  traces: (gd.data || []).map(t => [t.type, t.x ? t.x.length : null]),
  title: ((gd.layout || {}).title || {}).text, images: gd.querySelectorAll('.heatmaplayer image').length})),
  text: (document.querySelector('textarea') || {}).value?.slice(0, 80),
  errors: [...document.querySelectorAll('[data-testid="stAlert"], [data-testid="stException"]')].map(e => e.innerText.slice(0, 200))})
"""


# Added to every page before its scripts run: stamps each websocket message (time, bytes) so a run can
# be split into "until the server's last message" and "browser drawing after it".
_WS_LOG_JS = """
(() => {
  const Orig = window.WebSocket;
  window.__wsLog = [];
  function Logged(...args) {
    const ws = new Orig(...args);
    ws.addEventListener('message', (e) => {
      const d = e.data;
      const size = d.byteLength !== undefined ? d.byteLength : d.size !== undefined ? d.size : d.length;
      window.__wsLog.push([performance.now(), size]);
    });
    return ws;
  }
  Logged.prototype = Orig.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Logged[k] = Orig[k];
  window.WebSocket = Logged;
})();
"""


class FrameCounter:
    def __init__(self):
        self.bytes = 0
        self.frames = 0
        self.largest = 0
        self.last = time.monotonic()

    def on_websocket(self, ws) -> None:
        ws.on("framereceived", self.on_frame)

    def on_frame(self, payload) -> None:
        size = len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)
        self.bytes += size
        self.frames += 1
        self.largest = max(self.largest, size)
        self.last = time.monotonic()

    def reset(self) -> None:
        self.bytes = self.frames = self.largest = 0
        self.last = time.monotonic()


def wait_quiet_ws(page, counter: FrameCounter, quiet_s: float, timeout: float) -> None:
    """Until no websocket frame arrived for quiet_s (frames are dispatched while Playwright waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if time.monotonic() - counter.last >= quiet_s:
            return
    raise TimeoutError(f"websocket still busy after {timeout:.0f} s")


def analyse(page, counter: FrameCounter, text: str, n: int, timeout: float, attempts: int = 3) -> dict:
    """Type text, click Analyse; ms until the n x n heatmap is drawn, bytes until the app is idle.

    The page as of this writing drops every other submitted text: the text area's ``value`` follows
    session_state, so its widget identity changes on the next run and the typed value is discarded
    (the box shows the previous text again). Such a click is counted in ``dropped`` and retried; the
    time is measured from the click that took effect.
    """
    dropped = 0
    for _ in range(attempts):
        wait_quiet_ws(page, counter, 1.0, timeout)
        page.evaluate(_ARM_JS, [n, text])
        page.get_by_label("Text", exact=True).fill(text)
        counter.reset()
        t0 = time.perf_counter()
        page.get_by_role("button", name="Analyse").click(timeout=timeout * 1000)
        try:
            page.wait_for_function("() => window.__bench && (window.__bench.heatmap !== null"
                                   " || window.__bench.lost !== null)", timeout=timeout * 1000)
        except Exception:
            state = page.evaluate(_STATE_JS)
            print(f"  timed out waiting for a {n} x {n} heatmap; page state: {json.dumps(state)[:1500]}")
            raise
        wall = time.perf_counter() - t0
        marks = page.evaluate("() => window.__bench")
        if marks["heatmap"] is None:
            dropped += 1
            continue
        wait_quiet_ws(page, counter, 1.0, timeout)
        log = page.evaluate("([a, b]) => (window.__wsLog || []).filter(([t]) => t >= a && t <= b)",
                            [marks["start"], marks["heatmap"]])
        big = max(log, key=lambda e: e[1]) if log else None
        return {
            "ms_heatmap": marks["heatmap"] - marks["start"],
            "ms_last_message": log[-1][0] - marks["start"] if log else None,
            "ms_largest_message": big[0] - marks["start"] if big else None,
            "ms_first_plot": None if marks["firstPlot"] is None else marks["firstPlot"] - marks["start"],
            "ms_wall_python": wall * 1e3,
            "ws_bytes": counter.bytes,
            "ws_frames": counter.frames,
            "ws_largest": counter.largest,
            "dropped": dropped,
        }
    raise RuntimeError(f"the page dropped {attempts} submissions of the same text in a row")


def browser_timing(handle, args, gate: QuietGate) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    n_page = handle.max_length
    long_texts = []
    for k in range(args.cold_runs):
        text = f"Run {k + 1}. " + text_of_exactly(handle, args.browser_tokens)
        enc = handle.encode(text)
        assert enc.truncated and len(enc.tokens) == n_page, (len(enc.tokens), enc.n_input_tokens)
        long_texts.append((text, enc.n_input_tokens))
    n_short = len(handle.encode(SHORT_TEXT).tokens)
    timeout = args.timeout
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"attnviz-bench-streamlit-{port}.log"
    proc = start_server(port, log_path)
    runs: list[dict] = []
    try:
        wait_healthy(url, proc, timeout)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                         timeout=timeout * 1000)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.add_init_script(_WS_LOG_JS)
                page = context.new_page()
                page.set_default_timeout(timeout * 1000)
                counter = FrameCounter()
                page.on("websocket", counter.on_websocket)
                t0 = time.perf_counter()
                page.goto(url, timeout=timeout * 1000)
                page.get_by_role("button", name="Analyse").wait_for(timeout=timeout * 1000)
                page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .heatmaplayer image').length"
                                       " > 0", timeout=timeout * 1000)
                first_load = time.perf_counter() - t0
                wait_quiet_ws(page, counter, 1.0, timeout)
                print(f"  page open (model load + example analysed): {first_load:.1f} s, "
                      f"{mb(counter.bytes)} over the websocket; browser {browser.version}")
                for k, (text, n_in) in enumerate(long_texts):
                    # each measured run starts from a short text's page, so the old 512 x 512 heatmap
                    # cannot be mistaken for the new one
                    analyse(page, counter, SHORT_TEXT, n_short, timeout)
                    gate.wait()
                    r = analyse(page, counter, text, n_page, timeout)
                    r.update(kind="cold", run=k + 1, n_input=n_in)
                    runs.append(r)
                    _print_run(r)
                for k in range(args.warm_runs):
                    analyse(page, counter, SHORT_TEXT, n_short, timeout)  # something else in between
                    gate.wait()
                    r = analyse(page, counter, long_texts[0][0], n_page, timeout)
                    r.update(kind="warm", run=k + 1, n_input=long_texts[0][1])
                    runs.append(r)
                    _print_run(r)
                shot = BENCH / "out" / "payload_512_tokens.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=False)
                context.close()
            finally:
                browser.close()
    except Exception:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        print(f"  streamlit log tail ({log_path}):\n{tail}")
        raise
    finally:
        gate.release()
        stop_server(proc)
    return {"runs": runs, "n": n_page, "browser_tokens": args.browser_tokens}


def _print_run(r: dict) -> None:
    fp = "n/a" if r["ms_first_plot"] is None else f"{r['ms_first_plot']:.0f} ms"
    lm = "n/a" if r["ms_last_message"] is None else f"{r['ms_last_message']:.0f} ms"
    bm = "n/a" if r["ms_largest_message"] is None else f"{r['ms_largest_message']:.0f} ms"
    print(f"  {r['kind']} run {r['run']}: heatmap drawn {r['ms_heatmap']:.0f} ms after the click "
          f"(first plot updated {fp}; largest message in at {bm}, last message before the draw {lm}; "
          f"python wall {r['ms_wall_python']:.0f} ms); websocket {mb(r['ws_bytes'])} "
          f"in {r['ws_frames']} frames (largest {mb(r['ws_largest'])})"
          + (f"; {r['dropped']} earlier click(s) dropped by the page and retried" if r["dropped"] else ""))


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=512, help="n for (a) and the ours-vs-bertviz ratio (default 512)")
    ap.add_argument("--bertviz-tokens", type=int, nargs="+", default=None,
                    help="n values for bertviz (default: 512; 512 takes ~20-30 s and ~4.5 GB of memory)")
    ap.add_argument("--no-bertviz", action="store_true", help="skip (b)")
    ap.add_argument("--no-browser", action="store_true", help="skip (c)")
    ap.add_argument("--cold-runs", type=int, default=3, help="browser runs with texts the server has not seen")
    ap.add_argument("--warm-runs", type=int, default=3, help="browser runs re-analysing the first text")
    ap.add_argument("--browser-tokens", type=int, default=600,
                    help="tokens in the typed text (> 512: the page truncates to 512)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds any single wait may take")
    ap.add_argument("--quick", action="store_true", help="1 cold + 1 warm browser run, bertviz at 128 only")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for idle CPUs before browser runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.cold_runs, args.warm_runs = 1, 1
        args.bertviz_tokens = args.bertviz_tokens or [128]
    bertviz_ns = args.bertviz_tokens or [512]
    gate = QuietGate(max_wait=20, enabled=not args.no_wait)

    print(f"attnviz bench_payload  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()} cpu_count={os.cpu_count()}")
    handle = attnviz.load_model(device="cpu")
    n = args.tokens
    result = handle.attention(text_of_exactly(handle, n))
    assert len(result.tokens) == n
    ours = our_bytes(handle, result)
    print()
    print(f"(a) our page at n={n} ({handle.name}, {result.num_layers} layers x {result.num_heads} heads):")
    print(f"  model view grid figure JSON : {ours['model_view_json']:>12,d} B  ({mb(ours['model_view_json'])}; "
          f"built in {ours['ms_model_view_fig']:.0f} ms)")
    print(f"  head heatmap figure JSON    : {ours['heatmap_json']:>12,d} B  ({mb(ours['heatmap_json'])}; "
          f"built in {ours['ms_heatmap_fig']:.0f} ms; to_json of both {ours['ms_to_json_both']:.0f} ms)")
    print(f"  = default 'Model view' page : {ours['model_view_page']:>12,d} B  ({mb(ours['model_view_page'])})")
    print(f"  head view HTML, 1 head      : {ours['head_view_1']:>12,d} B  ({mb(ours['head_view_1'])}; "
          f"{ours['ms_head_view_1']:.0f} ms)")
    print(f"  head view HTML, 12 heads    : {ours['head_view_12']:>12,d} B  ({mb(ours['head_view_12'])}; "
          f"{ours['ms_head_view_12']:.0f} ms)")
    print(f"  (for scale: raw float32 attentions {mb(ours['raw_float32'])}; AttentionResult.to_json "
          f"{mb(ours['result_to_json'])})")

    bertviz_rows = []
    print()
    if args.no_bertviz:
        print("(b) bertviz: skipped (--no-bertviz)")
    elif not bertviz_installed():
        print(f"(b) bertviz is not installed: column skipped. Install the pinned version with\n"
              f"      pip install --no-deps -r bench/requirements.txt     # {BERTVIZ_PIN}, no extra deps needed")
    else:
        print("(b) bertviz.model_view(html_action='return') for the same attentions (child process):")
        if 512 in bertviz_ns:
            print("  note: at 512 tokens bertviz takes ~20-30 s and ~4.5 GB of memory (peak RSS); "
                  "--bertviz-tokens 128 is quicker")
        for bn in bertviz_ns:
            res_n = result if bn == n else handle.attention(text_of_exactly(handle, bn))
            ours_n = ours if bn == n else our_bytes(handle, res_n)
            bv = bertviz_bytes(res_n, timeout=max(600.0, args.timeout))
            ratio = bv["bytes"] / ours_n["model_view_page"]
            bertviz_rows.append((bn, bv, ours_n, ratio))
            print(f"  n={bn:4d}: bertviz {bv['bytes']:>13,d} B ({mb(bv['bytes'])}) in {bv['seconds']:.1f} s, "
                  f"peak RSS {bv['maxrss_mb']:.0f} MB, loads require.js from a CDN: {bv['external_script']}")
            print(f"          ours (model view page) {ours_n['model_view_page']:,d} B -> bertviz / ours = {ratio:.0f}x; "
                  f"bertviz / our 12-head head view = {bv['bytes'] / ours_n['head_view_12']:.0f}x")
        if bertviz_rows and n not in bertviz_ns:
            bn, bv, _, _ = bertviz_rows[-1]
            est = bv["bytes"] * (n / bn) ** 2
            print(f"  extrapolated to n={n} (bytes grow with n^2): ~{mb(est)} -> ~{est / ours['model_view_page']:.0f}x ours")

    browser = None
    print()
    if args.no_browser:
        print("(c) browser: skipped (--no-browser)")
    else:
        print(f"(c) browser: streamlit + Chromium, a {args.browser_tokens}-token text (page shows the first "
              f"{handle.max_length}); {args.cold_runs} cold + {args.warm_runs} warm runs")
        browser = browser_timing(handle, args, gate)

    print()
    print("Summary")
    print(f"  our model view page at n={n}: {mb(ours['model_view_page'])} (figure JSON) vs goal < {mb(GOAL_BYTES)}: "
          f"{'OK' if ours['model_view_page'] < GOAL_BYTES else 'OVER'}")
    for bn, bv, ours_n, ratio in bertviz_rows:
        print(f"  bertviz / ours at n={bn}: {ratio:.0f}x ({mb(bv['bytes'])} vs {mb(ours_n['model_view_page'])})")
    if browser:
        for kind in ("cold", "warm"):
            rs = [r for r in browser["runs"] if r["kind"] == kind]
            if not rs:
                continue
            t = statistics.median(r["ms_heatmap"] for r in rs) / 1e3
            b = statistics.median(r["ws_bytes"] for r in rs)
            last = [r["ms_last_message"] for r in rs if r["ms_last_message"] is not None]
            if last:
                lm = statistics.median(last)
                print(f"  browser {kind}: server + transfer until the last message {lm:.0f} ms, then drawing "
                      f"{statistics.median(r['ms_heatmap'] - r['ms_last_message'] for r in rs if r['ms_last_message'] is not None):.0f} ms (medians)")
            print(f"  browser {kind} (median of {len(rs)}): heatmap after {t:.2f} s (goal < {GOAL_SECONDS:.0f} s: "
                  f"{'OK' if t < GOAL_SECONDS else 'OVER'}, {t / GOAL_SECONDS:.2f}x the goal); websocket "
                  f"{mb(b)} (goal < {mb(GOAL_BYTES)}: {'OK' if b < GOAL_BYTES else 'OVER'}, "
                  f"{b / GOAL_BYTES:.2f}x the goal)")
    print(f"  {gate.summary()}")
    print(f"  peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
