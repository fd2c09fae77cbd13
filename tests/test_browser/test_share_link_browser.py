"""A shared link in Chromium: set layer, head and text on the Attention page, copy the link from the
sidebar's "Copy link" box, open it in a new browser context (no shared cookies or storage) and find the
same layer, head and text selected."""

import pytest
from playwright.sync_api import expect

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import (
    SLOW,
    copied_link,
    rerun_finished,
    wait_for_tick,
    wait_for_title,
    wait_idle,
)

pytestmark = pytest.mark.browser

TEXT = "Puffins nest on windy cliffs."


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in a selectbox and wait for the run it starts to finish."""
    with rerun_finished(page):
        page.get_by_label(label, exact=True).click()
        page.get_by_role("option", name=option, exact=True).click()


def test_a_copied_link_opens_the_same_view_in_a_new_context(app_url, page, browser):
    page.goto(app_url)
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    wait_idle(page)  # the first run is over (typing during it can be lost)
    page.get_by_label("Text", exact=True).fill(TEXT)
    page.get_by_role("button", name="Analyse").click()
    wait_for_tick(page, "cliffs")
    wait_idle(page)
    choose(page, "Layer", "4")
    choose(page, "Head", "7")
    link = copied_link(page, "layer=4", "head=7", "Puffins")
    assert link.startswith(app_url), link
    assert page.url.endswith(link[len(app_url):]) or "layer=4" in page.url  # the address bar carries it too

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(120_000)
        fresh.goto(link)
        fresh.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
        wait_for_title(fresh, "Layer 4 · head 7")
        wait_idle(fresh)
        expect(fresh.get_by_label("Text", exact=True)).to_have_value(TEXT, timeout=SLOW)
        expect(fresh.get_by_label("Layer", exact=True)).to_have_value("4", timeout=SLOW)
        expect(fresh.get_by_label("Head", exact=True)).to_have_value("7", timeout=SLOW)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        fresh.screenshot(path=str(ARTIFACTS / "shared_link_opened.png"), full_page=True)
    finally:
        other.close()


def test_a_saved_session_file_loads_back_in_a_new_context(app_url, page, browser, tmp_path):
    import json

    from attnviz.attention import AttentionResult
    from attnviz.session import SessionFile

    page.goto(app_url + "/?view=Heatmap&layer=2&head=5")
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    wait_idle(page)
    page.get_by_label("Text", exact=True).fill("Gannets dive for fish.")
    page.get_by_role("button", name="Analyse").click()
    wait_for_tick(page, "fish")
    wait_idle(page)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="Save session (.json)").click()
    path = tmp_path / "session.json"
    download.value.save_as(path)
    saved = SessionFile.from_json(path.read_bytes())
    assert saved.page == "attention" and saved.state["layer"] == "2" and saved.state["head"] == "5"
    assert saved.state["text"] == "Gannets dive for fish."
    result = saved.result("attention", AttentionResult)
    assert "fish" in result.tokens and result.attentions.shape[:2] == (6, 12)
    assert json.loads(path.read_text())["version"] == 1

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(120_000)
        fresh.goto(app_url)
        fresh.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
        wait_idle(fresh)
        fresh.get_by_text("Session file", exact=True).click()
        fresh.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(str(path))
        fresh.get_by_text("Session loaded").wait_for(timeout=SLOW)  # kept in the session: it stays up
        wait_for_title(fresh, "Layer 2 · head 5")
        wait_idle(fresh)
        expect(fresh.get_by_label("Text", exact=True)).to_have_value("Gannets dive for fish.", timeout=SLOW)
    finally:
        other.close()
