"""CLI audit folders on the Audit page: only folders under the operator's ATTNVIZ_AUDIT_DIRS, progress from the
shard footers, the finished report. No model runs: shards and reports are written from hand-built results."""

import json
import os

import pytest

from attnviz.audit.folders import AUDIT_DIRS_ENV, allowed_roots, audit_folders, folder_status, open_folder
from attnviz.audit.report import write_report
from attnviz.audit.stream import ShardStore
from attnviz.errors import InputError
from tests.audit.synthetic import make_synthetic_result


@pytest.fixture
def runs(tmp_path):
    """root/finished (a report), root/team/running (two shards, no report), root/notes (not an audit),
    outside/secret (an audit outside the root) and root/link → outside/secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    result = make_synthetic_result()
    write_report(result, root / "finished", images=False)
    store = ShardStore(root / "team" / "running", "key")
    store.write(0, list(result.examples[:2]))
    store.write(1, list(result.examples[2:3]))
    (store.root / "part-00002.parquet").write_bytes(b"PAR1 cut short")  # a shard being written
    (root / "notes").mkdir()
    write_report(result, outside / "secret", images=False)
    os.symlink(outside / "secret", root / "link")
    return root, outside


def test_only_audits_under_the_roots(runs, monkeypatch):
    root, outside = runs
    monkeypatch.setenv(AUDIT_DIRS_ENV, f"{root}{os.pathsep}{root / 'missing'}")
    assert allowed_roots() == [root.resolve()]
    found = audit_folders(allowed_roots())
    assert set(found) == {(root / "finished").resolve(), (root / "team" / "running").resolve()}
    assert open_folder(root / "finished", allowed_roots()) == (root / "finished").resolve()
    for bad in (outside / "secret", root / "link", root / "notes", root / "finished" / ".." / ".." / "outside" / "secret",
                "/etc"):
        with pytest.raises(InputError, match="not an audit under"):
            open_folder(bad, allowed_roots())


def test_progress_and_summary(runs):
    root, _ = runs
    running = folder_status(root / "team" / "running")
    assert (running.shards, running.rows_done, running.finished, running.summary) == (2, 3, False, None)
    finished = folder_status(root / "finished")
    record = json.loads((root / "finished" / "report.json").read_text())
    assert finished.finished and finished.summary == record["summary"] and finished.html.is_file()


def test_the_page_opens_a_listed_folder(runs, tmp_path, monkeypatch):
    from tests import helpers

    root, _ = runs
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(AUDIT_DIRS_ENV, raising=False)
    at = helpers.open_page("audit")
    at.radio(key="audit_source").set_value("folder").run()
    assert not at.exception and any(AUDIT_DIRS_ENV in i.value for i in at.info)
    monkeypatch.setenv(AUDIT_DIRS_ENV, str(root))
    at.run()
    box = at.selectbox(key="audit_folder")
    assert set(box.options) == {"root/finished", "root/team/running"}
    box.set_value("root/team/running").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows finished"] == "3" and metrics["State"] == "running or stopped"
    at.selectbox(key="audit_folder").set_value("root/finished").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["State"] == "finished" and metrics["Examples"] == "3 / 5"
    frames = at.get("iframe")
    assert frames and "Plotly.newPlot" in frames[0].proto.srcdoc
