"""The Ray engine (Ray Data: read tasks → actor pool → the driver's shards): the same shards and report as the
local streamed engine; a worker killed mid-run costs nothing; a driver killed mid-run leaves its shards and
the same command resumes from them, every row exactly once.

A small version of bench/bench_audit.py's 20,000-row comparison: a generated Parquet file (row groups that
do not line up with the chunks, empty texts), two workers, one of them killed with SIGKILL mid-run; then the
CLI as a driver on that cluster (``--address``, the path a real cluster takes), killed with SIGKILL after its
first shard, and resumed. (CSV input and the row limit are checked without Ray in test_stream.py.)
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attnviz.audit import AuditSettings
from attnviz.audit.dataset import SAMPLE_SETS
from attnviz.audit.stream import stream_audit
from tests.audit.test_stream import close

ray = pytest.importorskip("ray")

SETTINGS = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=4)
ROWS, CHUNK = 20, 3


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes ~20 s on 2 cores); ray_audit leaves it running.
    Three CPUs: two for the actors, one for Ray Data's reading tasks (ray_audit's own local Ray does the same)."""
    root = str(Path(__file__).resolve().parents[2])
    for attempt in range(3):  # Ray gives its raylet 30 s to start: on a busy 2-core machine that may not do
        try:
            ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": root,
                                               "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}})
            break
        except Exception as exc:  # noqa: BLE001 — "The current node timed out during startup"
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """ROWS review sentences (two of them empty) in row groups of 7 rows: pieces and chunks do not line up."""
    reviews = pd.read_csv(SAMPLE_SETS["reviews"])
    frame = reviews.iloc[np.arange(ROWS) % len(reviews)][["text", "label", "topic"]].reset_index(drop=True)
    frame.loc[[4, 13], "text"] = ["", "   "]
    path = tmp_path_factory.mktemp("data") / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7)
    return path


def chunk_worker_pids() -> list[int]:
    """The Ray actors' processes (their title names the ChunkWorker class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ChunkWorker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def without_run(path: Path) -> dict:
    record = json.loads((path / "report.json").read_text())
    for key in ("started_utc", "finished_utc", "seconds", "engine"):
        record["provenance"].pop(key, None)
    return record


def test_ray_equals_local_with_a_worker_killed_and_resumes(default_handle, parquet, tmp_path, local_ray):
    from attnviz.audit.ray_engine import ray_audit

    options = dict(slice_columns=["topic"], chunk_rows=CHUNK, images=False)
    local = stream_audit(default_handle, parquet, tmp_path / "local", SETTINGS, **options)
    killed = []

    def kill_one_worker(done, total, message):  # the driver's progress call after the first shard
        if not killed:
            pids = chunk_worker_pids()
            assert len(pids) == 2
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    distributed = ray_audit(default_handle, parquet, tmp_path / "ray", SETTINGS, workers=2, batch_rows=1,
                            progress=kill_one_worker, **options)
    assert killed and killed[0] not in chunk_worker_pids()
    assert distributed.shards == local.shards == -(-ROWS // CHUNK) and distributed.summary == local.summary
    assert distributed.total == ROWS - 2 and distributed.computed_rows == ROWS - 2
    # per-example values, aggregates, dataset notes (2 empty rows skipped); floats within 1e-5 (the actors'
    # batches are padded differently from the local engine's)
    close(without_run(tmp_path / "ray"), without_run(tmp_path / "local"))
    engine = json.loads((tmp_path / "ray" / "report.json").read_text())["provenance"]["engine"]
    assert engine["name"] == "ray" and engine["workers"] == 2 and engine["ray"] == ray.__version__
    local_table = pd.read_csv(tmp_path / "local" / "results.csv")
    table = pd.read_csv(tmp_path / "ray" / "results.csv")
    assert table["index"].tolist() == [i for i in range(ROWS) if i not in (4, 13)]  # every row exactly once
    pd.testing.assert_frame_equal(local_table, table, check_exact=False, atol=1e-5)



def test_a_killed_driver_resumes_from_its_shards(default_handle, parquet, tmp_path, local_ray):
    """``python -m attnviz audit --engine ray --address …`` killed with SIGKILL once a shard is written; the
    same run again (here in process) reads the whole shards, computes the rest, and equals the local engine."""
    from attnviz.audit.ray_engine import ray_audit

    options = dict(slice_columns=["topic"], chunk_rows=CHUNK, images=False)
    stream_audit(default_handle, parquet, tmp_path / "local", SETTINGS, **options)
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "attnviz", "audit", "--data", str(parquet), "--out", str(out),
               "--engine", "ray", "--address", ray.get_runtime_context().gcs_address, "--workers", "1",
               "--methods", "saliency", "--no-faithfulness", "--no-images", "--batch-size", "4",
               "--chunk-rows", str(CHUNK), "--slice-column", "topic", "--quiet"]
    driver = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    shards = out / "results"
    deadline = time.monotonic() + 600
    while not list(shards.glob("part-*.parquet")):  # wait on the state: the first whole shard
        assert driver.poll() is None, driver.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no shard written in 600 s"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    written = len(list(shards.glob("part-*.parquet")))
    total = -(-ROWS // CHUNK)
    assert 1 <= written < total, f"{written} of {total} shards before the kill"

    resumed = ray_audit(default_handle, parquet, out, SETTINGS, workers=1, **options)
    assert resumed.resumed_shards >= written and resumed.shards == total and resumed.computed_rows > 0
    table = pd.read_csv(out / "results.csv")
    assert table["index"].tolist() == [i for i in range(ROWS) if i not in (4, 13)]  # every row exactly once
    local_table = pd.read_csv(tmp_path / "local" / "results.csv")
    pd.testing.assert_frame_equal(local_table.drop(columns="from_cache"), table.drop(columns="from_cache"),
                                  check_exact=False, atol=1e-5)
    close(without_cache(without_run(out)), without_cache(without_run(tmp_path / "local")))


def without_cache(doc):
    """The record without what says which rows came from stored shards (a resumed run's only difference)."""
    if isinstance(doc, dict):
        return {k: without_cache(v) for k, v in doc.items() if k not in ("from_cache", "cache_hits")}
    return [without_cache(v) for v in doc] if isinstance(doc, list) else doc
