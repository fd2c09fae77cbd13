"""The Audit page through AppTest: the sample set, progress, aggregate views, downloads, bad uploads."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    return at.switch_page("pages/audit.py").run()


def run_audit(at: AppTest, *, limit=3, methods=("saliency", "input_x_gradient")) -> AppTest:
    next(n for n in at.number_input if n.label.startswith("Examples")).set_value(limit)
    next(m for m in at.multiselect if m.label == "Attribution methods").set_value(list(methods))
    next(c for c in at.checkbox if c.label == "Measure faithfulness").set_value(False)
    next(b for b in at.button if b.label == "Run audit").click()
    return at.run()


def test_sample_set_runs_with_progress_views_and_downloads(tmp_path, monkeypatch):
    at = open_page(tmp_path, monkeypatch)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Audit"
    assert any("Run audit" in i.value for i in at.info)
    at = run_audit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    bars = at.get("progress")
    assert bars and "Done: 3 of 3" in bars[0].proto.text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Examples"] == "3 / 3" and metrics["Errors"] == "0"
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Head patterns" in s for s in specs) and any("Most attributed words" in s for s in specs)
    assert any("Explainer agreement" in s for s in specs) and any("by topic" in s for s in specs)
    downloads = [d.proto.label for d in at.get("download_button")]
    assert downloads == ["report.html", "report.json", "results.csv"]
    examples = at.dataframe[-1].value
    assert len(examples) == 3 and set(examples["gold"]) <= {"positive", "negative"}

    # the same settings again: every example from the cache
    at = run_audit(at)
    assert {m.label: m.value for m in at.metric}["From cache"] == "3"


def test_no_methods_still_gives_head_statistics_and_upload_asks_for_a_file(tmp_path, monkeypatch):
    at = run_audit(open_page(tmp_path, monkeypatch), limit=2, methods=())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("No attribution methods" in i.value for i in at.info)
    assert any("Head patterns" in c.proto.spec for c in at.get("plotly_chart"))
    at.radio[0].set_value("Upload a file").run()
    assert not at.exception and any("Upload a file of up to 20 MB" in i.value for i in at.info)
