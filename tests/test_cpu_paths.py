"""Both bf16 kernel paths are tested where a CPU has two.

bf16 matrix products take another kernel path on CPUs with AMX or AVX-512-bf16 (oneDNN picks those instructions)
than on CPUs without them (AVX2: bf16 is converted and multiplied in fp32). The suite's bf16 tests run on the
machine's own path; on a CPU with a bf16 instruction family this test runs them again with oneDNN and torch's own
kernels limited to AVX2, so that both paths are exercised on such machines. On a CPU without one the native run is
already the AVX2 path, and the test skips saying so.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BF16_TESTS = [
    "tests/test_rollout_hf.py::test_bf16_autocast_rollouts_are_close",
    "tests/test_trainer.py::test_dynamic_sampling_keeps_only_groups_with_different_rewards",
    "tests/test_algo_functions.py",
]
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def bf16_instruction_families() -> list[str]:
    """The bf16 instruction families this CPU announces (Linux /proc/cpuinfo flags), e.g. ["amx_bf16"]."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return sorted(flags & {"amx_bf16", "avx512_bf16"})


@pytest.mark.slow
@pytest.mark.skipif(not bf16_instruction_families(),
                    reason="this CPU has no AMX or AVX-512-bf16 instructions: its bf16 tests already take the AVX2 "
                           "path, the only one it has")
def test_bf16_tests_pass_on_the_avx2_path_too():
    env = {**os.environ, **AVX2_ONLY, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
                           "bf16 or bfloat16 or dynamic_sampling", *BF16_TESTS], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert " passed" in proc.stdout and "no tests ran" not in proc.stdout
