"""The Compare-two page in Chromium: A and B side by side, B − A heatmaps, no console errors."""

import pytest

from tests.test_browser.test_bias_browser import screenshot_whole_page

pytestmark = pytest.mark.browser


def test_compare_two_renders_the_counterfactual_pair(app_url, page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    # through the sidebar, not a deep link: on a deep link Streamlit's frontend probes
    # /compare_two/_stcore/host-config (a 404 console error that is not this page's)
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Compare two", exact=True).click(timeout=120_000)
    page.get_by_role("heading", name="Compare two").wait_for(timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .xtick text')].some(t => t.textContent.includes('he→she'))",
        timeout=180_000,
    )
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=180_000)
    screenshot_whole_page(page, "compare_two_attention.png")
    page.get_by_role("tab", name="Attribution").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=180_000)
    page.get_by_text("Attribution B − A per method").first.wait_for(timeout=60_000)
    screenshot_whole_page(page, "compare_two_page.png")
    assert not errors, errors
