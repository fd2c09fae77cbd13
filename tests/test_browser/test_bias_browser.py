"""The Bias probes page in Chromium: a counterfactual probe with its figures, then WEAT."""

import json
from pathlib import Path

import pytest

from tests.test_browser.conftest import (
    SLOW,
    rerun_finished,
    screenshot_whole_page,
    wait_for_plots,
    wait_for_title,
    wait_idle,
)

pytestmark = pytest.mark.browser


def test_bias_page_runs_counterfactual_and_weat(app_url, page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Open the app once first: on a server's very first request a deep link shows Streamlit's
    # "Page not found" dialog over the page (see attnviz.ui.ensure_entrypoint), which blocks clicks.
    page.goto(app_url)
    page.get_by_text("Bias probes").first.wait_for(timeout=SLOW)
    page.goto(app_url + "/bias")
    # the default probe (3 axes, zero-shot p(positive)) runs on the first visit
    page.get_by_text("Counterfactual token fairness gap per axis").wait_for(timeout=SLOW)
    wait_for_plots(page, 4)
    wait_idle(page)
    with rerun_finished(page):  # again: served from the cache, so the page looks the same
        page.get_by_role("button", name="Run probe").click()
    page.get_by_text("Largest gaps", exact=True).wait_for(timeout=SLOW)
    wait_for_plots(page, 4)
    wait_for_title(page, "Which heads attend")
    screenshot_whole_page(page, "bias_page.png")
    # a click while the run is still finishing can be dropped: wait until the app is idle
    wait_idle(page)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="Everything (JSON)").click()
    doc = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert doc["format"] == "attnviz.CounterfactualResult" and doc["attention_shape"][1:] == [6, 12]

    page.get_by_text("Embedding association (WEAT / SEAT)").click()
    page.get_by_role("button", name="Run tests").wait_for(timeout=SLOW)
    page.get_by_text("not evidence").wait_for(timeout=SLOW)
    wait_for_title(page, "WEAT effect sizes")
    screenshot_whole_page(page, "bias_page_weat.png")
    assert not errors
