"""Golden runs: one fixed-seed `tiny-random` run per objective family must reproduce the metrics in tests/golden/.

Each run goes through the whole step (rollout, reward, dynamic sampling, old/reference log-probs, critic,
advantages, TIS, epochs x mini-batches x micro-batches, clipping, AdamW) and its metrics depend on every float of
it, so a change of behaviour anywhere shows up as a changed value.

Three questions, three checks:

* **Another computation?** Every record is compared with its golden file: exactly where the computation is discrete
  (integers, strings, counts, rewards, accuracies, lengths, clip-region fractions: see :func:`is_exact`), within
  ``ATOL + RTOL * |golden|`` for the other floats. The timing keys (wall clock, throughput, memory) are dropped.
* **Another processor?** The same comparison passes for a run with torch's CPU kernels forced to the scalar path
  (``ATEN_CPU_CAPABILITY=default``), a stand-in for a processor whose vector kernels differ from this one's.
* **The same machine twice?** Two runs in two fresh processes on this machine are bit-identical
  (:func:`test_two_runs_on_one_machine_are_bit_identical`).

How the tolerance was chosen. fp32 results depend on which kernels torch picks (AVX-512 on a Xeon, AVX2 on an EPYC
without AVX-512, scalar code under ``ATEN_CPU_CAPABILITY=default``), because they sum in other orders. Measured on
2026-12-07 against these golden files (written on an Intel Xeon with AMX, AVX-512 kernels):

* AMD EPYC (Zen 3, AVX2 kernels, its native path): every value identical;
* the same EPYC under ``ATEN_CPU_CAPABILITY=default``: the largest absolute difference of a value below 0.1 in
  magnitude was 1.9e-7 (``kl/ref``, ppo step 1: 0.0030488670 against 0.0030486733), the largest relative
  difference of a value of 0.1 or more 3.3e-7 (``grad_norm``, grpo step 1); quantities that cancel to about zero
  (``loss/policy`` of an on-policy step, ``rollout/logprob_mismatch_kl`` at 1e-13) differ by up to 8.2e-8 in
  absolute terms and arbitrarily in relative ones;
* an AMD EPYC with AVX-512 kernels (reported in issue 26): ``loss/policy`` ppo step 1 differs by 4.4e-8,
  ``grad_norm`` by 3.3e-7.

``ATOL`` is ten times the largest absolute difference measured (1.9e-7, rounded up to 2e-6); ``RTOL`` is thirty
times the largest relative one (3.3e-7, rounded up to 1e-5). A real change is far larger: a 0.1% change to the k3
KL moves grpo's ``kl/ref`` at step 2 by 4.1e-5, 17 times its tolerance, and
:func:`test_a_one_in_a_thousand_change_to_the_kl_fails` shows that such a change is caught.

The runs happen one after the other in fresh subprocesses with one torch thread (each run seeds torch, numpy and
random when its Trainer is built), so that the result does not depend on the host's core count or on what other
tests left in the process. The three processes (native twice, scalar once) start together.

A metric that a run does not compute is absent from its records (not 0).

Regenerate (only when a change of behaviour is intended, and say so in the commit):
    PYTHONPATH=. python tests/test_golden_runs.py --write
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = Path(__file__).parent / "golden"

TIMING_KEYS = ("throughput/rollout_tok_s", "throughput/train_tok_s", "time/", "memory/")
"""Dropped before comparing (prefixes): wall-clock times, tokens per second and peak memory."""

ATOL = 2e-6
RTOL = 1e-5
"""Float tolerance: |now - golden| <= ATOL + RTOL * |golden| (module docstring: how they were chosen)."""

EXACT_PREFIXES = ("reward/", "accuracy", "response_length/", "truncated_frac", "clipfrac/", "offpolicy/clipfrac/", "value/clipfrac",
                  "tis/truncated_frac", "filter/", "budget/", "lr")
"""Float keys computed from discrete things (rewards, lengths, counts of tokens on one side of a threshold) or by
Python arithmetic on configuration values: compared exactly."""

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": str(i)} for i in range(64)]

BASE = dict(model="tiny-random", dtype="float32", steps=2, prompts_per_step=2, responses_per_prompt=4,
            max_new_tokens=4, lr=1e-3, micro_batch_size=4, save_final=False, tensorboard=False, seed=0)

RUNS = {
    # GRPO with its KL loss to a reference model; one update per step, so old log-probs come from the training
    # forward; TIS on that forward's log-probs
    "grpo": dict(algo="grpo", tis_cap=2.0),
    # PPO: critic + GAE, KL in the reward; 2 epochs x 2 mini-batches, so old log-probs are recomputed
    "ppo": dict(algo="ppo", epochs=2, minibatch_size=4, micro_batch_size=2),
    # DAPO: dynamic sampling (groups with equal rewards dropped, more prompts drawn), soft overlong punishment within
    # the 4-token budget, token TIS on recomputed old log-probs (two mini-batches)
    "dapo": dict(algo="dapo", prompts_per_step=4, dynamic_sampling_max_rounds=3, minibatch_size=8, tis_cap=2.0,
                 algo_overrides={"overlong_max_len": 4, "overlong_cache_len": 3}),
    # CE-GPPO: engine log-probs as old log-probs, an entropy bonus, length buckets of the shared-prefix forward
    "ce-gppo": dict(algo="ce-gppo", old_logprobs="rollout", length_buckets=True, micro_batch_size=8,
                    algo_overrides={"entropy_coef": 0.01}),
    # Dr. GRPO: seq-mean-token-sum-norm with the generation budget as its constant length
    "dr-grpo": dict(algo="dr-grpo", micro_batch_size=3),
    # GRPO scored by the named reward functions (correctness + format) instead of a callable
    "grpo-named-reward": dict(algo="grpo", steps=1, reward="correctness+format"),
}
CALLABLE_REWARD = {"grpo", "ppo", "dapo", "ce-gppo", "dr-grpo"}


def mod3_reward(golds, rollouts):
    """Varies within groups: +1 when the first response token id is divisible by 3 (or the prompt's row id is
    divisible by 4, which makes whole groups constant for dynamic sampling to drop), else -1."""
    return [1.0 if (r.response_ids and r.response_ids[0] % 3 == 0) or int(g) % 4 == 0 else -1.0
            for g, r in zip(golds, rollouts)]


def run_all(out_dir: str, only: list[str] | None = None) -> None:
    """The golden runs (``only`` those named), writing out_dir/<name>/metrics.jsonl (called in a fresh process)."""
    import torch

    torch.set_num_threads(1)
    from harness.training import TrainConfig, train

    for name in sorted(only or RUNS):
        cfg = TrainConfig(**{**BASE, **RUNS[name], "out_dir": str(Path(out_dir) / name)})
        kw = {"reward_fn": mod3_reward} if name in CALLABLE_REWARD else {}
        train(cfg, progress=False, dataset=ROWS, **kw)


def _start(out_dir: Path, *, source: Path = REPO, only: list[str] | None = None,
           capability: str | None = None) -> subprocess.Popen:
    """Start the golden runs in a fresh process importing the project from ``source``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])}
    if capability:   # else the caller's own setting, if any, applies (ATEN_CPU_CAPABILITY=avx2 pytest ... tests it)
        env["ATEN_CPU_CAPABILITY"] = capability
    argv = [sys.executable, str(source / "tests" / "test_golden_runs.py"), "--run-all", str(out_dir)]
    return subprocess.Popen(argv + (["--only", ",".join(only)] if only else []), env=env, cwd=source,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collect(proc: subprocess.Popen, out_dir: Path, names) -> dict[str, list[dict]]:
    _, err = proc.communicate()
    assert proc.returncode == 0, f"the golden runs failed:\n{err[-4000:]}"
    return {name: [json.loads(line) for line in (out_dir / name / "metrics.jsonl").read_text().splitlines()]
            for name in sorted(names)}


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """The golden runs three times, started together: native, native again, and on torch's scalar kernels."""
    root = tmp_path_factory.mktemp("golden")
    settings = {"native": None, "native-again": None, "scalar": "default"}
    procs = {key: _start(root / key, capability=cap) for key, cap in settings.items()}
    return {key: _collect(proc, root / key, RUNS) for key, proc in procs.items()}


def comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in rec.items() if not k.startswith(TIMING_KEYS)} for rec in records]


