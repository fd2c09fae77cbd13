"""Several browser sessions use the app at once: each sees its own result, never another's."""

from __future__ import annotations

import pytest

from tests.test_browser.conftest import wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TICKS = "[...document.querySelectorAll('.js-plotly-plot .xtick text')].map(t => t.textContent)"
WORDS = ["tigers", "rockets", "violins"]  # one WordPiece token each: they appear whole as tick labels


def test_three_attention_sessions_and_one_attribution_session_at_once(app_url, browser):
    contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(len(WORDS) + 1)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.set_default_timeout(180_000)
            pg.goto(app_url)
        for pg in pages:
            pg.get_by_role("button", name="Analyse").wait_for(timeout=300_000)
        attribution = pages[-1]
        attribution.goto(app_url + "/attribution")
        attribution.get_by_role("button", name="Explain").wait_for(timeout=300_000)
        attribution.get_by_text("Faithfulness", exact=True).wait_for(timeout=300_000)  # its first run has drawn
        for pg in pages:
            wait_idle(pg)  # a text typed while a page is still running its first run could be reset
        # fill every session first, then submit them together so their runs overlap on the server
        for pg, word in zip(pages, WORDS):
            pg.get_by_label("Text", exact=True).fill(f"Seven {word} rest near the river.")
        attribution.get_by_label("Text", exact=True).fill("Tiny penguins waddle home.")
        for pg in pages[:-1]:
            pg.get_by_role("button", name="Analyse").click()
        attribution.get_by_role("button", name="Explain").click()

        for pg, word in zip(pages, WORDS):
            pg.wait_for_function(f"() => {TICKS}.some(t => t.includes('{word}'))", timeout=300_000)
            seen = " ".join(pg.evaluate(f"() => {TICKS}"))
            others = [w for w in WORDS if w != word]
            assert not any(o in seen for o in others), (word, seen)
            assert "penguins" not in seen
        attribution.wait_for_function(f"() => {TICKS}.some(t => t.includes('penguins'))", timeout=300_000)
        seen = " ".join(attribution.evaluate(f"() => {TICKS}"))
        assert not any(w in seen for w in WORDS), seen
    finally:
        for c in contexts:
            c.close()
