"""`rlvr-zoo` command line: dispatches to the modules in `harness.commands`.

`--plugin FILE_OR_MODULE` (repeatable, on every sub-command) imports user code before the command runs, so that
objectives it registers with `@algorithms.register` are available by name. It is the only way user code runs:
checkpoints and result files are read as data, never executed.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from harness.commands import COMMANDS
from harness.errors import EXIT_USER_ERROR, UserError


def load_plugin(spec: str) -> None:
    """Import a plugin given as a path to a .py file or as an importable module name."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise SystemExit(f"--plugin {spec}: no such file; give a path to a .py file or an importable module name")
        name = f"rlvr_zoo_plugin_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise SystemExit(f"--plugin {spec}: cannot import it ({exc}); give a path to a .py file or an importable "
                         f"module name on PYTHONPATH") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr-zoo", description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", action="append", default=[], dest="global_plugins", metavar="FILE_OR_MODULE",
                        help="import user code that registers objectives (repeatable; also accepted after COMMAND)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        sub.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                         help="import user code that registers objectives (repeatable)")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        for plugin in [*args.global_plugins, *args.plugin]:
            load_plugin(plugin)
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"rlvr-zoo {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
