"""How far to trust each image explainer: agreement between methods and faithfulness, over patches.

The same metrics as for text (:mod:`attnviz.metrics`, returned as an
:class:`~attnviz.attribution.evaluate.Evaluation`), with patches as the units:

* **Agreement**: every agreement metric between two methods' |scores| over all patches (Spearman ρ and
  Kendall τ are rank correlations over patches; top-k metrics use k = ``default_k(n_patches)``).
* **Faithfulness**: f is the explained class's logit (what the attributions explain). Removing a patch
  replaces its pixels with the baseline, :data:`~attnviz.vision.attribution.BASELINE` (0 after
  normalisation), exactly as occlusion, SHAP and IG's starting image do. ERASER comprehensiveness and
  sufficiency (AOPC over the top 1, 5, 10, 20, 50 % of patches), deletion and insertion curves (every
  patch count up to 50 steps), each beside a random ranking of the patches (10 draws). Patches are ranked
  by their positive score (what supports f(x)), the same rule for every method, as for text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import metrics
from ..attribution.evaluate import Evaluation
from ..errors import InputError
from .attribution import BASELINE, ImageAttribution, batched_target, masked_images
from .images import ImageEncoding


def patch_predict(handle, enc: ImageEncoding, index: int):
    """``predict(keep_masks [m, rows·cols]) -> [m]``: class ``index``'s logit with the patches not kept replaced
    by the baseline (pixels past the patch grid are left as they are)."""
    def predict(keep: np.ndarray) -> np.ndarray:
        on = torch.as_tensor(np.atleast_2d(np.asarray(keep, dtype=bool)), device=enc.pixel_values.device)
        return batched_target(handle, masked_images(enc, on), index).double().cpu().numpy()
    return predict


def evaluate_image(handle, enc: ImageEncoding, attributions: dict[str, ImageAttribution], *,
                   k: int | None = None, faithfulness: bool = True, thresholds=metrics.DEFAULT_THRESHOLDS,
                   steps: int = 50, repeats: int = 10, seed: int = 0, rank_by: str = "positive") -> Evaluation:
    """Agreement and faithfulness of several attributions of one image and class (``handle.attribute``'s)."""
    if not attributions:
        raise InputError("Choose at least one method.")
    first = next(iter(attributions.values()))
    if any(a.scores.shape != first.scores.shape or a.target != first.target for a in attributions.values()):
        raise InputError("Attributions must explain the same image and class to be compared.")
    rows, cols = first.scores.shape
    units = tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols))
    scores = {m: np.asarray(a.scores, dtype=np.float64).reshape(-1) for m, a in attributions.items()}
    agreement = metrics.agreement_table(scores, k=k) if len(scores) > 1 else pd.DataFrame(
        columns=["method_a", "method_b", *metrics.AGREEMENT_METRICS])
    k_used = metrics.default_k(len(units)) if k is None else k
    if not faithfulness:
        return Evaluation(units, "patch", agreement, k=k_used)
    if first.target < 0:
        raise InputError("Faithfulness needs a class to explain: this model has no classification head.")
    predict = patch_predict(handle, enc, first.target)
    full = float(predict(np.ones((1, len(units)), dtype=bool))[0])
    eraser = {m: metrics.eraser(predict, s, thresholds=thresholds, full_output=full, rank_by=rank_by)
              for m, s in scores.items()}
    curves = {m: metrics.deletion_insertion(predict, s, steps=steps, rank_by=rank_by) for m, s in scores.items()}
    random_eraser = metrics.random_baseline(metrics.eraser, predict, len(units), repeats=repeats, seed=seed,
                                            thresholds=thresholds, full_output=full, rank_by=rank_by)
    random_curves = metrics.random_baseline(metrics.deletion_insertion, predict, len(units), repeats=repeats,
                                            seed=seed, steps=steps, rank_by=rank_by)
    for result in (*eraser.values(), *curves.values()):
        result["removed"] = BASELINE
    return Evaluation(units, "patch", agreement, eraser, curves, random_eraser, random_curves, k_used, rank_by)
