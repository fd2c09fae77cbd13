"""SHAP evaluates each distinct token sequence once: repeated words make coalitions that delete to the same
input, and the Owen values stay those of the plain explainer over keep rows."""

import numpy as np

import attnviz
from attnviz.attribution import prepare, run, shap_method


def test_coalitions_that_delete_to_the_same_sequence_run_once(tiny_model_dirs, monkeypatch):
    handle = attnviz.load_model(tiny_model_dirs["bert-classifier"])
    ctx = prepare(handle, "the cat sat the cat", None, None)
    ours = run(ctx, "shap", max_evals=200)
    monkeypatch.setattr(shap_method._KeepRowModel, "_key", lambda self, row: np.packbits(row).tobytes())
    plain = run(ctx, "shap", max_evals=200)  # one evaluation per distinct keep row, as before
    np.testing.assert_allclose(ours.scores, plain.scores, atol=1e-6)
    assert ours.settings["distinct_rows"] < plain.settings["distinct_rows"]
