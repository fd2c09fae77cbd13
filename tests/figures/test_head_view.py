"""Tests for the compact, injection-safe head view (attnviz.figures.head_view)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from attnviz.figures.head_view import head_view_html

HOSTILE = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!--",
    "a\u2028b&amp;",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
INK_JS = """() => {
  const c = document.getElementById("av-canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n;
}"""  # number of painted canvas pixels


def _payload(html: str) -> dict:
    """Extract the JSON data block and decode its base64 typed arrays."""
    m = re.search(r'<script type="application/json" id="av-data">(.*?)</script>', html, re.S)
    assert m, "data block missing"
    data = json.loads(m.group(1))
    data["counts"] = np.frombuffer(base64.b64decode(data["counts"]), dtype=np.uint8)
    data["keyIdx"] = np.frombuffer(base64.b64decode(data["keyIdx"]), dtype="<u2")
    data["weights"] = np.frombuffer(base64.b64decode(data["weights"]), dtype=np.uint8)
    return data


def _rows(data: dict) -> list[list[tuple[int, int]]]:
    """Per (head, query) row: list of (key index, quantised weight)."""
    out, pos = [], 0
    for c in data["counts"]:
        out.append(
            list(
                zip(
                    data["keyIdx"][pos : pos + c].tolist(),
                    data["weights"][pos : pos + c].tolist(),
                    strict=True,
                )
            )
        )
        pos += c
    assert pos == len(data["keyIdx"]) == len(data["weights"])
    return out


def _softmax(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(scale=3.0, size=shape).astype(np.float32)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _hostile_case() -> tuple[list[str], np.ndarray]:
    tokens = ["[CLS]", *HOSTILE, "end"]  # 6 tokens
    n = len(tokens)
    att = np.full((2, n, n), 0.02 / (n - 1), dtype=np.float32)
    for q in range(n):
        att[0, q, 1] = 0.98  # head 0: everyone attends to the </script> token
        att[1, q, 2] = 0.98  # head 1: everyone attends to the <img> token
    att /= att.sum(-1, keepdims=True)
    return tokens, att


def test_no_external_references():
    att = _softmax(np.random.default_rng(1), (3, 5, 5))
    html = head_view_html(["the", "cat", "sat", "on", "mat"], att).lower()
    for bad in (
        "http://",
        "https://",
        "//cdn",
        "src=",
        "<link",
        "@import",
        "url(",
        "eval(",
        "new function",
        "innerhtml",
        "insertadjacenthtml",
    ):
        assert bad not in html, bad


def test_hostile_tokens_are_escaped():
    tokens, att = _hostile_case()
    html = head_view_html(tokens, att)
    for tok in HOSTILE:
        assert tok not in html
    assert "<img" not in html and "<!--" not in html and "\u2028" not in html
    assert "alert(1)" in html  # the text survives, only its markup is escaped
    # exactly our two <script> blocks open and close
    assert html.count("<script") == 2 and html.count("</script") == 2
    assert _payload(html)["keys"] == tokens


def test_payload_decodes_to_sparsified_top_k():
    att = np.array(
        [
            [
                [0.50, 0.30, 0.15, 0.05],  # top-2 cut: keep keys 0, 1
                [0.005, 0.005, 0.49, 0.50],  # keys 3, 2 (descending), tiny ones dropped
                [0.25, 0.25, 0.25, 0.25],  # ties: lower key index first
            ],
            [
                [0.0, 0.0, 0.0, 1.0],
                [0.997, 0.001, 0.001, 0.001],  # only one link above min_weight
                [0.1, 0.2, 0.3, 0.4],
            ],
        ],
        dtype=np.float32,
    )
    html = head_view_html(
        ["k0", "k1", "k2", "k3"],
        att,
        [1],
        query_tokens=["q0", "q1", "q2"],
        max_links_per_query=2,
        min_weight=0.01,
    )
    data = _payload(html)
    assert data["nHeads"] == 2 and data["shown"] == [1]
    assert data["queries"] == ["q0", "q1", "q2"]
    q = lambda w: int(round(w * 255))  # noqa: E731
    assert _rows(data) == [
        [(0, q(0.5)), (1, q(0.3))],
        [(3, q(0.5)), (2, q(0.49))],
        [(0, q(0.25)), (1, q(0.25))],
        [(3, 255)],
        [(0, q(0.997))],
        [(3, q(0.4)), (2, q(0.3))],
    ]


def test_rejects_bad_input():
    att = np.full((1, 2, 3), 1 / 3)
    with pytest.raises(ValueError):
        head_view_html(["a", "b"], att)  # 2 keys but 3 columns
    with pytest.raises(ValueError):
        head_view_html(["a", "b", "c"], att, [1], query_tokens=["x", "y"])
    with pytest.raises(ValueError):
        head_view_html(["a", "b", "c"], att, query_tokens=["x", "y"], max_links_per_query=0)
    with pytest.raises(ValueError):
        head_view_html(["a", "b", "c"], np.full((1, 2, 3), np.nan), query_tokens=["x", "y"])


def test_size_512_tokens_12_heads():
    att = _softmax(np.random.default_rng(0), (12, 512, 512))
    tokens = [f"tok{i}" for i in range(512)]
    html = head_view_html(tokens, att)
    size = len(html.encode("utf-8"))
    assert size < 1_500_000, size
    data = _payload(html)
    assert len(data["counts"]) == 12 * 512 and data["counts"].max() <= 16


@pytest.mark.browser
def test_browser_hover_and_no_injection(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    tokens, att = _hostile_case()
    page_file = tmp_path / "head_view.html"
    page_file.write_text(head_view_html(tokens, att), encoding="utf-8")
    dialogs, errors = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 860, "height": 360})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            page.wait_for_timeout(300)
            assert page.locator("img").count() == 0
            assert page.locator("script").count() == 2
            left = page.locator("#av-left .av-tok")
            assert left.count() == len(tokens)
            assert [t.strip() for t in left.all_inner_texts()] == [t.strip() for t in tokens]
            tip = page.locator("#av-tip")
            assert not tip.is_visible()
            assert page.evaluate(INK_JS) > 0  # overview lines drawn

            left.nth(0).hover()  # query "[CLS]" -> strongest keys are the hostile tokens
            assert tip.is_visible()
            text = tip.inner_text()
            assert HOSTILE[0] in text and HOSTILE[1] in text
            assert "0.980" in text
            assert "av-tgt" in (page.locator("#av-right .av-tok").nth(1).get_attribute("class") or "")

            page.mouse.move(840, 350)  # leave the grid -> overview restored
            assert not tip.is_visible()

            right = page.locator("#av-right .av-tok").nth(2)
            right.click()  # pin the <img> key token: incoming lines
            page.mouse.move(840, 350)
            assert tip.is_visible() and "key " + HOSTILE[1] in tip.inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            left.nth(3).hover()  # pinned: hover elsewhere does not steal focus
            assert "key " + HOSTILE[1] in tip.inner_text()
            left.nth(3).click()  # clicking another token moves the pin there
            page.mouse.move(840, 350)
            assert "query " + HOSTILE[2] in tip.inner_text()
            page.screenshot(path=str(ARTIFACTS / "head_view.png"))

            page.get_by_role("button", name="none").click()  # all heads off: no lines
            assert page.evaluate(INK_JS) == 0
            assert "no links above threshold" in tip.inner_text()
            page.locator("#av-legend input").nth(1).check()  # head 1 only
            assert page.evaluate(INK_JS) > 0 and "H1" in tip.inner_text()

            assert page.locator("img").count() == 0
            assert page.locator("script").count() == 2
        finally:
            browser.close()
    assert dialogs == []
    assert errors == []