def is_exact(key: str, value) -> bool:
    """Compared exactly: anything that is not a float, and the float keys of ``EXACT_PREFIXES``."""
    return not isinstance(value, float) or key.startswith(EXACT_PREFIXES)


def differences(golden: list[dict], records: list[dict]) -> list[str]:
    """What differs between a golden file's records and a run's, beyond the tolerance: one line each, empty when
    the run reproduces the file."""
    got = comparable(records)
    if [r["step"] for r in got] != [r["step"] for r in golden]:
        return [f"steps differ: golden {[r['step'] for r in golden]}, now {[r['step'] for r in got]}"]
    out = []
    for want, have in zip(golden, got):
        step = want["step"]
        if sorted(have) != sorted(want):
            out.append(f"step {step}: metric keys differ; missing {sorted(set(want) - set(have))}, new "
                       f"{sorted(set(have) - set(want))}")
            continue
        for key, expected in want.items():
            value = have[key]
            if is_exact(key, expected) or not isinstance(value, float):
                if value != expected:
                    out.append(f"step {step}: {key} is {value!r}, golden {expected!r} (compared exactly)")
            elif not (math.isfinite(value) and abs(value - expected) <= ATOL + RTOL * abs(expected)):
                out.append(f"step {step}: {key} is {value!r}, golden {expected!r} (differs by "
                           f"{abs(value - expected):.3g}; tolerance {ATOL + RTOL * abs(expected):.3g})")
    return out


