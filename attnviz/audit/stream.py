"""Streamed audits: files of any size, read in chunks; memory flat in the number of rows.

Input rows are read ``chunk_rows`` at a time (CSV and JSON Lines line by line, Parquet through
``pyarrow.dataset``: one file, a directory or a glob of shards) and prepared like :func:`~attnviz.audit.load_dataset`
does; chunk ``k`` becomes the shard ``out/results/part-<k>.parquet`` (one row per usable input row: the file
row id and the :class:`ExampleResult` as JSON), written to a temporary name and renamed when complete. The
run keeps only the current chunk and mergeable aggregates (:class:`~attnviz.audit.aggregate.Partial`).

Resume: a shard whose key (model weights, settings, data, chunking) and row ids match what its chunk asks
for is read instead of computed; a missing, partial or corrupt one is recomputed. The report (report.html,
report.json, results.csv) is the same as :func:`~attnviz.audit.run_audit` + :func:`write_report` give for the
same data.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..errors import InputError
from ..models.targets import default_target
from ..serialise import dumps, loads, plain
from . import aggregate
from .dataset import detect_format, guess_text_column, prepare
from .folders import write_summary
from .provenance import provenance
from .report import (
    MAX_HTML_ROWS,
    ReportFiles,
    ReportTables,
    build_figures,
    example_record,
    render_html,
    report_record,
    write_images,
)
from .results import AuditSettings, ExampleResult, example_rows
from .run import CACHE_FORMAT, BatchEngine, bias_summary, is_set, with_row

SHARD_FORMAT = 1
DEFAULT_CHUNK_ROWS = 1024
KEY_FIELD = b"attnviz.shard_key"

Progress = Callable[[int, int | None, str], None]


# ------------------------------------------------------------------ input
def input_files(spec: str | Path) -> tuple[list[Path], str]:
    """The files a ``--data`` value names (a file, a directory of Parquet/CSV/JSONL files, or a glob), sorted,
    and their one format."""
    text = str(spec)
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in globlib.glob(os.path.expanduser(text)) if Path(p).is_file())
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
        elif path.is_file():
            files = [path]
        else:
            raise InputError(f"No data file at '{spec}'.")
    if not files:
        raise InputError(f"No data files match '{spec}'.")
    formats = {detect_format(p.name) for p in files}
    if len(formats) > 1:
        raise InputError(f"'{spec}' mixes formats ({', '.join(sorted(formats))}): use one.")
    return files, formats.pop()


def files_sha256(files) -> str:
    """SHA-256 of the file's bytes (one file), or of every file's name and bytes in order (several)."""
    digest = hashlib.sha256()
    for path in files:
        if len(files) > 1:
            digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_chunks(files, fmt: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of ``files`` in order, ``chunk_rows`` at a time (the last chunk may be shorter): every
    column as read_table gives it (CSV: strings)."""
    if fmt == "parquet":
        yield from _rechunk(_parquet_frames(files, chunk_rows), chunk_rows)
    elif fmt == "csv":
        yield from _rechunk(_csv_frames(files, chunk_rows), chunk_rows)
    else:
        yield from _rechunk(_jsonl_frames(files, chunk_rows), chunk_rows)


def _parquet_frames(files, chunk_rows):
    try:
        data = pads.dataset([str(p) for p in files], format="parquet")
        for batch in data.to_batches(batch_size=chunk_rows):
            if batch.num_rows:
                yield batch.to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"Not a readable Parquet file set ({type(exc).__name__}: {str(exc)[:120]}).") from exc


def _csv_frames(files, chunk_rows):
    for path in files:
        sep = "\t" if path.name.lower().endswith(".tsv") else ","
        try:
            yield from pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True,
                                   encoding="utf-8-sig", chunksize=chunk_rows)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"'{path.name}' is not valid UTF-8 CSV: {str(exc).strip()[:200]}") from exc


def _jsonl_frames(files, chunk_rows):
    for path in files:
        rows = []
        with open(path, encoding="utf-8-sig") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"'{path.name}' line {lineno} is not valid JSON: {exc.msg}.") from exc
                if not isinstance(row, dict):
                    raise InputError(f"'{path.name}' line {lineno}: every line must be a JSON object.")
                rows.append(row)
                if len(rows) == chunk_rows:
                    yield pd.DataFrame(rows)
                    rows = []
        if rows:
            yield pd.DataFrame(rows)


