"""Report files: standalone HTML (inline plotly.js, escaped user text), report.json, results.csv, PNG/SVG."""

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from attnviz.audit.report import build_figures, find_browser, report_bytes, write_report


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        self.sources += [value for name, value in attrs if name in ("src", "href") and value]


def external_sources(page: str) -> list[str]:
    parser = _Sources()
    parser.feed(page)
    return parser.sources


HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def hostile_result(synthetic_result):
    examples = list(synthetic_result.examples)
    examples[2] = replace(examples[2], text=HOSTILE, slices={"group": "<i>b</i>"})
    bias = {"target": "p(positive | x)", "sentences": 10, "groups": [],
            "axes": [{"axis": "religion", "ctf_gap": 0.1, "ci_low": 0.05, "ci_high": 0.15, "max_gap": 0.3,
                      "largest_swap": "<s>a</s> ↔ b"}]}
    return replace(synthetic_result, examples=tuple(examples), bias=bias)


def test_html_json_and_csv(hostile_result, tmp_path):
    files = write_report(hostile_result, tmp_path / "out", images=False)
    page = files.html.read_text(encoding="utf-8")
    assert external_sources(page) == []  # plotly.js is inline: nothing to fetch
    assert page.count("Plotly.newPlot") == len(build_figures(hostile_result))
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<i>b</i>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page  # the word "<b>x</b>" shown as text in the figures' data
    assert "Bias probe" in page and "<s>a</s>" not in page
    record = json.loads(files.json.read_text(encoding="utf-8"))
    assert record["format"] == "attnviz.AuditReport"
    assert record["provenance"]["model"]["weights_sha256"] == "ab"
    assert record["summary"]["errors"] == 1 and record["accuracy"]["accuracy"] == pytest.approx(2 / 3)
    assert record["bias_probe"]["axes"][0]["ctf_gap"] == 0.1 and record["summary"]["bias_ctf_gap"] == {"religion": 0.1}
    assert len(record["examples"]) == 4 and record["examples"][2]["text"] == HOSTILE
    table = pd.read_csv(files.csv, keep_default_na=False)
    assert len(table) == 4 and table.loc[2, "text"] == HOSTILE and table.loc[3, "status"] == "error"
    assert table.loc[0, "top_integrated_gradients"].startswith("great (+0.600)")
    assert set(report_bytes(hostile_result)) == {"report.html", "report.json", "results.csv"}


def test_figures_as_png_and_svg(synthetic_result, tmp_path):
    if find_browser() is None:
        pytest.skip("no Chrome/Chromium for kaleido")
    files = write_report(synthetic_result, tmp_path, images=True)
    names = set(build_figures(synthetic_result))
    assert {p.name for p in files.images} == {f"{n}.{ext}" for n in names for ext in ("png", "svg")}
    for path in files.images:
        data = Path(path).read_bytes()
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:400]
    assert not files.notes


def test_no_browser_is_a_note_not_a_crash(synthetic_result, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    files = write_report(synthetic_result, tmp_path, images=True)
    assert files.images == () and "no Chrome/Chromium" in files.notes[0]
    assert "no Chrome/Chromium" in files.html.read_text(encoding="utf-8")
    assert json.loads(files.json.read_text())["files"]["notes"] == list(files.notes)
