"""`rlvr-zoo curves`: plot metrics.jsonl keys of comparison directories against step, one line per row label."""
from __future__ import annotations

import difflib
from pathlib import Path

from harness.errors import UserError

NAME = "curves"
HELP = "plot training metrics (entropy, reward, clip fractions, ...) of comparison directories against step (PNG)"


def add_arguments(parser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories written by `rlvr-zoo compare`")
    parser.add_argument("--metric", action="append", default=[], metavar="KEY",
                        help="a metrics.jsonl key, one panel each (repeatable; default: the panels of compare's "
                             "curves.png: reward/mean, eval/accuracy, entropy, clipfrac/low_neg, clipfrac/high_pos, "
                             "response_length/mean)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="keep the rows whose label matches PATTERN (shell-style, e.g. 'ce-gppo*'; repeatable)")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="moving average over each seed's last N logged values (default 1: none)")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument("--output", "-o", required=True, metavar="FILE.png", help="where the PNG goes")


def _fail(message: str) -> int:
    raise UserError(message)


def run(args) -> int:
    from harness import run_layout
    from harness.leaderboard import curves
    from harness.leaderboard import merge, metrics_files, select

    if Path(args.output).suffix.lower() != ".png":
        return _fail(f"--output {args.output}: the plot is written as PNG; give a file name ending in .png")
    if args.smooth < 1:
        return _fail(f"--smooth {args.smooth}: give a number of logged values >= 1 (1 = no smoothing)")
    try:
        runs = metrics_files(select(merge(args.run_dirs), args.only))
    except ValueError as exc:
        return _fail(str(exc))
    records = [run_layout.read_metrics(p) for paths in runs.values() for p in paths]
    if not any(records):
        return _fail(f"no metrics.jsonl with any step in {', '.join(args.run_dirs)} (for the selected rows); give "
                     f"directories written by `rlvr-zoo compare` with at least one finished run")
    known = curves.numeric_keys(records)
    for key in args.metric:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            return _fail(f"--metric {key!r}: no selected run logged it{hint}; the keys in their metrics.jsonl are: "
                         f"{', '.join(known)}")
    out = curves.plot(runs, args.output, title=args.title, metrics=args.metric or None, smooth=args.smooth)
    print(f"written: {out} ({len(runs)} rows, {len(args.metric) or len(curves.default_metrics(records))} panels)")
    return 0
