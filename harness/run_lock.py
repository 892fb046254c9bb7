"""One writer per run folder: an advisory lock that `train`, `compare` and `eval` take on their output folder.

    with lock_run_folder(out_dir, "train"):
        ...                          # a second writer on out_dir gets RunLockError naming this process

The lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``OUT/.rlvr-zoo.lock``, a small file that also records the
holder's pid, command and start time for the refusal message. The kernel drops a flock when the last descriptor of
the open file closes, so the lock goes away when its process ends, however it ends (SIGKILL included); a stale lock
file left behind is harmless and is simply locked again. Advisory: it stops other rlvr-zoo writers, not other
programs. Under torchrun only rank 0 (``RANK`` unset or 0) takes the lock; the other ranks write nothing of their
own to the folder. On a platform without ``fcntl`` (Windows) no lock is taken.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
import time
import warnings
from pathlib import Path

from harness.errors import UserError

__all__ = ["RunLock", "RunLockError", "lock_run_folder", "check_out_dir", "LOCK_FILE"]

LOCK_FILE = ".rlvr-zoo.lock"


class RunLockError(UserError):
    """The run folder is in use by another process, or cannot be used as a run folder."""


def check_out_dir(out_dir, flag: str = "--out", create: bool = False) -> Path:
    """``out_dir`` as a directory this process can create and write, or a one-line :class:`RunLockError` saying why
    not: an empty value, a path that is a file, a path below a file, a location where no file can be created
    (read-only file system, no permission).

    ``create=False`` (the commands' early check, before anything slow starts) creates nothing: the nearest existing
    ancestor is probed with a temporary file that is removed at once. ``create=True`` (taking the lock) also makes
    the directory.
    """
    text = "" if out_dir is None else os.fspath(out_dir)
    if not text.strip():
        raise RunLockError(f"{flag} is empty; give a directory for the results, e.g. {flag} runs/my-run")
    target = Path(text).expanduser()
    if target.is_symlink() and not target.exists():
        raise RunLockError(f"{flag} {text}: is a symbolic link that leads nowhere (a loop, or its target is gone); "
                           f"give a directory (new or existing)")
    if target.exists() and not target.is_dir():
        raise RunLockError(f"{flag} {text}: is a file, not a directory; give a directory (new or existing)")
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RunLockError(f"{flag} {text}: {existing} is a file, so no directory can be made below it; give a "
                           f"path whose parents are directories")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
        if create:
            target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunLockError(f"{flag} {text}: cannot write in {existing} ({exc.strerror or exc}); give a writable "
                           f"directory") from None
    return target


class RunLock:
    """An exclusive advisory lock on one run folder (see the module docstring). Use :func:`lock_run_folder`."""

    def __init__(self, folder: str | os.PathLike, command: str = "rlvr-zoo", flag: str = "--out"):
        self.folder = Path(os.fspath(folder)) if folder is not None else None
        self.command = command
        self.flag = flag
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        folder = check_out_dir(self.folder, self.flag, create=True)
        if os.environ.get("RANK", "0") not in ("", "0"):
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        path = folder / LOCK_FILE
        try:   # never through a link planted at the lock's name: that would truncate the link's target
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if os.path.islink(path):
                raise RunLockError(f"{path} is a symbolic link; rlvr-zoo writes its lock file only as a regular "
                                   f"file of its own, never through a link: remove it") from None
            raise RunLockError(f"{self.flag} {folder}: cannot create the lock file {path} ({exc.strerror or exc})"
                               ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunLockError(f"{path} is not a regular file; rlvr-zoo keeps its lock file there: remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"{holder.get('command', 'another rlvr-zoo process')} (pid {holder.get('pid', '?')}"
            if holder.get("started"):
                who += f", started {holder['started']}"
            raise RunLockError(f"{folder} is in use by {who}); one process writes to a run folder at a time: "
                               f"wait for it to finish or choose another {self.flag}") from None
        except OSError as exc:  # a file system without flock (some network mounts): go on without the lock
            os.close(fd)
            warnings.warn(f"cannot lock {folder} ({exc.strerror or exc}); another process could write to it "
                          f"at the same time", stacklevel=3)
            return self
        info = {"pid": os.getpid(), "command": f"rlvr-zoo {self.command}",
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire() if not self.held else self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


_HELD: dict[str, RunLock] = {}


def lock_run_folder(folder: str | os.PathLike, command: str, flag: str = "--out") -> RunLock:
    """Take the lock on ``folder`` for ``command`` (``train``, ``compare``, ``eval``) and return it, held until
    :meth:`RunLock.release` or the end of the process. Re-entrant within a process (a process that already holds
    the folder's lock gets it again). Raises :class:`RunLockError` when another process holds it or the folder
    cannot be used."""
    path = check_out_dir(folder, flag, create=True)
    key = str(path.resolve())
    held = _HELD.get(key)
    if held is not None and held.held:
        return held
    lock = RunLock(path, command, flag).acquire()
    if lock.held:
        _HELD[key] = lock
    return lock
