"""Agreement and faithfulness wired to the model: deletions really re-run the model on shorter inputs."""

import numpy as np
import pytest
import torch

from attnviz.attribution import prepare
from attnviz.attribution.evaluate import evaluate
from attnviz.errors import InputError

TEXT = "A tender, funny film with a painfully dull middle."


@pytest.fixture(scope="module")
def attributions(default_handle):
    return {m: default_handle.attribute(TEXT, m) for m in ("integrated_gradients", "occlusion", "rollout")}


def test_agreement_is_on_words_without_specials(default_handle, attributions):
    ev = evaluate(default_handle, attributions, TEXT, faithfulness=False)
    assert ev.level == "word" and "[CLS]" in ev.units and "painfully" in ev.units
    assert len(ev.agreement) == 3  # three pairs
    m = ev.matrix("spearman")
    assert m.loc["occlusion", "occlusion"] == 1 and m.loc["rollout", "occlusion"] == m.loc["occlusion", "rollout"]


def test_comprehensiveness_equals_a_hand_deletion(default_handle, attributions):
    ev = evaluate(default_handle, attributions, TEXT, thresholds=(0.5,), repeats=2)
    words = attributions["occlusion"].to_words()
    keep = ~words.special
    scores = np.where(keep, np.maximum(words.scores, 0), -np.inf)
    top = np.argsort(-scores, kind="stable")[: int(np.ceil(0.5 * keep.sum()))]
    removed = {i for w in top for i in attributions["occlusion"].words[w][1]}
    ctx = prepare(default_handle, TEXT, None, None)
    ids = [int(t) for i, t in enumerate(ctx.input_ids[0]) if i not in removed]
    with torch.no_grad():
        reduced = float(ctx.scorer(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                   token_type_ids=torch.zeros(1, len(ids), dtype=torch.long)))
    expected = ctx.output() - reduced
    assert ev.eraser["occlusion"]["comprehensiveness"][0] == pytest.approx(expected, abs=1e-5)


def test_summary_has_every_method_and_the_random_ranking(default_handle, attributions):
    ev = evaluate(default_handle, attributions, TEXT, repeats=3)
    summary = ev.summary()
    assert summary["method"].tolist() == ["integrated_gradients", "occlusion", "rollout", "random ranking"]
    assert summary.notna().all().all()
    curves = ev.curves["integrated_gradients"]
    assert curves["deletion"][0] == pytest.approx(attributions["integrated_gradients"].output, abs=1e-5)


def test_mismatched_attributions_are_refused(default_handle, attributions):
    other = default_handle.attribute("Something else entirely.", "occlusion")
    with pytest.raises(InputError):
        evaluate(default_handle, {"a": attributions["occlusion"], "b": other}, TEXT)
    with pytest.raises(InputError):
        evaluate(default_handle, {}, TEXT)
