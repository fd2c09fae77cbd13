"""Guidance through AppTest: every view on every page shows its own "What am I looking at?" paragraph."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.guidance import GUIDANCE

APP = str(Path(__file__).resolve().parents[2] / "app.py")
VIEWS = ["Model view", "Head view", "Heatmap", "Mean over heads", "Rollout", "Head statistics"]


def guides(at: AppTest) -> list[str]:
    return [e.markdown[0].value for e in at.expander if e.label == "What am I looking at?"]


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.switch_page(f"pages/{page}.py")
    at.query_params.update(query or {})
    return at.run()


@pytest.mark.parametrize("view", VIEWS)
def test_each_attention_view_explains_itself(view):
    at = open_page("attention", {"view": view})
    assert not at.exception
    assert guides(at) == [GUIDANCE[f"attention/{view}"]]


@pytest.mark.parametrize("page, query, keys", [
    ("attribution", {"method": ["saliency", "rollout"]},
     ["attribution/scores", "attribution/agreement", "attribution/faithfulness"]),
    ("bias", {"probe": "weat"}, ["bias/weat"]),
    ("bias", {"probe": "pairs"}, ["bias/pairs"]),
    ("lab", {}, ["lab/train", "lab/step", "lab/files"]),
])
def test_other_pages_explain_their_views(page, query, keys):
    at = open_page(page, query)
    assert not at.exception
    assert guides(at) == [GUIDANCE[k] for k in keys]