def _golden(name: str) -> list[dict]:
    return [json.loads(line) for line in (GOLDEN_DIR / f"{name}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kernels", ["native", "scalar"])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run_reproduces_its_file(name, kernels, three_runs):
    diff = differences(_golden(name), three_runs[kernels][name])
    assert not diff, f"{name} ({kernels} kernels):\n" + "\n".join(diff)


def test_two_runs_on_one_machine_are_bit_identical(three_runs):
    for name in sorted(RUNS):
        first, second = comparable(three_runs["native"][name]), comparable(three_runs["native-again"][name])
        # a json round trip of a float is exact (repr), so == is a bit-for-bit comparison
        assert first == second, (name, [(a["step"], {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})
                                        for a, b in zip(first, second) if a != b])


def test_the_scalar_kernels_are_another_path(three_runs):
    """The scalar run is worth having only if its floats really differ somewhere (else it tests nothing)."""
    import torch

    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("torch runs its scalar kernels natively here (no AVX2, or ATEN_CPU_CAPABILITY=default)")
    changed = [(name, k) for name in RUNS
               for a, b in zip(comparable(three_runs["native"][name]), comparable(three_runs["scalar"][name]))
               for k in a if a[k] != b.get(k)]
    assert changed, "ATEN_CPU_CAPABILITY=default gave the same bits as the native kernels"
    assert all(not is_exact(k, 0.5) for _, k in changed), changed


K3_LINE = re.compile(r"^(\s*)return torch\.exp\(-d\) - 1\.0 \+ d\s*$", re.M)


@pytest.mark.slow
def test_a_one_in_a_thousand_change_to_the_kl_fails(tmp_path):
    """A scratch copy of the project whose k3 KL is scaled by 1.001 must fail grpo's golden comparison, on kl/ref."""
    scratch = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("algorithms", "rewards", "benchmarks", "harness", "tests"):
        shutil.copytree(REPO / package, scratch / package, ignore=ignore)
    kl_py = scratch / "algorithms" / "kl.py"
    text, count = K3_LINE.subn(r"\1return 1.001 * (torch.exp(-d) - 1.0 + d)", kl_py.read_text())
    assert count == 1, "the k3 line of algorithms/kl.py was not found: update K3_LINE"
    kl_py.write_text(text)
    out = tmp_path / "out"
    runs = _collect(_start(out, source=scratch, only=["grpo"]), out, ["grpo"])
    diff = differences(_golden("grpo"), runs["grpo"])
    assert any("kl/ref" in line for line in diff), diff


def test_golden_runs_exercise_what_they_claim():
    """The golden files themselves: dynamic sampling did draw extra groups, the critic and reference were used."""
    dapo = _golden("dapo")
    assert any(r["filter/dropped_groups"] > 0 for r in dapo)
    assert all(r["filter/kept_groups"] == 4 for r in dapo)
    ppo = _golden("ppo")
    assert all("loss/value" in r and "kl/ref" in r for r in ppo)
    assert all(r["old_logprobs"] == "recompute" and r["updates"] == 4 for r in ppo)
    grpo = _golden("grpo")
    assert grpo[-1]["kl/ref"] > 0.01     # large enough for a 0.1% change to stand out against the tolerance


def test_the_comparison_is_exact_on_counts_and_tolerant_on_floats():
    golden = [{"step": 1, "loss/policy": 0.5, "reward/mean": 0.25, "budget/tokens": 12, "kl/ref": 0.0}]
    near = [{"step": 1, "loss/policy": 0.5 + 1e-6, "reward/mean": 0.25, "budget/tokens": 12, "kl/ref": 1e-7,
             "time/step_s": 3.0}]
    assert differences(golden, near) == []
    assert differences(golden, [{**near[0], "reward/mean": 0.25 + 1e-12}])
    assert differences(golden, [{**near[0], "budget/tokens": 13}])
    assert differences(golden, [{**near[0], "loss/policy": 0.5 * 1.001}])
    assert differences(golden, [{**near[0], "loss/policy": float("nan")}])
    assert differences(golden, [{**near[0], "new/key": 1.0}])


def _write() -> None:
    import tempfile

    GOLDEN_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, records in _collect(_start(Path(tmp)), Path(tmp), RUNS).items():
            (GOLDEN_DIR / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in comparable(records)))
            print(f"wrote {GOLDEN_DIR / (name + '.jsonl')} ({len(records)} steps)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run-all"]:
        only = sys.argv[4].split(",") if sys.argv[3:4] == ["--only"] else None
        run_all(sys.argv[2], only)
    elif sys.argv[1:2] == ["--write"]:
        _write()
    else:
        sys.exit("usage: test_golden_runs.py --write | --run-all OUT_DIR [--only NAME,...]")
