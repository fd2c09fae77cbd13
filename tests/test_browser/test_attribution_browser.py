"""The Attribution page in Chromium: explainers side by side, agreement and faithfulness plots."""

import pytest

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, serve_app, wait_for_plots, wait_for_tick, wait_idle

pytestmark = pytest.mark.browser


def test_attribution_page_shows_methods_agreement_and_faithfulness(app_url, page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url + "/attribution")
    page.get_by_role("button", name="Explain").wait_for(timeout=SLOW)
    wait_idle(page)  # the page's first run is over (typing during it can be lost)
    page.get_by_label("Text", exact=True).fill("A tender, funny film with a dull middle.")
    page.get_by_role("button", name="Explain").click()
    wait_for_tick(page, "tender")
    page.get_by_text("Faithfulness", exact=True).wait_for(timeout=SLOW)
    wait_for_plots(page, 4)
    wait_idle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attribution_page.png"), full_page=True)
    assert not errors


def test_a_deep_link_on_a_fresh_server_gets_the_full_app(browser):
    """The first request of a new server used to run the page alone (Streamlit's legacy pages/ mode)."""
    with serve_app() as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url + "/attribution")
        page.get_by_role("heading", name="Attribution").wait_for(timeout=SLOW)
        page.get_by_text("Hugging Face id or local directory").wait_for(timeout=SLOW)  # app.py's sidebar
        # A "Page not found" comes before the page's own elements (messages arrive in order), so it would be
        # up by now; the pause is a bounded grace for it to be drawn, not a wait for the (long) first run.
        page.wait_for_timeout(1000)
        assert page.get_by_text("Page not found").count() == 0
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Attention" in nav and "app" not in nav.split()
        context.close()
