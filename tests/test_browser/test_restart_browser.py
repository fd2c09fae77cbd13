"""Recovery: the server restarts mid-session. A browser on a shared link of the Attention page (layer 4,
head 7, own text) loses its server, the server comes back on the same port: the page reconnects and its next run
shows the same view, and reloaded it shows it again, rebuilt from the link alone (the new server knows nothing of
the old session)."""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.test_browser.conftest import (
    SCRIPT_STATE,
    SLOW,
    _require_chromium,
    rerun_finished,
    run_number,
    serve_app,
    wait_for_title,
    wait_idle,
)

CONNECTION_STATE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-connection-state')"

pytestmark = pytest.mark.browser

TEXT = "Gannets dive for herring."
VIEW = "Layer 4 · head 7"


def _selected(page) -> tuple[str, str, str]:
    return (page.get_by_label("Text", exact=True).input_value(), page.get_by_label("Layer", exact=True).input_value(),
            page.get_by_label("Head", exact=True).input_value())


def test_a_restarted_server_reconnects_and_the_link_restores_the_view(page):
    _require_chromium()
    query = urlencode({"text": TEXT, "view": "Model view", "layer": 4, "head": 7})
    with serve_app() as url:
        port = urlsplit(url).port
        page.goto(f"{url}/?{query}")
        wait_for_title(page, VIEW)
        wait_idle(page)
        assert _selected(page) == (TEXT, "4", "7")
        before = run_number(page)
        with rerun_finished(page):  # one more run, so this session's run number is at least 2: a new
            page.get_by_role("button", name="Analyse").click()  # session's first run (1) then differs from it
        assert run_number(page) > max(before, 1)
        page.evaluate("""() => {  // count the runs from now on: only the new server can start one
            window.__beforeRestart = true;
            window.__runsAfterRestart = 0;  // each run with another number replaces app.py's run marker
            new MutationObserver(records => {
                for (const r of records) for (const n of r.addedNodes)
                    if (n.nodeType === 1 && (n.matches('style[data-attnviz-run]') || n.querySelector?.('style[data-attnviz-run]')))
                        window.__runsAfterRestart += 1;
            }).observe(document.body, {childList: true, subtree: true});
        }""")
    # the server is gone: wait until the page knows it (state that stays while no server answers)
    page.wait_for_function(f"() => {CONNECTION_STATE} !== 'CONNECTED'", timeout=SLOW)
    with serve_app(port):  # the same port: what a browser left open on the link sees after a restart
        # the page reconnects on its own (Streamlit reruns nothing until the user acts); a click while it is
        # still offline is dropped, so click Analyse once it is connected, until a run of the new session shows
        page.wait_for_function(f"() => {CONNECTION_STATE} === 'CONNECTED'", timeout=SLOW)
        for _ in range(60):
            page.get_by_role("button", name="Analyse").click()
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(f"() => window.__runsAfterRestart > 0 && {SCRIPT_STATE} === 'notRunning'",
                                       timeout=5_000)
                break
        else:
            pytest.fail("the page did not reconnect to the restarted server")
        wait_for_title(page, VIEW)
        assert _selected(page) == (TEXT, "4", "7")
        # a reload (or the link opened anew): the new server, which knows nothing of the old session,
        # rebuilds the view from the link alone
        page.reload()
        wait_for_title(page, VIEW)
        wait_idle(page)
        assert page.evaluate("() => window.__beforeRestart") is None  # really a fresh page from the new server
        assert _selected(page) == (TEXT, "4", "7")
        assert "layer=4" in page.url and "head=7" in page.url
        assert not page.locator('[data-testid="stException"]').count()
