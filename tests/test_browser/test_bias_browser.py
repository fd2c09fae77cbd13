"""The Bias probes page in Chromium: a counterfactual probe with its figures, then WEAT."""

import json
from pathlib import Path

import pytest

from tests.helpers import ARTIFACTS

pytestmark = pytest.mark.browser

PLOTS = "() => document.querySelectorAll('.js-plotly-plot').length >= {n}"


def screenshot_whole_page(page, name: str) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to the content, then shoot."""
    # wait for the run to end: until then the previous probe's elements are still in the page, faded
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    height = page.evaluate("() => { const c = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
                           " return c ? c.scrollHeight + 120 : document.body.scrollHeight; }")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 9000))})
    page.wait_for_timeout(1500)  # plotly re-lays out on resize
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_bias_page_runs_counterfactual_and_weat(app_url, page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Open the app once first: on a server's very first request a deep link shows Streamlit's
    # "Page not found" dialog over the page (see attnviz.ui.ensure_entrypoint), which blocks clicks.
    page.goto(app_url)
    page.get_by_text("Bias probes").first.wait_for(timeout=120_000)
    page.goto(app_url + "/bias")
    # the default probe (3 axes, zero-shot p(positive)) runs on the first visit
    page.get_by_text("Counterfactual token fairness gap per axis").wait_for(timeout=180_000)
    page.wait_for_function(PLOTS.format(n=4), timeout=180_000)
    page.get_by_role("button", name="Run probe").click(timeout=120_000)  # again: served from the cache
    page.get_by_text("Largest gaps", exact=True).wait_for(timeout=120_000)
    page.wait_for_function(PLOTS.format(n=4), timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
        ".some(t => t.textContent.includes('Which heads attend'))", timeout=60_000)
    screenshot_whole_page(page, "bias_page.png")
    # a click while the run is still finishing can be dropped: wait until the app is idle
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Everything (JSON)").click()
    doc = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert doc["format"] == "attnviz.CounterfactualResult" and doc["attention_shape"][1:] == [6, 12]

    page.get_by_text("Embedding association (WEAT / SEAT)").click()
    page.get_by_role("button", name="Run tests").wait_for(timeout=60_000)
    page.get_by_text("not evidence").wait_for(timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
        ".some(t => t.textContent.includes('WEAT effect sizes'))", timeout=60_000)
    screenshot_whole_page(page, "bias_page_weat.png")
    assert not errors
