"""The trainer drives issue 31's items as their definitions ask: prompt-mean's counts over the mini-batch (micro-batches
give the one-batch update), the corrections that read the current policy (opsm) or the step's batch mean
(normalize=1), and fec's schedule over the steps (with its state in the checkpoint's trainer state)."""
from __future__ import annotations

import pytest
import torch

from harness.errors import UserError
from harness.run_layout import read_metrics
from harness.training import TrainConfig, Trainer

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(32)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


def first_of_group_reward(golds, rollouts, group_size=4):
    """+1 for the first response of each group, -1 for the others: every group has a gradient."""
    return [1.0 if i % group_size == 0 else -1.0 for i in range(len(rollouts))]


def run(tmp_path, name, **kw):
    base = dict(model="tiny-random", dtype="float32", steps=1, prompts_per_step=2, responses_per_prompt=4,
                max_new_tokens=3, lr=1e-2, micro_batch_size=8, grad_clip=0.0, out_dir=str(tmp_path / name),
                save_final=False, tensorboard=False, algo="dapo")
    base.update(kw)
    trainer = Trainer(TrainConfig(**base), dataset=ROWS, reward_fn=first_of_group_reward, progress=False)
    result = trainer.train()
    params = torch.cat([p.detach().reshape(-1).clone() for p in trainer.model.parameters()])
    return read_metrics(result.metrics_path), params, trainer


def test_prompt_mean_micro_batches_give_the_one_batch_update(tmp_path):
    """Micro-batches of 1 sequence (a prompt's four responses in four micro-batches) with the mini-batch's prompt
    counts give the loss and gradient (norm) of one micro-batch of 8. Each micro-batch's own counts (one prompt of
    one response) would give 8 times the loss. (The weights after Adam's first step are no test: it turns float
    noise in near-zero gradients into full-size steps.)"""
    over = {"algo_overrides": {"loss_agg_mode": "prompt-mean"}}
    one, _, _ = run(tmp_path, "one", **over)
    split, _, _ = run(tmp_path, "split", micro_batch_size=1, **over)
    assert split[0]["skipped_steps"] == 0 and split[0]["grad_norm"] > 0
    for key in ("grad_norm", "loss/policy"):
        assert split[0][key] == pytest.approx(one[0][key], rel=1e-5), key


def test_opsm_reads_the_current_policy_in_the_trainer(tmp_path):
    """In the second epoch pi_theta has moved from the engine mu: with a tiny delta the negative responses whose
    probability fell are masked; in a single on-policy update (pi_theta = mu up to numerics) none is."""
    recs, _, _ = run(tmp_path, "two", epochs=2, lr=5e-2, rollout_correction="opsm:delta=1e-6")
    assert recs[0]["rollout_corr/masked_seq_frac"] > 0
    recs, _, _ = run(tmp_path, "one", rollout_correction="opsm:delta=1e-6")
    assert recs[0]["rollout_corr/masked_seq_frac"] == 0.0


def test_normalized_weights_have_mean_one_over_the_step(tmp_path):
    """normalize=1 divides by the step's batch mean, taken before the update from the recomputed pi_old: with one
    mini-batch the logged mean weight is 1. Where pi_old comes from the training forward the mean is not known
    before the update: a clear error."""
    recs, _, _ = run(tmp_path, "norm", micro_batch_size=3, old_logprobs="recompute",
                     rollout_correction="token-tis:normalize=1")
    assert recs[0]["rollout_corr/mean_weight"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(UserError, match="needs pi_old before the update; set old_logprobs=recompute"):
        run(tmp_path, "auto", rollout_correction="token-tis:normalize=1")


def test_fec_follows_its_schedule_over_the_steps(tmp_path):
    """id over T = 2 steps: step k = 0 uses the dynamic upper bound (w_high = lambda = 1), step k = 1 the standard
    bounds (lambda = 0). od keeps its state (boost flag, first entropy) in the checkpoint's trainer state."""
    recs, _, _ = run(tmp_path, "id", steps=2, algo="fec")
    assert [(r["fec/weight_high"], r["fec/weight_low"]) for r in recs] == [(1.0, 0.0), (0.0, 0.0)]
    recs, _, trainer = run(tmp_path, "od", steps=2, algo="fec", algo_overrides={"schedule": "od"})
    state = trainer.updater.state_dict()["objective_schedule"]
    assert state["entropy_init"] == pytest.approx(recs[0]["entropy"], rel=1e-6)
    assert state["last_entropy"] == pytest.approx(recs[1]["entropy"], rel=1e-6)
    assert [r["fec/weight_high"] for r in recs] == [0.0, 0.0]     # od starts suppressing; no boost yet
