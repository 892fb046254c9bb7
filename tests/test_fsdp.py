"""FSDP2 (harness.training.distributed.shard_model and its helpers): two gloo ranks under torchrun against one process.

The worker (tests/fsdp_worker.py) runs 2 AdamW steps with gradient clipping of grpo, ce-gppo and ppo (policy and
critic, each with its own optimiser) on tiny-random in float32, on one fixed batch split over the ranks. Checked:
the same losses, gradient norms and parameters as one process (1e-6); a torch.distributed.checkpoint written by the
2 ranks after step 1 and loaded by a single process gives the same step-2 metrics and parameters; each rank holds
half of the parameter and optimiser-state elements that one process (a DDP replica) holds.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.training import distributed

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "fsdp_worker.py"
ALGOS = ("grpo", "ce-gppo", "ppo")


def _run(cmd: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fsdp")
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
          "--out", str(tmp / "sharded"), "--save-after", "1", "--algos", ",".join(ALGOS)], tmp)
    _run([sys.executable, str(WORKER), "--out", str(tmp / "single"), "--resume-from", str(tmp / "sharded"),
          "--algos", ",".join(ALGOS)], tmp)
    return tmp


def _load(folder: Path, algo: str):
    return json.loads((folder / f"{algo}.json").read_text()), torch.load(folder / f"{algo}.pt", weights_only=True)


def _assert_same_params(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=tol, msg=lambda m, k=key: f"{k}: {m}")


def _assert_same_steps(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            assert y[key] == pytest.approx(x[key], rel=1e-6, abs=1e-6), key


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_two_sharded_ranks_match_one_process(runs, algo):
    sharded, sharded_params = _load(runs / "sharded", algo)
    single, single_params = _load(runs / "single", algo)
    assert sharded["sharded"] and sharded["world_size"] == 2 and not single["sharded"]
    assert len(single["steps"]) == 2
    for step in sharded["steps"]:   # the global norm over both ranks' shards was clipped to max norm 1
        assert step["grad_norm"] > 1.0 and step["clipped_norm"] == pytest.approx(1.0, rel=1e-5)
    _assert_same_steps(single["steps"], sharded["steps"])
    _assert_same_params(single_params, sharded_params, 1e-6)
    # the two AdamW steps (lr 1e-5) moved the weights by far more than that tolerance
    from harness import models

    initial = {f"policy.{k}": v for k, v in models.load_policy("tiny-random")[0].state_dict().items()}
    moved = max(float((single_params[k] - v).abs().max()) for k, v in initial.items())
    assert moved > 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_checkpoint_from_two_ranks_resumes_in_one_process(runs, algo):
    sharded, sharded_params = _load(runs / "sharded", algo)
    resumed, resumed_params = _load(runs / "single" / "resumed", algo)
    assert resumed["start"] == 1 and not resumed["sharded"]
    _assert_same_steps(sharded["steps"][1:], resumed["steps"])
    _assert_same_params(sharded_params, resumed_params, 1e-6)
    files = sorted(p.name for p in (runs / "sharded" / f"{algo}.dcp").iterdir())
    assert files == [".metadata", "__0_0.distcp", "__1_0.distcp"]


@pytest.mark.slow
def test_parameter_and_optimiser_memory_per_rank_is_halved(runs):
    """Elements each rank holds (the local shards of the DTensors) against one process's full replica, which is
    what every DDP rank holds: about 1/world, asserted within 30%."""
    sharded, _ = _load(runs / "sharded", "grpo")
    single, _ = _load(runs / "single", "grpo")
    per_rank = sharded["local_param_numel"] + sharded["local_optim_numel"]
    replica = single["local_param_numel"] + single["local_optim_numel"]
    assert single["local_optim_numel"] == 2 * single["local_param_numel"]       # AdamW: exp_avg and exp_avg_sq
    assert per_rank / replica == pytest.approx(1 / 2, rel=0.3)


def test_clip_grad_norm_on_plain_tensors_matches_torch():
    """Without sharding the helper is torch's clip_grad_norm_ (the DTensor case runs in the torchrun tests)."""
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(3)]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    for p, q in zip(a, b):
        p.grad = torch.randn_like(p) * 3
        q.grad = p.grad.clone()
    norm = distributed.clip_grad_norm(a, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(b, 1.0)
    assert norm == pytest.approx(float(expected), rel=1e-6) and norm > 1.0
    for p, q in zip(a, b):
        torch.testing.assert_close(p.grad, q.grad)


def test_decoder_layers_are_found_in_policy_and_critic():
    from harness import models

    policy, _ = models.load_policy("tiny-random")
    critic = models.ValueModel(policy)
    assert len(distributed.decoder_layers(policy)) == models.TINY_CONFIG["num_hidden_layers"]
    assert distributed.decoder_layers(critic) == distributed.decoder_layers(policy)
    assert distributed.decoder_layers(torch.nn.Linear(2, 2)) == []


def test_sharding_needs_a_process_group():
    with pytest.raises(ValueError, match="torchrun"):
        distributed.shard_model(torch.nn.Linear(2, 2), distributed.DistInfo(world_size=2))


# ---------------------------------------------------------------------------------------------------------------
# the trainer with fsdp=true under torchrun

PARITY_PLUGIN = '''
from dataclasses import dataclass
import rewards

@rewards.register_reward("test-fsdp-text-parity")
@dataclass
class TextParity(rewards.RewardFn):
    """1 when the sum of the response's character codes is even (varies within groups of a random model)."""
    def batch(self, golds, responses, num_tokens=None):
        return [rewards.RewardResult(float(sum(map(ord, r)) % 2 == 0), "parity") for r in responses]
'''

TRAIN_SETTINGS = {"task_params": '{"n": 40}', "template": "plain", "prompts_per_step": 4, "responses_per_prompt": 4,
                  "max_new_tokens": 4, "micro_batch_size": 3, "dtype": "float32", "lr": 1e-5,
                  "rollout_batch_prompts": 1, "device": "cpu", "tensorboard": "false", "save_every": 1,
                  "fsdp": "true", "reward": "test-fsdp-text-parity"}
SKIP_KEYS = ("time/", "throughput/", "memory/")


def _train(tmp_path: Path, algo: str, out: Path, nproc: int, resume: bool = False, fsdp: bool = True) -> None:
    plugin = tmp_path / "parity_plugin.py"
    plugin.write_text(PARITY_PLUGIN)
    settings = {**TRAIN_SETTINGS, "fsdp": str(fsdp).lower()}
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    _run([*launcher, "-m", "harness.cli", "train", "--plugin", str(plugin), "--algo", algo, "--model", "tiny-random",
          "--task", "arith", "--steps", "2", "--out", str(out), "--no-progress", *(["--resume"] if resume else []),
          *sets], tmp_path)


def _records(out: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if not k.startswith(SKIP_KEYS)}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def _assert_same_records(a: list[dict], b: list[dict]) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b):
        for key, value in x.items():
            if isinstance(value, float):
                assert y[key] == pytest.approx(value, rel=1e-6, abs=1e-6), (x["step"], key)
            else:
                assert y[key] == value, (x["step"], key)


