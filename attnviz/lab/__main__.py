"""``python -m attnviz.lab --task associative_recall --max-seconds 60``: train headless, print JSON.

Progress goes to stderr; the last line on stdout is ``{"accuracy": …, "seconds": …, …}`` with the held-out
accuracy and the wall time from building the model to the end of the final evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..errors import AttnvizError
from .tasks import TASKS
from .train import train_task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="associative_recall", choices=list(TASKS))
    parser.add_argument("--max-seconds", type=float, default=60.0, help="training time budget (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: these models are too small to gain from more, and "
                             "extra threads only fight other processes for the cores)")
    parser.add_argument("--stop-accuracy", type=float, default=None,
                        help="stop once the validation accuracy reaches this (default: the task's recipe)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))

    settings = {"seed": args.seed}
    if args.stop_accuracy is not None:
        settings["stop_accuracy"] = args.stop_accuracy

    def progress(trainer):
        last = trainer.history[-1]
        if not args.quiet:
            print(f"step {last['step']:5d}  {last['seconds']:6.1f}s  loss {last['loss']:.4f}  "
                  f"validation accuracy {last['accuracy']:.3f}", file=sys.stderr, flush=True)

    try:
        result, _ = train_task(args.task, max_seconds=args.max_seconds, settings=settings, on_progress=progress)
    except AttnvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
