"""`rlvr-zoo leaderboard`: render comparison directories as one table (scores, paired deltas or training dynamics)."""
from __future__ import annotations

import sys

NAME = "leaderboard"
HELP = "one table from one or more comparison (or eval) directories: md, csv, latex, html or json"


def add_arguments(parser) -> None:
    from harness.leaderboard import FORMATS, VIEWS

    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories written by compare/eval --out")
    parser.add_argument("--format", default="md", choices=FORMATS, help="output format (default md)")
    parser.add_argument("--view", default="scores", choices=VIEWS,
                        help="scores: avg@k ± 95%% interval per benchmark (default); delta: difference to the base "
                             "model with a paired 95%% bootstrap interval and each seed's score; dynamics: entropy, "
                             "training accuracy, clip and gradient shares from metrics.jsonl")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="keep the rows whose label matches PATTERN (shell-style, e.g. 'ce-gppo*'; repeatable); "
                             "the base model's row stays")
    parser.add_argument("--output", "-o", default=None, metavar="FILE", help="write to FILE instead of stdout")


def run(args) -> int:
    from harness.evaluate import write_atomic
    from harness.leaderboard import merge, render, select

    try:
        rows = select(merge(args.run_dirs), args.only)
    except ValueError as exc:
        print(f"rlvr-zoo leaderboard: {exc}", file=sys.stderr)
        return 2
    text = render(rows, args.format, args.view)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
