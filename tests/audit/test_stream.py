"""Streamed audits: chunked input, Parquet shards, merged aggregates equal to the in-memory run, resume."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from attnviz.audit import AuditSettings, aggregate, load_dataset, run_audit, write_report
from attnviz.audit.dataset import SAMPLE_SETS
from attnviz.audit.results import ExampleResult
from attnviz.audit.stream import ShardStore, input_files, read_chunks, stream_audit
from attnviz.serialise import loads

ROOT = Path(__file__).resolve().parents[2]
REVIEWS = SAMPLE_SETS["reviews"]
SETTINGS = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=4)
LIMIT = 12


def close(a, b, path="", tol=1e-5):
    """JSON-like documents equal, floats within ``tol``."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            close(a[k], b[k], f"{path}.{k}", tol)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]", tol)
    elif isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            assert a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b)), path
        else:
            assert a == pytest.approx(b, abs=tol), f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def without_run(record):
    """report.json minus what differs between any two runs (times, engine, cache)."""
    record = dict(record)
    prov = {k: v for k, v in record.pop("provenance").items()
            if k not in ("started_utc", "finished_utc", "seconds", "cache_dir", "engine")}
    return record, prov


@pytest.fixture(scope="module")
def in_memory(default_handle, tmp_path_factory):
    out = tmp_path_factory.mktemp("memory")
    data = load_dataset(REVIEWS, label_column="label", slice_columns=["topic"], limit=LIMIT)
    result = run_audit(default_handle, data, SETTINGS, cache_dir=None)
    write_report(result, out, images=False)
    return out, result


