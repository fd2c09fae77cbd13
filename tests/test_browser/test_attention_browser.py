"""The Attention page in Chromium: type a sentence, see the heatmap, nothing leaves localhost."""

from urllib.parse import urlparse

import pytest

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, wait_for_tick, wait_for_title, wait_idle

pytestmark = pytest.mark.browser


def analyse(page, text):
    # the Analyse button is drawn early in the page's first run: typing and clicking while that run is still
    # going can be lost, so wait for it to finish first
    wait_idle(page)
    box = page.get_by_label("Text", exact=True)
    box.fill(text)
    page.get_by_role("button", name="Analyse").click()


def test_type_a_sentence_and_see_the_heatmap(app_url, page):
    external = []
    page.on("request", lambda r: external.append(r.url) if urlparse(r.url).hostname not in
            (None, "127.0.0.1", "localhost") and not r.url.startswith(("data:", "blob:")) else None)
    page.goto(app_url)
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    analyse(page, "Quokkas smile at curious photographers.")
    # the enlarged head heatmap carries the new tokens as axis labels
    wait_for_tick(page, "photographers")
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for()
    wait_idle(page)
    assert page.locator(".js-plotly-plot").count() >= 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention_page.png"), full_page=True)
    assert not external, f"the page fetched from outside localhost: {external[:5]}"


def test_hostile_text_runs_no_script(app_url, page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(app_url)
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    analyse(page, "<img src=x onerror=alert(1)> <script>alert(2)</script> [click](javascript:alert(3))")
    wait_for_tick(page, "alert")
    wait_idle(page)
    page.get_by_text("Head view", exact=True).click()
    page.frame_locator("iframe").locator("body").filter(has_text="alert").wait_for(timeout=SLOW)  # tokens drawn
    page.wait_for_timeout(1000)  # not a synchronisation: lets handlers of anything injected fire first
    assert not dialogs
    assert page.locator("img[src='x']").count() == 0


def test_clicking_a_thumbnail_enlarges_that_head(app_url, page):
    page.goto(app_url)
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=SLOW)
    wait_idle(page)  # a click during the first run could be dropped
    page.locator(".js-plotly-plot .scatterlayer .point").nth(2 * 12 + 5).click(force=True)
    wait_for_title(page, "Layer 2 · head 5")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention_model_view_click.png"))
