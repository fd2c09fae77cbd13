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
