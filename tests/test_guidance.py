"""Every view of every page has its "What am I looking at?" paragraph, and no text is a stub."""

import re
from pathlib import Path

import pytest

from attnviz.guidance import GUIDANCE, guidance

PAGES = Path(__file__).resolve().parents[1] / "pages"


def test_every_attention_view_has_guidance():
    source = (PAGES / "attention.py").read_text(encoding="utf-8")
    views = re.search(r"^VIEWS = (\[.*\])$", source, re.M).group(1)
    for view in eval(views):  # noqa: S307 - a literal list from our own page
        assert guidance(f"attention/{view}")


def test_every_guide_call_in_the_pages_has_a_text():
    keys = set()
    for page in PAGES.glob("*.py"):
        keys |= set(re.findall(r'guide\("([^"]+)"\)', page.read_text(encoding="utf-8")))
    assert {"attribution/scores", "bias/counterfactual", "lab/train"} <= keys
    assert keys <= set(GUIDANCE)


@pytest.mark.parametrize("key", sorted(GUIDANCE))
def test_each_text_is_a_paragraph(key):
    text = GUIDANCE[key]
    assert 200 <= len(text) <= 1500 and "\n\n" not in text
    assert not re.search(r"<[a-zA-Z/!]", text)  # plain markdown, no HTML tags


def test_attention_views_carry_the_caveat():
    for key, text in GUIDANCE.items():
        if key.startswith("attention/"):
            assert "Attention is not explanation" in text


def test_new_attention_methods_have_a_method_text():
    from attnviz.attribution import METHODS
    from attnviz.guidance import method_guidance

    for name in ("attention_flow", "attention_norm", "value_zeroing", "alti"):
        assert name in METHODS and method_guidance(name)
    assert method_guidance("telepathy") is None