def test_streamed_report_equals_the_in_memory_run(default_handle, in_memory, tmp_path):
    memory_dir, result = in_memory
    done = stream_audit(default_handle, REVIEWS, tmp_path, SETTINGS, slice_columns=["topic"], limit=LIMIT,
                        chunk_rows=5, images=False)
    assert done.total == LIMIT and done.shards == 3 and done.computed_rows == LIMIT
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [f"part-0000{k}.parquet" for k in range(3)]
    mine, mine_prov = without_run(json.loads((tmp_path / "report.json").read_text()))
    theirs, theirs_prov = without_run(json.loads((memory_dir / "report.json").read_text()))
    close(mine_prov, theirs_prov, "provenance")
    close(mine, theirs)  # settings, dataset, summary, aggregates, every example (token scores, rollout, …)
    a, b = pd.read_csv(tmp_path / "results.csv"), pd.read_csv(memory_dir / "results.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-5)
    assert done.summary == aggregate.summary(result)
    page, reference = ((d / "report.html").read_text() for d in (tmp_path, memory_dir))
    # the same page apart from the run's times: tables equal, the same figures (their float arrays are
    # base64 in the page: head means summed in another order differ in the last bits, so they are left out)
    cut = lambda html: re.sub(r"<script>.*?</script>", "<script/>",  # noqa: E731
                              html[html.index("<table>"):html.index("<h2>Provenance</h2>")], flags=re.S)
    assert cut(page) == cut(reference) and page.count("Plotly.newPlot") == reference.count("Plotly.newPlot")


def test_partials_merge_to_the_whole(default_handle, in_memory):
    _, result = in_memory
    examples = list(result.examples)
    whole = aggregate.Partial(result.methods, result.slice_columns, result.layers, result.heads).add(examples)
    merged = aggregate.Partial(result.methods, result.slice_columns, result.layers, result.heads)
    for start in range(0, len(examples), 5):
        merged.merge(aggregate.Partial(result.methods, result.slice_columns, result.layers,
                                       result.heads).add(examples[start:start + 5]))
    for partial in (whole, merged):
        pd.testing.assert_frame_equal(partial.head_summary(), aggregate.head_summary(result), atol=1e-6)
        pd.testing.assert_frame_equal(partial.top_tokens("saliency"), aggregate.top_tokens(result, "saliency"))
        pd.testing.assert_frame_equal(partial.slices("topic", result.label_names), aggregate.slices(result, "topic"))
        acc = partial.accuracy(result.label_names)
        pd.testing.assert_frame_equal(acc.pop("confusion"), aggregate.accuracy(result)["confusion"],
                                      check_names=True)
        assert acc == {k: v for k, v in aggregate.accuracy(result).items() if k != "confusion"}


def test_chunks_of_csv_jsonl_and_parquet_shards(tmp_path):
    frame = pd.DataFrame({"text": [f"Row number {i}." if i % 4 else "" for i in range(23)],
                          "label": ["positive", "negative"] * 11 + ["positive"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")), encoding="utf-8")
    shards = tmp_path / "shards"
    shards.mkdir()
    for k, start in enumerate(range(0, 23, 7)):
        frame.iloc[start:start + 7].to_parquet(shards / f"part-{k}.parquet", index=False)
    for spec in (tmp_path / "d.csv", tmp_path / "d.jsonl", shards, str(shards / "*.parquet")):
        files, fmt = input_files(spec)
        chunks = list(read_chunks(files, fmt, 5))
        assert [len(c) for c in chunks] == [5, 5, 5, 5, 3], spec
        assert pd.concat(chunks, ignore_index=True)["text"].tolist() == frame["text"].tolist()


def test_a_corrupt_or_foreign_shard_is_recomputed(default_handle, tmp_path):
    options = dict(limit=4, chunk_rows=2, images=False)
    first = stream_audit(default_handle, REVIEWS, tmp_path, SETTINGS, **options)
    assert first.shards == 2 and first.resumed_shards == 0
    before = (tmp_path / "results.csv").read_text()
    again = stream_audit(default_handle, REVIEWS, tmp_path, SETTINGS, **options)
    assert again.resumed_shards == 2 and again.computed_rows == 0 and again.summary["cache_hits"] == 4
    store = ShardStore(tmp_path, "")
    data = store.path(1).read_bytes()
    store.path(1).write_bytes(data[:len(data) // 2])  # a partial file
    (tmp_path / "results" / "part-00001.parquet.tmp-1").write_bytes(b"junk")  # a write that never finished
    resumed = stream_audit(default_handle, REVIEWS, tmp_path, SETTINGS, **options)
    assert resumed.resumed_shards == 1 and resumed.computed_rows == 2
    table = pd.read_csv(tmp_path / "results.csv")
    assert table["index"].tolist() == list(range(4)) and table["from_cache"].tolist() == [True, True, False, False]
    assert table.drop(columns="from_cache").equals(pd.read_csv(pd.io.common.StringIO(before)).drop(columns="from_cache"))
    other = stream_audit(default_handle, REVIEWS, tmp_path, AuditSettings(methods=("input_x_gradient",),
                                                                           faithfulness=False), **options)
    assert other.resumed_shards == 0  # other settings: the shards do not count


ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_kill_9_then_the_same_command_resumes(default_handle, tmp_path, capsys):
    """``python -m attnviz audit`` killed with SIGKILL; the same command again (in process) resumes."""
    from attnviz.__main__ import main

    out = tmp_path / "out"
    args = ["audit", "--data", str(REVIEWS), "--out", str(out), "--limit", "8", "--chunk-rows", "1",
            "--batch-size", "1", "--methods", "saliency", "--no-faithfulness", "--no-images", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "attnviz", *args], cwd=ROOT, env={**os.environ, **ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard = out / "results" / "part-00002.parquet"
    deadline = time.monotonic() + 240
    while not shard.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted((out / "results").glob("part-*.parquet"))
    assert len(finished) >= 3 and not (out / "report.json").exists()
    for path in finished:  # every shard on disk is whole (written under a temporary name, then renamed)
        rows = pq.read_table(path).column("result").to_pylist()
        assert len(rows) == 1 and all(isinstance(loads(r, ExampleResult), ExampleResult) for r in rows)
    assert main(args) == 0, capsys.readouterr().err
    record = json.loads((out / "report.json").read_text())
    engine = record["provenance"]["engine"]
    assert engine["name"] == "local" and engine["shards"] == 8 and engine["resumed_shards"] >= len(finished)
    table = pd.read_csv(out / "results.csv")
    assert table["index"].tolist() == list(range(8))  # every row exactly once
    assert table["from_cache"].sum() == engine["resumed_shards"]
    assert [ex["index"] for ex in record["examples"]] == list(range(8))


def test_the_ray_engine_stages_in_process(default_handle, tmp_path):
    """The Ray engine's read stage, actor class and driver (ray_engine.ray_source) without Ray: rows in calls of
    two that cross chunk boundaries give the local engine's shards and report; a lost shard is recomputed."""
    import numpy as np
    import pyarrow as pa

    from attnviz.audit import ray_engine
    from attnviz.audit.run import BatchEngine
    from attnviz.models.targets import default_target

    reviews = pd.read_csv(REVIEWS)
    frame = reviews.iloc[np.arange(20) % len(reviews)][["text", "label", "topic"]].reset_index(drop=True)
    frame.loc[[4, 13], "text"] = ["", "   "]
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data, row_group_size=7)

    def make_rows(pieces, fmt, columns, stored, row_limit):  # what the Ray Data pipeline does, here
        spec = {"text": columns.text, "label": columns.label, "pair": columns.pair, "slices": list(columns.slices)}
        worker = ray_engine.ChunkWorker(None, "cpu", None, True, SETTINGS, ["topic"], 3, sorted(stored))
        rows = pd.concat(ray_engine.read_piece(pd.DataFrame(pieces), fmt, 3, spec), ignore_index=True)
        rows = rows if row_limit is None else rows.iloc[:row_limit]
        for start in range(0, len(rows), 2):
            yield worker(rows.iloc[start:start + 2].reset_index(drop=True))

    def run(out, source_data=data, **options):
        source = ray_engine.ray_source(make_rows, BatchEngine(default_handle, default_target(default_handle),
                                                              SETTINGS, None), SETTINGS.batch_size)
        return stream_audit(default_handle, source_data, out, SETTINGS, source=source, slice_columns=["topic"],
                            chunk_rows=3, images=False, **options)

    for source_data, options, name in ((REVIEWS, {"limit": 5}, "-csv"), (data, {}, ""), (data, {"limit": 5}, "")):
        local = stream_audit(default_handle, source_data, tmp_path / f"local{name}", SETTINGS,
                             slice_columns=["topic"], chunk_rows=3, images=False, **options)
        staged = run(tmp_path / f"staged{name}", source_data, **options)
        assert (staged.shards, staged.total, staged.summary) == (local.shards, local.total, local.summary)
        for mine, theirs in zip(*(without_run(json.loads((tmp_path / d / "report.json").read_text()))
                                  for d in (f"staged{name}", f"local{name}"))):
            close(mine, theirs)
    (tmp_path / "staged" / "results" / "part-00001.parquet").unlink()
    resumed = run(tmp_path / "staged", limit=5)
    assert resumed.resumed_shards == 1 and resumed.computed_rows == 2  # rows 3 and 5 (row 4 is empty)
    assert pd.read_csv(tmp_path / "staged" / "results.csv")["index"].tolist() == [0, 1, 2, 3, 5]
