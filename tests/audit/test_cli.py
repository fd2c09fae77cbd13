"""``python -m attnviz audit`` as CI would run it: files, exit codes, one-line errors.

In-process calls of the entry point (``python -m attnviz`` runs the same ``main``); the kill -9 test in
test_stream.py runs it as a real subprocess.
"""

import json

import pandas as pd
import pytest

from attnviz.__main__ import main


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path / "cache"))


def test_audit_of_the_sample_set(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["audit", "--data", "assets/samples/reviews.csv", "--out", str(out), "--limit", "3",
                 "--methods", "saliency", "--no-faithfulness", "--no-images", "--slice-column", "topic"])
    done = capsys.readouterr()
    assert code == 0, done.err
    assert "audited 3 of 3 examples" in done.out and "accuracy" in done.out
    assert "3/3" in done.err  # the text progress bar
    record = json.loads((out / "report.json").read_text())
    assert len(record["provenance"]["model"]["weights_sha256"]) == 64
    assert record["provenance"]["versions"]["torch"] and record["settings"]["methods"] == ["saliency"]
    assert record["dataset"]["label_column"] == "label" and record["dataset"]["limited_to"] == 3
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 3 and set(table["gold"]) <= {"positive", "negative"} and "topic" in table
    assert (out / "report.html").stat().st_size > 1_000_000  # plotly.js inline


@pytest.mark.parametrize("engine", ["local", "memory"])
def test_failures_exit_non_zero_with_one_line(tmp_path, capsys, engine):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n", encoding="utf-8")
    assert main(["audit", "--data", str(bad), "--out", str(tmp_path / "o"), "--text-column", "review",
                 "--engine", engine]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: The text column 'review' is not in the file")
    assert main(["audit", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"), "--engine", engine]) == 2
    assert "No data file" in capsys.readouterr().err


def test_usage(capsys):
    assert main([]) == 2 and "audit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["audit"])  # argparse: --data and --out are required
    assert exit_.value.code == 2