def _final(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "model.safetensors"))


@pytest.mark.slow
# grpo takes the same trainer path as ce-gppo (outcome advantages, no critic); the sharding of all three objectives
# against one process is checked above, here the whole trainer for one objective of each kind
@pytest.mark.parametrize("algo", ("ce-gppo", "ppo"))
def test_trainer_fsdp_on_two_ranks_matches_one_process(tmp_path, algo):
    """`train --set fsdp=true` under torchrun (2 gloo ranks) against one process: the same metrics at both steps
    (rewards, losses, gradient norms, clip fractions) and the same final weights (1e-6); the checkpoints hold the
    sharded folder. PPO whitens its GAE advantages over each rank's own tokens (as under DDP), so any 2-rank run
    differs from one process there: PPO is compared with the 2-rank DDP run instead."""
    two = tmp_path / "two"
    _train(tmp_path, algo, two, nproc=2)
    reference = tmp_path / "reference"
    _train(tmp_path, algo, reference, nproc=2 if algo == "ppo" else 1, fsdp=False)
    rec_two, rec_ref = _records(two), _records(reference)
    assert 0 < rec_ref[0]["reward/mean"] < 1 and rec_ref[0]["grad_norm"] > 0
    _assert_same_records(rec_ref, rec_two)
    _assert_same_params(_final(reference), _final(two), 1e-6)
    files = sorted(p.name for p in (two / "checkpoints" / "step-2" / "sharded").iterdir())
    assert files == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert not (two / "checkpoints" / "step-2" / "optimizer.pt").exists()
    if algo == "ce-gppo":   # a checkpoint of the 2-rank run resumed by one process: the same step 2
        resumed = tmp_path / "resumed"
        shutil.copytree(two, resumed)
        shutil.rmtree(resumed / "checkpoints" / "step-2")
        shutil.rmtree(resumed / "final")
        _train(tmp_path, algo, resumed, nproc=1, resume=True)
        _assert_same_records(rec_two, _records(resumed))
        _assert_same_params(_final(two), _final(resumed), 1e-6)


def test_fsdp_refuses_what_would_deadlock(tmp_path):
    """Under FSDP2 every rank must make the same model calls; dynamic sampling would not (checked before any model
    is loaded)."""
    import algorithms
    from harness.training import TrainConfig, TrainingError
    from harness.training.config import check_fsdp

    cfg = TrainConfig(algo="dapo", model="tiny-random", fsdp=True, out_dir=str(tmp_path), device="cpu")
    with pytest.raises(TrainingError, match="dynamic sampling"):
        check_fsdp(cfg, algorithms.get("dapo"))
