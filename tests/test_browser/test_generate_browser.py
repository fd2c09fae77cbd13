"""The Generate page in Chromium: the encoder explanation, then a tiny GPT-2 loaded from the sidebar."""

import pytest

from tests.test_browser.conftest import (
    SLOW,
    copied_link,
    rerun_finished,
    screenshot_whole_page,
    wait_for_plots,
    wait_idle,
)

pytestmark = pytest.mark.browser


def test_generate_page_explains_then_generates_with_a_causal_lm(app_url, page, browser, tiny_model_dirs, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    # through the sidebar, not a deep link: on a deep link Streamlit's frontend probes
    # /generate/_stcore/host-config (a 404 console error that is not this page's)
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Generate", exact=True).click(timeout=SLOW)
    page.get_by_text("Generation needs a causal language model").wait_for(timeout=SLOW)
    wait_idle(page)
    page.get_by_role("textbox", name="Hugging Face id or local directory").fill(str(tiny_model_dirs["gpt2"]))
    page.get_by_role("button", name="Load model").click()
    page.get_by_text("Continuation", exact=True).wait_for(timeout=SLOW)
    wait_for_plots(page, 3)
    page.get_by_text("Which earlier tokens raised").first.wait_for(timeout=SLOW)
    screenshot_whole_page(page, "generate_page.png")
    wait_idle(page)
    continuation = page.locator('[data-testid="stText"]').first.text_content()

    with rerun_finished(page):  # "New tokens": 12 → 10 from the keyboard (the slider is in the form)
        page.get_by_role("slider").first.focus()
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.get_by_role("button", name="Generate").click()
    page.wait_for_function(  # the shorter continuation is drawn
        "old => { const t = document.querySelector('[data-testid=\"stText\"]');"
        " return t && t.textContent.trim() !== old.trim(); }", arg=continuation, timeout=SLOW)
    link = copied_link(page, "new=10", "model=")
    page.get_by_text("Which earlier tokens raised").first.wait_for(timeout=SLOW)
    wait_idle(page)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="Save session (.json)").click()
    path = tmp_path / "session.json"
    download.value.save_as(path)
    from attnviz.generation import GenerationResult
    from attnviz.session import SessionFile

    saved = SessionFile.from_json(path.read_bytes())
    assert saved.page == "generate" and saved.state == {"new": "10"}
    assert saved.model[0] == str(tiny_model_dirs["gpt2"]) and set(saved.results) == {"generation", "attribution"}
    generation = saved.result("generation", GenerationResult)
    assert generation.n_generated <= 10 and continuation.strip().startswith(generation.continuation.strip())
    assert not errors, errors

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:  # the copied link brings the model and the settings to a new context
        fresh = other.new_page()
        fresh.set_default_timeout(120_000)
        fresh.goto(link)
        fresh.get_by_text("Continuation", exact=True).wait_for(timeout=SLOW)
        wait_for_plots(fresh, 3)
        wait_idle(fresh)
        assert fresh.locator('[data-testid="stText"]').first.text_content().strip() == generation.continuation.strip()
    finally:
        other.close()
