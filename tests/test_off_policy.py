"""algorithms.off_policy and the loss arguments the trainer relies on: rollout_is_weights (verl's name), the one
non-finite check (on_nonfinite), and Dr. GRPO's generation budget set when the objective is built."""
from __future__ import annotations

import math

import pytest
import torch

import algorithms
from algorithms.off_policy import mismatch_kl, mismatch_kl_tokens, tis_stats, tis_weights


def _batch(seed=0, B=3, T=5):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g) * 3).requires_grad_()
    old = logp.detach() + 0.3 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, T, generator=g)
    mask = torch.ones(B, T)
    mask[0, 3:] = 0
    return logp, old, adv, mask


def test_mismatch_kl_tokens_is_k3_of_the_engine_sampled_tokens():
    """k3 = rho - 1 - log rho with rho = pi_trainer / pi_engine (Schulman 2020), 0 off the mask."""
    eng = torch.tensor([[-1.0, -2.0, -0.5]])
    trn = torch.tensor([[-1.2, -1.5, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    per_token = mismatch_kl_tokens(eng, trn, mask)
    log_rho = (trn - eng).double()
    want = torch.exp(log_rho) - 1 - log_rho
    assert per_token[0, :2].tolist() == pytest.approx(want[0, :2].tolist(), rel=1e-12)
    assert per_token[0, 2] == 0
    assert mismatch_kl(eng, trn, mask) == pytest.approx(float(want[0, :2].mean()), rel=1e-12)
    assert mismatch_kl(eng, trn, torch.zeros_like(mask)) == 0.0


def test_tis_stats_count_the_mean_weight_and_the_capped_tokens():
    w = tis_weights(torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, -5.0, -0.1]]), torch.ones(1, 3), cap=2.0)
    stats = tis_stats(w, torch.ones(1, 3), cap=2.0)
    assert stats["tis/truncated_frac"] == (1.0, 3.0)
    assert stats["tis/mean_weight"][0] == pytest.approx(1.0 + 2.0 + math.exp(0.1), rel=1e-6)


@pytest.mark.parametrize("name", ["ppo", "grpo", "dapo", "ce-gppo", "cispo"])
def test_rollout_is_weights_scale_the_advantages(name):
    """loss(rollout_is_weights=w) is loss with advantages w * A (the objectives are piecewise linear in A and w > 0)."""
    algo = algorithms.get(name, kl_coef=0.0)
    logp, old, adv, mask = _batch()
    w = tis_weights(old, old - 0.2 * torch.randn_like(old), mask, cap=2.0)
    got, _ = algo.loss(logp=logp, old_logp=old, advantages=adv, mask=mask, rollout_is_weights=w)
    want, _ = algo.loss(logp=logp, old_logp=old, advantages=adv * w, mask=mask)
    assert float(got.detach()) == float(want.detach())


def test_rollout_is_weights_equal_verls_weighting_of_the_ppo_token_loss():
    """verl's compute_policy_loss_vanilla multiplies the clipped per-token loss by rollout_is_weights; for PPO's clip
    (w > 0) that is the same loss as scaling the advantages."""
    algo = algorithms.get("ppo", kl_coef=0.0, loss_agg_mode="token-mean")
    logp, old, adv, mask = _batch(seed=1)
    w = torch.rand_like(old) + 0.5
    loss, _ = algo.loss(logp=logp, old_logp=old, advantages=adv, mask=mask, rollout_is_weights=w)
    ratio = torch.exp(logp.detach() - old)
    per_token = torch.maximum(-adv * ratio, -adv * ratio.clamp(0.8, 1.2))
    per_token = torch.where(adv < 0, torch.minimum(per_token, -adv * 3.0), per_token) * w   # dual clip c = 3
    want = (per_token * mask).sum() / mask.sum()
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-5)


def test_one_nonfinite_check_raises_or_gives_a_nan_loss():
    algo = algorithms.get("grpo", kl_coef=0.0)
    logp, old, adv, mask = _batch()
    old[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"old_logp has 1 NaN/inf value"):
        algo.loss(logp=logp, old_logp=old, advantages=adv, mask=mask)
    loss, metrics = algo.loss(logp=logp, old_logp=old, advantages=adv, mask=mask, on_nonfinite="nan")
    assert math.isnan(float(loss.detach())) and metrics == {}
    old[1, 2] = 0.0
    old[0, 4] = float("inf")           # off the mask: fine
    loss, _ = algo.loss(logp=logp, old_logp=old, advantages=adv, mask=mask, on_nonfinite="nan")
    assert math.isfinite(float(loss.detach()))
    ppo = algorithms.get("ppo")
    values = torch.zeros_like(old)
    values[2, 0] = float("nan")
    vloss, vm = ppo.critic_loss(values=values, old_values=torch.zeros_like(old), returns=torch.zeros_like(old),
                                mask=mask, on_nonfinite="nan")
    assert math.isnan(float(vloss.detach())) and vm == {}


def test_dr_grpo_takes_the_generation_budget_when_built():
    """Dr. GRPO (Liu et al. 2025) divides by the generation budget, a constant, set when the objective is built."""
    assert algorithms.get("dr-grpo", generation_budget=7).loss_norm_length == 7
    assert algorithms.get("dr-grpo", generation_budget=7, loss_norm_length=3).loss_norm_length == 3
    assert algorithms.get("dr-grpo").loss_norm_length is None
    assert algorithms.get("grpo", generation_budget=7).loss_norm_length is None
    assert algorithms.get("grpo", generation_budget=7, loss_agg_mode="seq-mean-token-sum-norm").loss_norm_length == 7


def test_trainer_refuses_a_dr_grpo_instance_without_its_length(tmp_path):
    from harness.training import TrainConfig, Trainer, TrainingError

    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, out_dir=str(tmp_path / "run"))
    with pytest.raises(TrainingError, match="generation_budget=256"):
        Trainer(cfg, dataset=[{"id": "0", "prompt": "Q", "answer": "1"}], reward_fn=lambda g, r: [0.0] * len(r),
                algorithm=algorithms.get("dr-grpo"), progress=False)
