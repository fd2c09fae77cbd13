"""``python -m attnviz <command>``: headless entry points.

    python -m attnviz audit --data assets/samples/reviews.csv --out audit-out
    python -m attnviz lab --task associative_recall      (same as python -m attnviz.lab)
    python -m attnviz leaderboard --data reviews --out leaderboard-out --limit 20
"""

from __future__ import annotations

import sys

from .audit.cli import main as audit_main
from .audit.leaderboard import main as leaderboard_main
from .lab.__main__ import main as lab_main

COMMANDS = {"audit": "run an audit on a dataset and write its report", "lab": "train an Attention Lab model headless",
            "leaderboard": "score every attribution method's faithfulness on a dataset"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<11} {what}" for name, what in COMMANDS.items()]
        stream = sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command '{argv[0]}'", file=sys.stderr)
        print("usage: python -m attnviz <command> [options]\ncommands:\n" + "\n".join(lines), file=stream)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    if command == "leaderboard":
        return leaderboard_main(rest)
    return audit_main(rest) if command == "audit" else lab_main(rest)


if __name__ == "__main__":
    sys.exit(main())
