"""SHAP: attnviz vs plain ``shap.Explainer`` (same Text masker semantics, same max_evals), and the floor.

    HF_HUB_OFFLINE=1 python bench/bench_shap.py                 # S20, S24, S27; 1 warm-up + 3 rounds
    HF_HUB_OFFLINE=1 python bench/bench_shap.py --rounds 2 --sentences S20 S24 --threads 1

One process, CPU, the bundled all-MiniLM-L6-v2 and its default zero-shot target. The plain call and the
sentences are bench_attribution.py's (whole-word sentences, so deleting a word from the string = deleting
its id; ``mask_token=""``). For each sentence it prints, for the plain call and ours at max_evals=500:
evaluations, forward passes, token positions computed (padding included), median wall and process CPU
seconds; the plain call at the budget that expands its whole tree (its exact Owen values: what ours
returns when ours expands its tree); and the **floor**: ours' token positions × the cost of one token
position in a large ideal batch (one forward of 32 × 16 tokens, inference_mode). plain / floor is the
largest ratio any implementation evaluating ours' coalitions in fp32 can reach on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_attribution import SHAP_SENTENCES, counting_forwards, plain_shap  # noqa: E402

import attnviz  # noqa: E402
from attnviz.attribution import prepare  # noqa: E402


def timed(call, rounds: int) -> tuple[float, float]:
    """(median wall s, median process CPU s) over ``rounds`` calls after one warm-up."""
    call()
    walls, cpus = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def per_token_cost(handle, ctx, rounds: int) -> float:
    """Process CPU seconds per token position in one ideal forward (32 rows × 16 tokens, no padding)."""
    ids = ctx.input_ids[:, :16].expand(32, -1).contiguous()
    mask = torch.ones_like(ids)
    tt = None if ctx.token_type_ids is None else torch.zeros_like(ids)

    def call():
        with torch.inference_mode():
            ctx.scorer(input_ids=ids, attention_mask=mask, token_type_ids=tt)

    return timed(call, rounds)[1] / ids.numel()


def row(handle, name: str, rounds: int) -> None:
    text = SHAP_SENTENCES[name]
    ctx = prepare(handle, text, None, None)
    with counting_forwards(handle.model) as plain_work:
        plain, plain_explainer = plain_shap(ctx, text, 500)
    with counting_forwards(handle.model) as ours_work:
        ours = handle.attribute(text, "shap")
    full, full_explainer = plain_shap(ctx, text, 20000)
    full_evals = full_explainer.last_eval_count + 2
    plain_t = timed(lambda: plain_shap(ctx, text, 500), rounds)
    ours_t = timed(lambda: handle.attribute(text, "shap"), rounds)
    full_t = timed(lambda: plain_shap(ctx, text, full_evals), max(1, rounds - 1))
    floor = per_token_cost(handle, ctx, rounds) * ours_work["tokens"]
    exact_ok = float(np.abs(ours.scores - full.values[0]).max())
    print(f"{name:>4} {ctx.n:3d} | {plain_explainer.last_eval_count + 2:>5}/{ours.settings['evaluations']:>4}/"
          f"{full_evals:>5}       | {plain_work['passes']:>6}/{ours_work['passes']:<7} | "
          f"{plain_work['tokens']:>7}/{ours_work['tokens']:<7} | {plain_t[0]:6.2f} ({plain_t[1]:5.2f}) | "
          f"{ours_t[0]:5.2f} ({ours_t[1]:5.2f}) | {plain_t[0] / ours_t[0]:5.2f}x/{plain_t[1] / ours_t[1]:5.2f}x | "
          f"{full_t[1]:8.2f} ({full_t[1] / ours_t[1]:4.1f}x) | {floor:9.2f} | {plain_t[1] / floor:7.2f}x | "
          f"{float(np.abs(ours.scores - plain.values[0]).max()):12.1e}")
    print(f"      ours vs the plain call's exact Owen values (its whole tree): max diff {exact_ok:.1e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sentences", nargs="+", default=list(SHAP_SENTENCES), choices=list(SHAP_SENTENCES))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    handle = attnviz.load_model(device="cpu")
    print(f"bench_shap {time.strftime('%Y-%m-%d %H:%M')}  torch threads {torch.get_num_threads()}  "
          f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}; 1 warm-up + {args.rounds} rounds")
    header = (f"{'text':>4} {'n':>3} | {'evals pl/ours/pl-full':>21} | {'passes pl/ours':>14} | {'tokens pl/ours':>15} | "
              f"{'plain s (cpu)':>14} | {'ours s (cpu)':>13} | {'ratio wall/cpu':>14} | {'plain-full cpu':>14} | "
              f"{'floor cpu':>9} | {'pl/floor':>8} | {'max|ours-pl|':>12}")
    print(header)
    print("-" * len(header))
    for name in args.sentences:
        row(handle, name, args.rounds)
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
