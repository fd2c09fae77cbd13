"""The Attribution page in Chromium: explainers side by side, agreement and faithfulness plots."""

import pytest

from tests.helpers import ARTIFACTS

pytestmark = pytest.mark.browser


def test_attribution_page_shows_methods_agreement_and_faithfulness(app_url, page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url + "/attribution")
    page.get_by_role("button", name="Explain").wait_for()
    page.get_by_label("Text", exact=True).fill("A tender, funny film with a dull middle.")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .xtick text')].some(t => t.textContent.includes('tender'))",
        timeout=120_000,
    )
    page.get_by_text("Faithfulness", exact=True).wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=120_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attribution_page.png"), full_page=True)
    assert not errors


def test_a_deep_link_on_a_fresh_server_gets_the_full_app(browser):
    """The first request of a new server used to run the page alone (Streamlit's legacy pages/ mode)."""
    from tests.test_browser.conftest import serve_app

    with serve_app() as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url + "/attribution")
        page.get_by_role("heading", name="Attribution").wait_for(timeout=90_000)
        page.get_by_text("Hugging Face id or local directory").wait_for(timeout=30_000)  # app.py's sidebar
        page.wait_for_timeout(1500)
        assert page.get_by_text("Page not found").count() == 0
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Attention" in nav and "app" not in nav.split()
        context.close()
