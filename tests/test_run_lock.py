"""One writer per run folder (harness.run_lock): a second process is refused with the holder's pid, the lock goes
away when its holder is killed, and unusable --out values are one-line errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.run_lock import LOCK_FILE, RunLockError, lock_run_folder

REPO = Path(__file__).resolve().parents[1]
HOLD = ("import sys, time\nfrom harness.run_lock import lock_run_folder\n"
        "lock_run_folder(sys.argv[1], 'train')\nprint('locked', flush=True)\ntime.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock on tmp_path/run."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield run, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_writer_is_refused_naming_the_holder_and_the_lock_dies_with_it(holder):
    run, proc = holder
    with pytest.raises(RunLockError, match=rf"in use by rlvr-zoo train \(pid {proc.pid}\b"):
        lock_run_folder(run, "eval")
    proc.send_signal(signal.SIGKILL)      # no clean-up code runs: the kernel drops the flock
    proc.wait()
    lock = lock_run_folder(run, "eval")
    assert lock.held and (run / LOCK_FILE).is_file()
    assert lock_run_folder(run, "train") is lock   # re-entrant within one process
    lock.release()


@pytest.mark.parametrize("command", ["eval", "train", "compare"])
def test_cli_refuses_a_busy_run_folder_in_one_line_before_loading_anything(holder, command, capsys):
    run, proc = holder
    argv = {"eval": ["eval", "--model", "tiny-random", "--bench", "arith", "--out", str(run)],
            "train": ["train", "--model", "tiny-random", "--steps", "1", "--out", str(run)],
            "compare": ["compare", "--preset", "cpu-demo", "--out", str(run)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pid {proc.pid}" in err and str(run) in err
    assert not (run / "metrics.jsonl").exists() and not (run / "summary.json").exists()


def test_unusable_out_values_are_refused(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = {"": "--out is empty", str(a_file): "is a file, not a directory",
             str(a_file / "sub"): "is a file"}
    for value, expected in cases.items():
        assert main(["eval", "--model", "tiny-random", "--bench", "arith", "--out", value]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    assert main(["train", "--model", "tiny-random", "--steps", "1", "--out", ""]) == 2
    assert "empty" in capsys.readouterr().err
