"""The Generate page in Chromium: the encoder explanation, then a tiny GPT-2 loaded from the sidebar."""

import pytest

from tests.test_browser.test_bias_browser import screenshot_whole_page

pytestmark = pytest.mark.browser


def test_generate_page_explains_then_generates_with_a_causal_lm(app_url, page, tiny_model_dirs):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    # through the sidebar, not a deep link: on a deep link Streamlit's frontend probes
    # /generate/_stcore/host-config (a 404 console error that is not this page's)
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Generate", exact=True).click(timeout=120_000)
    page.get_by_text("Generation needs a causal language model").wait_for(timeout=120_000)
    page.get_by_role("textbox", name="Hugging Face id or local directory").fill(str(tiny_model_dirs["gpt2"]))
    page.get_by_role("button", name="Load model").click()
    page.get_by_text("Continuation", exact=True).wait_for(timeout=180_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=180_000)
    page.get_by_text("Which earlier tokens raised").first.wait_for(timeout=120_000)
    screenshot_whole_page(page, "generate_page.png")
    assert not errors, errors
