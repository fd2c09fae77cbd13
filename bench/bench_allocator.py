"""Attention extraction vs a plain sdpa forward, with and without attnviz.runtime.keep_freed_memory().

Each configuration runs in its own process (the allocator setting is process-wide); inside a process the
contenders are interleaved and the medians compared, so each ratio is measured against its own baseline.

    HF_HUB_OFFLINE=1 python bench/bench_allocator.py [--rounds 11]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SIZES = (32, 128, 512)


def measure(tuned: bool, rounds: int) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModel

    import attnviz
    from attnviz.models.loading import default_model_path

    if tuned:
        from attnviz.runtime import keep_freed_memory

        assert keep_freed_memory()
    handle = attnviz.load_model()
    sdpa = AutoModel.from_pretrained(str(default_model_path()), attn_implementation="sdpa").eval()
    out = {}
    for n in SIZES:
        text = " ".join(["word"] * (n - 2))
        enc = handle.encode(text)
        assert len(enc.tokens) == n

        def plain(enc=enc):
            with torch.inference_mode():
                sdpa(**enc.inputs)

        contenders = {"sdpa": plain, "all": lambda text=text: handle.attention(text),
                      "layer3": lambda text=text: handle.attention(text, layers=[3])}
        for fn in list(contenders.values()) * 3:
            fn()
        times = {k: [] for k in contenders}
        for _ in range(rounds):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        med = {k: float(np.median(v)) * 1000 for k, v in times.items()}
        out[n] = {**med, "all/sdpa": med["all"] / med["sdpa"], "layer3/sdpa": med["layer3"] / med["sdpa"]}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--child", choices=["plain", "tuned"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child == "tuned", args.rounds)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    results = {}
    for mode in ("plain", "tuned"):
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--rounds", str(args.rounds)],
                              capture_output=True, text=True, env=env, check=True)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    print("median ms per call; ratios against the plain sdpa forward in the same process")
    print(f"{'allocator':>9} | {'n':>4} | {'sdpa':>7} | {'all':>7} | {'layer 3':>7} | all/sdpa | L3/sdpa")
    for mode, rows in results.items():
        for n, r in rows.items():
            print(f"{mode:>9} | {n:>4} | {r['sdpa']:7.1f} | {r['all']:7.1f} | {r['layer3']:7.1f} | "
                  f"{r['all/sdpa']:7.2f}x | {r['layer3/sdpa']:6.2f}x")
    print("goals (issue 2): all heads <= 1.3x, one layer <= 1.1x")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
