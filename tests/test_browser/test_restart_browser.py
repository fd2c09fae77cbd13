"""Recovery: the server restarts mid-session. A browser on a shared link of the Attention page (layer 4,
head 7, own text) loses its server, the server comes back on the same port, and the page, reloaded, shows the
same view again, rebuilt from the link alone (the new server knows nothing of the old session)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from tests.test_browser.conftest import _require_chromium, serve_app, wait_for_title, wait_idle

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
        page.evaluate("() => { window.__beforeRestart = true; }")
    with serve_app(port):  # the same port: what a browser left open on the link sees after a restart
        # Streamlit's page reconnects on its own but does not rerun until the user acts; a reload is that act
        # here, and the new server (which knows nothing of the session) rebuilds the view from the link alone
        page.reload()
        wait_for_title(page, VIEW)
        wait_idle(page)
        assert page.evaluate("() => window.__beforeRestart") is None  # really a fresh page from the new server
        assert _selected(page) == (TEXT, "4", "7")
        assert "layer=4" in page.url and "head=7" in page.url
        assert not page.locator('[data-testid="stException"]').count()
