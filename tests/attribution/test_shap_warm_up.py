"""The SHAP warm-up compiles shap's numba helpers with the argument types real explanations use."""

import numpy as np

from attnviz.attribution import shap_method


def test_warm_up_compiles_the_helpers_real_explanations_use(default_handle):
    from shap.explainers._partition import lower_credit
    from shap.utils._masked_model import _build_fixed_single_output

    shap_method.warm_up()
    assert shap_method._warm.is_set()
    compiled = {f: set(f.signatures) for f in (lower_credit, _build_fixed_single_output)}
    assert all(compiled.values()), "the warm-up compiled nothing"
    result = default_handle.attribute("A warm, friendly and wonderful evening.", "shap", max_evals=60)
    # a real explanation needed no new compilation: the toy call used the same types
    assert {f: set(f.signatures) for f in compiled} == compiled
    assert abs(result.base_value + float(np.sum(result.scores)) - result.output) < 1e-4


def test_background_warm_up_starts_one_thread_only(monkeypatch):
    import threading

    started = []
    monkeypatch.setattr(shap_method, "_warm_started", threading.Event())
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self.name))
    shap_method.warm_up_in_background()
    shap_method.warm_up_in_background()
    assert started == ["attnviz-shap-warm-up"]
