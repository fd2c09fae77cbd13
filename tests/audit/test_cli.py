"""``python -m attnviz audit`` as CI would run it: files, exit codes, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ENV_KEYS = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def attnviz(*args, tmp_path):
    import os

    env = {**os.environ, **ENV_KEYS, "ATTNVIZ_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "attnviz", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_audit_of_the_sample_set(tmp_path):
    out = tmp_path / "report"
    done = attnviz("audit", "--data", "assets/samples/reviews.csv", "--out", str(out), "--limit", "3",
                   "--methods", "saliency", "--no-faithfulness", "--no-images", "--slice-column", "topic",
                   tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "audited 3 of 3 examples" in done.stdout and "accuracy" in done.stdout
    assert "3/3" in done.stderr  # the text progress bar
    record = json.loads((out / "report.json").read_text())
    assert len(record["provenance"]["model"]["weights_sha256"]) == 64
    assert record["provenance"]["versions"]["torch"] and record["settings"]["methods"] == ["saliency"]
    assert record["dataset"]["label_column"] == "label" and record["dataset"]["limited_to"] == 3
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 3 and set(table["gold"]) <= {"positive", "negative"} and "topic" in table
    assert (out / "report.html").stat().st_size > 1_000_000  # plotly.js inline


def test_failures_exit_non_zero_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n", encoding="utf-8")
    done = attnviz("audit", "--data", str(bad), "--out", str(tmp_path / "o"), "--text-column", "review",
                   tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: The text column 'review' is not in the file")
    missing = attnviz("audit", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"), tmp_path=tmp_path)
    assert missing.returncode == 2 and "No data file" in missing.stderr
    usage = attnviz(tmp_path=tmp_path)
    assert usage.returncode == 2 and "audit" in usage.stderr
    assert attnviz("audit", tmp_path=tmp_path).returncode == 2  # argparse: --data and --out are required
