"""The objectives, estimators, rollout corrections and the aggregation mode of issue 31 against the peers' own code, in
float64.

verl 0.9.1 is installed and called directly. For the other peers the function is transcribed below as a test oracle
(the project's implementation is its own code), each with its repository, commit and path; the differences the zoo
keeps from each peer are stated where the oracle is used and in docs/algorithms.md. The flexible entropy control of
arXiv 2602.09782 has no peer code: its authors' repository (Kwen-Chen/Flexible-Entropy-Control at f1061a8) holds a
README only; its test checks the closed form the authors give for the dynamic upper bound instead.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
import torch

import algorithms
from algorithms import advantages as adv_mod
from algorithms import off_policy as rc

F64 = torch.float64
B, T = 8, 7
GROUPS = torch.arange(B) // 4                      # two prompts of four responses


def batch(seed: int, lr_range: float = 1.0):
    """float64 log-probs of valid probabilities, ragged lengths, both signs of A (one per response)."""
    g = torch.Generator().manual_seed(seed)
    logp = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    old = (logp - (torch.rand(B, T, generator=g, dtype=F64) * 2 - 1) * lr_range).clamp(max=-1e-3)
    adv = torch.randn(B, 1, generator=g, dtype=F64).expand(B, T).clone()
    lengths = torch.randint(2, T + 1, (B,), generator=g)
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return logp, old, adv, mask


def zoo_loss(algo, logp, old, adv, mask, **kw):
    leaf = logp.clone().requires_grad_(True)
    loss, metrics = algo.loss(logp=leaf, old_logp=old, advantages=adv, mask=mask.to(F64), **kw)
    (grad,) = torch.autograd.grad(loss, leaf)
    return loss.detach(), grad, metrics


def oracle_grad(per_token_fn, logp, mask, denominator=None):
    """Loss and gradient of sum(per_token_fn(logp) on the mask) / denominator (the token count by default)."""
    leaf = logp.clone().requires_grad_(True)
    per_token = per_token_fn(leaf)
    loss = torch.where(mask, per_token, 0.0).sum() / (mask.sum() if denominator is None else denominator)
    (grad,) = torch.autograd.grad(loss, leaf)
    return loss.detach(), grad


# ============================================================================================== verl 0.9.1 (installed)

verl = pytest.importorskip("verl", reason="verl is not installed (optional extra `verl`; see docs/scale-out.md)")
from verl.trainer.ppo import core_algos, rollout_corr_helper  # noqa: E402
from verl.workers.config import ActorConfig, PolicyLossConfig  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kimi_equals_verls_dro_loss(seed):
    """verl's compute_policy_loss_dro: -(log pi A - beta/2 (log pi - log pi_old)^2), aggregated by agg_loss."""
    logp, old, adv, mask = batch(seed)
    algo = algorithms.get("kimi-1.5", tau=0.3)
    loss, grad, _ = zoo_loss(algo, logp, old, adv, mask)
    config = ActorConfig(strategy="fsdp", rollout_n=8, ppo_micro_batch_size_per_gpu=1,
                         policy_loss=PolicyLossConfig(loss_mode="dro", dro_beta=0.3))
    leaf = logp.clone().requires_grad_(True)
    verl_loss, _ = core_algos.get_policy_loss_fn("dro")(old_log_prob=old, log_prob=leaf, advantages=adv,
                                                         response_mask=mask, loss_agg_mode="token-mean",
                                                         config=config)
    (verl_grad,) = torch.autograd.grad(verl_loss, leaf)
    torch.testing.assert_close(loss, verl_loss.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, verl_grad, rtol=1e-12, atol=1e-14)


def _verl_gdpo(components: dict[str, torch.Tensor], mask, index):
    """verl's compute_gdpo_outcome_advantage fed K reward components the way its trainer does (non_tensor_batch keys
    named by algorithm.gdpo_reward_keys, placed on each response's last token)."""
    n_prompt = 3
    attention = torch.cat([torch.ones(B, n_prompt, dtype=torch.long), mask.long()], dim=1)
    batch_ = {"prompts": torch.zeros(B, n_prompt, dtype=torch.long), "attention_mask": attention}
    non_tensor = {k: v.numpy() for k, v in components.items()}
    rewards = torch.zeros(B, T, dtype=F64)
    adv, _ = core_algos.compute_gdpo_outcome_advantage(
        token_level_rewards=rewards, response_mask=mask.to(F64), index=index,
        config={"gdpo_reward_keys": list(components)}, non_tensor_batch=non_tensor, batch=batch_)
    return adv


