"""rewards.checker_fingerprint: which answer checker scored a result (a hash of the rewards package's source).

The expected values come from hashlib applied to the format the docstring states (file name, NUL, text, NUL per
file, SHA-256, first 12 hex digits), on temporary copies of the sources: the real files are never edited."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import rewards
from rewards import fingerprint
from rewards.fingerprint import checker_sources, fingerprint_of

REWARDS_DIR = Path(rewards.__file__).resolve().parent


def _copy(tmp_path: Path) -> list[Path]:
    dst = tmp_path / "rewards"
    dst.mkdir()
    for p in REWARDS_DIR.glob("*.py"):
        shutil.copy(p, dst / p.name)
    return sorted(dst.glob("*.py"), key=lambda p: p.name)


def test_the_documented_format_by_hand(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    expected = hashlib.sha256(b"a.py\0x = 1\n\0b.py\0y = 2\n\0").hexdigest()[:12]
    assert fingerprint_of([tmp_path / "a.py", tmp_path / "b.py"]) == expected
    # the order of the files is part of the hash: checker_sources fixes it (by file name)
    assert fingerprint_of([tmp_path / "b.py", tmp_path / "a.py"]) != expected


def test_every_module_of_the_package_is_covered_in_name_order():
    names = [p.name for p in checker_sources()]
    on_disk = sorted(n for n in (p.name for p in REWARDS_DIR.iterdir()) if n.endswith(".py"))
    assert names == on_disk
    assert {"extract.py", "normalize.py", "equivalence.py", "parse.py", "verify.py", "fingerprint.py"} <= set(names)
    fp = rewards.checker_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{12}", fp) and fp == fingerprint_of(checker_sources())


def test_a_copy_elsewhere_has_the_same_fingerprint_and_any_change_moves_it(tmp_path):
    copy = _copy(tmp_path)
    same = fingerprint_of(copy)
    assert same == rewards.checker_fingerprint()           # folders are not hashed, only names and text
    extract = next(p for p in copy if p.name == "extract.py")
    text = extract.read_text(encoding="utf-8")
    extract.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    assert fingerprint_of(copy) == same                    # line ends are read as "\n": a Windows checkout agrees
    extract.write_text(text.replace("within", "withn", 1), encoding="utf-8")
    assert fingerprint_of(copy) != same                    # one changed word of the extraction rules
    extract.write_text(text, encoding="utf-8")
    assert fingerprint_of(copy) == same
    folder = tmp_path / "rewards"

    def listed() -> list[Path]:
        return sorted(folder.glob("*.py"), key=lambda p: p.name)

    extract.rename(folder / "extraction.py")
    assert fingerprint_of(listed()) != same                # a renamed module is another checker
    (folder / "extraction.py").rename(extract)
    assert fingerprint_of(listed()) == same
    (folder / "new_rule.py").write_text("RULE = 1\n")
    assert fingerprint_of(listed()) != same                # a new module counts without being listed anywhere


def test_cached_and_read_from_the_source_list(tmp_path, monkeypatch):
    real = rewards.checker_fingerprint()
    copy = _copy(tmp_path)
    (tmp_path / "rewards" / "verify.py").write_text("# a different checker\n", encoding="utf-8")
    monkeypatch.setattr(fingerprint, "checker_sources", lambda: copy)
    assert rewards.checker_fingerprint() == real           # cached: the files are read once per process
    fingerprint.checker_fingerprint.cache_clear()
    try:
        assert rewards.checker_fingerprint() == fingerprint_of(copy) != real
    finally:
        fingerprint.checker_fingerprint.cache_clear()
    monkeypatch.undo()
    assert rewards.checker_fingerprint() == real


def test_record_names_the_sympy_version_without_importing_sympy():
    from importlib.metadata import version

    code = ("import sys, rewards; r = rewards.checker_record(); "
            "print(r['fingerprint'], r['sympy'], 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [rewards.checker_fingerprint(), version("sympy"), "False"]
