"""The long-document text view in Chromium: a click highlights the token's top keys, the search box jumps."""

import numpy as np
import pytest

from attnviz.figures.long_attention import text_view_html

pytestmark = pytest.mark.browser

N, K = 3000, 4


@pytest.fixture
def view(page):
    rng = np.random.default_rng(3)
    tokens = [f"w{i}" for i in range(N)]
    tokens[5] = "<img src=x onerror=window.hacked=1>"
    tokens[2500] = "needle"
    keys = np.stack([rng.choice(N, K, replace=False) for _ in range(N)])
    weights = np.sort(rng.random((N, K)).astype(np.float32), axis=1)[:, ::-1]
    page.set_content(text_view_html(tokens, keys, weights, rollout=rng.random(N), label="layer 0 · head 1"))
    return page, tokens, keys


def test_click_highlights_the_top_keys(view):
    page, tokens, keys = view
    page.locator('.t[data-i="120"]').click()
    page.wait_for_selector('.t.focus[data-i="120"]')
    hits = sorted(int(i) for i in page.eval_on_selector_all(".t.hit", "els => els.map(e => e.dataset.i)"))
    assert hits == sorted(int(k) for k in keys[120] if k != 120)
    assert page.locator("#status").text_content().startswith("#120")
    assert page.locator('.t[data-i="5"]').text_content().strip() == tokens[5]  # shown as text, never run
    assert page.evaluate("window.hacked === undefined") and page.locator("#doc img").count() == 0


def test_search_jumps_to_the_word(view):
    page, _, keys = view
    assert page.locator('.t[data-i="2500"]').bounding_box()["y"] > page.viewport_size["height"]  # far below
    page.fill("#search", "needle")
    page.press("#search", "Enter")
    page.wait_for_selector('.t.match.focus[data-i="2500"]')
    box = page.locator('.t[data-i="2500"]').bounding_box()
    assert box is not None and 0 <= box["y"] <= page.viewport_size["height"]
    first = page.locator('.t[data-i="0"]').bounding_box()
    assert first["y"] < 0  # the page scrolled down to the match
    assert page.locator(".t.hit").count() == sum(int(k) != 2500 for k in keys[2500])
