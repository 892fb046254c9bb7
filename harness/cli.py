"""`rlvr-zoo` command line: dispatches to the modules in `harness.commands`.

`--plugin FILE_OR_MODULE` (repeatable, on every sub-command) imports user code before the command runs, so that
objectives it registers with `@algorithms.register` are available by name. It is the only way user code runs:
checkpoints and result files are read as data, never executed.

A mistake in the user's input (a flag, a name, a file) is one line on stderr and exit status 2: argparse's own
errors are printed that way too (see `_Parser.error`), and `harness.errors.UserError` raised anywhere below is
printed by `main`. Anything else is a bug and keeps its traceback.

`--no-progress` also turns off the progress bars transformers and huggingface_hub draw themselves (loading weights,
writing shards, downloads) for the command's duration.

Warnings (a checkpoint skipped for a damaged file, a run file used in part, a tracker dropped, a batch of answers
cut at its deadline) print as one line each, `rlvr-zoo COMMAND: warning: ...`, instead of Python's two-line form
with a source line (`_one_line_warnings`); a library's warning keeps its category and origin at the end of the line.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path


def passive_openmp_waits() -> None:
    """Let torch's OpenMP threads sleep, not spin, while they wait for work (``OMP_WAIT_POLICY=PASSIVE``, unless the
    environment sets a policy): the same threads and the same arithmetic, but on a machine whose other cores are
    busy, a spinning thread competes with the thread it waits for, and small parallel regions (a decode step's
    matmuls) ran 5-17x slower (docs/benchmarks.md, "Where the time goes"). Read by the OpenMP runtime when torch is
    first imported, so it is set before any command imports torch."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


passive_openmp_waits()

from harness.commands import COMMANDS  # noqa: E402
from harness.errors import EXIT_USER_ERROR, UserError  # noqa: E402

DESCRIPTION = ("rlvr-zoo: RL-with-verifiable-rewards objectives (PPO, GRPO, DAPO, CE-GPPO, ...) on one shared "
               "trainer, with a head-to-head comparison harness and leaderboards.")
EPILOG = """examples:
  rlvr-zoo list                                          what is available (objectives, benchmarks, presets, ...)
  rlvr-zoo compare --preset cpu-demo --out results/demo  train and score PPO, GRPO, DAPO, CE-GPPO head to head
  rlvr-zoo leaderboard results/demo                      the comparison's table
  rlvr-zoo COMMAND --help                                the options of one command"""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (what was wrong, and where the valid options are listed)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def help_text(text: str) -> str:
    """``text`` for an argparse ``help=``: argparse %-formats help strings, so a literal % must be doubled."""
    return text.replace("%", "%%")


def load_plugin(spec: str) -> None:
    """Import a plugin given as a path to a .py file or as an importable module name."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise UserError(f"--plugin {spec}: no such file; give a path to a .py file or an importable module name")
        name = f"rlvr_zoo_plugin_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise UserError(f"--plugin {spec}: cannot import it ({exc}); give a path to a .py file or an importable "
                        f"module name on PYTHONPATH") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlvr-zoo", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", action="append", default=[], dest="global_plugins", metavar="FILE_OR_MODULE",
                        help="import user code that registers objectives (repeatable; also accepted after COMMAND)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{name}")
        # the sub-command's HELP is plain text: argparse %-formats `help=` but not `description=`
        sub = subparsers.add_parser(module.NAME, help=help_text(module.HELP), description=module.HELP)
        sub.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                         help="import user code that registers objectives (repeatable)")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@contextlib.contextmanager
def _library_bars(enabled: bool):
    """Turn transformers' and huggingface_hub's own progress bars off while a `--no-progress` command runs, and
    restore their previous state after it."""
    if enabled:
        yield
        return
    restore = []
    try:
        from transformers.utils import logging as tf_logging
        if tf_logging.is_progress_bar_enabled():
            tf_logging.disable_progress_bar()
            restore.append(tf_logging.enable_progress_bar)
    except ImportError:
        pass
    try:
        from huggingface_hub import utils as hub_utils
        if not hub_utils.are_progress_bars_disabled():
            hub_utils.disable_progress_bars()
            restore.append(hub_utils.enable_progress_bars)
    except ImportError:
        pass
    try:
        yield
    finally:
        for undo in restore:
            undo()


_PROJECT = tuple(str(Path(__file__).resolve().parents[1] / pkg) for pkg in ("harness", "algorithms", "rewards",
                                                                           "benchmarks", "tools"))


@contextlib.contextmanager
def _one_line_warnings(command: str):
    """Every warning printed while a command runs is one line (module notes); restored afterwards. It replaces the
    format, not the display: a caller that records warnings (warnings.catch_warnings(record=True), pytest.warns)
    still gets them."""
    previous = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):
        origin = "" if str(Path(filename).resolve()).startswith(_PROJECT) else \
            f" ({category.__name__} from {Path(filename).name}:{lineno})"
        return f"rlvr-zoo {command}: warning: {_one_line(message)}{origin}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = previous


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from benchmarks.sources import BenchmarkDataError  # benchmarks cannot import harness.errors: its own type

    try:
        for plugin in [*args.global_plugins, *args.plugin]:
            load_plugin(plugin)
        with _library_bars(not getattr(args, "no_progress", False)), _one_line_warnings(args.command):
            return int(args._run(args) or 0)
    except (UserError, BenchmarkDataError) as exc:
        print(f"rlvr-zoo {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
