"""The Compare-two page in Chromium: A and B side by side, B − A heatmaps, no console errors."""

import pytest

from tests.test_browser.conftest import (
    SLOW,
    copied_link,
    rerun_finished,
    screenshot_whole_page,
    wait_for_plots,
    wait_for_tick,
    wait_idle,
)

pytestmark = pytest.mark.browser


TITLE_IN_VIEW = """() => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')].find(
        p => [...p.querySelectorAll('.gtitle')].some(t => t.textContent.includes('Attention B − A')));
    if (!plot) return null;
    const box = plot.querySelector('svg.main-svg').getBoundingClientRect(), title = plot.querySelector('.gtitle').getBoundingClientRect();
    return {top: title.top - box.top, bottom: title.bottom - box.top, lines: plot.querySelectorAll('.gtitle tspan.line').length};
}"""


def test_compare_two_renders_the_counterfactual_pair(app_url, page, browser, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    # through the sidebar, not a deep link: on a deep link Streamlit's frontend probes
    # /compare_two/_stcore/host-config (a 404 console error that is not this page's)
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Compare two", exact=True).click(timeout=SLOW)
    page.get_by_role("heading", name="Compare two").wait_for(timeout=SLOW)
    wait_for_tick(page, "he→she")
    wait_for_plots(page, 4)
    screenshot_whole_page(page, "compare_two_attention.png")
    title = page.evaluate(TITLE_IN_VIEW)  # both lines of the B − A title inside the figure, not cut at its top
    assert title is not None and title["top"] >= 0 and title["bottom"] > title["top"] + 20, title
    with rerun_finished(page):  # the tab travels in the link: choosing it reruns the page
        page.get_by_role("tab", name="Attribution").click()
    wait_for_plots(page, 6)
    page.get_by_text("Attribution B − A per method").first.wait_for(timeout=SLOW)
    screenshot_whole_page(page, "compare_two_page.png")
    wait_idle(page)
    link = copied_link(page, "tab=Attribution")
    assert "tab=Attribution" in page.url

    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="Save session (.json)").click()
    path = tmp_path / "session.json"
    download.value.save_as(path)
    from attnviz.diff import AttentionDiff
    from attnviz.session import SessionFile

    saved = SessionFile.from_json(path.read_bytes())
    assert saved.page == "compare_two" and saved.state == {"tab": "Attribution"}
    assert set(saved.results) == {"attention_diff", "attribution_diff"}
    assert "he→she" in saved.result("attention_diff", AttentionDiff).labels
    assert not errors, errors

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:  # the copied link opens the same tab in a new context (no shared cookies or storage)
        fresh = other.new_page()
        fresh.set_default_timeout(120_000)
        fresh.goto(link)
        fresh.get_by_text("Attribution B − A per method").first.wait_for(timeout=SLOW)
        wait_idle(fresh)
        assert fresh.get_by_role("tab", name="Attribution").get_attribute("aria-selected") == "true"
    finally:
        other.close()
