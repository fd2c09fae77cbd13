"""Streamed vs in-memory audits: rows/s and peak RSS per size, each in a fresh process.

    HF_HUB_OFFLINE=1 python bench/bench_stream.py --sizes 100 300 [--engines local memory ray] [--workers 1 2]

Bundled MiniLM, saliency, no faithfulness, no images, chunk 64. Rows are the shipped reviews with numbered
prefixes (all distinct). Peak RSS is the process's ru_maxrss after the run (model + libraries included):
flat in rows for the streamed engines, growing for memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(engine: str, data: str, out: str, workers: int) -> None:
    import torch

    torch.set_num_threads(1)
    from attnviz.audit import AuditSettings, load_dataset, run_audit, write_report
    from attnviz.audit.ray_engine import ray_audit
    from attnviz.audit.stream import stream_audit
    from attnviz.models.handle import load_model

    handle = load_model(None, device="cpu")
    settings = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=16)
    started = time.perf_counter()
    if engine == "memory":
        result = run_audit(handle, load_dataset(data, label_column="label", max_bytes=2**40), settings, cache_dir=None)
        write_report(result, out, images=False)
        rows = len(result.examples)
    elif engine == "ray":
        rows = ray_audit(handle, data, out, settings, workers=workers, chunk_rows=64, images=False).total
    else:
        rows = stream_audit(handle, data, out, settings, chunk_rows=64, images=False).total
    seconds = time.perf_counter() - started
    print(json.dumps({"engine": engine, "workers": workers, "rows": rows, "seconds": round(seconds, 1),
                      "rows_per_s": round(rows / seconds, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--engines", nargs="+", default=["memory", "local"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        engine, data, out, workers = args.child
        return child(engine, data, out, int(workers))
    import pandas as pd

    base = pd.read_csv(ROOT / "assets" / "samples" / "reviews.csv")
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    for n in args.sizes:
        rows = base.sample(n=n, replace=True, random_state=0).reset_index(drop=True)
        rows["text"] = [f"Note {i}: {t}" for i, t in enumerate(rows["text"])]
        data = tmp / f"rows-{n}.csv"
        rows.to_csv(data, index=False)
        for engine in args.engines:
            for workers in (args.workers if engine == "ray" else [1]):
                out = tmp / f"out-{engine}-{workers}-{n}"
                done = subprocess.run([sys.executable, __file__, "--child", engine, str(data), str(out), str(workers)],
                                      capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
                print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr[-800:], flush=True)


if __name__ == "__main__":
    main()
