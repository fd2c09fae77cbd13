"""A real app server on localhost and Debian's Chromium driven by Playwright, and the waits the browser
tests share.

Waits are on state that stays (text, a tick label, a figure count, the app idle after a run that was
seen to start), never on messages that come and go or on fixed sleeps: a loaded machine may take
minutes where an idle one takes seconds, so timeouts are generous.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SLOW = 300_000  # ms: a model run on a loaded 2-core machine
TICKS = "[...document.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text')]"
TITLES = "[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
SCRIPT_STATE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"


def _require_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("ATTNVIZ_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing but ATTNVIZ_REQUIRE_BROWSER is set (apt-get install chromium)")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    _require_chromium()
    with serve_app() as url:
        yield url


@contextlib.contextmanager
def serve_app(port: int | None = None):
    """A fresh `streamlit run app.py` on ``port`` (default: a free localhost port), stopped on exit."""
    port = port or _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Streamlit server did not come up within 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


# ------------------------------------------------------------------ waits on state
def wait_for_tick(page, fragment: str, timeout: int = SLOW) -> None:
    """Until a figure's axis tick label contains ``fragment`` (the result of a run is drawn)."""
    page.wait_for_function(f"(s) => {TICKS}.some(t => t.textContent.includes(s))", arg=fragment, timeout=timeout)


def wait_for_title(page, fragment: str, timeout: int = SLOW) -> None:
    """Until a figure's title contains ``fragment``."""
    page.wait_for_function(f"(s) => {TITLES}.some(t => t.textContent.includes(s))", arg=fragment, timeout=timeout)


def wait_for_plots(page, n: int, timeout: int = SLOW) -> None:
    """Until the page holds at least ``n`` plotly figures."""
    page.wait_for_function("(n) => document.querySelectorAll('.js-plotly-plot').length >= n", arg=n,
                           timeout=timeout)


def wait_idle(page, timeout: int = SLOW) -> None:
    """Until the app is not running a script. Only meaningful once the run in question is known to have
    started (call it after a wait for that run's output, or use ``rerun_finished``): straight after a
    click the new run may not have begun yet."""
    page.wait_for_function(f"() => {SCRIPT_STATE} === 'notRunning'", timeout=timeout)


RUN_NUMBER = "Number(document.querySelector('style[data-attnviz-run]')?.dataset.attnvizRun ?? 0)"


def run_number(page) -> int:
    """The session's run count, as app.py's ``mark_entrypoint`` writes it into the page (0 before the first)."""
    return page.evaluate(f"() => {RUN_NUMBER}")


def wait_for_run_after(page, before: int, timeout: int = SLOW) -> None:
    """Until a run numbered above ``before`` has drawn its marker and the app is idle again.

    The marker is state that stays, unlike the script-state attribute's brief "running": on a busy machine
    React renders the run's start and end together and that attribute never changes at all."""
    page.wait_for_function(f"(n) => {RUN_NUMBER} > n && {SCRIPT_STATE} === 'notRunning'", arg=before,
                           timeout=timeout)


@contextlib.contextmanager
def rerun_finished(page, timeout: int = SLOW):
    """Around an action that makes the app rerun (a click, a choice): on exit, wait until a run has
    started after the action and the app is idle again. For actions whose result looks like the page
    before (a result served from the cache, a tab)."""
    before = run_number(page)
    yield
    wait_for_run_after(page, before, timeout)


def copied_link(page, *needles: str, timeout: int = SLOW) -> str:
    """The text of the sidebar's "Copy link" box once it carries every needle."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stCode"] code').first
    page.wait_for_function(
        "needles => { const c = document.querySelector('[data-testid=\"stSidebar\"] [data-testid=\"stCode\"] code');"
        " return c && needles.every(n => c.textContent.includes(n)); }", arg=list(needles), timeout=timeout)
    return box.text_content().strip()


def screenshot_whole_page(page, name: str) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to the content, then shoot.
    Call it once the run is over (until then the previous run's elements are still in the page, faded)."""
    wait_idle(page)
    height = page.evaluate("() => { const c = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
                           " return c ? c.scrollHeight + 120 : document.body.scrollHeight; }")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 9000))})
    page.wait_for_timeout(1500)  # cosmetic only: plotly re-lays out on resize (nothing is checked after it)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def open_offline(browser, **context_options):
    """A page in a new context where every request but file:// is blocked (to open a report offline).

    Returns ``(page, context, fetched)``; ``fetched`` collects the blocked URLs. The caller registers its
    listeners, opens the file and closes the context.
    """
    context = browser.new_context(**context_options)
    fetched: list[str] = []

    def block(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    context.route("**/*", block)
    return context.new_page(), context, fetched
