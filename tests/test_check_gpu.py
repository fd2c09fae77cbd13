"""bench/check_gpu.py: skips cleanly on CPU-only machines, and its comparisons do catch a mismatch."""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "check_gpu.py"


def _module():
    spec = importlib.util.spec_from_file_location("check_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_gpu"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_only_machine_prints_skipped_and_exits_0():
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("MPS cannot be hidden from the script")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SKIPPED" in proc.stdout and "no CUDA or MPS" in proc.stdout


def test_comparisons_pass_on_equal_models_and_fail_on_a_perturbed_one(default_handle):
    check = _module()
    text = ["The cat sat on the mat."]
    rows = check.placement_rows(default_handle, "cpu", "float32")
    rows += check.compare_rows(default_handle, default_handle, "float32", texts=text, methods={"saliency": {}})
    assert check.exit_code(rows) == 0 and all(r.ok for r in rows)
    assert "FAIL" not in check.format_table(rows)

    perturbed = copy.copy(default_handle)
    perturbed.model = copy.deepcopy(default_handle.model)
    perturbed._sites = None  # its attention modules are new objects: learn the site map again
    with torch.no_grad():
        layer = perturbed.model.encoder.layer[2].attention.self.query.weight
        layer.add_(0.05 * torch.randn(layer.shape, generator=torch.Generator().manual_seed(0)))
    rows = check.compare_rows(default_handle, perturbed, "float32", texts=text, methods={"saliency": {}})
    failed = [r.check for r in rows if not r.ok]
    assert any(c.startswith("attention") for c in failed), check.format_table(rows)
    assert check.exit_code(rows) == 1 and "FAIL" in check.format_table(rows)


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_matches_cpu():
    check = _module()
    if check.gpu_device() is None:
        pytest.skip("no CUDA or MPS device")
    assert check.main([]) == 0


def test_the_gqa_model_check_passes_against_itself_on_the_cpu(tmp_path):
    """The grouped-query model part of the script as a CPU dry run (float32 vs float32, one quick method)."""
    check = _module()
    rows = check.gqa_rows("cpu", "float32", check.gqa_model_dir(tmp_path), texts=["The cat sat on the mat."],
                          methods={"saliency": {}})
    assert any(r.check.startswith("GQA key/value groups") for r in rows)
    assert check.exit_code(rows) == 0, check.format_table(rows)
