"""Circuits forming: does the Lab mark the lookup head for every seed within its default training budget?

    HF_HUB_OFFLINE=1 python bench/bench_circuits.py                       # induction + associative recall, seeds 0–4
    HF_HUB_OFFLINE=1 python bench/bench_circuits.py --tasks induction --seeds 10

Per run (in this process, one torch thread): the step at which the lookup head's prefix-matching score
first reached the threshold (``formed``), the head, its final score, the step training stopped at and the
compute seconds. The Lab page's default budget is the task recipe's 2,000 steps (stop at 99 % validation
accuracy). Exits 1 if any run marks no head.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from attnviz.lab.circuits import CircuitTracker  # noqa: E402
from attnviz.lab.train import Trainer  # noqa: E402

BUDGET_STEPS = 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["induction", "associative_recall"])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print(f"{'task':20} {'seed':>4} {'formed':>6} {'head':>6} {'score':>6} {'steps':>6} {'accuracy':>8} {'seconds':>8}")
    missed = 0
    for task in args.tasks:
        for seed in range(args.seeds):
            started = time.perf_counter()
            trainer = Trainer(task, None, {"seed": seed, "max_steps": BUDGET_STEPS})
            tracker = CircuitTracker(trainer)
            trainer.run(on_progress=tracker.update)
            trace = tracker.trace()
            missed += trace.formed_step is None
            print(f"{task:20} {seed:>4} {str(trace.formed_step):>6} {'L{}·H{}'.format(*trace.head):>6} "
                  f"{trace.head_scores[-1]:>6.2f} {trainer.step:>6} {trainer.history[-1]['accuracy']:>8.3f} "
                  f"{time.perf_counter() - started:>8.1f}", flush=True)
    print(f"load average at end: {os.getloadavg()}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
