"""Which answer checker scored a result: a short fingerprint of the checker's source code.

    rewards.checker_fingerprint() -> "3f9a1c0b7e2d"     # 12 hex characters, the same in every process of one checkout
    rewards.checker_record()      -> {"fingerprint": "3f9a1c0b7e2d", "sympy": "1.14.0"}

An evaluation summary carries ``checker_record()`` (``harness.evaluate``), so a leaderboard can tell when its rows
were scored by different checkers (a change of extraction or equivalence moves scores with the responses unchanged).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

FINGERPRINT_CHARS = 12   # 48 bits: a collision between two checker versions is not a practical concern


def checker_sources() -> list[Path]:
    """The files the fingerprint covers: every ``.py`` file of the ``rewards`` package, sorted by file name."""
    return sorted(Path(__file__).resolve().parent.glob("*.py"), key=lambda p: p.name)


def fingerprint_of(paths: Iterable[Path]) -> str:
    """SHA-256 over, for each file in the order given, its name, a NUL, its text (UTF-8, line ends read as "\\n"),
    a NUL; the first 12 hex digits. File names count (a renamed module is another checker); folders do not (a copy
    of the same files elsewhere has the same fingerprint)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(p.name.encode("utf-8") + b"\0")
        h.update(p.read_text(encoding="utf-8").encode("utf-8") + b"\0")
    return h.hexdigest()[:FINGERPRINT_CHARS]


@lru_cache(maxsize=1)
def checker_fingerprint() -> str:
    """The fingerprint of this checkout's answer checker: ``fingerprint_of(checker_sources())``.

    What is hashed: the source text of every module of the ``rewards`` package (extraction, normalisation, parsing,
    sympy equivalence, numeric comparison, options, the worker pool and its time budgets, the reward functions),
    read in file-name order. Together they decide every verdict; hashing the whole package rather than a chosen
    list means a new module cannot be forgotten. A change that cannot move a verdict (a comment, a reward-shaping
    default) changes the fingerprint too: the fingerprint says "maybe different", and rescoring settles it.

    Why a hash and not a version number bumped by hand: a hand-kept number goes stale the first time a change
    forgets it, and then two checkers that score differently claim the same version. The hash changes with the code
    itself. It does not cover sympy, whose version ``checker_record`` records beside it.

    Cached for the life of the process (the files are read once).
    """
    return fingerprint_of(checker_sources())


def checker_record() -> dict[str, str | None]:
    """What an evaluation summary stores under ``"checker"``: the fingerprint and the installed sympy version (read
    from the package metadata, so sympy is not imported here; None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sympy_version: str | None = version("sympy")
    except PackageNotFoundError:
        sympy_version = None
    return {"fingerprint": checker_fingerprint(), "sympy": sympy_version}
