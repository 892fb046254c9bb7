"""Atomic, durable writes: a result file or directory is either the old one or the complete new one.

Every writer builds its output beside the target (a temporary name in the same directory, so that the final rename
stays on one file system), flushes it to disk with fsync, renames it into place with `os.replace` (atomic on POSIX)
and fsyncs the parent directory so that the rename itself survives a power cut. A crash at any point leaves either
the previous target or none, never a half-written one, plus at worst a hidden temporary (`.<name>.*`) that the next
attempt ignores.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["write_text", "write_json", "read_json", "write_file", "write_dir"]

PathLike = str | os.PathLike

_UMASK = os.umask(0)   # read once: results get the permissions a plain open() would give them (mkstemp makes 0600)
os.umask(_UMASK)


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


def read_json(path: PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            _fsync_path(os.path.join(dirpath, name))
        _fsync_path(dirpath)


def _swap_in(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is renamed aside first and deleted only once `new` is in
    place (put back if the second rename fails)."""
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
