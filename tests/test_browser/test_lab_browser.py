"""The Attention Lab in Chromium: open the page, train a few steps, stop, and keep a screenshot."""

import re

import pytest

from tests.helpers import ARTIFACTS

pytestmark = pytest.mark.browser


def progress_step(page) -> int:
    text = page.locator("[data-testid='stProgress']").first.inner_text()
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


def test_train_a_few_steps_and_watch_the_attention(app_url, page):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url + "/lab")
    page.get_by_role("heading", name="Attention Lab").wait_for()
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_role("button", name="▶ Train").wait_for()
    assert progress_step(page) == 0
    page.get_by_role("button", name="▶ Train").click()
    # the first evaluation (step 10) adds the accuracy to the progress line and draws the curves
    page.wait_for_function(
        "() => /held-out accuracy/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText || '')",
        timeout=120_000)
    page.get_by_role("button", name="■ Stop").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Train') && !b.disabled)",
        timeout=60_000)
    stopped = progress_step(page)
    assert stopped > 0
    page.wait_for_timeout(1500)
    assert progress_step(page) == stopped  # stop means stop
    assert page.locator(".js-plotly-plot").count() >= 3  # curves, one head, all heads
    page.set_viewport_size({"width": 1400, "height": 1900})  # the app scrolls inside: show curves and heads
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab_page.png"), full_page=True)
    assert not errors
