"""tools/perf/roofline.py: the FLOP count of the model's shapes against the model's own linear layers, and the
floors of a real run folder (tiny-random, the step timers of harness.timing)."""
from __future__ import annotations

import pytest
import torch

from harness import models
from tools.perf import roofline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_shapes_count_every_linear_weight_of_the_model_once():
    path = models.resolve("tiny-random")
    shapes = roofline.Shapes.from_config(path)
    model, _ = models.load_policy("tiny-random")
    seen, total = set(), 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.weight.data_ptr() not in seen:
            seen.add(module.weight.data_ptr())
            total += module.weight.numel()
    assert shapes.params == total                       # the LM head (tied to the embedding) counted once
    assert shapes.forward_flops(10, 0) == 2 * 10 * shapes.body_params
    assert shapes.forward_flops(10, 10) == 2 * 10 * total


def _machine(shapes) -> dict:
    # a made-up machine: 1 GFLOP/s-ish passes, enough to check the arithmetic of the floors
    rows = [1, 16, 256]
    return {"layer_pass_s": {d: {str(m): (m + 16) * 1e-3 for m in rows} for d in ("float32", "bfloat16")},
            "copy_gb_s": 10.0, "read_gb_s": 10.0, "sha256_mb_s": 1000.0, "fsync_write_mb_s": 1000.0}


def test_pass_time_interpolates_and_extrapolates_linearly():
    machine = _machine(None)
    assert roofline._pass_time(machine, "float32", 1) == pytest.approx(0.017)
    assert roofline._pass_time(machine, "float32", 16) == pytest.approx(0.032)
    assert roofline._pass_time(machine, "float32", 136) == pytest.approx(0.032 + (0.272 - 0.032) * 120 / 240)
    assert roofline._pass_time(machine, "float32", 512) == pytest.approx(0.272 * 2)


def test_floors_of_a_real_run_folder(tmp_path):
    from harness.training import TrainConfig, train

    cfg = TrainConfig(algo="grpo", model="tiny-random", dtype="float32", task="arith", task_params={"n": 50},
                      steps=2, prompts_per_step=2, responses_per_prompt=4, max_new_tokens=6, minibatch_size=4,
                      micro_batch_size=4, save_final=False, tensorboard=False, entropy_probe_prompts=2,
                      out_dir=str(tmp_path / "run"))
    train(cfg, progress=False)
    shapes = roofline.Shapes.from_config(models.resolve("tiny-random"))
    report = roofline.step_floors(tmp_path / "run", _machine(shapes), eval_batch=32)
    assert [s["step"] for s in report["steps"]] == [1, 2]
    for s in report["steps"]:
        assert {"rollout", "old_logprobs", "ref_logprobs", "update"} <= set(s["phases"])   # grpo: KL, 2 updates
        assert all(ph["floor_s"] > 0 and ph["measured_s"] > 0 for ph in s["phases"].values())
        assert s["floor_s"] == pytest.approx(sum(ph["floor_s"] for ph in s["phases"].values()))
    last = report["steps"][-1]["phases"]
    assert "probe" in last and "checkpoint" in last
    text = roofline.report_md({"machine": {"cpu": "x", "cpus": 2, "torch": "t", "torch_threads": 1},
                               "load_average": (0, 0, 0), "date": "d",
                               "matmul_gflop_s": {d: {"1": 1, "16": 1, "256": 1} for d in ("float32", "bfloat16")},
                               **_machine(shapes)}, report, "tiny", "cmd")
    assert "| 2 | **step** |" in text
