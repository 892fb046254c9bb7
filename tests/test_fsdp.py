"""FSDP2 (harness.distributed.shard_model and its helpers): two gloo ranks under torchrun against one process.

The worker (tests/fsdp_worker.py) runs 2 AdamW steps with gradient clipping of grpo, ce-gppo and ppo (policy and
critic, each with its own optimiser) on tiny-random in float32, on one fixed batch split over the ranks. Checked:
the same losses, gradient norms and parameters as one process (1e-6); a torch.distributed.checkpoint written by the
2 ranks after step 1 and loaded by a single process gives the same step-2 metrics and parameters; each rank holds
half of the parameter and optimiser-state elements that one process (a DDP replica) holds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import distributed

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
