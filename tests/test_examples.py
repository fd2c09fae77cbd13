"""The example gallery: the shipped file validates and covers the phenomena it promises; bad files are
InputErrors."""

import json

import pytest

from attnviz.errors import InputError
from attnviz.examples import GALLERY, load_examples

ATTENTION_VIEWS = ["Model view", "Head view", "Heatmap", "Mean over heads", "Rollout", "Head statistics"]


def test_shipped_gallery_covers_the_phenomena():
    examples = load_examples()
    by_id = {e.id: e for e in examples}
    # a pronoun whose referent flips with one word: the two texts differ in exactly one word
    a, b = by_id["trophy_big"].text.split(), by_id["trophy_small"].text.split()
    assert len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1
    assert " not " in by_id["negation"].text
    assert ", but " in by_id["contrast"].text
    assert by_id["pair"].pair
    swap_a, swap_b = by_id["identity_swap_a"].text.split(), by_id["identity_swap_b"].text.split()
    assert sum(x != y for x, y in zip(swap_a, swap_b)) == 1
    assert 250 <= len(by_id["long_passage"].text.split()) <= 350
    for example in examples:
        assert example.look_for.strip()
        assert example.view in (ATTENTION_VIEWS if example.page == "attention" else ["scores"])


def write(tmp_path, doc) -> str:
    path = tmp_path / "gallery.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def shipped():
    return json.loads(GALLERY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=2), "not an attnviz gallery"),
    (lambda d: d.update(examples=[]), "non-empty"),
    (lambda d: d["examples"][0].update(page="lab"), "page must be"),
    (lambda d: d["examples"][0].update(id="Bad Id"), "id must be"),
    (lambda d: d["examples"][0].update(text=""), "non-empty"),
    (lambda d: d["examples"][0].update(text=7), "non-empty"),
    (lambda d: d["examples"][0].update(pair=""), "pair"),
    (lambda d: d["examples"][0].update(extra=1), "fields"),
    (lambda d: d["examples"][0].pop("look_for"), "misses a field"),
    (lambda d: d["examples"].append(dict(d["examples"][0])), "unique"),
])
def test_bad_galleries_are_input_errors(tmp_path, change, message):
    doc = shipped()
    change(doc)
    with pytest.raises(InputError, match=message):
        load_examples(write(tmp_path, doc))


def test_missing_or_broken_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="Cannot read"):
        load_examples(tmp_path / "nope.json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_examples(write(tmp_path, "{oops"))


def test_comparisons_pair_two_shipped_examples():
    from attnviz.examples import load_comparisons

    comparisons = load_comparisons()
    by_id = {c.id: c for c in comparisons}
    assert by_id["trophy_compare"].a.text.endswith("too big.") and by_id["trophy_compare"].b.text.endswith(
        "too small.")
    assert "Christian" in by_id["identity_compare"].a.text and "Muslim" in by_id["identity_compare"].b.text
    for c in comparisons:
        assert c.view in ("Attention", "Attribution") and c.a.pair is None and c.b.pair is None
