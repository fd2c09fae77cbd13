"""Long contexts in bounded memory (issue 14): a Llama-style random model at 512 / 2,048 / 8,192 tokens.

    HF_HUB_OFFLINE=1 python bench/bench_long.py                    # n = 512, 2048, 8192
    HF_HUB_OFFLINE=1 python bench/bench_long.py --sizes 512 2048   # fewer sizes

The model is built from a config, no download: 8 layers, 16 heads, 4 key/value heads, hidden size 256
(the issue's "small chat model"), with the bundled WordPiece tokenizer. Each size runs in its own
subprocess, so its peak memory (ru_maxrss, the whole process: model, tokenizer and all) is its own.
Per size it reports:

    model view    submit → the model view's figure JSON ready: h.attention(text) (bounded) + the figure
                  (wall seconds, and the CPU seconds of the process: on a shared machine the CPU seconds
                  are what a quiet machine would take, for a one-thread run)
    peak          the subprocess's peak resident memory
    sent          bytes of the model view figure JSON (what goes to the browser for that view)
    head click    one head's full weights computed again + its downsampled heatmap's JSON
    text view     the text view for one head (top keys of every token for that head + the HTML); a click
                  on a token is then answered in the browser, with no round trip
    recompute vs disk   recomputing one head vs reading it back from a file written during the run

At 512 tokens the same process also times today's path (full weights, model view from them) for the
ratio "bounded / full". Goals (issue 14): 8,192 tokens: model view ≤ 60 s, peak ≤ 3 GB, ≤ 10 MB sent,
head click ≤ 5 s, highlight ≤ 1 s; 2,048 tokens: model view ≤ 10 s. Timings are noisy on a shared
machine: the load average is printed with the results.
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
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402

GOALS = {8192: {"model view s": 60, "model view cpu s": 60, "peak GB": 3, "sent MB": 10, "head click s": 5, "text view s": 1},
         2048: {"model view s": 10, "model view cpu s": 10}}
WORDS = ("river engineer quietly bright table seven music under paper storm walked green because city never "
         "open heavy dog sings winter").split()


def build_handle(n: int, device: str = "cpu", dtype=None):
    import torch
    import transformers

    from attnviz.models.handle import from_pretrained_model
    from attnviz.models.loading import default_model_path

    tok = transformers.AutoTokenizer.from_pretrained(str(default_model_path()), model_max_length=max(n, 512))
    config = transformers.LlamaConfig(vocab_size=30522, hidden_size=256, intermediate_size=688, num_hidden_layers=8,
                                      num_attention_heads=16, num_key_value_heads=4,
                                      max_position_embeddings=max(n, 512))
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval().to(device=device, dtype=dtype or torch.float32)
    return from_pretrained_model(model, tok, name=f"random-llama-8x16-{n}")


def text_of(n: int) -> str:
    return " ".join(np.random.default_rng(n).choice(WORDS, size=n + 50))


def worker(n: int) -> dict:
    import torch

    from attnviz.figures import attention as figs
    from attnviz.figures.long_attention import long_heatmap, long_model_view, text_view_html

    handle = build_handle(n)
    handle.attention("warm up", bounded=True)
    text = text_of(n)
    out = {"n": n}
    t0, c0 = time.perf_counter(), time.process_time()
    result = handle.attention(text, bounded=True)
    view = long_model_view(result).to_json()
    out["model view s"] = time.perf_counter() - t0
    out["model view cpu s"] = time.process_time() - c0  # all threads of this process: what a quiet machine pays
    out["sent MB"] = len(view) / 1e6
    layer, head = result.layers[-1], 5
    t0 = time.perf_counter()
    heat = long_heatmap(result.pooled_window(layer, head), shape=(n, n)).to_json()  # as the page does
    out["head click s"] = time.perf_counter() - t0
    out["heatmap MB"] = len(heat) / 1e6
    t0 = time.perf_counter()
    page = text_view_html(result.tokens, *result.head_top_keys(layer, head), rollout=result.rollout_scores)
    out["text view s"] = time.perf_counter() - t0
    out["text view MB"] = len(page.encode()) / 1e6
    t0 = time.perf_counter()
    page = text_view_html(result.tokens, *result.head_top_keys(layer), rollout=result.rollout_scores)
    out["text view (mean) s"] = time.perf_counter() - t0
    # keep-on-disk instead of recompute: the cost of writing one layer's weights, and reading one head back
    weights = result.head(layer, head)
    with tempfile.TemporaryFile() as f:
        t0 = time.perf_counter()
        for _ in range(result.num_heads):  # a whole layer is written during the run
            f.write(weights.tobytes())
        f.flush()
        out["disk: write one layer s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        f.seek(head * weights.nbytes)
        np.fromfile(f, dtype=np.float32, count=weights.size)
        out["disk: read one head s"] = time.perf_counter() - t0
    out["disk: bytes a layer GB"] = result.num_heads * weights.nbytes / 1e9
    t0 = time.perf_counter()
    result.head(layer, head)
    out["recompute one head s"] = time.perf_counter() - t0
    del weights
    if n <= 512:  # today's path in the same process
        t0, c0 = time.perf_counter(), time.process_time()
        full = handle.attention(text, bounded=False)
        full_view = figs.model_view(full.attentions, layers=full.layers).to_json()
        out["full path: model view s"] = time.perf_counter() - t0
        out["full path: model view cpu s"] = time.process_time() - c0
        out["full path: sent MB"] = len(full_view) / 1e6
        np.testing.assert_allclose(result.head(layer, head), full.attentions[-1, head], atol=1e-5)
    out["peak GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    out["threads"] = torch.get_num_threads()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 2048, 8192])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per worker (default: torch's own, i.e. OMP_NUM_THREADS or the cores)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        print(json.dumps(worker(args.worker)))
        return
    for n in args.sizes:
        load = os.getloadavg()[0]
        threads = ["--threads", str(args.threads)] if args.threads else []
        proc = subprocess.run([sys.executable, __file__, "--worker", str(n), *threads], capture_output=True, text=True)
        if proc.returncode:
            print(f"n={n}: failed\n{proc.stderr[-3000:]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n== {n:,} tokens (load average {load:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        for key, value in row.items():
            goal = GOALS.get(n, {}).get(key)
            mark = "" if goal is None else f"   goal ≤ {goal}: {'ok' if value <= goal else 'MISSED'}"
            print(f"  {key:28s} {value:10.3f}{mark}" if isinstance(value, float) else f"  {key:28s} {value}")
        if "full path: model view s" in row:
            print(f"  bounded / full (model view)  {row['model view s'] / row['full path: model view s']:10.2f}")
            print(f"  bounded / full (cpu)         "
                  f"{row['model view cpu s'] / row['full path: model view cpu s']:10.2f}")


if __name__ == "__main__":
    main()
