"""Guidance through AppTest: every view on every page shows its own "What am I looking at?" paragraph."""

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.guidance import GUIDANCE
from tests.helpers import open_link

VIEWS = ["Model view", "Head view", "Heatmap", "Mean over heads", "Rollout", "Head statistics"]


def guides(at: AppTest) -> list[str]:
    return [e.markdown[0].value for e in at.expander if e.label == "What am I looking at?"]


@pytest.mark.parametrize("view", VIEWS)
def test_each_attention_view_explains_itself(view):
    at = open_link({"view": view}, "attention")
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
    at = open_link(query, page)
    assert not at.exception
    assert guides(at) == [GUIDANCE[k] for k in keys]
