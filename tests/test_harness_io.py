"""harness.io: a target is the old content or the complete new one, and no temporary is left behind."""
from __future__ import annotations

import os

import pytest

from harness import io


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_write_text_and_json_replace_and_leave_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    io.write_json(path, {"x": 1, "p": tmp_path})        # a Path is written as its str
    assert io.read_json(path) == {"x": 1, "p": str(tmp_path)}
    io.write_text(path, "Δ ±\n")
    assert path.read_text(encoding="utf-8") == "Δ ±\n"
    assert _names(path.parent) == ["a.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    io.write_text(path, "old")

    def fill(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        io.write_file(path, fill)
    assert path.read_text() == "old" and _names(tmp_path) == ["a.txt"]
    with pytest.raises(TypeError):  # a tuple key has no JSON form (default=str converts values, not keys)
        io.write_json(path, {(1, 2): 3})
    assert path.read_text() == "old" and _names(tmp_path) == ["a.txt"]


def test_write_dir_replaces_or_keeps_an_existing_directory(tmp_path):
    target = tmp_path / "model"

    def build(content):
        def fill(tmp):
            (tmp / "weights").write_text(content)
        return fill

    io.write_dir(target, build("v1"))
    io.write_dir(target, build("v2"))
    assert (target / "weights").read_text() == "v2" and _names(tmp_path) == ["model"]
    io.write_dir(target, build("v3"), keep_existing=True)           # a cache entry: the first one stays
    assert (target / "weights").read_text() == "v2"

    def broken(tmp):
        (tmp / "weights").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_dir(target, broken)
    assert (target / "weights").read_text() == "v2" and _names(tmp_path) == ["model"]
    fresh = io.write_dir(tmp_path / "cache", build("c"), keep_existing=True, mode=0o755)
    assert (fresh / "weights").read_text() == "c" and (fresh.stat().st_mode & 0o777) == 0o755


def test_written_files_and_directories_follow_the_umask(tmp_path, monkeypatch):
    """mkstemp/mkdtemp create 0600/0700; results must be readable as a plain open()/mkdir would make them. The module
    reads the umask once, at import; the test sets that reading rather than reloading the module (a reload makes new
    exception classes, and code that imported the old UnsafePathError would no longer catch what io raises)."""
    import stat

    import harness.io as io_mod

    monkeypatch.setattr(io_mod, "_UMASK", 0o022)
    f = io_mod.write_text(tmp_path / "a.txt", "x")
    d = io_mod.write_dir(tmp_path / "d", lambda p: (p / "f").write_text("y"))
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
