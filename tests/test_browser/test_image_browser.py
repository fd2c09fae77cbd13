"""The image pages in Chromium: a tiny ViT from a link, a gallery image, the overlay, a patch click and a query
change that redraw it, and hostile uploads that get one clear error and nothing else."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, rerun_finished, wait_for_title, wait_idle
from tests.vision.tiny import declared_size, png_bytes, save_tiny

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    return str(save_tiny("vit", tmp_path_factory.mktemp("vit_browser")))


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in a selectbox (typed, so that options far down a long list are reached) and wait for
    the run it starts to finish."""
    with rerun_finished(page):
        page.get_by_label(label, exact=True).click()
        page.keyboard.type(option)
        page.get_by_role("option", name=option, exact=True).click()


HOSTILE = [
    ("notes.png", b"#!/bin/sh\necho not an image", "not a PNG, JPEG or WebP"),
    ("huge.png", declared_size(png_bytes(np.zeros((4, 4, 3), np.uint8)), 60_000, 60_000), "megapixels"),
    ("meta.png", png_bytes(np.zeros((8, 8, 3), np.uint8), Comment="<script>alert(1)</script>"), "metadata"),
]


def test_overlay_follows_the_gallery_a_patch_click_and_the_query_then_hostile_uploads_show_one_error(
        app_url, page, vit_dir):
    """One page load for the whole walk (each fresh load of the app costs a first run)."""
    errors, dialogs = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{app_url}/?model={quote(vit_dir)}&device=cpu")  # Attention is the app's default page
    wait_for_title(page, "[CLS] → patches · layer 0 · head 0")
    wait_idle(page)
    picture = page.locator(".js-plotly-plot .imagelayer image").first
    flower = picture.get_attribute("href")  # the default gallery image, as a data URI
    choose(page, "Image", "shapes.png")
    page.wait_for_function("(old) => { const i = document.querySelector('.js-plotly-plot .imagelayer image');"
                           " return i && i.getAttribute('href') !== old; }", arg=flower, timeout=SLOW)
    wait_for_title(page, "[CLS] → patches · layer 0 · head 0")
    assert page.locator(".js-plotly-plot .imagelayer image").count() == 2  # the picture under both overlays
    # a click on a patch square of the first overlay makes that patch the query (r1c2 of the 4×4 grid)
    patches = page.locator(".js-plotly-plot").first.locator(".scatterlayer .point")
    assert patches.count() == 16
    with rerun_finished(page):
        patches.nth(6).click(force=True)
    wait_for_title(page, "r1c2 → patches · layer 0 · head 0")
    expect(page.get_by_label("Query token (click a patch to pick it)", exact=True)).to_have_value("r1c2", timeout=SLOW)
    # a change of the query box redraws both overlays
    choose(page, "Query token (click a patch to pick it)", "r3c3")
    wait_for_title(page, "r3c3 → patches · layer 0 · mean over heads")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image_attention_page.png"), full_page=True)
    # an upload: each hostile file gets one clear error, no figure and no script
    choose(page, "Image", "Upload your own…")
    page.get_by_text("Choose an image to upload.").wait_for(timeout=SLOW)
    uploader = page.locator("[data-testid='stFileUploader']").filter(has_text="PNG, JPEG or WebP")
    main = page.locator("[data-testid='stMain']")
    for name, data, message in HOSTILE:
        with rerun_finished(page):
            uploader.locator("input[type='file']").set_input_files(
                files=[{"name": name, "mimeType": "image/png", "buffer": data}])
        # replacing the previous file is two runs (the old file removed, then the new one read): wait for the
        # new file's message, not for the first run to end
        alerts = main.locator("[data-testid='stAlertContentError']")
        expect(alerts).to_contain_text(message, timeout=SLOW)
        wait_idle(page)
        assert alerts.count() == 1 and message in alerts.inner_text(), (name, alerts.all_inner_texts())
        assert main.locator(".js-plotly-plot").count() == 0, name
        assert page.locator("[data-testid='stException']").count() == 0, name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image_hostile_upload.png"), full_page=True)
    assert not dialogs and not errors
