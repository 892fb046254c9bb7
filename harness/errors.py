"""The one exception type for a user's mistake.

Raise ``UserError("what was wrong; what would be right")`` anywhere in the harness when the cause is the user's input
(a flag, a file, a name, a value). ``rlvr-zoo`` prints its message as one line on stderr, with no traceback, and
exits with status 2. Everything else is a bug or an environment failure and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["UserError", "EXIT_USER_ERROR"]

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in the user's input, reported as one line (exit status 2)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
