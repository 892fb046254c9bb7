"""`rlvr-zoo leaderboard`: render comparison directories as one table."""
from __future__ import annotations

import sys

NAME = "leaderboard"
HELP = "one table from one or more comparison (or eval) directories: md, csv, latex, html or json"


def add_arguments(parser) -> None:
    from harness.leaderboard import FORMATS

    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories written by compare/eval --out")
    parser.add_argument("--format", default="md", choices=FORMATS, help="output format (default md)")
    parser.add_argument("--output", "-o", default=None, metavar="FILE", help="write to FILE instead of stdout")


def run(args) -> int:
    from harness.evaluate import write_atomic
    from harness.leaderboard import merge, render

    try:
        rows = merge(args.run_dirs)
    except ValueError as exc:
        print(f"rlvr-zoo leaderboard: {exc}", file=sys.stderr)
        return 2
    text = render(rows, args.format)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