def _rechunk(frames, chunk_rows) -> Iterator[pd.DataFrame]:
    """Exactly ``chunk_rows`` rows per chunk whatever the readers return (shards stay the same on resume)."""
    buffer, size = [], 0
    for frame in frames:
        frame.columns = [str(c) for c in frame.columns]
        buffer.append(frame)
        size += len(frame)
        while size >= chunk_rows:
            whole = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0].reset_index(drop=True)
            yield whole.iloc[:chunk_rows].reset_index(drop=True)
            rest = whole.iloc[chunk_rows:].reset_index(drop=True)
            buffer, size = ([rest], len(rest)) if len(rest) else ([], 0)
    if size:
        yield pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0].reset_index(drop=True)


@dataclass
class Columns:
    """The columns a run reads: text, gold label, second text, slices."""

    text: str
    label: str | None
    pair: str | None
    slices: tuple[str, ...]


def prepare_chunk(chunk: pd.DataFrame, columns: Columns, offset: int):
    """(prepared frame with file row ids — the chunk's first row is ``offset`` — or None, skipped empty rows)."""
    try:
        ds = prepare(chunk, text_column=columns.text, label_column=columns.label, pair_column=columns.pair,
                     slice_columns=columns.slices, max_rows=len(chunk) + 1)
    except InputError as exc:
        if str(exc).startswith(("Every row", "The text column")) and columns.text in chunk.columns:
            return None, len(chunk)  # a chunk of empty texts only
        raise
    frame = ds.frame.copy()
    frame["index"] = frame["index"] + offset
    return frame, ds.skipped_empty


def check_input(data, *, text_column=None, label_column="auto", pair_column=None, slice_columns=()) -> None:
    """Refuse a missing file, an unknown format or a missing column from the first rows (before a model loads).

    Raises:
        InputError: as :func:`stream_audit` would, only sooner.
    """
    first_rows(*input_files(data), text_column, label_column, pair_column, slice_columns)


def first_rows(files, fmt, text_column=None, label_column="auto", pair_column=None, slice_columns=()) -> Columns:
    """The run's columns, from the first rows of ``files`` (checked as a chunk would be)."""
    for chunk in read_chunks(files, fmt, 64):
        columns = resolve_columns(chunk, text_column, label_column, pair_column, slice_columns)
        prepare_chunk(chunk, columns, 0)
        return columns
    raise InputError(f"'{files[0]}' has no rows.")


