"""The Ray engine of streamed audits (optional: ``pip install -r requirements-ray.txt``).

A Ray Data pipeline, order preserved:

1. ``from_items(pieces)`` → ``map_batches(read_piece)``: Ray tasks read the input (one piece per Parquet row
   group or per CSV / JSON Lines file) with the local engine's readers, so the rows parse the same, and
   prepare every row under its file row id (``_row``). Ray's own ``read_parquet`` / ``read_csv`` are not
   used: they give no row ids, and CSV types would be inferred where the local engine keeps strings.
2. ``map_batches(ChunkWorker, concurrency=workers)``: an actor pool, one model per actor (a GPU each
   when the device is not the CPU); each batch of rows (spanning chunks) runs in padded batches sorted by
   length. Rows of shards already on disk, and empty rows, pass through untouched. Ray Data restarts a
   killed actor and retries its batch.
3. The driver consumes the rows in file order, cuts them into the local engine's chunks (shard ``k`` =
   file rows ``k·chunk_rows …``), writes the shards and merges the aggregates
   (:func:`~attnviz.audit.stream.stream_audit`): the same shards and report as the local engine.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import torch

from ..errors import InputError
from ..models.handle import load_model
from ..models.targets import default_target
from ..serialise import dumps, loads
from .results import AuditSettings, ExampleResult
from .run import BatchEngine
from .stream import (
    Columns,
    RunCounts,
    first_rows,
    plan_chunks,
    prepare_chunk,
    read_chunks,
    run_chunk,
    stoppable,
    stream_audit,
)

EMPTY, STORED, DONE = "empty", "stored", "done"


# ------------------------------------------------------------------ stage 1: read and prepare
def input_pieces(files, fmt: str, chunk_rows: int) -> list[dict]:
    """What the read tasks read: a Parquet row group or a whole CSV / JSON Lines file, with its first file row."""
    pieces, base = [], 0
    for path in files:
        if fmt == "parquet":
            meta = pq.ParquetFile(path).metadata
            for group in range(meta.num_row_groups):
                pieces.append({"path": str(path), "group": group, "base": base})
                base += meta.row_group(group).num_rows
        else:
            pieces.append({"path": str(path), "group": -1, "base": base})
            if len(files) > 1:  # the next file's first row id: count this one's rows
                base += sum(len(c) for c in read_chunks([path], fmt, 1 << 16))
    return pieces


def read_piece(pieces: pd.DataFrame, fmt: str, chunk_rows: int, columns: dict):
    """Every row of the pieces as ``_row`` (file row id), ``usable`` and ``row`` (the prepared row as JSON)."""
    spec = Columns(columns["text"], columns["label"], columns["pair"], tuple(columns["slices"]))
    for piece in pieces.to_dict("records"):
        path = Path(piece["path"])
        if fmt == "parquet":
            table = pq.ParquetFile(path).read_row_group(int(piece["group"]))
            frames = (table.slice(s, chunk_rows).to_pandas() for s in range(0, table.num_rows, chunk_rows))
        else:
            frames = read_chunks([path], fmt, chunk_rows)
        base = int(piece["base"])
        for chunk in frames:
            chunk.columns = [str(c) for c in chunk.columns]
            yield _prepared_rows(chunk, spec, base)
            base += len(chunk)


def _prepared_rows(chunk: pd.DataFrame, spec: Columns, base: int) -> pd.DataFrame:
    frame, _ = prepare_chunk(chunk, spec, base)
    prepared = {} if frame is None else {int(r["index"]): r for r in frame.to_dict("records")}
    rows = [json.dumps({k: v for k, v in prepared[i].items() if k != "index"}) if i in prepared else ""
            for i in range(base, base + len(chunk))]
    return pd.DataFrame({"_row": range(base, base + len(chunk)), "usable": [i in prepared for i in range(base, base + len(chunk))],
                         "row": rows})


def _frame_of(rows: pd.DataFrame) -> pd.DataFrame:
    """The prepared frame (``index`` = file row) of usable rows from :func:`_prepared_rows`."""
    records = [{"index": int(i), **json.loads(r)} for i, r in zip(rows["_row"], rows["row"])]
    return pd.DataFrame(records) if records else pd.DataFrame(columns=["index", "text", "text_pair", "label"])


# ------------------------------------------------------------------ stage 2: the model
class ChunkWorker:
    """One model per actor; each batch of prepared rows → ``_row``, ``state``, ``row`` and ``result`` (JSON)."""

    def __init__(self, model, device, revision, offline, settings: AuditSettings, slice_columns, chunk_rows: int,
                 stored_shards, threads: int = 1):
        torch.set_num_threads(max(1, threads))
        self.handle = load_model(model, device=device, revision=revision, offline=offline)
        target = settings.target if settings.target is not None else default_target(self.handle)
        self.engine = BatchEngine(self.handle, target, settings, None)
        self.batch_size, self.slice_columns = settings.batch_size, tuple(slice_columns)
        self.chunk_rows, self.stored = chunk_rows, frozenset(stored_shards)

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        shard = rows["_row"] // self.chunk_rows
        todo = rows["usable"].to_numpy() & ~shard.isin(self.stored).to_numpy()
        state = [DONE if t else (STORED if u else EMPTY) for t, u in zip(todo, rows["usable"])]
        results = [""] * len(rows)
        where = [i for i, t in enumerate(todo) if t]
        computed = run_chunk(self.engine, _frame_of(rows.iloc[where]), self.batch_size, self.slice_columns)
        for i, result in zip(where, computed):
            results[i] = dumps(result)
        return pd.DataFrame({"_row": rows["_row"].to_numpy(), "state": state, "row": rows["row"].to_numpy(),
                             "result": results})


# ------------------------------------------------------------------ stage 3: the driver
def ray_source(make_rows, engine: BatchEngine, batch_size: int):
    """The shards of the pipeline ``make_rows(pieces spec)`` builds, in order, for :func:`stream_audit`."""

    def source(files, fmt, chunk_rows, limit, counts: RunCounts, spec, store, slice_columns, cancel):
        counts.columns = first_rows(files, fmt, *spec)
        stream_counts = counts
        if limit is not None:  # the row of the limit-th usable row: a pass over the rows (no model)
            for _ in plan_chunks(files, fmt, chunk_rows, limit, counts, spec):
                pass
            stream_counts = RunCounts(columns=counts.columns)  # the plan counted every row already
        stored = store.stored_shards()
        rows = make_rows(input_pieces(files, fmt, chunk_rows), fmt, counts.columns, stored,
                         None if limit is None else counts.last_row + 1)
        for k, block in _shards(rows, chunk_rows):
            yield _finish_shard(k, block, stream_counts, store, engine, batch_size, slice_columns)

    return lambda *args: stoppable(source(*args), args[-1])


def _shards(batches, chunk_rows: int):
    """(shard, rows) in order from the pipeline's batches (which need not line up with the shards)."""
    pending, current = [], None
    for batch in batches:
        for k, part in batch.groupby(batch["_row"].to_numpy() // chunk_rows, sort=False):
            if current is not None and k != current:
                yield current, pd.concat(pending, ignore_index=True)
                pending = []
            current = k
            pending.append(part)
    if current is not None:
        yield current, pd.concat(pending, ignore_index=True)


def _finish_shard(k: int, rows: pd.DataFrame, counts: RunCounts, store, engine, batch_size, slice_columns):
    """(shard, results, stored?) of one shard's rows; counts every row."""
    counts.rows_in_file += len(rows)
    usable = rows[rows["state"] != EMPTY]
    counts.skipped += len(rows) - len(usable)
    counts.used += len(usable)
    counts.usable_total += len(usable)
    if (usable["state"] == DONE).all():
        return int(k), [loads(text, ExampleResult) for text in usable["result"]], False
    found = store.read(int(k), usable["_row"].tolist())
    if found is not None and (usable["state"] == STORED).all():
        return int(k), found, True
    # a shard on disk that does not match its rows after all (or a mix): run the shard here
    return int(k), run_chunk(engine, _frame_of(usable), batch_size, slice_columns), False


#: read tasks running at once: reading a piece is fast next to the model's work on it
READ_TASKS = 2


def ray_audit(handle, data, out_dir, settings: AuditSettings | None = None, *, address: str | None = None,
              workers: int = 1, model=None, device: str = "cpu", revision=None, offline: bool = True,
              threads_per_worker: int = 1, batch_rows: int | None = None, **options):
    """Like :func:`~attnviz.audit.stream.stream_audit`, the input read by Ray tasks and the model work spread over
    ``workers`` Ray actors (a local Ray when ``address`` is None; each actor a GPU when ``device`` is not the
    CPU). ``batch_rows``: rows per actor call (default: ``chunk_rows``, at most 256). Provenance records the
    engine, workers and Ray version."""
    try:
        import ray
    except ImportError as exc:
        raise InputError("The Ray engine needs Ray: pip install -r requirements-ray.txt") from exc
    if workers < 1:
        raise InputError("The Ray engine needs at least one worker.")
    settings = settings or AuditSettings()
    address = address or os.environ.get("RAY_ADDRESS") or None  # `ray start --head` prints RAY_ADDRESS to export
    started_here = not ray.is_initialized()
    if started_here:
        env = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "") or ("1" if offline else "0")}
        runtime_env: dict = {"env_vars": env}
        package = Path(__file__).resolve().parents[1]
        if address is None:
            # the local workers import attnviz from where this process does (a checkout need not be installed)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH", ""))
                                                if p)
        else:  # a cluster's nodes have the requirements, not necessarily this attnviz: ship the package
            runtime_env["py_modules"] = [str(package)]
        init = {"address": address, "include_dashboard": False, "log_to_driver": True, "runtime_env": runtime_env}
        if address is None:  # a Ray of its own ("local", even where `ray start` left a cluster running here),
            # one CPU more than the actors hold: Ray Data's reading and re-blocking tasks
            init.update(address="local", num_cpus=workers * threads_per_worker + 1)
        ray.init(**init)
    chunk_rows = options.get("chunk_rows", 1024)
    per_call = batch_rows or min(chunk_rows, 256)
    gpus = 0 if str(device) == "cpu" else 1

    def make_rows(pieces, fmt: str, columns: Columns, stored, row_limit):
        from ray.data import DataContext

        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in file order
        context.enable_progress_bars = False
        spec = {"text": columns.text, "label": columns.label, "pair": columns.pair, "slices": list(columns.slices)}
        # reading takes no CPU of its own: the actors hold them all, and the read tasks must still run; at most
        # READ_TASKS at once (each a worker process of its own: with no cap, a file of 1,000 row groups would
        # start a process per group)
        rows = ray.data.from_items(pieces).map_batches(read_piece, batch_size=1, batch_format="pandas", num_cpus=0,
                                                       compute=ray.data.TaskPoolStrategy(size=READ_TASKS),
                                                       fn_kwargs={"fmt": fmt, "chunk_rows": chunk_rows,
                                                                  "columns": spec})
        # blocks of one actor call each (a read task's rows come as one block): the actors share the work
        rows = rows.repartition(target_num_rows_per_block=per_call)
        if row_limit is not None:
            rows = rows.limit(row_limit)
        rows = rows.map_batches(
            ChunkWorker, batch_size=per_call, batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=threads_per_worker, num_gpus=gpus,
            fn_constructor_args=(model, device, revision, offline, settings, options.get("slice_columns", ()),
                                 chunk_rows, sorted(stored), threads_per_worker))
        return rows.iter_batches(batch_size=None, batch_format="pandas")

    try:
        info = {"name": "ray", "workers": workers, "ray": metadata.version("ray"), "address": address or "local",
                "threads_per_worker": threads_per_worker, "gpus_per_worker": gpus}
        target = settings.target if settings.target is not None else default_target(handle)
        engine = BatchEngine(handle, target, settings, options.get("cancel"))
        return stream_audit(handle, data, out_dir, settings, source=ray_source(make_rows, engine, settings.batch_size),
                            engine_info=info, **options)
    finally:
        if started_here:
            ray.shutdown()

