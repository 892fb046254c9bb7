"""Checks of a command's own flags that must pass before anything slow (a model load, a run) starts."""
from __future__ import annotations

import os

from harness.errors import UserError


def yaml_mapping(path: str | os.PathLike, flag: str, what: str) -> dict:
    """The YAML mapping in file ``path``; a missing file, broken YAML, an alias bomb or a non-mapping is a
    :class:`UserError` (harness.presets.load_yaml: the safe loader with alias limits)."""
    from harness.presets import load_yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise UserError(f"{flag} {path}: no such file; give a YAML file of {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{flag} {path}: cannot read it ({exc}); give a YAML text file of {what}") from None
    loaded = load_yaml(text, f"{flag} {path}")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{flag} {path}: expected a YAML mapping of {what}, got a {type(loaded).__name__}")
    return loaded
