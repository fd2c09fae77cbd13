"""``python -m attnviz.lab``: the acceptance runs (slow), which also check the CLI's output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, timeout):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "attnviz.lab", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("task,budget", [("associative_recall", 60), ("copy", 30)])
def test_acceptance_reaches_95_percent_within_budget(task, budget):
    """Also the CLI's contract (it was a separate 20 s copy run, the same code path): JSON on the last line,
    with the task, and training progress on stderr."""
    result, progress = run_cli("--task", task, "--max-seconds", str(budget), timeout=budget + 120)
    assert set(result) >= {"accuracy", "seconds"} and result["task"] == task
    assert "validation accuracy" in progress
    assert result["accuracy"] >= 0.95, result
    assert result["seconds"] <= budget, result
