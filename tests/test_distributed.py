"""Data parallelism: two gloo ranks under torchrun give the same update as one process with the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from harness.training import distributed
from harness.run_layout import read_metrics
from harness.training import TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py

PLUGIN = textwrap.dedent('''
    from dataclasses import dataclass
    import rewards

    @rewards.register_reward("test-ddp-text-parity")
    @dataclass
    class TextParity(rewards.RewardFn):
        """1 when the sum of the response's character codes is even (varies within groups of a random model)."""
        def batch(self, golds, responses, num_tokens=None):
            return [rewards.RewardResult(float(sum(map(ord, r)) % 2 == 0), "parity") for r in responses]
''')


def parity(golds, rollouts):
    return [float(sum(map(ord, r.text)) % 2 == 0) for r in rollouts]


SETTINGS = dict(algo="grpo", model="tiny-random", task="arith", task_params={"n": 40}, template="plain", steps=1,
                prompts_per_step=4, responses_per_prompt=4, max_new_tokens=4, micro_batch_size=3, dtype="float32",
                lr=1e-3, grad_clip=0.0, rollout_batch_prompts=1, device="cpu", tensorboard=False)


def test_single_process_is_not_distributed():
    info = distributed.init("cpu")
    assert (info.rank, info.world_size, info.enabled, info.is_main) == (0, 1, False, True)
    assert distributed.all_reduce_sum({"a": 2.0}) == {"a": 2.0}
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, info) is model


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path):
    plugin = tmp_path / "parity_plugin.py"
    plugin.write_text(PLUGIN)
    out2 = tmp_path / "ranks2"
    sets = []
    for key, value in {**SETTINGS, "reward": "test-ddp-text-parity"}.items():
        if key in ("algo", "model", "task", "steps"):
            continue
        sets += ["--set", f"{key}={json.dumps(value) if isinstance(value, dict) else value}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "harness.cli",
           "train", "--plugin", str(plugin), "--algo", "grpo", "--model", "tiny-random", "--task", "arith",
           "--steps", "1", "--out", str(out2), "--no-progress", *sets]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    one = Trainer(TrainConfig(**SETTINGS, out_dir=str(tmp_path / "ranks1")), reward_fn=parity, progress=False)
    one.train()

    # the first training step (a step-0 record holds only the initial entropy/probe)
    rec1 = [r for r in read_metrics(tmp_path / "ranks1" / "metrics.jsonl") if r["step"] == 1][0]
    rec2 = [r for r in read_metrics(out2 / "metrics.jsonl") if r["step"] == 1][0]
    # the same rollouts and rewards ...
    assert rec1["reward/mean"] == rec2["reward/mean"] and rec1["response_length/mean"] == rec2["response_length/mean"]
    assert 0 < rec1["reward/mean"] < 1
    # ... the same gradient (its norm is scale-sensitive, unlike Adam's first step) ...
    assert rec2["grad_norm"] == pytest.approx(rec1["grad_norm"], rel=1e-4)
    assert rec2["loss/policy"] == pytest.approx(rec1["loss/policy"], rel=1e-4, abs=1e-7)
    # ... and the same parameters after the step
    from safetensors.torch import load_file

    two = load_file(str(out2 / "final" / "model.safetensors"))
    mine = one.model.state_dict()
    assert two, "no weights written by the 2-rank run"
    moved = 0.0
    # Adam's first step is lr * g / (|g| + eps): for coordinates with |g| near eps, float reordering of the sum
    # (other micro-batch boundaries, the all-reduce) moves the update by a few % of lr; a wrong gradient (a missing
    # rank, a wrong normalisation) moves many coordinates by ~lr.
    lr = SETTINGS["lr"]
    diffs = {name: float((tensor - mine[name]).abs().max()) for name, tensor in two.items()}
    assert max(diffs.values()) <= 0.05 * lr, sorted(diffs.items(), key=lambda kv: -kv[1])[:5]
    far = sum(int(((tensor - mine[name]).abs() > 1e-6).sum()) for name, tensor in two.items())
    total = sum(t.numel() for t in two.values())
    assert far / total < 1e-3, f"{far} of {total} parameters differ by more than 1e-6"
    base = load_file(str(Path(one.cfg.out_dir) / "final" / "model.safetensors"))
    from harness.models import load_policy

    initial, _ = load_policy("tiny-random")
    moved = max(float((base[n] - initial.state_dict()[n]).abs().max()) for n in base)
    assert moved > 1e-4, "the step did not change the weights; the comparison would be vacuous"
    step_dir = out2 / "checkpoints" / "step-1"
    assert (step_dir / "rng-rank1.pt").is_file() and (step_dir / "trainer_state.pt").is_file()
