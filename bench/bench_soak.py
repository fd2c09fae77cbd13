"""Long soak: N browser sessions (default 30) use Attention, Attribution and Compare two for minutes on one
server with a heavy-job limit; prints p50/p95 click → figure latency per page and the server's memory over
time, checks that memory plateaus (the end within 20% of the level after the first minute), and writes
a small plot of memory and latency over time.

    python bench/bench_soak.py --sessions 30 --seconds 600 --max-jobs 2 --out bench-soak.png

Needs Debian's Chromium (/usr/bin/chromium) and Playwright; matplotlib for the plot (bench/requirements.txt).
Timings depend on the machine's load: the load average is printed with the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_browser.conftest import serve_app  # noqa: E402 - the repository root is on the path now
from tests.test_browser.soak import PAGES, load_note, run_soak  # noqa: E402


def plot(report, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, lat) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    mem.plot([t for t, _ in report.memory], [r / 2**20 for _, r in report.memory], color="black")
    mem.set_ylabel("server RSS (MiB)")
    for page in PAGES:
        samples = report.latencies[page]
        lat.scatter([t for t, _ in samples], [s for _, s in samples], s=6, label=page)
    lat.set_ylabel("click → figure (s)")
    lat.set_xlabel("seconds into the soak")
    lat.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-soak.png"))
    args = parser.parse_args(argv)
    os.environ["ATTNVIZ_MAX_JOBS"] = str(args.max_jobs)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(serve_app())
        report = run_soak(url, args.sessions, args.seconds, timeout_ms=600_000, sample_every=2.0)
    first_minute, end = report.rss_at(min(60.0, args.seconds / 3)), report.memory[-1][1]
    summary = {"sessions": args.sessions, "seconds": args.seconds, "max_jobs": args.max_jobs,
               "latency_s": report.percentiles(), "rss_mb_after_first_minute": round(first_minute / 2**20),
               "rss_mb_end": round(end / 2**20), "rss_mb_peak": round(max(r for _, r in report.memory) / 2**20),
               "plateau": end <= 1.2 * first_minute, "errors": report.errors, "leaks": report.leaks,
               "load": load_note()}
    print(json.dumps(summary, indent=1))
    with contextlib.suppress(ImportError):
        plot(report, args.out)
        print(f"plot: {args.out}")
    return 0 if summary["plateau"] and not report.errors and not report.leaks else 1


if __name__ == "__main__":
    raise SystemExit(main())
