"""The Ray engine (Ray Data: read tasks → actor pool → the driver's shards): the same shards and report as the
local streamed engine, a worker killed mid-run costs nothing, a lost shard is recomputed on resume.

A small version of bench/bench_audit.py's 20,000-row comparison: a generated Parquet file (row groups that
do not line up with the chunks, empty texts), two workers, one of them killed with SIGKILL mid-run.
"""

import json
import os
import signal
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
            ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False,
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

    (tmp_path / "ray" / "results" / "part-00001.parquet").unlink()  # a shard lost: computed again, the rest read
    resumed = ray_audit(default_handle, parquet, tmp_path / "ray", SETTINGS, workers=1, **options)
    assert resumed.resumed_shards == distributed.shards - 1 and resumed.computed_rows == CHUNK - 1  # row 4 is empty
    table = pd.read_csv(tmp_path / "ray" / "results.csv")
    assert table["from_cache"].tolist() == [k not in (3, 5) for k in table["index"]]
    pd.testing.assert_frame_equal(local_table.drop(columns="from_cache"), table.drop(columns="from_cache"),
                                  check_exact=False, atol=1e-5)


def test_a_row_limit_and_csv_input(default_handle, tmp_path, local_ray):
    from attnviz.audit.ray_engine import ray_audit

    options = dict(slice_columns=["topic"], limit=5, chunk_rows=CHUNK, images=False)
    local = stream_audit(default_handle, SAMPLE_SETS["reviews"], tmp_path / "local", SETTINGS, **options)
    distributed = ray_audit(default_handle, SAMPLE_SETS["reviews"], tmp_path / "ray", SETTINGS, workers=1, **options)
    assert distributed.shards == local.shards and distributed.total == 5
    close(without_run(tmp_path / "ray"), without_run(tmp_path / "local"))