@pytest.mark.parametrize("seed", [0, 1])
def test_gdpo_equals_verls_gdpo(seed):
    """Per component (R - group mean) / (group std + 1e-6), summed, whitened over the response tokens. verl whitens
    with (x - mean) / sqrt(var + 1e-8), the zoo (as its reinforce++-baseline) with (x - mean) / (std + 1e-6): for
    unit-scale advantages the two agree to ~1e-6 relative, the tolerance used here."""
    _, _, _, mask = batch(seed)
    g = torch.Generator().manual_seed(10 + seed)
    correct = torch.randint(0, 2, (B,), generator=g).to(torch.float32)
    correct[:2] = torch.tensor([0.0, 1.0])
    correct[4:6] = torch.tensor([0.0, 1.0])
    fmt = torch.rand(B, generator=g).round(decimals=1).to(torch.float32)
    index = np.array([f"p{int(i)}" for i in GROUPS], dtype=object)
    theirs = _verl_gdpo({"acc": correct, "fmt": fmt}, mask, index)
    ours, _ = adv_mod.compute("gdpo", mask=mask, scores=torch.stack([correct, fmt], -1).to(F64), group_ids=GROUPS)
    torch.testing.assert_close(ours, theirs.to(F64), rtol=2e-6, atol=2e-6)
    # one component: GRPO's advantages, whitened
    ours1, _ = adv_mod.compute("gdpo", mask=mask, scores=correct.to(F64), group_ids=GROUPS)
    torch.testing.assert_close(ours1, _verl_gdpo({"acc": correct}, mask, index).to(F64), rtol=2e-6, atol=2e-6)


KL_RS_CASES = [("token_k1", "1.3"), ("token_k2", "0.05"), ("token_k3", "0.05"), ("seq_sum_k1", "0.5_1.6"),
               ("seq_sum_k2", "0.4"), ("seq_sum_k3", "0.4"), ("seq_mean_k1", "0.9_1.2"), ("seq_mean_k2", "0.06"),
               ("seq_mean_k3", "0.06"), ("seq_max_k2", "0.2"), ("seq_max_k3", "0.2"),
               ("token_k2,seq_mean_k1", "0.1,0.8_1.3"), ("token_k1,seq_max_k3", "1.5,0.3")]


def _zoo_kl_rs_params(options: str, thresholds: str) -> dict:
    params = {}
    for option, spec in zip(options.split(","), thresholds.split(",")):
        low, _, high = spec.rpartition("_")
        params[option] = float(high)
        if low:
            params[option + "_low"] = float(low)
    return params


