"""The example gallery through AppTest: every example loads on its page with one click and renders."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.examples import GALLERY, load_comparisons, load_examples
from tests.helpers import chart_specs, open_link, strings_in

EXAMPLES = load_examples()


def open_page(page: str) -> AppTest:
    # two fast explainers keep the attribution tests short
    return open_link({"method": ["saliency", "rollout"]} if page == "attribution" else {}, page)


def load(at: AppTest, page: str, example_id: str) -> AppTest:
    at.selectbox(key=f"{page}_example").set_value(example_id).run()
    at.button(key=f"{page}_example_load").click()
    return at.run()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_every_example_loads_on_its_page(example):
    at = load(open_page(example.page), example.page, example.id)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.text_area[0].value == example.text
    assert any(example.look_for[:40] in c.value for c in at.caption)
    specs = chart_specs(at)
    if example.view == "Head view":
        html = str(at.get("iframe")[0].proto)
        assert "suitcase" in html  # the example's tokens are drawn
    else:
        assert specs
    if example.page == "attention":
        assert at.segmented_control(key="attention_view").value == example.view
        if example.pair:
            assert at.text_input(key="attention_pair").value == example.pair
        if example.view in ("Heatmap", "Model view"):
            tokens = specs[-1]["data"][0]["x"]
            last_word = example.text.rstrip(".").split()[-1].lower()
            assert last_word in tokens, tokens  # the example's own tokens are on the axis
            if example.pair:
                words = [t.replace("\u200b", "") for t in tokens]  # repeated labels carry zero-width spaces
                assert "music" in words and words.count("[SEP]") == 2, words
    else:
        first_word = example.text.split()[0].lower()
        assert first_word in strings_in(specs[0]).lower()


def test_an_example_also_loads_on_the_other_page():
    at = load(open_page("attribution"), "attribution", "trophy_small")
    assert not at.exception and not at.error
    assert at.text_area[0].value.endswith("too small.") and "small" in strings_in(chart_specs(at)[0])


COMPARISONS = load_comparisons()


def test_the_gallery_pairs_the_swap_examples_for_compare_two():
    ids = {(c.a.id, c.b.id) for c in COMPARISONS}
    assert {("trophy_big", "trophy_small"), ("identity_swap_a", "identity_swap_b")} <= ids


@pytest.mark.parametrize("comparison", COMPARISONS, ids=[c.id for c in COMPARISONS])
def test_every_pair_fills_text_a_and_text_b_on_compare_two(comparison):
    at = open_link({"method": ["saliency"]}, "compare_two")  # one fast explainer keeps the test short
    at = load(at, "compare", comparison.id)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.text_area(key="compare_text_a").value == comparison.a.text
    assert at.text_area(key="compare_text_b").value == comparison.b.text
    assert at.session_state["compare_tab"] == comparison.view  # the tab the pair suits
    assert at.query_params.get("tab") == (None if comparison.view == "Attention" else comparison.view)
    assert any(comparison.look_for[:40] in c.value for c in at.caption)
    # the one-word swap is aligned as one position "a→b" in the B − A heatmap
    x = chart_specs(at)[2]["data"][0]["x"]
    swapped = [t for t in x if "→" in t]
    assert len(swapped) == 1, x
    old, new = swapped[0].split("→")
    assert old in comparison.a.text.lower() and new in comparison.b.text.lower() and old != new


def test_a_broken_comparison_entry_is_rejected(tmp_path):
    from attnviz.errors import InputError

    doc = json.loads(GALLERY.read_text(encoding="utf-8"))
    doc["comparisons"] = [{**doc["comparisons"][0], "b": "no_such_example"}]
    path = tmp_path / "gallery.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="not in the gallery"):
        load_comparisons(path)
    doc["comparisons"] = [{**doc["comparisons"][0], "b": doc["comparisons"][0]["a"]}]
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="two different"):
        load_comparisons(path)
