"""Shared fixtures. Tests run on a CPU without network; data-dependent tests skip when the data is absent."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data directory (RLVR_ZOO_DATA_DIR), or skip with the reason."""
    value = os.environ.get("RLVR_ZOO_DATA_DIR")
    if not value:
        pytest.skip("RLVR_ZOO_DATA_DIR is not set: benchmark data tests need the local JSON lines files "
                    "(CI passes ../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"RLVR_ZOO_DATA_DIR={value} is not a directory")
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny-model tests are dominated by small ops: one intra-op thread avoids OpenMP oversubscription on a shared
    2-core machine (about 3x faster measured under load). The previous setting is restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def running_train():
    """``start(argv, out, env)``: starts ``python -m harness.cli`` with ``argv`` (a `train` writing to ``out``) and
    returns the process once it has logged its first step (out/metrics.jsonl has a line), failing with the output
    when it ends before that. A process still running at the end of the test is killed."""
    procs = []

    def start(argv, out, env, timeout: float = 240) -> subprocess.Popen:
        repo = Path(__file__).resolve().parents[1]
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], cwd=repo, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        metrics, deadline = Path(out) / "metrics.jsonl", time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            if metrics.exists() and metrics.read_text().count("\n") >= 1:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
