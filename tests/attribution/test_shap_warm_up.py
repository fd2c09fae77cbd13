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


def test_every_shap_import_in_the_library_takes_the_import_lock_first():
    """shap's package imports are circular: a page importing ``shap.maskers`` while the warm-up thread imported
    ``shap.explainers`` failed with "cannot import name 'MaskedModel' from partially initialized module
    'shap.utils'" on a fresh server. Each function that imports shap must call ``import_shap()`` before."""
    import ast
    from pathlib import Path

    root = Path(shap_method.__file__).resolve().parents[1]
    unguarded, checked = [], 0
    for path in sorted(root.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or fn.name == "import_shap":
                continue
            guard = min((n.lineno for n in ast.walk(fn) if isinstance(n, ast.Call)
                         and getattr(n.func, "id", getattr(n.func, "attr", None)) == "import_shap"), default=None)
            for node in ast.walk(fn):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "shap" or n.startswith("shap.") for n in names):
                    checked += 1
                    if guard is None or guard > node.lineno:
                        unguarded.append(f"{path.relative_to(root)}:{node.lineno} in {fn.name}")
    assert checked >= 3 and not unguarded, unguarded
