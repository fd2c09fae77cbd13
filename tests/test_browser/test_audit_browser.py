"""The Audit page in Chromium: upload a CSV, run, see the figures, download the report — and the report
itself, opened from file:// with every network request blocked, draws its interactive figures."""


import pytest

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, open_offline, wait_for_title, wait_idle

pytestmark = pytest.mark.browser

CSV = ("review,label,shop\n"
       "\"The soup was rich, the staff were lovely.\",positive,north\n"
       "Cold fries and a rude waiter.,negative,south\n"
       "<b>Bold</b> claims but a dull meal.,negative,north\n")


def test_upload_run_and_download_the_report(app_url, page, browser, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)  # the app once first (a server's first deep link shows "Page not found")
    page.get_by_text("Audit", exact=True).first.wait_for(timeout=SLOW)
    page.goto(app_url + "/audit")
    page.get_by_text("Upload a file").click(timeout=SLOW)
    page.get_by_text("cannot travel in a link").wait_for(timeout=SLOW)
    wait_idle(page)
    # the page's uploader (the sidebar has another one, for session files)
    page.locator("[data-testid='stFileUploader']").filter(has_text="CSV, JSON Lines").locator(
        "input[type='file']").set_input_files(
        files=[{"name": "mini.csv", "mimeType": "text/csv", "buffer": CSV.encode("utf-8")}])
    page.get_by_text("columns: review").wait_for(timeout=SLOW)  # the upload is read
    page.get_by_text("mini.csv").first.wait_for(timeout=SLOW)
    page.get_by_role("button", name="Run audit").wait_for(timeout=SLOW)
    wait_idle(page)
    page.get_by_text("Measure faithfulness").click()  # faster: attention, prediction and IG only
    page.locator("[data-testid='stMultiSelect']").filter(has_text="Slice by").locator("input").click()
    page.keyboard.type("shop")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Run audit").click()
    wait_for_title(page, "Explained output")
    page.get_by_text("Done: 3 of 3").wait_for(timeout=SLOW)
    wait_idle(page)  # a click while the run is still finishing can be dropped
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit_page.png"), full_page=True)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="report.html").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    assert not errors

    # the downloaded report, offline: nothing but the file itself may load
    offline, context, fetched = open_offline(browser, viewport={"width": 1300, "height": 900})
    offline.on("pageerror", lambda e: errors.append(str(e)))
    offline.goto(report.as_uri())
    expected = offline.evaluate("() => document.querySelectorAll('.plotly-graph-div').length")
    assert expected >= 5
    offline.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
                              timeout=SLOW)
    titles = offline.evaluate("() => [...document.querySelectorAll('.gtitle')].map(t => t.textContent)")
    assert any("Head patterns" in t for t in titles) and any("by shop" in t for t in titles)
    assert offline.locator(".heatmaplayer").count() >= 3
    # interactive: hovering a heatmap cell shows plotly's hover label
    offline.locator("#fig-head_patterns .nsewdrag").first.hover()
    offline.wait_for_selector(".hoverlayer .hovertext", timeout=60_000)
    assert offline.get_by_text("<b>Bold</b>", exact=False).count() >= 1  # user text shown as text
    offline.screenshot(path=str(ARTIFACTS / "audit_report.png"), full_page=True)
    context.close()
    assert not fetched, f"the report tried to fetch: {fetched[:5]}"
    assert not errors
