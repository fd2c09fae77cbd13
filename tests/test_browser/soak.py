"""The soak driver shared by the CI soak test and ``bench/bench_soak.py``: N browser sessions (one Chromium,
one context each) use the Attention, Attribution and Compare-two pages with their own inputs for a fixed
time, while the server's resident memory is sampled.

Each session has its own word (one WordPiece token) and each iteration its own adverb, so a figure that
shows both is this iteration's result and a figure showing another session's word is a leak. Latency is
click → that figure drawn, per page.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

WORDS = ["tigers", "rockets", "violins", "penguins", "castles", "dragons", "oceans", "pilots", "wolves", "apples",
         "rivers", "gardens", "windows", "forests", "doctors", "teachers", "guitars", "cameras", "rabbits", "horses",
         "islands", "bridges", "candles", "engines", "jackets", "kitchens", "mirrors", "tunnels", "wagons", "farmers"]
ADVERBS = ["quietly", "slowly", "happily", "calmly"]
PAGES = ("attention", "attribution", "compare_two")
TICKS = "[...document.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text')].map(t => t.textContent)"
ERRORS = "document.querySelectorAll(\"[data-testid='stException'], [data-testid='stAlertContentError']\").length"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@dataclass
class SoakReport:
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {p: [] for p in PAGES})
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    memory: list[tuple[float, int]] = field(default_factory=list)  # (seconds since the soak began, RSS bytes)
    started: float = field(default_factory=time.monotonic)  # reset when every session has drawn its first page

    def percentiles(self) -> dict[str, dict[str, float]]:
        import numpy as np

        out = {}
        for page, samples in self.latencies.items():
            if samples:
                values = np.array([s for _, s in samples])
                out[page] = {"n": len(values), "p50": float(np.percentile(values, 50)),
                             "p95": float(np.percentile(values, 95))}
        return out

    def rss_at(self, seconds: float) -> int:
        """The resident memory sampled closest after ``seconds`` into the soak."""
        return next((rss for t, rss in self.memory if t >= seconds), self.memory[-1][1])


def server_pid(port: int) -> int:
    """The pid of the ``streamlit run`` serving ``port`` (found in /proc by its command line)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                return int(proc.name)
    raise LookupError(f"no streamlit process serves port {port}")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(pid)


def sample_memory(pid: int, report: SoakReport, stop: threading.Event, every: float = 1.0) -> threading.Thread:
    def loop():
        while not stop.is_set():
            report.memory.append((time.monotonic() - report.started, rss_bytes(pid)))
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


async def _session(browser, url: str, index: int, seconds: float, report: SoakReport, timeout_ms: int,
                   ready: asyncio.Barrier) -> None:
    word, page_name = WORDS[index % len(WORDS)], PAGES[index % len(PAGES)]
    others = [w for w in WORDS if w != word]
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        pg = await context.new_page()
        pg.set_default_timeout(timeout_ms)
        start = {"attention": "/", "attribution": "/attribution?method=saliency", "compare_two": "/compare_two"}
        button = {"attention": "Analyse", "attribution": "Explain", "compare_two": "Compare"}[page_name]
        await pg.goto(url + start[page_name])
        await pg.get_by_role("button", name=button).wait_for(timeout=timeout_ms)
        await pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0",
                                   timeout=timeout_ms)  # the first run (the page's example) has drawn
        await pg.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                                   "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout_ms)
        if await ready.wait() == 0:  # every session is in: the soak's clock starts now
            report.started = time.monotonic()
            report.memory.clear()
        await ready.wait()
        deadline = report.started + seconds
        iteration = 0
        while time.monotonic() < deadline:
            adverb = ADVERBS[iteration % len(ADVERBS)]
            text = f"The {word} walked {adverb} past {iteration} houses."
            if page_name == "compare_two":
                await pg.get_by_label("Text A", exact=True).fill(text)
                await pg.get_by_label("Text B", exact=True).fill(text.replace("walked", "ran"))
            else:
                await pg.get_by_label("Text", exact=True).fill(text)
            clicked = time.monotonic()
            await pg.get_by_role("button", name=button).click()
            await pg.wait_for_function(
                f"([w, a]) => {{ const t = {TICKS}; return t.some(x => x.includes(w)) && t.some(x => x.includes(a)); }}",
                arg=[word, adverb], timeout=timeout_ms)
            report.latencies[page_name].append((clicked - report.started, time.monotonic() - clicked))
            seen = " ".join(await pg.evaluate(TICKS))
            leaked = [w for w in others if w in seen.split()]
            if leaked:
                report.leaks.append(f"session {index} ({word}) saw {leaked}")
            if await pg.evaluate(ERRORS):
                report.errors.append(f"session {index} ({page_name}): " + (await pg.inner_text("body"))[:300])
            iteration += 1
    except BaseException:
        ready.abort()  # the others stop waiting for this session
        raise
    finally:
        await context.close()


async def _soak(url: str, sessions: int, seconds: float, report: SoakReport, timeout_ms: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        try:
            warm = await browser.new_context()  # one visit first: the server's first run imports and loads the model
            first = await warm.new_page()
            await first.goto(url)
            await first.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0",
                                          timeout=timeout_ms)
            await warm.close()
            ready = asyncio.Barrier(sessions)
            results = await asyncio.gather(*(_session(browser, url, i, seconds, report, timeout_ms, ready)
                                             for i in range(sessions)), return_exceptions=True)
        finally:
            await browser.close()
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            report.errors.append(f"session {i}: {type(result).__name__}: {str(result)[:300]}")


def run_soak(url: str, sessions: int, seconds: float, *, timeout_ms: int = 300_000,
             sample_every: float = 1.0) -> SoakReport:
    """Drive ``sessions`` browser sessions against ``url`` for ``seconds`` (plus the runs in flight then)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    report = SoakReport()
    stop = threading.Event()
    sampler = sample_memory(server_pid(port), report, stop, sample_every)
    try:
        asyncio.run(_soak(url, sessions, seconds, report, timeout_ms))
    finally:
        stop.set()
        sampler.join(timeout=5)
    report.memory.append((time.monotonic() - report.started, rss_bytes(server_pid(port))))
    return report


def load_note() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
