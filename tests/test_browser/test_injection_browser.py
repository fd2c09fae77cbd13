"""Hostile text on every page in Chromium: no script runs, no injected element appears (in the page or
in its iframes), nothing is fetched from outside localhost, and tokens are shown as literal text."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.test_browser.conftest import (
    SLOW,
    TICKS,
    open_offline,
    rerun_finished,
    wait_for_plots,
    wait_for_tick,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = ("<img src=x onerror=alert(1)> <script>alert(2)</script> [click](javascript:alert(3)) "
           "![i](http://evil.example/i.png) <svg onload=alert(4)></svg> :red[red] $x$")
SHORT = "<img src=x onerror=alert(1)> <b>bold</b>"
INJECTED = ("img[src='x'], img[src*='evil.example'], svg[onload], iframe[src^='javascript'], "
            "a[href^='javascript'], script:not([src])")


class Guard:
    """Records every dialog (alert/confirm/prompt), page error and request leaving localhost."""

    def __init__(self, page):
        self.page, self.dialogs, self.external = page, [], []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", self._request)

    def _request(self, request):
        host = urlparse(request.url).hostname
        if host not in (None, "127.0.0.1", "localhost") and not request.url.startswith(("data:", "blob:")):
            self.external.append(request.url)

    def check(self) -> None:
        # not a synchronisation: a bounded pause so that onerror/onload handlers of anything injected get
        # the chance to fire before we look (the state itself was waited for by the caller)
        self.page.wait_for_timeout(1000)
        assert not self.dialogs, f"a script ran: {self.dialogs}"
        assert not self.external, f"fetched from outside localhost: {self.external[:5]}"
        for frame in self.page.frames:
            injected = frame.evaluate(
                "(sel) => [...document.querySelectorAll(sel)]"
                ".filter(e => e.tagName !== 'SCRIPT' || /alert\\(/.test(e.textContent))"
                ".map(e => e.outerHTML.slice(0, 120))", INJECTED)
            assert not injected, (frame.url[:80], injected)


def open_app(page, app_url, path: str = "") -> None:
    page.goto(app_url)  # the app once first (a deep link on a fresh server shows 'Page not found')
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    if path:
        page.goto(app_url + path)
    else:
        wait_idle(page)  # the first run is over (typing during it can be lost)


def test_attention_page_and_head_view(app_url, page):
    guard = Guard(page)
    open_app(page, app_url)
    page.get_by_label("Text", exact=True).fill(HOSTILE)
    page.get_by_label("Second sentence (optional)", exact=True).fill("<iframe src=javascript:alert(5)></iframe>")
    page.get_by_role("button", name="Analyse").click()
    wait_for_tick(page, "alert")
    # tokens are literal text: '<' is a token of its own, drawn as '<' (not markup)
    ticks = page.evaluate(f"() => {TICKS}.map(t => t.textContent)")
    assert any("<" in t for t in ticks) and not any("&lt;" in t for t in ticks), ticks[:40]
    guard.check()
    wait_idle(page)
    page.get_by_text("Head view", exact=True).click()
    frame = page.frame_locator("iframe").first
    # the head view writes tokens as text too: wait until they are drawn
    frame.locator("body").filter(has_text="alert").wait_for(timeout=SLOW)
    inner = frame.locator("body").inner_text()
    assert "alert" in inner and "<" in inner
    guard.check()
    for view in ("Rollout", "Head statistics"):
        with rerun_finished(page):
            page.get_by_text(view, exact=True).click()
        guard.check()


def test_sidebar_model_id_and_error_messages(app_url, page):
    guard = Guard(page)
    open_app(page, app_url)
    box = page.get_by_label("Hugging Face id or local directory", exact=True)
    box.fill("![x](http://evil.example/p.png)<img src=x onerror=alert(1)>")
    page.get_by_role("button", name="Load model").click()
    error = page.locator("[data-testid='stAlertContentError']").first
    error.wait_for(timeout=SLOW)
    assert "evil.example" in error.inner_text()  # the id is echoed as text, not as an image
    guard.check()
    wait_idle(page)
    page.get_by_role("button", name="Back to the bundled default model").click()
    page.get_by_role("button", name="Back to the bundled default model").wait_for(state="detached", timeout=SLOW)
    page.get_by_role("button", name="Analyse").wait_for(timeout=SLOW)
    wait_idle(page)
    page.get_by_label("Text", exact=True).fill("   ")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("The text is empty").wait_for(timeout=SLOW)
    guard.check()


def test_attribution_page(app_url, page):
    guard = Guard(page)
    open_app(page, app_url, "/attribution")
    page.get_by_role("button", name="Explain").wait_for(timeout=SLOW)
    page.get_by_text("Faithfulness", exact=True).wait_for(timeout=SLOW)  # the page's first run has drawn
    wait_idle(page)
    page.get_by_label("Text", exact=True).fill(SHORT)
    labels = page.locator("textarea").nth(1)
    labels.fill("<img src=x onerror=alert(6)>: good | nice\n![n](http://evil.example/n.png): bad | awful")
    page.get_by_role("button", name="Explain").click()
    wait_for_tick(page, "alert")  # the new run has started drawing ...
    page.get_by_text("Faithfulness", exact=True).wait_for(timeout=SLOW)
    wait_idle(page)  # ... and has finished
    explained = page.locator("[data-testid='stMarkdownContainer']", has_text="Explained:").first.inner_text()
    assert "<img src=x onerror" in explained or "![n](http" in explained, explained  # the label name, as text
    guard.check()


def test_bias_page_upload_and_label(app_url, page):
    guard = Guard(page)
    open_app(page, app_url, "/bias")
    page.get_by_role("button", name="Run probe").wait_for(timeout=SLOW)
    page.get_by_text("Upload your own identity terms or templates (CSV)").click()
    terms = (b"axis,group,term\nx,<script>alert(7)</script>,<img src=x onerror=alert(8)>\n"
             b"x,![g](http://evil.example/g.png),[t](javascript:alert(9))\n")
    page.locator("[data-testid='stFileUploader']", has_text="Identity terms CSV").locator(
        "input[type='file']").set_input_files(
        {"name": "terms.csv", "mimeType": "text/csv", "buffer": terms})
    page.get_by_text("Counterfactual token fairness gap per axis").wait_for(timeout=SLOW)
    wait_for_plots(page, 4)
    # the uploaded group/term names reach the figures as literal text (the default run's figures come first)
    page.wait_for_function(f"() => {TICKS}.some(t => t.textContent.includes('<script>') "
                           "|| t.textContent.includes('<img'))", timeout=SLOW)
    wait_idle(page)
    guard.check()
    page.get_by_label("Label whose probability is f", exact=True).fill("<img src=x onerror=alert(10)>")
    page.get_by_role("button", name="Run probe").click()
    page.locator("[data-testid='stAlertContentError']").first.wait_for(timeout=SLOW)
    guard.check()


def test_lab_step_through_on_the_sidebar_model(app_url, page):
    guard = Guard(page)
    open_app(page, app_url, "/lab")
    page.get_by_role("heading", name="Attention Lab").wait_for(timeout=SLOW)
    page.get_by_role("tab", name="Step through one head").click()
    page.get_by_text("Sidebar model").click()
    # the sidebar model's own form (its text box replaces the lab model's) and its check, both drawn:
    # a text typed into the lab model's box while the page was switching would be lost
    sidebar_text = page.locator(".st-key-lab_step_text_sidebar input")
    sidebar_text.wait_for(timeout=SLOW)
    wait_for_tick(page, "[CLS]")  # the sidebar (BERT) model's step-through, not the lab model's
    page.locator("text=Recomputed by hand >> visible=true").first.wait_for(timeout=SLOW)
    wait_idle(page)
    sidebar_text.fill(SHORT)
    page.get_by_role("button", name="Step through", exact=True).click()
    wait_for_tick(page, "alert")
    wait_idle(page)
    guard.check()


def open_from_sidebar(page, app_url, title: str) -> None:
    """Through the navigation (a deep link to these pages makes Streamlit probe a 404 URL first)."""
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click(timeout=SLOW)


def test_compare_two_page(app_url, page):
    guard = Guard(page)
    open_from_sidebar(page, app_url, "Compare two")
    page.get_by_role("button", name="Compare").wait_for(timeout=SLOW)
    wait_for_tick(page, "→")  # the page's first run (the default pair) has drawn
    wait_idle(page)
    page.get_by_label("Text A", exact=True).fill(HOSTILE)
    page.get_by_label("Text B", exact=True).fill(SHORT + " [b](javascript:alert(11))")
    page.get_by_role("button", name="Compare").click()
    wait_for_tick(page, "alert")
    wait_idle(page)
    guard.check()
    with rerun_finished(page):
        page.get_by_role("tab", name="Attribution").click()
    wait_for_tick(page, "alert")
    guard.check()


def test_generate_page_with_a_causal_lm(app_url, page, tiny_model_dirs):
    guard = Guard(page)
    open_from_sidebar(page, app_url, "Generate")
    page.get_by_role("textbox", name="Hugging Face id or local directory").fill(str(tiny_model_dirs["gpt2"]))
    page.get_by_role("button", name="Load model").click()
    page.get_by_text("Continuation", exact=True).wait_for(timeout=SLOW)
    wait_for_plots(page, 3)
    wait_idle(page)
    page.get_by_label("Prompt", exact=True).fill(SHORT + " <script>alert(12)</script>")
    page.get_by_role("button", name="Generate").click()
    wait_for_tick(page, "alert")
    wait_idle(page)
    guard.check()


def test_the_guard_sees_an_injected_script(page):
    """The checks above must be able to fail: a page that does render markup trips every one of them."""
    guard = Guard(page)
    page.set_content("<p>hi</p><img src=x onerror=alert(1)><img src='http://evil.example/i.png'>")
    with pytest.raises(AssertionError):
        guard.check()
    assert guard.dialogs == ["1"] and any("evil.example" in u for u in guard.external)
    guard.dialogs.clear()
    guard.external.clear()
    with pytest.raises(AssertionError, match="img"):
        guard.check()  # the element itself is found too


def _hostile_csv() -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["review", "label", "shop"])
    writer.writerow([HOSTILE, "<img src=x onerror=alert(13)>", "<script>alert(14)</script>"])
    writer.writerow(["Lovely soup. " + SHORT, "![l](http://evil.example/l.png)", "[s](javascript:alert(15))"])
    writer.writerow(["A dull meal <script>alert(16)</script>", "<img src=x onerror=alert(13)>",
                     "<script>alert(14)</script>"])
    return out.getvalue().encode("utf-8")


def test_audit_page_upload_and_its_report(app_url, page, browser, tmp_path):
    guard = Guard(page)
    open_from_sidebar(page, app_url, "Audit")
    page.get_by_text("Upload a file", exact=True).click(timeout=SLOW)
    page.get_by_text("cannot travel in a link").wait_for(timeout=SLOW)
    wait_idle(page)
    page.locator("[data-testid='stFileUploader']").filter(has_text="CSV, JSON Lines").locator(
        "input[type='file']").set_input_files(
        files=[{"name": "<img src=x onerror=alert(17)>.csv", "mimeType": "text/csv", "buffer": _hostile_csv()}])
    page.get_by_text("columns: review").wait_for(timeout=SLOW)
    wait_idle(page)
    guard.check()  # file name, column names and the preview
    page.get_by_text("Measure faithfulness").click()  # faster: prediction, attention and Integrated Gradients
    page.locator("[data-testid='stMultiSelect']").filter(has_text="Slice by").locator("input").click()
    page.keyboard.type("shop")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Run audit").click()
    page.get_by_text("Done: 3 of 3").wait_for(timeout=SLOW)
    wait_idle(page)
    guard.check()  # gold labels in the accuracy note, the predictions tab
    for tab in ("Top words", "Slices", "Examples"):
        with rerun_finished(page):  # the tab is kept in the link: choosing one reruns the page
            page.get_by_role("tab", name=tab).click()
        if tab == "Slices":
            wait_for_tick(page, "alert(14)")
            ticks = page.evaluate(f"() => {TICKS}.map(t => t.textContent).join(' ')")
            assert "<script>alert(14)</script>" in ticks, ticks[:300]  # slice values drawn as literal text
        guard.check()

    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="report.html").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    guard.check()

    # the downloaded report from file://, every other request blocked and recorded
    offline, context, fetched = open_offline(browser)
    dialogs = []
    offline.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    offline.goto(report.as_uri())
    offline.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0",
                              timeout=SLOW)
    offline.wait_for_timeout(1000)  # not a synchronisation: lets handlers of anything injected fire first
    # the figures' JSON holds the hostile strings inside <script> data: only a script *made of* them is injected
    injected = offline.evaluate(
        "(sel) => [...document.querySelectorAll(sel)]"
        ".filter(e => e.tagName !== 'SCRIPT' || /^\\s*alert\\(/.test(e.textContent))"
        ".map(e => e.outerHTML.slice(0, 120))", INJECTED)
    text = offline.evaluate("() => document.body.innerText")
    context.close()
    assert not dialogs, f"a script ran in the report: {dialogs}"
    assert not injected, injected
    assert not fetched, f"the report tried to fetch: {fetched[:5]}"
    assert "<script>alert(14)</script>" in text and "<img src=x onerror=alert(13)>" in text  # shown as text
