"""Output folders of CLI audits (``python -m attnviz audit --out DIR``), for the Audit page to watch and open.

The page reads folders only under the roots the operator lists in ``ATTNVIZ_AUDIT_DIRS`` (paths separated
by ``os.pathsep``), and only a folder from :func:`audit_folders`: a path typed in the browser is never
opened. A folder is an audit when it holds ``report.json`` or result shards (``results/part-*.parquet``,
a streamed run still going or stopped).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq

from ..errors import InputError

AUDIT_DIRS_ENV = "ATTNVIZ_AUDIT_DIRS"
MAX_FOLDERS = 200
SUMMARY_FILE = "summary.json"


def allowed_roots(value: str | None = None) -> list[Path]:
    """The existing directories named in ``value`` (default: the ``ATTNVIZ_AUDIT_DIRS`` setting)."""
    value = os.environ.get(AUDIT_DIRS_ENV, "") if value is None else value
    roots = []
    for part in value.split(os.pathsep):
        if part.strip():
            path = Path(part.strip()).expanduser().resolve()
            if path.is_dir() and path not in roots:
                roots.append(path)
    return roots


def is_audit_folder(path: Path) -> bool:
    return (path / "report.json").is_file() or any((path / "results").glob("part-*.parquet"))


def audit_folders(roots, depth: int = 2) -> list[Path]:
    """Audit folders at most ``depth`` levels under ``roots`` (the roots too), newest first; symbolic links
    that lead out of a root are not followed."""
    found: list[Path] = []
    for root in roots:
        level = [root]
        for _ in range(depth + 1):
            below = []
            for folder in level:
                real = folder.resolve()
                if real != root and root not in real.parents:
                    continue
                if is_audit_folder(folder):
                    found.append(real)
                try:
                    below += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                                    and p.name not in ("results", "figures"))
                except OSError:
                    continue
            level = below
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=_modified, reverse=True)[:MAX_FOLDERS]


def open_folder(choice: str | Path, roots) -> Path:
    """``choice`` if it is one of :func:`audit_folders` of ``roots``.

    Raises:
        InputError: anything else (a path outside the roots, or not an audit).
    """
    wanted = Path(choice).expanduser().resolve()
    if wanted not in audit_folders(roots):
        raise InputError("That folder is not an audit under the folders the server lists (ATTNVIZ_AUDIT_DIRS).")
    return wanted


def _modified(path: Path) -> float:
    stamps = [p.stat().st_mtime for p in (path / "report.json", path / "results") if p.exists()]
    return max(stamps, default=0.0)


@dataclass(frozen=True)
class FolderStatus:
    """How far a CLI audit in ``path`` got: shards and rows on disk, and its summary once the report is written."""

    path: Path
    shards: int
    rows_done: int
    finished: bool
    updated_utc: str
    summary: dict | None = None
    engine: dict | None = None
    dataset: dict | None = None

    @property
    def html(self) -> Path:
        return self.path / "report.html"


def folder_status(path: Path) -> FolderStatus:
    """Read the shard footers (row counts, not the rows) and ``summary.json`` (or a small ``report.json``)."""
    shards = rows = 0
    newest = 0.0
    for shard in sorted((path / "results").glob("part-*.parquet")):
        try:
            rows += pq.read_metadata(shard).num_rows
            shards += 1
            newest = max(newest, shard.stat().st_mtime)
        except Exception:  # noqa: BLE001 — a shard being written or cut short is not counted
            continue
    record = _summary_record(path)
    report = path / "report.json"
    finished = record is not None and report.is_file() and report.stat().st_mtime >= newest
    updated = datetime.fromtimestamp(max(newest, report.stat().st_mtime if report.is_file() else 0.0), timezone.utc)
    return FolderStatus(path, shards, rows, finished, updated.isoformat(timespec="seconds"),
                        *(None, None, None) if record is None else
                        (record.get("summary"), record.get("provenance", {}).get("engine"), record.get("dataset")))


def _summary_record(path: Path) -> dict | None:
    for name, limit in ((SUMMARY_FILE, 1 << 24), ("report.json", 1 << 26)):  # report.json holds every example
        file = path / name
        if file.is_file() and file.stat().st_size <= limit:
            try:
                return json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None


def write_summary(out_dir: Path, record: dict) -> Path:
    """``summary.json``: report.json without its examples (what the page reads of a large run)."""
    path = Path(out_dir) / SUMMARY_FILE
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "examples"}, indent=1, ensure_ascii=False),
                    encoding="utf-8")
    return path
