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
                lr=1e-3, grad_clip=0.0, rollout_batch_prompts=1, device="cpu", tensorboard=False, adam_eps=1.0)

GRAD_RTOL = 1e-4
"""How far two correct computations of the step's gradient may differ, relative to its norm. The 2-rank run sums the
same per-token terms as the single process in another order (its micro-batches, then the all-reduce). A reordered
float32 sum of n terms differs by at most about n * u of the terms' magnitudes (u = 2**-24, about 6e-8); a gradient
coordinate of this model sums fewer than 10**3 terms (tokens times hidden width), hence at most 6e-5 < 1e-4. A missing
rank or a wrong normalisation changes the gradient by tens of percent or more."""


def parity_excess(weights: dict, reference: dict, *, grad_norm: float, lr: float, adam_eps: float) -> dict:
    """Per tensor, how far the largest |weight - reference| exceeds what float reordering alone can explain (only
    tensors that exceed it; empty when the two runs agree).

    After one step from the same start, AdamW moves a coordinate by ``-lr * wd * w - lr * g / (|g| + eps)`` (Adam's
    first step: m_hat = g, sqrt(v_hat) = |g|). The map g -> g / (|g| + eps) has slope at most 1 / eps, so a gradient
    error d moves the weight by at most ``lr * |d| / eps``, and |d| <= GRAD_RTOL * grad_norm. Two units in the last
    place of the weight cover the rounding of the stored values. With ``eps`` = 1, far above every |g| here, the step
    is nearly ``lr * g``: linear in the gradient, so a gradient of the wrong size or direction shows in the weights.
    (With Adam's usual eps of 1e-8 the slope near g = 0 is 1e8: coordinates whose gradient is at the rounding level
    may legitimately move by anything up to 2 lr, which a fixed bound on the weights cannot allow for.)
    """
    import torch

    out = {}
    for name, ref in reference.items():
        ulp = torch.finfo(torch.float32).eps * ref.abs()
        bound = lr * GRAD_RTOL * grad_norm / adam_eps + 2 * ulp
        excess = float(((weights[name] - ref).abs() - bound).max())
        if excess > 0:
            out[name] = excess
    return out


def _one_process_weights(tmp_path, name: str, **changes) -> tuple[dict, float]:
    cfg = TrainConfig(**{**SETTINGS, **changes}, out_dir=str(tmp_path / name))
    trainer = Trainer(cfg, reward_fn=parity, progress=False)
    trainer.train()
    rec = [r for r in read_metrics(tmp_path / name / "metrics.jsonl") if r["step"] == 1][0]
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, rec["grad_norm"]


@pytest.mark.slow
def test_the_parity_bound_catches_a_missing_rank_and_a_wrong_normalisation(tmp_path):
    """The bound of the 2-rank test is not vacuous: real single-process runs that differ from the reference the way
    the bugs it guards against would (half the batch, as if a rank's gradient were lost; a sum where the loss should
    be a mean) exceed it, and the reference run compared with itself does not."""
    reference, grad_norm = _one_process_weights(tmp_path, "reference")
    kw = dict(grad_norm=grad_norm, lr=SETTINGS["lr"], adam_eps=SETTINGS["adam_eps"])
    assert parity_excess(reference, reference, **kw) == {}
    half, _ = _one_process_weights(tmp_path, "half", prompts_per_step=2)
    summed, _ = _one_process_weights(tmp_path, "summed", algo_overrides={"loss_agg_mode": "token-sum"})
    assert len(parity_excess(half, reference, **kw)) > len(reference) // 2
    assert len(parity_excess(summed, reference, **kw)) > len(reference) // 2


def test_single_process_is_not_distributed():
    info = distributed.init("cpu")
    assert (info.rank, info.world_size, info.enabled, info.is_main) == (0, 1, False, True)
    assert distributed.all_reduce_sum({"a": 2.0}) == {"a": 2.0}
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, info) is model


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{}, {"loss_agg_mode": "prompt-mean"}], ids=["grpo", "grpo-prompt-mean"])
def test_two_gloo_ranks_match_one_process(tmp_path, overrides):
    """prompt-mean: each rank holds whole prompts; the number of prompts is summed over the ranks."""
    settings = {**SETTINGS, "algo_overrides": overrides}
    plugin = tmp_path / "parity_plugin.py"
    plugin.write_text(PLUGIN)
    out2 = tmp_path / "ranks2"
    sets = []
    for key, value in {**settings, "reward": "test-ddp-text-parity"}.items():
        if key in ("algo", "model", "task", "steps"):
            continue
        sets += ["--set", f"{key}={json.dumps(value) if isinstance(value, dict) else value}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "harness.cli",
           "train", "--plugin", str(plugin), "--algo", "grpo", "--model", "tiny-random", "--task", "arith",
           "--steps", "1", "--out", str(out2), "--no-progress", *sets]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    one = Trainer(TrainConfig(**settings, out_dir=str(tmp_path / "ranks1")), reward_fn=parity, progress=False)
    one.train()

    # the first training step (a step-0 record holds only the initial entropy/probe)
    rec1 = [r for r in read_metrics(tmp_path / "ranks1" / "metrics.jsonl") if r["step"] == 1][0]
    rec2 = [r for r in read_metrics(out2 / "metrics.jsonl") if r["step"] == 1][0]
    # the same rollouts and rewards ...
    assert rec1["reward/mean"] == rec2["reward/mean"] and rec1["response_length/mean"] == rec2["response_length/mean"]
    assert 0 < rec1["reward/mean"] < 1
    # ... the same gradient (its norm is scale-sensitive, unlike Adam's first step with a small eps) ...
    assert rec2["grad_norm"] == pytest.approx(rec1["grad_norm"], rel=GRAD_RTOL)
    assert rec2["loss/policy"] == pytest.approx(rec1["loss/policy"], rel=GRAD_RTOL, abs=1e-7)
    # ... and the same parameters after the step, within what float reordering explains (parity_excess)
    from safetensors.torch import load_file

    two = load_file(str(out2 / "final" / "model.safetensors"))
    mine = one.model.state_dict()
    assert two and set(two) <= set(mine), "the 2-rank run wrote other weights"   # tied lm_head is not saved
    excess = parity_excess(two, {name: mine[name] for name in two}, grad_norm=rec1["grad_norm"], lr=SETTINGS["lr"], adam_eps=SETTINGS["adam_eps"])
    assert not excess, sorted(excess.items(), key=lambda kv: -kv[1])[:5]
    base = load_file(str(Path(one.cfg.out_dir) / "final" / "model.safetensors"))
    from harness.models import load_policy

    initial, _ = load_policy("tiny-random")
    moved = max(float((base[n] - initial.state_dict()[n]).abs().max()) for n in base)
    noise = SETTINGS["lr"] * GRAD_RTOL * rec1["grad_norm"] / SETTINGS["adam_eps"]
    assert moved > 100 * noise, "the step barely changed the weights; the comparison would be vacuous"
    step_dir = out2 / "checkpoints" / "step-1"
    assert (step_dir / "rng-rank1.pt").is_file() and (step_dir / "trainer_state.pt").is_file()
