"""`rlvr-zoo leaderboard`: render comparison directories as one table (scores, paired deltas or training dynamics)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import UserError

NAME = "leaderboard"
HELP = "one table from one or more comparison (or eval) directories: md, csv, latex, html or json"


def add_arguments(parser) -> None:
    from harness.leaderboard import DEFAULT_VIEW, FORMATS, VIEWS

    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="directories written by compare/eval --out")
    parser.add_argument("--format", default="md", choices=FORMATS, help="output format (default md)")
    parser.add_argument("--view", default=DEFAULT_VIEW, choices=VIEWS,
                        help="verdicts (default): per-seed scores, hierarchical 95%% intervals (seeds, then "
                             "problems), Holm-corrected verdicts against the base model and between objectives, and "
                             "the minimum detectable difference; scores: avg@k ± 95%% interval per benchmark; delta: "
                             "difference to the base model with its paired interval and verdict; dynamics: entropy, "
                             "training accuracy, clip and gradient shares from metrics.jsonl")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="keep the rows whose label matches PATTERN (shell-style, e.g. 'ce-gppo*'; repeatable); "
                             "the base model's row stays")
    parser.add_argument("--output", "-o", default=None, metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--refresh", action="append", default=[], metavar="MARKDOWN",
                        help="regenerate every table block of a Markdown file in place: a block is the lines between "
                             "'<!-- rlvr-zoo leaderboard ARGS -->' and '<!-- /rlvr-zoo leaderboard -->', and its "
                             "content becomes the output of `rlvr-zoo leaderboard ARGS` (md format; directories in "
                             "ARGS are relative to the Markdown file); repeatable")
    parser.add_argument("--page", action=argparse.BooleanOptionalAction, default=True,
                        help="write RUN_DIR/index.html for each comparison directory: one self-contained page with "
                             "every view and the curves (default; --no-page to skip; never in a Markdown block)")
    parser.add_argument("--check", action="store_true",
                        help="with --refresh: change nothing, exit 1 if any block differs from a fresh table")


class _BlockParser(argparse.ArgumentParser):
    """The command's own parser, raising ValueError instead of exiting (for the ARGS of a Markdown block)."""

    def error(self, message: str):
        raise ValueError(message)


def block_table(args_text: str, base_dir: Path) -> str:
    """The md table of one Markdown block: its ARGS (RUN_DIR..., --view, --only) parsed as on the command line,
    directories relative to `base_dir`."""
    import shlex

    from harness.leaderboard import merge, render, select

    parser = _BlockParser(prog="rlvr-zoo leaderboard", add_help=False)
    add_arguments(parser)
    try:
        args = parser.parse_args(shlex.split(args_text))
    except ValueError as exc:
        raise ValueError(f"block '{args_text}': {exc}") from None
    given = [flag for flag, value in (("--format", args.format != "md"), ("--output", args.output),
                                      ("--refresh", args.refresh), ("--check", args.check)) if value]
    if given:
        raise ValueError(f"block '{args_text}': option {given[0]} is not supported in a Markdown block "
                         f"(use RUN_DIR..., --view and --only; the format is always md)")
    if not args.run_dirs:
        raise ValueError(f"block '{args_text}': no RUN_DIR given")
    return render(select(merge([base_dir / d for d in args.run_dirs]), args.only), "md", args.view)


def run(args) -> int:
    from harness.io import write_text
    from harness.leaderboard import merge, refresh, render, select

    if args.refresh:
        if args.run_dirs:
            raise UserError("--refresh takes its directories from the blocks of the Markdown file; give either "
                            "RUN_DIR... or --refresh FILE")
        stale = 0
        for path in args.refresh:
            try:
                blocks, changed = refresh(path, block_table, check=args.check)
            except (OSError, ValueError) as exc:
                raise UserError(str(exc)) from exc
            verb = "differ from the run files" if args.check else "rewritten"
            print(f"{path}: {blocks} table block(s), {len(changed)} {verb}"
                  + (f" ({', '.join(changed)})" if changed else ""))
            stale += len(changed)
        return 1 if (args.check and stale) else 0
    if not args.run_dirs:
        raise UserError("give at least one RUN_DIR (a directory written by compare/eval --out), or --refresh FILE.md")
    try:
        rows = select(merge(args.run_dirs), args.only)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    text = render(rows, args.format, args.view)
    if args.format in ("csv", "json"):   # the human formats print the note under the table
        from harness.leaderboard.verdicts import checker_note

        if note := checker_note(rows):
            print(f"note: {note}", file=sys.stderr)
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    if args.page:
        _write_pages(args.run_dirs, args.only)
    return 0


def _write_pages(run_dirs: list[str], only: list[str]) -> None:
    """index.html in each comparison directory (one with runs/ or base/); a folder it cannot write is reported."""
    from harness import run_layout
    from harness.compare import page as comparison_page
    from harness.leaderboard import collect, select

    for run_dir in map(Path, run_dirs):
        if not ((run_dir / run_layout.RUNS_DIR).is_dir() or (run_dir / run_layout.BASE_DIR).is_dir()):
            continue
        try:
            page = comparison_page.write(run_dir, select(collect(run_dir), only))
        except OSError as exc:
            print(f"page: not written in {run_dir} ({exc.strerror or exc}); pass --no-page to skip it",
                  file=sys.stderr)
            continue
        print(f"page: {page}", file=sys.stderr)
