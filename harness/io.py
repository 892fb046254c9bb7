"""Atomic, durable writes: a result file or directory is either the old one or the complete new one.

Every writer builds its output beside the target (a temporary name in the same directory, so that the final rename
stays on one file system), flushes it to disk with fsync, renames it into place with `os.replace` (atomic on POSIX)
and fsyncs the parent directory so that the rename itself survives a power cut. A crash at any point leaves either
the previous target or none, never a half-written one, plus at worst a hidden temporary (`.<name>.*`) that the next
attempt ignores.

Inside a run folder nothing is written through a symbolic link that someone else planted there (a shared results
folder is writable by others): a file written atomically replaces whatever stands at its name, a link included, so the
link's target is never opened; a file appended to (`open_append`) is opened with ``O_NOFOLLOW``; a folder that
rlvr-zoo creates or writes into below a given root (`ensure_dir`, `check_dir`) must be a real directory at every
level below that root. The root itself (the user's ``--out``) may be a link: the user chose it. A refusal is an
`UnsafePathError`, one line naming the path. `read_text` / `read_json` read result files as data: a regular file
only (never a device or a FIFO, which could block or never end), at most ``max_bytes``.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness.errors import UserError

__all__ = ["write_text", "write_json", "read_text", "read_json", "write_file", "write_dir", "open_append",
           "ensure_dir", "check_dir", "UnsafePathError", "MAX_READ_BYTES"]

MAX_READ_BYTES = 64 * 2**20
"""the largest result file `read_text` / `read_json` read by default (a summary.json of 100,000 problems is ~2 MB)"""

PathLike = str | os.PathLike

_UMASK = os.umask(0)   # read once: results get the permissions a plain open() would give them (mkstemp makes 0600)
os.umask(_UMASK)


class UnsafePathError(UserError, OSError):
    """A path inside a run folder that rlvr-zoo refuses to write through: a symbolic link, or something that is not
    the regular file or directory it writes there (one line naming the path; exit 2 from the CLI)."""


def _kind(mode: int) -> str:
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else
            "a regular file" if stat.S_ISREG(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device")


def _below(path: Path, root: Path) -> tuple[str, ...]:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise ValueError(f"{path} is not below {root}") from None
    if ".." in parts:
        raise UnsafePathError(f"{path}: '..' in a path inside {root}; rlvr-zoo writes only below the folder")
    return parts


def _refuse_dir(path: Path, mode: int, root: Path) -> None:
    raise UnsafePathError(f"{path} is {_kind(mode)}, where rlvr-zoo keeps a folder of its own inside {root}; it never "
                          f"writes through a link or into something else there: remove it, or use another folder")


def check_dir(path: PathLike, root: PathLike) -> Path:
    """``path`` (a folder at or below ``root`` that rlvr-zoo uses) when no existing component of it below ``root``
    is a symbolic link or anything but a directory; else :class:`UnsafePathError`. Creates nothing."""
    root, path = Path(root), Path(path)
    current = root
    for part in _below(path, root):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(mode):
            _refuse_dir(current, mode, root)
    return path


def ensure_dir(path: PathLike, root: PathLike) -> Path:
    """Create the folder ``path`` below ``root`` (and its missing parents below it), refusing, as
    :func:`check_dir`, a component that is a symbolic link or not a directory. ``root`` is created if missing (it
    is the user's choice and may itself be a link)."""
    root, path = Path(root), Path(path)
    parts = _below(path, root)
    root.mkdir(parents=True, exist_ok=True)
    current = root
    for part in parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            pass
        mode = os.lstat(current).st_mode
        if not stat.S_ISDIR(mode):
            _refuse_dir(current, mode, root)
    return path


def open_append(path: PathLike):
    """``path`` opened for appending text (UTF-8), created if missing, never through a symbolic link
    (``O_NOFOLLOW``) and only when it is a regular file; else :class:`UnsafePathError`."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError:
        mode = _lstat_mode(path)
        if mode is not None and not stat.S_ISREG(mode):
            raise UnsafePathError(f"{path} is {_kind(mode)}; rlvr-zoo appends only to a regular file of its own "
                                  f"there and never through a link: remove it") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is {_kind(mode)}; rlvr-zoo appends only to a regular file there: remove it")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8")


def _lstat_mode(path: PathLike) -> int | None:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def _fsync_path(path: PathLike) -> None:
    """fsync a file or a directory by path (directories: where the platform allows opening them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. directories on Windows cannot be opened; their entries are durable on close there
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. certain network mounts) refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def write_file(path: PathLike, fill: Callable[[str], None]) -> Path:
    """Create `path` atomically from `fill(tmp)`, which writes the whole content into the temporary file `tmp` (a
    path in the same directory). Returns `path`. Use it for writers that want a file name (e.g. matplotlib's
    `savefig`); `write_text` and `write_json` are the common cases."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _lstat_mode(path)
    if mode is not None and stat.S_ISDIR(mode):   # a link or any other file at the name is replaced, not followed
        raise UnsafePathError(f"{path} is a directory, where rlvr-zoo writes a file: remove it, or use another folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        fill(tmp)
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_path(path.parent)
    return path


def write_text(path: PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically and durably."""
    return write_file(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: PathLike, obj: Any, indent: int = 2) -> Path:
    """Write `obj` as indented JSON (values JSON cannot hold become their str) atomically and durably."""
    return write_text(path, json.dumps(obj, indent=indent, default=str) + "\n")


def read_text(path: PathLike, max_bytes: int = MAX_READ_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (a link to one is followed: reading cannot harm its target).
    ValueError naming the file for a FIFO, device or directory, or a file over ``max_bytes``; OSError when it cannot
    be opened; UnicodeDecodeError when it is not UTF-8."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is {_kind(st.st_mode)}, not a regular file")
        raise ValueError(f"{path} holds {st.st_size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB "
                         f"this file can have")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:   # a file that grew while it was read
        raise ValueError(f"{path} is larger than the {max_bytes / 2**20:.0f} MiB this file can have")
    return data.decode("utf-8")


def read_json(path: PathLike, max_bytes: int = MAX_READ_BYTES) -> Any:
    """The JSON value in the file ``path`` (see :func:`read_text`); json.JSONDecodeError for text that is not JSON,
    ValueError naming the file for JSON nested too deeply to be a result file."""
    text = read_text(path, max_bytes)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to be a file rlvr-zoo wrote") from None


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            _fsync_path(os.path.join(dirpath, name))
        _fsync_path(dirpath)


def _swap_in(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is renamed aside first and deleted only once `new` is in
    place (put back if the second rename fails)."""
    if target.is_symlink():   # a planted link is replaced, its target never touched
        os.unlink(target)
    if not target.exists():
        os.rename(new, target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_dir(target: PathLike, build: Callable[[Path], None], *, keep_existing: bool = False,
              mode: int | None = None) -> Path:
    """Create the directory `target` atomically from `build(tmp)`, which fills the empty temporary directory `tmp`
    (a sibling of `target`). Every file of the tree is fsynced before the rename.

    An existing `target` is replaced (renamed aside, deleted once the new one is in place), unless
    `keep_existing`: then an existing `target` is returned untouched without calling `build`, and when another
    process finishes the same target first, ours is discarded and theirs kept (a shared cache). `mode` sets the
    permissions of the new directory (default: what mkdir would give under the process's umask)."""
    target = Path(target)
    if keep_existing and target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # the pid lets harness.training.checkpoint_files.remove_stale_temporaries tell a killed writer's leftovers from a
    # live one's
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        build(tmp)
        os.chmod(tmp, 0o777 & ~_UMASK if mode is None else mode)
        _fsync_tree(tmp)
        if keep_existing:
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.is_dir():
                    raise
        else:
            _swap_in(tmp, target)
        _fsync_path(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