@pytest.mark.parametrize("options, thresholds", KL_RS_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_kl_rs_equals_verls_rejection_mask(options, thresholds, seed):
    """verl's compute_rollout_rejection_mask(log pi_old - log mu, mask, rollout_rs, rollout_rs_threshold): every
    option and two chained pairs, against the zoo's kl-rs with the same thresholds."""
    g = torch.Generator().manual_seed(seed)
    _, _, _, mask = batch(seed)
    engine = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    old = engine + 0.4 * torch.randn(B, T, generator=g, dtype=F64)
    kept, _ = rollout_corr_helper.compute_rollout_rejection_mask(old - engine, mask.to(F64), options, thresholds)
    ours, _ = rc.compute("kl-rs", old_logp=old, engine_logp=engine, mask=mask,
                         **_zoo_kl_rs_params(options, thresholds))
    assert 0 < int(ours.sum()) < int(mask.sum()), "the thresholds must reject some tokens and keep others"
    assert torch.equal(ours, kept.to(F64) * mask)


@pytest.mark.parametrize("zoo_spec, level, threshold", [("token-tis:cap=2,normalize=1", "token", 2.0),
                                                        ("seq-tis:cap=2,normalize=1", "sequence", 2.0),
                                                        ("icepop:alpha=0.5,beta=2,normalize=1", "token", "0.5_2.0")])
def test_normalized_is_weights_equal_verls_batch_normalization(zoo_spec, level, threshold):
    """verl's compute_rollout_correction_weights(..., rollout_is_batch_normalize=True): token level divides by the mean
    over the response tokens, sequence level by the mean over sequences ("0.5_2.0": IcePop's two-sided mask).
    verl's masked_mean divides by count + 1e-8 (the tokens, or a sequence's tokens), the zoo by the count: a
    relative difference below 1e-8 / 2, the tolerance."""
    g = torch.Generator().manual_seed(3)
    _, _, _, mask = batch(3)
    engine = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    old = engine + 0.15 * torch.randn(B, T, generator=g, dtype=F64)
    theirs, metrics = rollout_corr_helper.compute_rollout_correction_weights(old - engine, mask.to(F64), level,
                                                                             threshold, True)
    name, params = rc.parse_spec(zoo_spec)
    ours, _ = rc.compute(name, old_logp=old, engine_logp=engine, mask=mask, **params)
    assert metrics["rollout_is_batch_norm_factor"] != 1.0
    torch.testing.assert_close(ours, theirs * mask, rtol=1e-8, atol=1e-14)


# ==================================================================================== transcribed oracles (no install)

# --- AReaL, inclusionAI/AReaL @ 4aef98d8d818af55b43621aaadba047ae10f4e77, areal/trainer/ppo/actor.py:
#     _apply_m2po_masking and _get_m2po_loss_mask (transcribed; returns the loss mask, True = kept)
def areal_apply_m2po_masking(old_logp, prox_logp, loss_mask, m2_threshold):
    delta = old_logp - prox_logp
    m2 = delta * delta
    mask_flat = loss_mask.view(-1)
    m2_selected = m2.view(-1)[mask_flat]
    if m2_selected.numel() == 0:
        return loss_mask
    sorted_m2, indices = torch.sort(m2_selected, descending=True)
    restored_indices = torch.argsort(indices)
    sorted_m2_loss_mask = areal_get_m2po_loss_mask(sorted_m2=sorted_m2, m2_threshold=m2_threshold)
    m2_selected_mask = sorted_m2_loss_mask[restored_indices]
    m2_full_flat = torch.zeros_like(mask_flat, dtype=torch.bool, device=loss_mask.device)
    m2_full_flat[mask_flat] = m2_selected_mask
    return m2_full_flat.view_as(loss_mask)


def areal_get_m2po_loss_mask(sorted_m2, m2_threshold):
    n = sorted_m2.numel()
    if n == 0:
        return torch.ones_like(sorted_m2, dtype=torch.bool)
    suffix_sums = sorted_m2.flip(0).cumsum(0).flip(0)
    counts = torch.arange(n, 0, -1, device=sorted_m2.device, dtype=sorted_m2.dtype)
    avg_m2_suffix = suffix_sums / counts
    below_threshold_indices = torch.where(avg_m2_suffix < m2_threshold)[0]
    if len(below_threshold_indices) > 0:
        num_to_mask = below_threshold_indices[0].item()
    else:
        num_to_mask = n - 1
    loss_mask = torch.ones_like(sorted_m2, dtype=torch.bool)
    if num_to_mask > 0:
        loss_mask[:num_to_mask] = False
    if loss_mask.sum() == 0:
        raise RuntimeError("All tokens are masked out when getting the m2po loss mask.")
    return loss_mask


@pytest.mark.parametrize("seed, tau", [(0, 0.04), (1, 0.04), (2, 0.1), (3, 1e-6)])
def test_m2po_mask_equals_areals(seed, tau):
    """AReaL's mask on (log pi_behav - log pi_prox)^2 is the zoo's on (log pi_theta - log pi_old)^2 (a square:
    the sign of the difference does not matter). Differences kept: AReaL computes the mask once per update from the
    proximal policy (recomputed before the update) and the behaviour policy, the zoo at every loss() call from the
    current policy and old_logp (the paper's pi_theta / pi_behav); AReaL divides the loss by the kept tokens (its
    mask replaces the loss mask), the zoo by all tokens as the objective AReaL documents
    J = 1/sum|o_i| sum M r A; AReaL runs the mask inside its decoupled PPO loss (gsm8k_m2po.yaml: eps_clip 0), the
    zoo with no clip as the paper's objective. Random float64 inputs have no ties in (log r)^2, where AReaL's
    unstable sort would leave the order unspecified."""
    logp, old, adv, mask = batch(seed, lr_range=0.8)
    theirs_kept = areal_apply_m2po_masking(old, logp, mask, tau)
    algo = algorithms.get("m2po", m2_threshold=tau)
    x = algo._inputs(logp, old, adv, mask)
    ours_masked = algo.masked_tokens(x)
    assert torch.equal(ours_masked, mask & ~theirs_kept)
    assert ours_masked.any() and (mask & ~ours_masked).any()
    loss, grad, metrics = zoo_loss(algo, logp, old, adv, mask)
    ref_loss, ref_grad = oracle_grad(lambda lp: torch.where(theirs_kept, -adv * torch.exp(lp - old), 0.0), logp,
                                     mask)
    torch.testing.assert_close((loss, grad), (ref_loss, ref_grad), rtol=1e-12, atol=1e-14)
    assert metrics["mask/token_frac"] == pytest.approx(float(ours_masked.sum() / mask.sum()))


# --- ROLL, alibaba/ROLL @ 8eb27cc2dc34c4d1310b169d9b86d339004d811a, roll/pipeline/agentic/agentic_actor_pg_worker.py:
#     _compute_topr_loss and _compute_kimi15_loss (transcribed: the per-token loss matrices, before agg_loss)
def roll_topr_loss(ratio, log_probs, advantages, scores, positive_weight=1.0, negative_weight=1.0):
    positive_mask = (scores > 0).float()
    negative_mask = (scores <= 0).float()
    positive_token_mask = positive_mask.unsqueeze(-1).expand_as(log_probs)
    negative_token_mask = negative_mask.unsqueeze(-1).expand_as(log_probs)
    positive_loss = -advantages * log_probs * positive_token_mask
    clipped_ratio = torch.clamp(ratio, min=0.0, max=1.0).detach()
    negative_loss = -clipped_ratio * advantages * log_probs * negative_token_mask
    return positive_weight * positive_loss + negative_weight * negative_loss


def roll_kimi15_loss(log_probs, old_log_probs, advantages, tau=0.1):
    return -advantages * log_probs + tau * 0.5 * (log_probs - old_log_probs).pow(2)


def _binary_outcome_batch(seed):
    """Scores 1 / 0 with both in every group, and their GRPO advantages: A > 0 exactly where the score is > 0."""
    logp, old, _, mask = batch(seed)
    scores = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0], dtype=F64)
    adv, _ = adv_mod.compute("grpo", mask=mask, scores=scores, group_ids=GROUPS)
    return logp, old, adv, mask, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topr_equals_rolls_topr_loss(seed):
    """ROLL splits by the episode score (> 0 positive, <= 0 negative), the zoo by the sign of the advantage: the same
    split for binary rewards with both outcomes in the group (here); they differ for graded rewards (a score of 0.5
    below its group's mean) and for A = 0, where both losses are 0 anyway. ROLL's ratio is per token (its default
    ratio_type), as the zoo's default; the paper's trajectory ratio is sequence_ratio=True."""
    logp, old, adv, mask, scores = _binary_outcome_batch(seed)
    algo = algorithms.get("topr", positive_weight=1.0, negative_weight=0.7)
    loss, grad, _ = zoo_loss(algo, logp, old, adv, mask)
    ref_loss, ref_grad = oracle_grad(lambda lp: roll_topr_loss(torch.exp(lp - old), lp, adv, scores, 1.0, 0.7),
                                     logp, mask)
    assert ((adv < 0) & (torch.exp(logp - old) > 1) & mask).any()        # some negative weights are truncated
    torch.testing.assert_close((loss, grad), (ref_loss, ref_grad), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kimi_equals_rolls_kimi15_loss(seed):
    logp, old, adv, mask = batch(seed)
    loss, grad, _ = zoo_loss(algorithms.get("kimi-1.5"), logp, old, adv, mask)
    ref_loss, ref_grad = oracle_grad(lambda lp: roll_kimi15_loss(lp, old, adv, tau=0.1), logp, mask)
    torch.testing.assert_close((loss, grad), (ref_loss, ref_grad), rtol=1e-12, atol=1e-14)


# --- prime-rl, PrimeIntellect-ai/prime-rl @ 559b44772e471d1538537b8805cc77f3824a5e64, src/prime_rl/trainer/rl/loss.py:
#     default_loss_fn and ipo_loss_fn (transcribed: the per-sample summed loss; compute_loss divides the sum over
#     samples by the global token count, rl_scale) with their config defaults (configs/trainer.py)
def prime_default_loss(trainer_logprobs, inference_logprobs, advantages, loss_mask, dppo_mask_low=0.2,
                       dppo_mask_high=0.2, adv_tau=1.0, kl_tau=1e-3):
    log_importance_ratio = trainer_logprobs - inference_logprobs
    importance_ratio = torch.exp(log_importance_ratio)
    probs_diff = torch.exp(trainer_logprobs) - torch.exp(inference_logprobs)
    dppo_invalid_mask_high = probs_diff > dppo_mask_high
    dppo_invalid_mask_low = probs_diff < -dppo_mask_low
    positive_advantages = advantages > 0
    dppo_invalid_mask = torch.where(positive_advantages, dppo_invalid_mask_high, dppo_invalid_mask_low)
    keep_mask = loss_mask & ~dppo_invalid_mask
    advantages = adv_tau * advantages
    pg_loss = keep_mask * advantages * importance_ratio
    kl_loss = loss_mask * log_importance_ratio**2
    per_token_loss = -pg_loss + kl_tau * kl_loss
    return per_token_loss.sum(), dppo_invalid_mask


def prime_ipo_loss(trainer_logprobs, inference_logprobs, advantages, loss_mask, ipo_threshold=0.1, adv_tau=1.0,
                   kl_tau=1e-3):
    log_importance_ratio = trainer_logprobs - inference_logprobs
    importance_ratio = torch.exp(log_importance_ratio)
    abs_probs_diff = torch.abs(torch.exp(trainer_logprobs) - torch.exp(inference_logprobs))
    is_masked = abs_probs_diff > ipo_threshold
    keep_mask = loss_mask & ~is_masked
    advantages = adv_tau * advantages
    pg_loss = keep_mask * advantages * importance_ratio
    kl_loss = loss_mask * log_importance_ratio**2
    per_token_loss = -pg_loss + kl_tau * kl_loss
    return per_token_loss.sum(), is_masked


@pytest.mark.parametrize("name", ["prime-dppo", "ipo"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prime_rl_losses_equal_prime_rls(name, seed):
    """Per sample as prime-rl's compute_loss calls them, summed and divided by the batch's token count (its rl_scale).
    prime-rl's anchor is the inference engine's log-probs, the zoo's old_logp; adv_tau (1.0) is not a zoo field (it
    only scales A)."""
    logp, old, adv, mask = batch(seed, lr_range=1.5)
    fn = prime_default_loss if name == "prime-dppo" else prime_ipo_loss
    leaf = logp.clone().requires_grad_(True)
    total, masked_any = 0.0, False
    for i in range(B):
        row = mask[i]
        sample_loss, masked = fn(leaf[i][row], old[i][row], adv[i][row], torch.ones_like(row[row]))
        total = total + sample_loss
        masked_any = masked_any or bool(masked.any())
    ref_loss = total / mask.sum()
    (ref_grad,) = torch.autograd.grad(ref_loss, leaf)
    loss, grad, metrics = zoo_loss(algorithms.get(name), logp, old, adv, mask)
    assert masked_any and 0 < metrics["mask/token_frac"] < 1
    torch.testing.assert_close((loss, grad), (ref_loss.detach(), ref_grad), rtol=1e-12, atol=1e-14)


# --- prime-rl @ 559b447, src/prime_rl/orchestrator/algo/max_rl.py: MaxRLAlgorithm.score_group (transcribed for one
#     group's rewards)
def prime_max_rl_group(rewards):
    mean = rewards.mean()
    return torch.zeros_like(rewards) if mean <= 0 else (rewards - mean) / mean


# --- SkyRL, NovaSky-AI/SkyRL @ a9564572eb8e91076be43c1bd5e4615e3de17265, skyrl/backends/skyrl_train/utils/ppo_utils.py:
#     compute_maxrl_advantage (transcribed)
def skyrl_maxrl(token_level_rewards, response_mask, index, epsilon=1e-6):
    scores = token_level_rewards.sum(dim=-1)
    id2score, id2mean = defaultdict(list), {}
    bsz = scores.shape[0]
    for i in range(bsz):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean[idx] = torch.tensor(0.0)
        else:
            id2mean[idx] = torch.mean(torch.tensor(id2score[idx]))
    for i in range(bsz):
        if len(id2score[index[i]]) > 1:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2mean[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return scores.unsqueeze(-1) * response_mask


def test_maxrl_equals_prime_rl_and_skyrl():
    """prime-rl: exactly (R - mean) / mean, 0 when the mean is <= 0 (the zoo follows it). SkyRL divides by mean + 1e-6
    (a relative difference of ~1e-6 / mean, the tolerance here) and gives a group of one its raw reward and an
    all-zero group (0 - 0) / 1e-6 = 0; the zoo gives a group of one 0 (its convention for every group estimator)."""
    _, _, _, mask = batch(0)
    scores = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=F64)
    ours, _ = adv_mod.compute("maxrl", mask=mask, scores=scores, group_ids=GROUPS)
    expected = torch.cat([prime_max_rl_group(scores[GROUPS == g]) for g in (0, 1)])
    torch.testing.assert_close(ours[:, 0], expected, rtol=1e-12, atol=1e-14)
    assert ours[0, 0] == pytest.approx((1 - 0.25) / 0.25) and ours[4, 0] == pytest.approx((1 - 0.75) / 0.75)
    rewards = torch.zeros(B, T, dtype=F64)
    rewards[:, 0] = scores
    theirs = skyrl_maxrl(rewards, mask.to(F64), GROUPS.tolist())
    torch.testing.assert_close(ours, theirs, rtol=5e-6, atol=1e-12)
    # an all-wrong group: no signal in both
    zero, _ = adv_mod.compute("maxrl", mask=mask, scores=torch.zeros(B, dtype=F64), group_ids=GROUPS)
    assert (zero == 0).all() and (prime_max_rl_group(torch.zeros(4, dtype=F64)) == 0).all()


# --- SkyRL @ a956457, skyrl/backends/skyrl_train/utils/ppo_utils.py: apply_loss_reduction_to_advantages_minibatch,
#     its "prompt_mean" branch (transcribed: the per-token scale a unit advantage gets)
def skyrl_prompt_mean_scale(advantages, loss_mask, prompt_boundaries):
    normalized_advantages = torch.zeros_like(advantages)
    num_prompts = len(prompt_boundaries)
    for p_start, p_end in prompt_boundaries:
        prompt_tokens = loss_mask[p_start:p_end].sum().clamp(min=1)
        normalized_advantages[p_start:p_end] = advantages[p_start:p_end] / (num_prompts * prompt_tokens)
    return normalized_advantages


def test_prompt_mean_equals_skyrls_prompt_mean_reduction():
    """SkyRL scales the advantages so that summing the per-token loss gives the reduction; for a loss linear in A
    that scale is each token's aggregation weight, here the gradient of aggregate(l) w.r.t. l. SkyRL counts every
    prompt of the mini-batch in P, the zoo the prompts with at least one response token (equal here: none is
    empty); SkyRL needs each prompt's responses contiguous, the zoo takes group ids in any order."""
    _, _, _, mask = batch(4)
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    boundaries = [(0, 3), (3, 5), (5, 8)]
    scale = skyrl_prompt_mean_scale(torch.ones(B, T, dtype=F64) * mask, mask.to(F64), boundaries)
    loss = torch.randn(B, T, dtype=F64, generator=torch.Generator().manual_seed(4)).requires_grad_(True)
    value = algorithms.aggregate(loss, mask, "prompt-mean", group_ids=groups)
    (weights,) = torch.autograd.grad(value, loss)
    torch.testing.assert_close(weights, scale, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(value.detach(), (loss.detach() * scale).sum(), rtol=1e-12, atol=1e-14)
    shuffled = torch.randperm(B, generator=torch.Generator().manual_seed(0))
    again = algorithms.aggregate(loss.detach()[shuffled], mask[shuffled], "prompt-mean", group_ids=groups[shuffled])
    torch.testing.assert_close(again, value.detach(), rtol=1e-12, atol=1e-14)


# --- SkyRL @ a956457, skyrl/backends/skyrl_train/utils/off_policy_correction_utils.py: compute_outlier_token_mask
#     (transcribed; safe_exp_delta of skyrl_train/utils/torch_utils.py inlined, see the test for its float32)
def skyrl_outlier_token_mask(old_log_probs, rollout_logprobs, loss_mask, low, high, exp_dtype):
    token_tis_log_ratio = old_log_probs - rollout_logprobs
    token_tis_ratio = torch.clamp(token_tis_log_ratio.to(exp_dtype), -20.0, 20.0).exp().to(old_log_probs.dtype)
    token_over_high = (token_tis_ratio > high) & (loss_mask > 0)
    token_under_low = (token_tis_ratio < low) & (loss_mask > 0)
    token_in_bounds = ~token_over_high & ~token_under_low
    all_tokens_valid = (token_in_bounds | (loss_mask == 0)).all(dim=-1, keepdim=True)
    return all_tokens_valid.float()


@pytest.mark.parametrize("low, high", [(1e-4, 100.0), (0.5, 2.0), (0.8, 1.25)])
def test_outlier_token_equals_skyrls_mask(low, high):
    """SkyRL exponentiates the log-ratio in float32 (safe_exp_delta); the oracle does it in float64 like the zoo, which
    only matters for a ratio within float32 rounding of a bound."""
    g = torch.Generator().manual_seed(5)
    _, _, _, mask = batch(5)
    engine = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    old = engine + 0.5 * torch.randn(B, T, generator=g, dtype=F64)
    old[2, 1] = engine[2, 1] + 6.0               # rho = e^6 = 403: an outlier above 100
    theirs = skyrl_outlier_token_mask(old, engine, mask.to(F64), low, high, F64)
    ours, _ = rc.compute("outlier-token", old_logp=old, engine_logp=engine, mask=mask, low=low, high=high)
    assert torch.equal(ours, theirs.expand(B, T) * mask)
    assert (theirs == 0).any()
    float32 = skyrl_outlier_token_mask(old, engine, mask.to(F64), low, high, torch.float32)
    assert torch.equal(theirs, float32)          # no ratio here sits within float32 rounding of a bound


# --- slime, THUDM/slime @ 624b824a898ab0ec1fcb4d373004c7f3852bf515, slime/utils/ppo_utils.py: compute_opsm_mask
#     (transcribed; per sample)
def slime_opsm_mask(opsm_delta, full_log_probs, full_old_log_probs, advantages, loss_masks):
    opsm_mask_list = []
    for full_log_prob, full_old_log_prob, advantage, loss_mask in zip(full_log_probs, full_old_log_probs, advantages,
                                                                      loss_masks, strict=False):
        seq_kl = ((full_old_log_prob - full_log_prob) * loss_mask).sum() / torch.clamp_min(loss_mask.sum(), 1)
        mask = ((advantage < 0) & (seq_kl > opsm_delta)).float()
        opsm_mask_list.append(1 - mask)
    return torch.cat(opsm_mask_list, dim=0)


# --- TRL, huggingface/trl @ f2cd57710ae345ea6428ae95363267fcf38a3dc8, trl/trainer/grpo_trainer.py:
#     GRPOTrainer.get_off_policy_mask (transcribed; advantages [B, 1])
def trl_off_policy_mask(advantages, per_token_logps, sampling_per_token_logps, mask, off_policy_threshold):
    kl_div = sampling_per_token_logps - per_token_logps.detach()
    seq_kl_sum = (kl_div * mask).sum(dim=1, keepdim=True)
    avg_seq_kl = seq_kl_sum / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    is_pos_adv = advantages >= 0
    is_low_kl = avg_seq_kl <= off_policy_threshold
    return (is_pos_adv | is_low_kl).to(dtype=mask.dtype)


@pytest.mark.parametrize("delta", [1e-4, 0.05, 0.2])
def test_opsm_equals_slimes_and_trls_masks(delta):
    """The zoo measures the drift of the current policy from the engine mu (DeepSeek-V3.2's pi_old is the sampler;
    TRL uses the engine's log-probs when it has them). slime measures it from its old_log_probs, which are the
    engine's with --use-rollout-logprobs and the recomputed pi_old otherwise; passing the engine's log-probs as
    slime's old ones, all three agree. slime's default delta is 1e-4 (the zoo's); TRL has none (its docs suggest
    0.5)."""
    g = torch.Generator().manual_seed(6)
    logp, engine, _, mask = batch(6, lr_range=0.3)
    adv = torch.randn(B, 1, generator=g, dtype=F64).expand(B, T).clone()
    old = engine + 0.01 * torch.randn(B, T, generator=g, dtype=F64)      # pi_old: not the anchor
    ours, _ = rc.compute("opsm", old_logp=old, engine_logp=engine, mask=mask, logp=logp, advantages=adv, delta=delta)
    m = mask.to(F64)
    slime = slime_opsm_mask(delta, [logp[i][mask[i]] for i in range(B)], [engine[i][mask[i]] for i in range(B)],
                            [adv[i][mask[i]] for i in range(B)], [m[i][mask[i]] for i in range(B)])
    slime_full = torch.zeros(B, T, dtype=F64)
    slime_full[mask] = slime.to(F64)
    trl = trl_off_policy_mask(adv[:, :1], logp, engine, m, delta)
    assert torch.equal(ours, slime_full) and torch.equal(ours, trl.expand(B, T) * m)
    assert (ours == 0).any() and (ours * m).sum() > 0


# --- NeMo-RL, NVIDIA-NeMo/RL @ 7ea279abfbeb698b092856d0dab61e7cf39bc909: nemo_rl/algorithms/advantage_estimator.py
#     GDPOAdvantageEstimator.compute_advantage and nemo_rl/algorithms/utils.py calculate_baseline_and_std_per_prompt
#     (transcribed for leave_one_out_baseline=False, normalize_rewards=True, equal weights, all samples valid; split
#     into the per-component sum and its final normalisation)
def nemo_baseline_and_std(prompts, rewards):
    unique_prompts = torch.unique(prompts, dim=0)
    baseline, std = torch.zeros_like(rewards), torch.zeros_like(rewards)
    valid = torch.ones_like(rewards)
    for i in range(len(unique_prompts)):
        prompt_idx = torch.arange(len(prompts))[(prompts == unique_prompts[i]).all(1)]
        baseline_mask_matrix = torch.ones((len(prompt_idx), len(prompt_idx)), dtype=rewards.dtype)
        num_valid = valid[prompt_idx].sum()
        prompt_baseline = torch.matmul(baseline_mask_matrix, rewards[prompt_idx] * valid[prompt_idx]) / num_valid
        square = torch.matmul(baseline_mask_matrix, torch.pow(rewards[prompt_idx], 2) * valid[prompt_idx]) / num_valid
        baseline[prompt_idx] = prompt_baseline
        std[prompt_idx] = ((square - prompt_baseline.square()) * (num_valid / (num_valid - 1))).sqrt().nan_to_num(0)
    return baseline, std


def nemo_gdpo_sum(prompt_ids, components):
    parts = []
    for r in components:
        base, std_k = nemo_baseline_and_std(prompt_ids, r)
        adv_k = (r - base).unsqueeze(-1)
        non_zero_std_mask = std_k > 0
        adv_k[non_zero_std_mask] = adv_k[non_zero_std_mask] / (std_k.unsqueeze(-1)[non_zero_std_mask] + 1e-6)
        parts.append(adv_k)
    return sum(parts)


def nemo_gdpo_final(summed):
    adv_std = summed.std()
    return (summed - summed.mean()) / adv_std if adv_std > 0 else summed - summed.mean()


def test_gdpo_per_component_sum_equals_nemo_rls():
    """NeMo-RL's per-component normalisation and sum equal the zoo's (the zoo whitened by the oracle's sum over the
    tokens gives the zoo's advantages). Difference kept: NeMo-RL normalises the sum over responses (one value per
    response), verl and the zoo over response tokens (a long response weighs more); with equal lengths the two
    differ only by the unbiased variance's count (responses vs tokens), checked here."""
    _, _, _, mask = batch(7)
    g = torch.Generator().manual_seed(7)
    correct = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0], dtype=F64)
    fmt = torch.rand(B, generator=g, dtype=F64)
    prompt_ids = GROUPS[:, None]
    summed = nemo_gdpo_sum(prompt_ids, [correct, fmt])
    ours, _ = adv_mod.compute("gdpo", mask=mask, scores=torch.stack([correct, fmt], -1), group_ids=GROUPS)
    whitened = adv_mod._whiten(torch.where(mask, summed, 0.0), mask, 1e-6)
    torch.testing.assert_close(ours, whitened, rtol=1e-12, atol=1e-14)
    full = torch.ones(B, T, dtype=torch.bool)
    ours_equal, _ = adv_mod.compute("gdpo", mask=full, scores=torch.stack([correct, fmt], -1), group_ids=GROUPS)
    nemo = nemo_gdpo_final(summed)[:, 0]
    centred = summed[:, 0] - summed.mean()
    sigma_tokens = math.sqrt(T * float(centred.square().sum()) / (B * T - 1))   # each response counted T times
    sigma_responses = float(summed.std())                                      # each response once
    torch.testing.assert_close(nemo, ours_equal[:, 0] * (sigma_tokens + 1e-6) / sigma_responses, rtol=1e-12,
                               atol=1e-14)
    assert abs(sigma_tokens / sigma_responses - 1) > 1e-3                      # the counts do differ


# ================================================================================ no peer code: flexible entropy control

def test_fec_upper_bound_is_the_authors_closed_form():
    """The authors write the dynamic upper bound eps(pi_theta) = alpha pi_theta + beta as the constraint
    pi_theta <= (1 + beta) / (1 - alpha pi_old) pi_old. The zoo clips r at 1 + E+(p) with p the current
    probability: a token is clipped (A > 0, no gradient) exactly when it breaks that constraint."""
    algo = algorithms.get("fec", schedule="static", weight_high=1.0, weight_low=0.0)
    alpha, beta = algo.high_slope, algo.high_intercept
    old = torch.tensor([[0.05, 0.3, 0.6, 0.4, 0.2, 0.5]], dtype=F64)
    bound = (1 + beta) / (1 - alpha * old) * old                        # the largest allowed pi_theta
    new = torch.cat([bound * 0.98, bound * 1.02], dim=0)
    old2 = old.expand(2, -1)
    adv = torch.ones(2, 6, dtype=F64)
    _, grad, _ = zoo_loss(algo, new.log(), old2.log(), adv, torch.ones(2, 6, dtype=torch.bool))
    allowed = new <= bound
    assert allowed[0].all() and not allowed[1].any()
    assert torch.equal(grad != 0, allowed)
