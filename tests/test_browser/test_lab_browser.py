"""The Attention Lab in Chromium: open the page, train a few steps, stop, and keep a screenshot."""

import re

import pytest

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, wait_idle

pytestmark = pytest.mark.browser


def progress_step(page) -> int:
    text = page.locator("[data-testid='stProgress']").first.inner_text()
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


def test_train_a_few_steps_and_watch_the_attention(app_url, page):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url + "/lab")
    page.get_by_role("heading", name="Attention Lab").wait_for(timeout=SLOW)
    page.get_by_role("button", name="▶ Train").wait_for(timeout=SLOW)
    wait_idle(page)  # the first run is over: a "Page not found" dialog would be up by now
    assert page.get_by_text("Page not found").count() == 0
    assert progress_step(page) == 0
    page.get_by_role("button", name="▶ Train").click()
    # the first evaluation (step 10) adds the accuracy to the progress line and draws the curves
    page.wait_for_function(
        "() => /held-out accuracy/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText || '')",
        timeout=SLOW)
    page.get_by_role("button", name="■ Stop").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Train') && !b.disabled)",
        timeout=SLOW)
    wait_idle(page)
    stopped = progress_step(page)
    assert stopped > 0
    page.wait_for_timeout(1500)  # not a synchronisation: time in which a training that did not stop would step
    assert progress_step(page) == stopped  # stop means stop
    assert page.locator(".js-plotly-plot").count() >= 3  # curves, one head, all heads
    page.set_viewport_size({"width": 1400, "height": 1900})  # the app scrolls inside: show curves and heads
    page.wait_for_timeout(1000)  # cosmetic only: plotly re-lays out on resize (nothing is checked after it)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab_page.png"), full_page=True)
    assert not errors
