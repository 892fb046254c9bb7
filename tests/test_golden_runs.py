"""Golden runs: one fixed-seed `tiny-random` run per objective family writes the same metrics.jsonl, bit for bit, as
the files in tests/golden/ (written from the trainer at 341ca41, before the trainer was split into harness/training).

Each run goes through the whole step (rollout, reward, dynamic sampling, old/reference log-probs, critic,
advantages, TIS, epochs x mini-batches x micro-batches, clipping, AdamW) and its metrics depend on every float of
it, so a change of behaviour anywhere shows up as a changed value. Every value is compared exactly, except the keys
in TIMING_KEYS (wall clock, throughput and memory), which measure the machine, not the computation.

A metric that a run does not compute is absent from its records (not 0): the files were written at 341ca41, and
the keys that trainer filled with a default 0 (`kl/ref` without a reference model, `gradshare/*` when no gradient
reached the log-probs) were then deleted from them; every other value is as 341ca41 wrote it.

The runs happen one after the other in one fresh subprocess with one torch thread (each run seeds torch, numpy and
random when its Trainer is built), so that the result does not depend on the host's core count or on what other
tests left in the process (RNG state, thread pools), and the imports are paid once.

Regenerate (only when a change of behaviour is intended, and say so in the commit):
    PYTHONPATH=. python tests/test_golden_runs.py --write
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"

TIMING_KEYS = ("throughput/rollout_tok_s", "throughput/train_tok_s", "time/step_s", "memory/peak_rss_mb",
               "memory/peak_gpu_mb")
"""Dropped before comparing: wall-clock time, tokens per second and peak memory."""

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


def run_all(out_dir: str) -> None:
    """Every golden run, writing out_dir/<name>/metrics.jsonl (called in a fresh process)."""
    import torch

    torch.set_num_threads(1)
    from harness.training import TrainConfig, train

    for name in sorted(RUNS):
        cfg = TrainConfig(**{**BASE, **RUNS[name], "out_dir": str(Path(out_dir) / name)})
        kw = {"reward_fn": mod3_reward} if name in CALLABLE_REWARD else {}
        train(cfg, progress=False, dataset=ROWS, **kw)


def _subprocess_run_all(out_dir: Path) -> dict[str, list[dict]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, __file__, "--run-all", str(out_dir)], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"the golden runs failed:\n{proc.stderr[-4000:]}"
    return {name: [json.loads(line) for line in (out_dir / name / "metrics.jsonl").read_text().splitlines()]
            for name in sorted(RUNS)}


@pytest.fixture(scope="module")
def golden_runs(tmp_path_factory) -> dict[str, list[dict]]:
    return _subprocess_run_all(tmp_path_factory.mktemp("golden"))


def _comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in rec.items() if k not in TIMING_KEYS} for rec in records]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run_is_bit_identical(name, golden_runs):
    golden_path = GOLDEN_DIR / f"{name}.jsonl"
    golden = [json.loads(line) for line in golden_path.read_text().splitlines()]
    got = _comparable(golden_runs[name])
    assert [r["step"] for r in got] == [r["step"] for r in golden]
    for want, have in zip(golden, got):
        assert sorted(have) == sorted(want), (f"{name} step {want['step']}: metric keys differ; missing "
                                              f"{sorted(set(want) - set(have))}, new {sorted(set(have) - set(want))}")
        diff = {k: (want[k], have[k]) for k in want if want[k] != have[k]}
        # json round trip of a float is exact (repr), so == is a bit-for-bit comparison
        assert not diff, f"{name} step {want['step']}: values differ (golden, now): {diff}"


def test_golden_runs_exercise_what_they_claim():
    """The golden files themselves: dynamic sampling did draw extra groups, the critic and reference were used."""
    dapo = [json.loads(line) for line in (GOLDEN_DIR / "dapo.jsonl").read_text().splitlines()]
    assert any(r["filter/dropped_groups"] > 0 for r in dapo)
    assert all(r["filter/kept_groups"] == 4 for r in dapo)
    ppo = [json.loads(line) for line in (GOLDEN_DIR / "ppo.jsonl").read_text().splitlines()]
    assert all("loss/value" in r and "kl/ref" in r for r in ppo)
    assert all(r["old_logprobs"] == "recompute" and r["updates"] == 4 for r in ppo)


def _write() -> None:
    import tempfile

    GOLDEN_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, records in _subprocess_run_all(Path(tmp)).items():
            (GOLDEN_DIR / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _comparable(records)))
            print(f"wrote {GOLDEN_DIR / (name + '.jsonl')} ({len(records)} steps)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run-all"]:
        run_all(sys.argv[2])
    elif sys.argv[1:2] == ["--write"]:
        _write()
    else:
        sys.exit("usage: test_golden_runs.py --write | --run-all OUT_DIR")