# ------------------------------------------------------------------ shards
class ShardStore:
    """``out/results/part-NNNNN.parquet``: columns ``row_id`` (the file row) and ``result`` (ExampleResult JSON);
    the schema metadata holds the run key. Written to a temporary file, then renamed."""

    def __init__(self, out_dir: str | Path, key: str):
        self.root = Path(out_dir).expanduser() / "results"
        self.key = key

    def path(self, k: int) -> Path:
        return self.root / f"part-{k:05d}.parquet"

    def read(self, k: int, row_ids) -> list[ExampleResult] | None:
        """The shard's results if it is complete, readable and made for these rows with this key; else None."""
        path = self.path(k)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            if meta.get(KEY_FIELD, b"").decode() != self.key:
                return None
            if table.column("row_id").to_pylist() != [int(i) for i in row_ids]:
                return None
            return [loads(text, ExampleResult) for text in table.column("result").to_pylist()]
        except Exception:  # noqa: BLE001 — a truncated or foreign file is recomputed, whatever pyarrow raises
            return None

    def write(self, k: int, results: list[ExampleResult]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        table = pa.table({"row_id": pa.array([r.index for r in results], pa.int64()),
                          "result": pa.array([dumps(r) for r in results], pa.string())})
        table = table.replace_schema_metadata({KEY_FIELD: self.key.encode()})
        tmp = self.path(k).with_suffix(f".tmp-{os.getpid()}")
        pq.write_table(table, tmp)
        os.replace(tmp, self.path(k))

    def stored_shards(self) -> set[int]:
        """The shards on disk written under this run's key (their rows are checked when they are read)."""
        found = set()
        for path in self.root.glob("part-*.parquet") if self.root.is_dir() else ():
            try:
                meta = pq.read_schema(path).metadata or {}
                if meta.get(KEY_FIELD, b"").decode() == self.key:
                    found.add(int(path.stem.split("-")[1]))
            except Exception:  # noqa: BLE001 — a truncated or foreign file is recomputed, whatever pyarrow raises
                continue
        return found

    def load(self, k: int) -> list[ExampleResult]:
        table = pq.read_table(self.path(k), columns=["result"])
        return [loads(text, ExampleResult) for text in table.column("result").to_pylist()]


# ------------------------------------------------------------------ the run
@dataclass
class RunCounts:
    """What a streamed run has seen so far (the report's dataset section and the resume numbers)."""

    columns: Columns | None = None
    rows_in_file: int = 0
    skipped: int = 0
    used: int = 0
    usable_total: int = 0
    limit_reached: bool = False
    last_row: int = -1  # the file row of the last audited row
    resumed: int = 0
    resumed_rows: int = 0
    resumed_ids: set = field(default_factory=set)


def resolve_columns(chunk: pd.DataFrame, text_column, label_column, pair_column, slice_columns) -> Columns:
    """The columns of the run, from its first chunk (``label_column="auto"``: ``label`` when there is one)."""
    label = ("label" if "label" in chunk.columns else None) if label_column == "auto" else label_column
    return Columns(text_column or guess_text_column(chunk), label, pair_column, tuple(slice_columns))


def plan_chunks(files, fmt, chunk_rows, limit, counts: RunCounts, spec: tuple) -> Iterator[tuple[int, pd.DataFrame | None]]:
    """(shard, prepared frame or None) for every chunk up to the row limit; every row is counted in ``counts``
    (rows after the limit too, for the report's notes). ``spec``: (text, label, pair, slice columns)."""
    for k, chunk in enumerate(read_chunks(files, fmt, chunk_rows)):
        if counts.columns is None:
            counts.columns = resolve_columns(chunk, *spec)
        offset = counts.rows_in_file
        counts.rows_in_file += len(chunk)
        frame, empty = prepare_chunk(chunk, counts.columns, offset)
        counts.skipped += empty
        n = 0 if frame is None else len(frame)
        counts.usable_total += n
        if counts.limit_reached:
            continue  # counted (for the report's notes), not audited
        if limit is not None and counts.used + n >= limit:
            frame = frame.iloc[:limit - counts.used].reset_index(drop=True)
            counts.limit_reached = True
        counts.used += 0 if frame is None else len(frame)
        if frame is not None and len(frame):
            counts.last_row = int(frame["index"].iloc[-1])
        yield k, frame


def stoppable(items, cancel):
    """``items`` (their last field: stored?) until ``cancel`` is set before one that must be computed."""
    for item in items:
        if item[-1] is False and is_set(cancel):
            return
        yield item


def run_chunk(engine: BatchEngine, frame: pd.DataFrame | None, batch_size: int, slice_columns) -> list[ExampleResult]:
    """The results of one prepared frame in frame order, run in padded batches of similar lengths."""
    if frame is None or not len(frame):
        return []
    texts, pairs = frame["text"].tolist(), frame["text_pair"].tolist()
    order = sorted(range(len(frame)), key=lambda i: len(texts[i]) + len(pairs[i] or ""))
    results: list = [None] * len(frame)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        for i, result in zip(batch, engine.run([(texts[i], pairs[i]) for i in batch])):
            results[i] = with_row(result, frame, i, slice_columns)
    return results


def local_source(engine, batch_size: int):
    """The local engine: every chunk read, prepared and run here, one after the other."""

    def source(files, fmt, chunk_rows, limit, counts, spec, store, slice_columns, cancel):
        def resumable(chunk_iter):
            """Shards already on disk pass through; the others go to the engine."""
            for k, frame in chunk_iter:
                found = store.read(k, [] if frame is None else frame["index"].tolist())
                yield k, frame, found, found is not None

        for k, frame, found, was_stored in stoppable(resumable(plan_chunks(files, fmt, chunk_rows, limit, counts,
                                                                            spec)), cancel):
            yield k, (found if was_stored else run_chunk(engine, frame, batch_size, slice_columns)), was_stored

    return source


@dataclass(frozen=True)
class StreamedAudit:
    """What :func:`stream_audit` did: the report files, the headline numbers and how it ran."""

    files: ReportFiles
    summary: dict
    total: int
    shards: int
    resumed_shards: int
    computed_rows: int
    seconds: float
    notes: tuple[str, ...] = ()


def stream_audit(handle, data: str | Path, out_dir: str | Path, settings: AuditSettings | None = None, *,
                 text_column: str | None = None, label_column: str | None = "auto", pair_column: str | None = None,
                 slice_columns=(), limit: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 images: bool = True, progress: Progress | None = None, cancel=None,
                 source: Callable | None = None, engine_info: dict | None = None) -> StreamedAudit:
    """Audit the rows of ``data`` (a file, a directory or a glob) chunk by chunk into ``out_dir``.

    ``source(files, fmt, chunk_rows, limit, counts, spec, store, slice_columns, cancel)`` (the Ray engine's
    hook) yields (shard, results in row order, stored?) in shard order and keeps ``counts`` (a
    :class:`RunCounts`) up to date; by default (:func:`local_source`) each chunk is read and run here.
    """
    settings = settings or AuditSettings()
    if handle.kind == "encoder-decoder":
        raise InputError("Audits run on encoders and decoders; encoder-decoder models are not supported yet.")
    if limit is not None and limit < 1:
        raise InputError("The row limit must be at least 1.")
    if chunk_rows < 1:
        raise InputError("The chunk size must be at least 1 row.")
    started = time.perf_counter()
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report = progress or (lambda done, total, message: None)
    files, fmt = input_files(data)
    sha = files_sha256(files)
    target = settings.target if settings.target is not None else default_target(handle)
    prov = provenance(handle, settings, target)
    key = hashlib.sha256(json.dumps({"format": [CACHE_FORMAT, SHARD_FORMAT], "model": prov["model"]["weights_sha256"],
                                     "name": handle.name, "settings": settings.result_key(target), "data": sha,
                                     "columns": [text_column, label_column, pair_column, list(slice_columns)],
                                     "chunk_rows": chunk_rows, "limit": limit}, sort_keys=True).encode()).hexdigest()
    store = ShardStore(out_dir, key)
    engine = BatchEngine(handle, target, settings, cancel)
    partial = aggregate.Partial(settings.methods, tuple(slice_columns), handle.num_layers, handle.num_heads)
    counts = RunCounts()
    spec = (text_column, label_column, pair_column, tuple(slice_columns))
    shards = computed = 0
    csv_columns: dict = {}
    first_target = None
    label_counts_seen: dict = {}
    cancelled = False
    source = source or local_source(engine, settings.batch_size)

    done = 0
    for k, results, was_stored in source(files, fmt, chunk_rows, limit, counts, spec, store, tuple(slice_columns),
                                         cancel):
        if was_stored:
            counts.resumed += 1
            counts.resumed_rows += len(results)
            counts.resumed_ids.add(k)
            results = [replace(r, from_cache=True) for r in results]
        else:
            store.write(k, results)
            computed += len(results)
        shards += 1
        done += len(results)
        partial.add(results)
        for row in example_rows(results[:1], settings.methods, engine.label_names or [], tuple(slice_columns),
                                pairs=True):
            csv_columns.update(dict.fromkeys(row))
        for r in results:
            if first_target is None and r.status == "ok":
                first_target = r.target
            label_counts_seen.update(dict.fromkeys(r.probabilities))
        report(done, limit if limit is not None else None, f"{done} examples, shard {k}")
        if is_set(cancel):
            cancelled = True
            break
    columns = counts.columns
    if columns is None:
        raise InputError(f"'{data}' has no rows.")
    if not counts.used and not cancelled:
        raise InputError(f"Every row of the text column '{columns.text}' is empty.")
    cancelled = cancelled or is_set(cancel)
    label_names = engine.label_names or list(label_counts_seen)
    bias = {}
    if settings.bias_axes and not cancelled:
        bias = bias_summary(handle, target, settings)
    notes = []
    if counts.skipped:
        notes.append(f"{counts.skipped} row(s) with an empty text were skipped.")
    limited = None
    if limit is not None and counts.usable_total > limit:
        notes.append(f"Only the first {limit} of {counts.usable_total} usable rows were audited (row limit).")
        limited = limit
    source_name = files[0].name if len(files) == 1 else str(data)
    dataset = {"source": source_name, "sha256": sha, "text_column": columns.text, "label_column": columns.label,
               "pair_column": columns.pair, "slice_columns": list(columns.slices), "rows_in_file": counts.rows_in_file,
               "rows_used": counts.used, "skipped_empty": counts.skipped, "limited_to": limited, "notes": notes}
    prov.update({"started_utc": started_utc, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "seconds": round(time.perf_counter() - started, 3), "cache_hits": counts.resumed_rows,
                 "cache_dir": None, "engine": {"name": "local", "workers": 1, "chunk_rows": chunk_rows,
                                               "shards": shards, "resumed_shards": counts.resumed,
                                               **(engine_info or {})}})
    files_written = _write_streamed_report(store, shards, counts.resumed_ids, partial, settings, target, prov, dataset,
                                           counts.used, cancelled, counts.resumed_rows, label_names, bias,
                                           first_target or "", csv_columns, out_dir, images)
    summary = partial.summary(label_names, total=counts.used, cancelled=cancelled, cache_hits=counts.resumed_rows,
                              bias=bias)
    return StreamedAudit(files_written, summary, counts.used, shards, counts.resumed, computed,
                         round(time.perf_counter() - started, 3), tuple(notes))


def _write_streamed_report(store, shards, resumed_ids, partial, settings, target, prov, dataset, total, cancelled, cache_hits,
                           label_names, bias, first_target, csv_columns, out_dir, images) -> ReportFiles:
    out = Path(out_dir).expanduser()
    methods, slice_columns = settings.methods, partial.slice_columns
    # results.csv: the columns results.csv has in memory (first seen order), rows shard by shard
    pairs = partial.any_pair
    head_rows: list = []
    examples_path = out / "report.examples.tmp"
    csv_path = out / "results.csv"
    seen_cols: dict = {}
    # pass 1: the exact column order (keys first seen over all rows)
    def load(k):
        results = store.load(k)
        return [replace(r, from_cache=True) for r in results] if k in resumed_ids else results

    for k in range(shards):
        for row in example_rows(load(k), methods, label_names, slice_columns, pairs=pairs):
            seen_cols.update(dict.fromkeys(row))
    order = list(seen_cols)
    with open(csv_path, "w", encoding="utf-8", newline="") as csv_file, \
            open(examples_path, "w", encoding="utf-8") as ex_file:
        first = True
        for k in range(shards):
            results = load(k)
            rows = example_rows(results, methods, label_names, slice_columns, pairs=pairs)
            if len(head_rows) < MAX_HTML_ROWS:
                head_rows += rows[:MAX_HTML_ROWS - len(head_rows)]
            if rows:
                pd.DataFrame(rows).reindex(columns=order).to_csv(csv_file, index=False, header=first)
                first = False
            for r in results:
                ex_file.write(("" if ex_file.tell() == 0 else ",\n")
                              + json.dumps(plain(example_record(r, methods)), ensure_ascii=False))
        if first:
            pd.DataFrame(columns=order).to_csv(csv_file, index=False)
    tables = ReportTables.streamed(partial, provenance=prov, settings=settings.to_dict(target), dataset=dataset,
                                   total=total, cancelled=cancelled, cache_hits=cache_hits, label_names=label_names,
                                   bias=bias, table_head=pd.DataFrame(head_rows).reindex(columns=order),
                                   first_target=first_target)
    figs = build_figures(tables)
    notes, image_paths = [], []
    if images:
        image_paths, note = write_images(figs, out / "figures")
        if note:
            notes.append(note)
    record = report_record(tables, examples=False)
    record["files"] = {"figures": [str(p.relative_to(out)) for p in image_paths], "notes": notes}
    write_summary(out, record)  # what the Audit page reads of a run (report.json holds every example)
    head = json.dumps(record, indent=1, ensure_ascii=False)
    # report.json: the record with "examples" spliced in before "files" (streamed from the temporary file)
    files_part = head.rindex('\n "files"')
    with open(out / "report.json", "w", encoding="utf-8") as handle, open(examples_path, encoding="utf-8") as ex:
        handle.write(head[:files_part] + '\n "examples": [\n')
        for block in iter(lambda: ex.read(1 << 20), ""):
            handle.write(block)
        handle.write("\n]," + head[files_part:])
    examples_path.unlink()
    (out / "report.html").write_text(render_html(tables, figs, notes=notes), encoding="utf-8")
    return ReportFiles(out, out / "report.html", out / "report.json", csv_path, tuple(image_paths), tuple(notes))
