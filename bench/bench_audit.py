"""Audit throughput and memory: batched runs vs one example at a time, peak memory vs the number of examples;
the streamed engines (local vs Ray) on a generated Parquet file.

    HF_HUB_OFFLINE=1 python bench/bench_audit.py                 # throughput (3 rounds) + memory (250, 1000)
    HF_HUB_OFFLINE=1 python bench/bench_audit.py --quick         # 1 round, 32 examples, memory at 100 and 200
    HF_HUB_OFFLINE=1 python bench/bench_audit.py --skip-memory
    HF_HUB_OFFLINE=1 python bench/bench_audit.py --engines 20000 2000   # local vs Ray (1 and 2 workers)
    HF_HUB_OFFLINE=1 python bench/bench_audit.py --engines 2000 20000 --model tiny --engine-workers 2

Engines (``--engines N [N …]``): a generated N-row Parquet file (the texts below, 1 % empty, a label and a
topic column, row groups of 1,000) audited by ``stream_audit`` (local) and ``ray_audit`` with 1 and 2
workers, each in a fresh process (1 torch thread per process or worker, saliency, no faithfulness, chunk 512);
``--model tiny`` audits a random 2-layer BERT classifier (hidden 32, MiniLM's tokenizer, so the same token
lengths) instead of the bundled MiniLM: the model's cost falls ~100×, so what is measured is the engines'
own cost and memory, and a 20,000-row equality check fits in minutes on 2 busy cores. ``--engine-workers``
picks which Ray runs (default 1 2). Then the local engine is killed (SIGKILL) once half its shards are
written and run again: the resumed run's seconds against the uninterrupted one's (``--no-resume`` skips it).
Reported: rows/s, peak RSS of the driver (ru_maxrss; the Ray workers are separate processes: their peak is read from
/proc while the run goes), and whether the reports are the same (aggregates equal, every per-example number
within 1e-5 of the local run). Ray's overhead per batch: the Ray run's seconds minus the local run's,
over its actor calls.

Bundled all-MiniLM-L6-v2 on the CPU, the default zero-shot target, attention (every layer and head: head
statistics and rollout) plus Integrated Gradients (16 Gauss-Legendre steps, pad baseline), no faithfulness,
no cache. Texts are the shipped review sentences with one of 21 short prefixes ("Honestly, ", …) in a
fixed shuffled order, so every text is distinct and the length mix does not depend on N (8–22 tokens).

Throughput, examples per second, median over interleaved rounds (each waits for idle CPUs, bench/_quiet.py),
and the best round of each (the least disturbed by other work on a shared machine):
    batched       run_audit(..., batch_size=16): one padded forward with attention capture per batch,
                  IG over the whole batch (16 examples × 16 steps per pass)
    audit b=1     the same pipeline with batch_size=1
    one by one    the public per-example calls a user would loop over: model.attention(text) →
                  head_statistics() + rollout_readout(), model.attribute(text, "integrated_gradients", n_steps=16)
    att batched   attention and prediction only (no attribution method), batch 16
    att 1 by 1    model.attention(text) → head_statistics() + rollout_readout(), plus the prediction
                  (prepare(model, text).scorer.label_probabilities), one text at a time

Memory: a fresh process per N loads the model, warms up on 8 examples, then audits N examples (the same 250
texts cycled, so every N has the same length mix and longest batch); it reports the peak RSS growth during
the audit (ru_maxrss − RSS before), the RSS still held after it (the results), and the size of the stored
per-example summaries as JSON. Growth should stay flat in N apart from those summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PREFIXES = ["", "Honestly, ", "Overall, ", "In short, ", "To be fair, ", "Frankly, ", "All in all, ", "Sadly, ",
            "Luckily, ", "Once again, ", "As expected, ", "Surprisingly, ", "In my view, ", "Clearly, ",
            "Admittedly, ", "Believe me, ", "Simply put, ", "For once, ", "Needless to say, ", "Truly, ", "Well, "]
N_STEPS = 16


def texts(n: int) -> list[str]:
    import numpy as np

    from attnviz.audit import load_dataset

    base = load_dataset("reviews").frame["text"].tolist()
    # a fixed shuffle of all (prefix, sentence) pairs: the length mix is the same for every n, so peak
    # memory (set by the longest batch) can be compared across n
    combos = [(p, s) for p in PREFIXES for s in base]
    order = np.random.default_rng(0).permutation(len(combos))
    out = []
    for i in range(n):
        prefix, sentence = combos[order[i % len(combos)]]
        text = prefix + (sentence[0].lower() + sentence[1:] if prefix else sentence)
        out.append(text if i < len(combos) else f"{text} ({i // len(combos)})")
    return out


def dataset_of(items):
    import pandas as pd

    from attnviz.audit import prepare_dataset

    return prepare_dataset(pd.DataFrame({"text": items}), max_rows=10**6)


def settings(batch_size: int, methods=("integrated_gradients",)):
    from attnviz.audit import AuditSettings

    return AuditSettings(methods=methods, n_steps=N_STEPS, faithfulness=False, batch_size=batch_size)


def one_by_one(handle, items, ig: bool = True):
    from attnviz.attribution.context import prepare

    for text in items:
        att = handle.attention(text)
        att.head_statistics()
        att.rollout_readout()
        if ig:
            handle.attribute(text, "integrated_gradients", n_steps=N_STEPS)
        else:  # the prediction: label probabilities of the default target
            assert prepare(handle, text, None, None).scorer.label_probabilities


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(n: int) -> None:
    """Run in a fresh process: print one JSON line with the peak RSS growth of an audit of n examples."""
    import torch

    import attnviz
    from attnviz.audit import run_audit

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    handle = attnviz.load_model(device="cpu")
    run_audit(handle, dataset_of(texts(8)), settings(16), cache_dir=None)  # warm-up: allocator, label anchors
    # the same 250 texts cycled (no cache, so repeats are computed again): the length mix and the longest
    # batch, which set the peak of one batch, are then identical for every n
    pool = texts(min(n, 250))
    items = [pool[i % len(pool)] for i in range(n)]
    ds = dataset_of(items)
    before = rss_mb()
    started = time.perf_counter()
    result = run_audit(handle, ds, settings(16), cache_dir=None)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = rss_mb()
    stored = sum(len(json.dumps(ex.to_dict())) for ex in result.examples) / 2**20
    print(json.dumps({"n": n, "rss_before_mb": before, "peak_mb": peak, "growth_mb": peak - before, "retained_mb": after - before,
                      "stored_json_mb": stored, "seconds": seconds, "ok": len(result.ok)}))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--examples", type=int, default=None, help="examples per throughput round (default 64)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=None)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--engines", type=int, nargs="*", default=None, metavar="N",
                        help="local vs Ray on generated N-row Parquet files")
    parser.add_argument("--methods", nargs="*", default=["saliency"], help="--engines: attribution methods")
    parser.add_argument("--engine-child", nargs=4, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None,
                        help="--engines: a model directory, or 'tiny' (a random 2-layer BERT); default MiniLM")
    parser.add_argument("--engine-workers", type=int, nargs="*", default=[1, 2], help="--engines: Ray worker counts")
    parser.add_argument("--no-resume", action="store_true", help="--engines: skip the kill-and-resume run")
    args = parser.parse_args()
    os.environ["BENCH_THREADS"] = str(args.threads)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return 0
    if args.engine_child is not None:
        return engine_child(*args.engine_child, methods=tuple(args.methods), model=args.model)
    if args.engines:
        return engine_table(args.engines, tuple(args.methods), args.model, tuple(args.engine_workers),
                            not args.no_resume)

    import torch

    import attnviz
    from attnviz.audit import run_audit
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _quiet import QuietGate

    torch.set_num_threads(args.threads)
    n = args.examples or (32 if args.quick else 64)
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = args.memory_sizes or ([100, 200] if args.quick else [250, 1000])
    if args.skip_throughput:
        return memory_table(args, sizes)
    handle = attnviz.load_model(device="cpu")
    items = texts(n)
    ds = dataset_of(items)
    contenders = {
        "batched": lambda: run_audit(handle, ds, settings(16), cache_dir=None),
        "audit b=1": lambda: run_audit(handle, ds, settings(1), cache_dir=None),
        "one by one": lambda: one_by_one(handle, items),
        "att batched": lambda: run_audit(handle, ds, settings(16, ()), cache_dir=None),
        "att 1 by 1": lambda: one_by_one(handle, items, ig=False),
    }
    run_audit(handle, dataset_of(items[:4]), settings(4), cache_dir=None)
    one_by_one(handle, items[:2])
    one_by_one(handle, items[:2], ig=False)
    gate = QuietGate()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            gate.wait()
            started = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - started)
    gate.release()
    print(f"# audit throughput: {n} examples, attention + IG ({N_STEPS} steps), {rounds} round(s), "
          f"{args.threads} torch threads, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"# {gate.summary()}")
    print(f"{'contender':<12} {'median s':>9} {'examples/s':>11} {'vs one by one':>14} {'best s':>7} "
          f"{'best vs best':>13}")
    for name, values in times.items():
        ref = times["att 1 by 1" if name.startswith("att") else "one by one"]
        med, best = statistics.median(values), min(values)
        print(f"{name:<12} {med:9.2f} {n / med:11.2f} {statistics.median(ref) / med:13.2f}× {best:7.2f} "
              f"{min(ref) / best:12.2f}×")
    print("# every round (s): " + "; ".join(f"{k}: {', '.join(f'{v:.1f}' for v in vals)}" for k, vals in times.items()))

    return 0 if args.skip_memory else memory_table(args, sizes)


def memory_table(args, sizes) -> int:
    print(f"\n# peak memory (fresh process per N, batch 16, {args.threads} threads)", flush=True)
    print(f"{'N':>6} {'RSS before MB':>14} {'peak MB':>9} {'growth MB':>10} {'kept after MB':>14} "
          f"{'stored JSON MB':>15} {'ex/s':>7}")
    for size in sizes:
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(size), "--threads",
                               str(args.threads)], capture_output=True, text=True, check=False)
        line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), None)
        if line is None:
            print(f"{size:>6} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        m = json.loads(line)
        print(f"{m['n']:>6} {m['rss_before_mb']:14.0f} {m['peak_mb']:9.0f} {m['growth_mb']:10.1f} "
              f"{m['retained_mb']:14.1f} {m['stored_json_mb']:15.2f} {m['n'] / m['seconds']:7.2f}", flush=True)
    return 0


# ------------------------------------------------------------------ local vs Ray
ENGINE_CHUNK = 512


def make_parquet(n: int, path: Path) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from attnviz.audit.dataset import SAMPLE_SETS

    base = pd.read_csv(SAMPLE_SETS["reviews"])
    items = texts(n)
    frame = pd.DataFrame({"text": [("" if i % 100 == 37 else t) for i, t in enumerate(items)],
                          "label": [base["label"].iloc[i % len(base)] for i in range(n)],
                          "topic": [base["topic"].iloc[i % len(base)] for i in range(n)]})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1000)


class PeakWatch:
    """Peak RSS of the Ray worker processes (sampled from /proc every 0.5 s while the run goes)."""

    def __init__(self):
        import threading

        self.peak_kb, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.5):
            for proc in Path("/proc").iterdir():
                try:
                    if proc.name.isdigit() and b"ChunkWorker" in (proc / "cmdline").read_bytes():
                        status = (proc / "status").read_text()
                        kb = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1])
                        self.peak_kb = max(self.peak_kb, kb)
                except (OSError, StopIteration, ValueError):
                    continue

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return self.peak_kb / 1024


def tiny_model(path: Path) -> str:
    """A random 2-layer BERT classifier with MiniLM's tokenizer, saved to ``path`` (seeded: the same weights in
    every process)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    import attnviz

    tokenizer = attnviz.load_model(device="cpu").tokenizer
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def engine_child(engine: str, data: str, out: str, workers: str, methods=("saliency",), model=None) -> int:
    """One streamed run in this fresh process: a JSON line with rows/s and peak memory."""
    import torch

    import attnviz
    from attnviz.audit import AuditSettings
    from attnviz.audit.stream import stream_audit

    torch.set_num_threads(1)
    handle = attnviz.load_model(model, device="cpu") if model else attnviz.load_model(device="cpu")
    settings = AuditSettings(methods=methods, faithfulness=False, batch_size=16)
    options = dict(slice_columns=["topic"], chunk_rows=ENGINE_CHUNK, images=False)
    watch = None
    started = time.perf_counter()
    if engine == "ray":
        import ray

        from attnviz.audit.ray_engine import ray_audit

        # one CPU more than the actors: Ray Data's read tasks (ray_audit's own local Ray does the same)
        ray.init(address="local", num_cpus=int(workers) + 1, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                                           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}})
        init_s = time.perf_counter() - started
        watch = PeakWatch()
        done = ray_audit(handle, data, out, settings, workers=int(workers), model=model, **options)
    else:
        init_s = 0.0
        done = stream_audit(handle, data, out, settings, **options)
    seconds = time.perf_counter() - started
    print(json.dumps({"engine": engine, "workers": int(workers), "rows": done.total, "seconds": round(seconds, 1),
                      "ray_init_s": round(init_s, 1), "rows_per_s": round(done.total / seconds, 2),
                      "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "worker_peak_mb": round(watch.done()) if watch else None}))
    return 0


def same_report(a: Path, b: Path, tol: float = 1e-5, resumed: bool = False) -> str:
    """'' when report.json of a and b agree (aggregates equal, numbers within tol), else the first difference.
    ``resumed``: leave out what says which rows came from stored shards (``from_cache``, ``cache_hits``)."""
    import math

    def strip(doc):
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k not in ("from_cache", "cache_hits")}
        return [strip(v) for v in doc] if isinstance(doc, list) else doc

    def walk(x, y, path):
        if isinstance(x, dict):
            if not isinstance(y, dict) or set(x) != set(y):
                return f"{path}: keys differ"
            return next((d for k in x if (d := walk(x[k], y[k], f"{path}.{k}"))), "")
        if isinstance(x, list):
            if not isinstance(y, list) or len(x) != len(y):
                return f"{path}: lengths differ"
            return next((d for i, (u, v) in enumerate(zip(x, y)) if (d := walk(u, v, f"{path}[{i}]"))), "")
        if isinstance(x, float) and isinstance(y, float):
            return "" if (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol else f"{path}: {x} vs {y}"
        return "" if x == y else f"{path}: {x!r} vs {y!r}"

    docs = []
    for d in (a, b):
        record = json.loads((d / "report.json").read_text())
        for key in ("started_utc", "finished_utc", "seconds", "engine"):
            record["provenance"].pop(key, None)
        docs.append(strip(record) if resumed else record)
    return walk(docs[0], docs[1], "report")


def engine_table(sizes, methods, model=None, ray_workers=(1, 2), resume=True) -> int:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    if model == "tiny":
        model = tiny_model(tmp / "tiny-model")
    print(f"# streamed engines: {', '.join(methods) or 'attention only'}, chunk {ENGINE_CHUNK}, 1 thread per "
          f"process/worker, {os.cpu_count()} CPUs, model {model or 'bundled MiniLM'}; "
          f"load before: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'N':>7} {'engine':<7} {'workers':>7} {'s':>8} {'rows/s':>8} {'driver MB':>10} {'worker MB':>10} "
          f"{'same as local':<14} {'load':>5}")
    for n in sizes:
        data = tmp / f"rows-{n}.parquet"
        make_parquet(n, data)
        for engine, workers in (("local", 1), *(("ray", w) for w in ray_workers)):
            out = tmp / f"out-{n}-{engine}-{workers}"
            done = subprocess.run([sys.executable, __file__, "--engine-child", engine, str(data), str(out),
                                   str(workers), "--methods", *methods, *(["--model", model] if model else [])],
                                  capture_output=True, text=True)
            line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), None)
            if line is None:
                print(f"{n:>7} {engine:<7} {workers:>7} failed: {done.stderr.strip()[-400:]}", flush=True)
                continue
            m = json.loads(line)
            same = "-" if engine == "local" else (same_report(tmp / f"out-{n}-local-1", out) or "yes")
            print(f"{n:>7} {engine:<7} {workers:>7} {m['seconds']:8.1f} {m['rows_per_s']:8.2f} "
                  f"{m['driver_peak_mb']:10} {m['worker_peak_mb'] or '-':>10} {same[:60]:<14} "
                  f"{os.getloadavg()[0]:5.1f}", flush=True)
        if resume:
            killed_and_resumed(tmp, n, data, methods, model)
    return 0


def killed_and_resumed(tmp: Path, n: int, data: Path, methods, model) -> None:
    """The local engine killed with SIGKILL once half its shards are written, then the same command again:
    the second run's seconds (start-up, shard checks, the missing half) against the uninterrupted run's."""
    import signal

    out = tmp / f"out-{n}-killed"
    command = [sys.executable, __file__, "--engine-child", "local", str(data), str(out), "1", "--methods", *methods,
               *(["--model", model] if model else [])]
    total = -(-n // ENGINE_CHUNK)
    log = (tmp / f"killed-{n}.log").open("w")
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    while len(list((out / "results").glob("part-*.parquet"))) < total // 2 and child.poll() is None:
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    log.close()
    before = time.perf_counter() - started
    kept = len(list((out / "results").glob("part-*.parquet")))
    again = subprocess.run(command, capture_output=True, text=True)
    line = next((ln for ln in reversed(again.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        print(f"{n:>7} resume  failed: {again.stderr.strip()[-400:]}", flush=True)
        return
    m = json.loads(line)
    same = same_report(tmp / f"out-{n}-local-1", out, resumed=True) or "yes"
    print(f"{n:>7} resume        1 {m['seconds']:8.1f}    (killed after {before:.0f} s with {kept}/{total} shards; "
          f"report same as local: {same[:60]}) {os.getloadavg()[0]:5.1f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
