"""Integrated Gradients to a tolerance: the gap it reports is the true gap, the first rung runs in one pass."""

import numpy as np
import pytest
import torch

from attnviz.attribution import prepare, run
from attnviz.errors import InputError

TEXT = "The food was cold and bland."


@pytest.fixture(scope="module")
def ctx(default_handle):
    return prepare(default_handle, TEXT, None, None)


def _rows_run(model):
    seen = []

    def hook(_module, args, kwargs):
        seen.append(kwargs["inputs_embeds"].shape[0])

    return seen, model.register_forward_pre_hook(hook, with_kwargs=True)


def test_adaptive_ig_reaches_tol_with_each_gradient_computed_once(default_handle, ctx):
    seen, hook = _rows_run(default_handle.model)
    try:
        ours = run(ctx, "integrated_gradients")  # the default: tol = 1e-2
    finally:
        hook.remove()
    steps = ours.settings["steps_used"]
    assert ours.settings["tol"] == 1e-2 and ours.settings["tol_reached"]
    # one row per path point plus f(x), f(baseline), f(x) for the result label; 20 points in one pass
    assert sum(seen) == steps + 3 and steps == 20 and ours.settings["rungs"] == [20]
    assert sorted(seen, reverse=True)[0] == 20
    # the reported gap is the real one: f computed here, independently of the method
    with torch.no_grad():
        f_x = float(ctx.forward_embeds(ctx.embeds)[0])
        f_b = float(ctx.forward_embeds(ctx.baseline_embeds("pad"))[0])
    gap = float(ours.scores.astype(np.float64).sum()) - (f_x - f_b)
    assert gap == pytest.approx(ours.delta, abs=1e-5) and abs(gap) <= 1e-2
    # and the scores are IG's: close to captum's 50-step Gauss-Legendre rule on the same path
    fixed = run(ctx, "integrated_gradients", n_steps=50)
    assert fixed.settings["n_steps"] == 50 and "steps_used" not in fixed.settings
    assert np.abs(ours.scores - fixed.scores).max() < 2e-2


def test_tighter_tol_spends_more_steps_and_a_cap_is_reported(ctx):
    loose = run(ctx, "integrated_gradients", tol=5e-2)
    tight = run(ctx, "integrated_gradients", tol=1e-3)
    assert loose.settings["steps_used"] < tight.settings["steps_used"]
    assert abs(tight.delta) <= 1e-3 and tight.settings["tol_reached"]
    assert tight.settings["steps_used"] == sum(tight.settings["rungs"]) and tight.settings["rungs"][0] == 20
    capped = run(ctx, "integrated_gradients", tol=1e-9, n_steps=13)
    assert capped.settings["steps_used"] <= 13 and not capped.settings["tol_reached"]


def test_bad_tolerances_are_input_errors(ctx):
    for bad in (0, -1e-3, True):
        with pytest.raises(InputError):
            run(ctx, "integrated_gradients", tol=bad)
    with pytest.raises(InputError):
        run(ctx, "integrated_gradients", tol=1e-2, n_steps=4)
