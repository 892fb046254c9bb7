"""Checks of a command's own flags that must pass before anything slow (a model load, a run) starts."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import UserError


def output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a directory this process can create and write, or a :class:`UserError` saying why not.

    Refuses an empty path, a path that is a file, a path below a file, and a location where no file can be created
    (read-only file system, no permission). Nothing is created: the nearest existing ancestor is probed with a
    temporary file that is removed at once.
    """
    text = os.fspath(path)
    if not text.strip():
        raise UserError(f"{flag} is empty; give a directory for the results")
    target = Path(text).expanduser()
    if target.exists() and not target.is_dir():
        raise UserError(f"{flag} {text}: is a file, not a directory; give a directory (new or existing)")
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag} {text}: {existing} is a file, so no directory can be made below it; give a path "
                        f"whose parents are directories")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {text}: cannot write in {existing} ({exc.strerror or exc}); give a writable "
                        f"directory") from None
    return target


def yaml_mapping(path: str | os.PathLike, flag: str, what: str) -> dict:
    """The YAML mapping in file ``path``; a missing file, broken YAML or a non-mapping is a :class:`UserError`."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
    except FileNotFoundError:
        raise UserError(f"{flag} {path}: no such file; give a YAML file of {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{flag} {path}: cannot read it ({exc}); give a YAML text file of {what}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{flag} {path}: not valid YAML{where}: {problem}; give a YAML mapping of {what}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{flag} {path}: expected a YAML mapping of {what}, got a {type(loaded).__name__}")
    return loaded
