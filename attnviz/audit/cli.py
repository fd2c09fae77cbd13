"""``python -m attnviz audit --data FILE --out DIR``: run an audit headless and write its report.

Exit codes: 0 done; 1 the audit stopped (e.g. interrupted) before every example finished; 2 bad input,
model or output directory (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from ..attribution import METHODS
from ..errors import AttnvizError
from ..models.handle import load_model
from . import aggregate
from .dataset import SAMPLE_SETS, load_dataset
from .ray_engine import ray_audit
from .report import write_report
from .run import AuditSettings, run_audit
from .stream import check_input, stream_audit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attnviz audit",
                                     description="Audit a model on a dataset and write report.html, report.json, "
                                                 "results.csv and figures/ (PNG + SVG).")
    parser.add_argument("--model", default=None, help="hub id or local directory (default: the bundled MiniLM)")
    parser.add_argument("--revision", default=None, help="hub revision to pin (branch, tag or commit)")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, mps")
    parser.add_argument("--data", required=True, help="CSV, JSONL or Parquet file, a directory or glob of Parquet "
                        "shards, or a sample set name (reviews)")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--methods", nargs="*", default=["integrated_gradients"], choices=sorted(METHODS),
                        metavar="METHOD", help=f"attribution methods (default integrated_gradients): "
                                                f"{', '.join(sorted(METHODS))}")
    parser.add_argument("--text-column", default=None, help="default: text, sentence, review… or the first text column")
    parser.add_argument("--label-column", default="auto", help="gold labels (accuracy); default: 'label' if present")
    parser.add_argument("--pair-column", default=None, help="second text of a sentence pair")
    parser.add_argument("--slice-column", action="append", default=[], help="break results down by this column "
                        "(repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="audit only the first N usable rows")
    parser.add_argument("--n-steps", type=int, default=16, help="Integrated Gradients steps (default 16)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-faithfulness", action="store_true", help="skip ERASER / deletion-insertion metrics")
    parser.add_argument("--no-images", action="store_true", help="skip the PNG/SVG figures")
    parser.add_argument("--bias-axes", nargs="*", default=[], metavar="AXIS",
                        help="also run the counterfactual bias probe on these identity axes (gender, religion, …)")
    parser.add_argument("--cache-dir", default=None, help="per-example result cache (default ~/.cache/attnviz/audit)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--engine", choices=["local", "memory", "ray"], default="local",
                        help="local (default): stream the file in chunks, per-example results as Parquet shards in "
                             "OUT/results/ (a re-run resumes from them); memory: the whole file in memory (≤ 20 MB) "
                             "with the per-example cache; ray: like local, on a Ray cluster (pip install -r "
                             "requirements-ray.txt)")
    parser.add_argument("--chunk-rows", type=int, default=1024, help="input rows per shard (streamed engines)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers, one model each (default 1)")
    parser.add_argument("--allow-download", action="store_true",
                        help="let --model come from the hub (default: the local cache or a directory only)")
    return parser


class TextProgress:
    """``[#########-----------]  45/100  12.3 ex/s`` on stderr, redrawn in place."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr  # looked up now: a test's captured stderr counts
        self.width, self.started = width, time.perf_counter()

    def __call__(self, done: int, total: int, message: str) -> None:
        if total is None:  # streamed without a row limit: the number of rows is not known ahead
            rate = done / max(1e-9, time.perf_counter() - self.started)
            self.stream.write(f"\r{done:>7} examples  {rate:6.1f} ex/s  {message[:40]:<40}")
            self.stream.flush()
            return
        fraction = done / total if total else 1.0
        filled = int(round(self.width * fraction))
        rate = done / max(1e-9, time.perf_counter() - self.started)
        line = f"\r[{'#' * filled}{'-' * (self.width - filled)}] {done:>5}/{total}  {rate:6.1f} ex/s  {message[:40]:<40}"
        self.stream.write(line)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    try:
        settings = AuditSettings(methods=tuple(args.methods), n_steps=args.n_steps, batch_size=args.batch_size,
                                 faithfulness=not args.no_faithfulness, seed=args.seed,
                                 bias_axes=tuple(args.bias_axes))
        if args.engine != "memory":
            return _streamed(args, settings)
        dataset = load_dataset(args.data, text_column=args.text_column, label_column=args.label_column,
                               pair_column=args.pair_column, slice_columns=args.slice_column, limit=args.limit)
        # Offline unless asked: HF_HUB_OFFLINE set here would come too late (transformers is imported).
        handle = load_model(args.model, device=args.device, revision=args.revision, offline=not args.allow_download)
        cache_dir = None if args.no_cache else (args.cache_dir or True)
        progress = None if args.quiet else TextProgress()
        try:
            result = run_audit(handle, dataset, settings, cache_dir=cache_dir, progress=progress)
        except KeyboardInterrupt:
            print("\ninterrupted: finished examples are cached; run the same command again to resume",
                  file=sys.stderr)
            return 1
        files = write_report(result, args.out, images=not args.no_images)
    except AttnvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = aggregate.summary(result)
    return _finish(summary, result.total, [*dataset.notes, *files.notes], files)


def _finish(summary: dict, total: int, notes, files) -> int:
    acc = "" if summary["accuracy"] is None else f", accuracy {summary['accuracy']:.1%}"
    print(f"audited {summary['ok']} of {total} examples ({summary['errors']} errors, "
          f"{summary['cache_hits']} from cache){acc}")
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {files.html}, {files.json.name}, {files.csv.name}"
          + (f" and {len(files.images)} figure files in {files.out_dir / 'figures'}" if files.images else ""))
    return 0 if summary["ok"] == total and not summary["cancelled"] else 1


def _streamed(args, settings) -> int:
    data = str(SAMPLE_SETS.get(args.data, args.data))
    check_input(data, text_column=args.text_column, label_column=args.label_column, pair_column=args.pair_column,
                slice_columns=args.slice_column)
    handle = load_model(args.model, device=args.device, revision=args.revision, offline=not args.allow_download)
    options = dict(text_column=args.text_column, label_column=args.label_column, pair_column=args.pair_column,
                   slice_columns=args.slice_column, limit=args.limit, chunk_rows=args.chunk_rows,
                   images=not args.no_images, progress=None if args.quiet else TextProgress())
    try:
        if args.engine == "ray":
            done = ray_audit(handle, data, args.out, settings, address=args.address, workers=args.workers or 1,
                             model=args.model, device=args.device, revision=args.revision,
                             offline=not args.allow_download, **options)
        else:
            done = stream_audit(handle, data, args.out, settings, **options)
    except KeyboardInterrupt:
        print("\ninterrupted: finished shards are in OUT/results/; run the same command again to resume",
              file=sys.stderr)
        return 1
    return _finish(done.summary, done.total, [*done.notes, *done.files.notes], done.files)

if __name__ == "__main__":
    sys.exit(main())
