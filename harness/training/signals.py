"""SIGINT/SIGTERM during training: the first signal asks the run to stop after the current step (with a checkpoint),
a second one stops it at once (``KeyboardInterrupt``).

    with StopSignals(log) as signals:
        ...                              # signals.received: the first signal's number, or None

The handlers are installed only in the main thread (Python allows no other) and the previous ones are put back on
exit.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable

__all__ = ["StopSignals", "Interrupted"]


class Interrupted(Exception):
    """The run stopped after a step because a signal asked it to (args[0]: the signal)."""


class StopSignals:
    """Catches SIGINT and SIGTERM while active (module notes); ``log(message)`` says what happens."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.received: int | None = None
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.received is not None:   # second signal: stop at once
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.received = signum
        self.log(f"received signal {signum}: finishing the current step, writing a checkpoint and exiting "
                 f"(send it again to stop at once)")

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
