"""The shared pure functions: advantage estimators, aggregation, KL estimators, chunked log-probs/entropy, regions."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import algorithms
from algorithms import advantages as adv_mod

F64 = torch.float64


# ------------------------------------------------------------------------------------------------ advantages

def test_estimator_registry_names_and_errors():
    assert adv_mod.names() == ["dr-grpo", "gae", "gdpo", "gpg", "grpo", "grpo-passk", "lite-ppo", "maxrl", "opo",
                               "reinforce++", "reinforce++-baseline", "remax", "rloo"]
    mask = torch.ones(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="unknown advantage estimator 'ppo'; valid estimators: dr-grpo, gae, gdpo"):
        adv_mod.compute("ppo", mask=mask)
    with pytest.raises(ValueError, match=r"'grpo' got unknown parameter\(s\) \['lam'\]; it accepts: eps"):
        adv_mod.compute("grpo", mask=mask, scores=torch.ones(2), group_ids=torch.zeros(2), lam=0.9)
    with pytest.raises(ValueError, match="needs group_ids"):
        adv_mod.compute("grpo", mask=mask, scores=torch.ones(2))
    with pytest.raises(ValueError, match="needs values"):
        adv_mod.compute("gae", mask=mask, scores=torch.ones(2))


def test_grpo_advantages_match_the_formula_per_group():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.3, 0.7, 2.0], dtype=F64)
    groups = torch.tensor([5, 5, 5, 5, 9, 9, 9, 9])
    mask = torch.ones(8, 3, dtype=torch.bool)
    mask[1, 2] = False
    adv, returns = adv_mod.compute("grpo", mask=mask, scores=scores, group_ids=groups, eps=1e-6)
    assert returns is None
    for members in (range(0, 4), range(4, 8)):
        r = scores[list(members)]
        expected = (r - r.mean()) / (r.std() + 1e-6)          # torch.std is the unbiased std
        torch.testing.assert_close(adv[list(members), 0], expected)
    assert adv[1, 2] == 0 and torch.equal(adv[0, 0].expand(3), adv[0])


def test_singleton_and_all_equal_groups_give_zero_not_nan():
    scores = torch.tensor([3.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    groups = torch.tensor([0, 1, 1, 1, 2, 2])
    mask = torch.ones(6, 2, dtype=torch.bool)
    for name in ("grpo", "dr-grpo", "rloo"):
        adv, _ = adv_mod.compute(name, mask=mask, scores=scores, group_ids=groups)
        assert torch.isfinite(adv).all()
        assert (adv[:4] == 0).all(), name                # a group of one, and a group of equal rewards
        assert adv[4, 0] < 0 < adv[5, 0]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8))
def test_rloo_is_the_leave_one_out_baseline(rewards):
    scores = torch.tensor(rewards, dtype=F64)
    n = len(rewards)
    adv, _ = adv_mod.compute("rloo", mask=torch.ones(n, 1, dtype=torch.bool), scores=scores,
                             group_ids=torch.zeros(n, dtype=torch.long))
    for i in range(n):
        others = [rewards[j] for j in range(n) if j != i]
        assert adv[i, 0].item() == pytest.approx(rewards[i] - sum(others) / len(others), abs=1e-9)


def test_dr_grpo_is_reward_minus_group_mean():
    adv, _ = adv_mod.compute("dr-grpo", mask=torch.ones(3, 1, dtype=torch.bool),
                             scores=torch.tensor([1.0, 0.0, 0.5]), group_ids=torch.tensor([0, 0, 0]))
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.5, -0.5, 0.0]))


def test_outcome_estimators_accept_token_rewards_instead_of_scores():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    token_rewards = torch.tensor([[0.0, 1.0, 7.0], [0.0, 0.0, 0.0]])   # 7.0 sits on padding: ignored
    adv, _ = adv_mod.compute("dr-grpo", mask=mask, token_rewards=token_rewards, group_ids=torch.tensor([0, 0]))
    torch.testing.assert_close(adv, torch.tensor([[0.5, 0.5, 0.0], [-0.5, -0.5, -0.5]]))


def test_token_level_rewards_put_the_score_on_the_last_token_and_subtract_the_kl():
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    kl = torch.full((3, 4), 0.5)
    rewards = adv_mod.token_level_rewards(torch.tensor([2.0, -1.0, 5.0]), mask, kl=kl, kl_coef=0.1)
    expected = torch.tensor([[-0.05, -0.05, 1.95, 0.0], [0.0, -0.05, -1.05, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(rewards, expected)


def python_gae(rewards, values, gamma, lam):
    """Textbook GAE over one response (lists), value 0 after the last token."""
    n = len(rewards)
    adv, running = [0.0] * n, 0.0
    for t in reversed(range(n)):
        next_value = values[t + 1] if t + 1 < n else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv, [a + v for a, v in zip(adv, values)]


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0)])
def test_gae_matches_the_textbook_recursion_and_skips_padding(gamma, lam):
    g = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1, 0], [0, 1, 1, 0, 0], [1, 0, 1, 1, 1]], dtype=torch.bool)  # gaps are skipped
    rewards = torch.randn(3, 5, generator=g, dtype=F64)
    values = torch.randn(3, 5, generator=g, dtype=F64)
    adv, returns = adv_mod.compute("gae", mask=mask, token_rewards=rewards, values=values, gamma=gamma, lam=lam,
                                   whiten=False)
    for i in range(3):
        idx = [t for t in range(5) if mask[i, t]]
        a, ret = python_gae(rewards[i, idx].tolist(), values[i, idx].tolist(), gamma, lam)
        torch.testing.assert_close(adv[i, idx], torch.tensor(a, dtype=F64))
        torch.testing.assert_close(returns[i, idx], torch.tensor(ret, dtype=F64))
    assert (adv[~mask] == 0).all()
    whitened, _ = adv_mod.compute("gae", mask=mask, token_rewards=rewards, values=values, gamma=gamma, lam=lam)
    assert whitened[mask].mean().abs() < 1e-12 and whitened[mask].std().item() == pytest.approx(1.0, rel=1e-6)


def test_reinforce_pp_whitens_discounted_returns():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=F64)
    adv, returns = adv_mod.compute("reinforce++", mask=mask, token_rewards=rewards, gamma=0.5)
    torch.testing.assert_close(returns, torch.tensor([[0.25, 0.5, 1.0], [-0.5, -1.0, 0.0]], dtype=F64))
    flat = returns[mask]
    torch.testing.assert_close(adv[mask], (flat - flat.mean()) / (flat.std() + 1e-8))


def test_every_estimator_names_its_paper():
    assert len(adv_mod.names()) >= 9
    for name in adv_mod.names():
        assert "arXiv" in adv_mod.paper(name), name


def test_reinforce_pp_baseline_subtracts_the_group_mean_then_whitens_over_the_batch_tokens():
    """REINFORCE++-baseline (Hu et al. 2025, arXiv 2501.03262): A = R - mean_group, then (A - mean) / std over all
    response tokens. By hand: groups {1, 0 | 0.5, 0.5}: A = 0.5, -0.5, 0, 0; the tokens (lengths 2, 1, 1, 2) hold
    0.5, 0.5, -0.5, 0, 0, 0: mean 1/12, squared deviations (25 + 25 + 49 + 1 + 1 + 1)/144, unbiased std
    sqrt(102/144/5) = sqrt(17/120)."""
    mask = torch.tensor([[1, 1], [1, 0], [1, 0], [1, 1]], dtype=torch.bool)
    adv, _ = adv_mod.compute("reinforce++-baseline", mask=mask, scores=torch.tensor([1.0, 0.0, 0.5, 0.5], dtype=F64),
                             group_ids=torch.tensor([0, 0, 1, 1]), eps=0.0)
    mean, std = 1 / 12, math.sqrt(17 / 120)
    expected = torch.tensor([[0.5, 0.5], [-0.5, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(adv, torch.where(mask, (expected - mean) / std, 0.0))


def test_opo_baseline_is_the_length_weighted_mean_reward():
    """OPO (Hao et al. 2025, arXiv 2505.23585): b = sum_j l_j R_j / sum_j l_j. Group 0: lengths 3, 1, rewards 1, 0:
    b = 3/4; group 1: lengths 2, 2: b = 1/2 (the plain mean when lengths are equal)."""
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 0]], dtype=torch.bool)
    adv, _ = adv_mod.compute("opo", mask=mask, scores=torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=F64),
                             group_ids=torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.25, -0.75, 0.5, -0.5], dtype=F64))
    assert (adv[~mask] == 0).all()


def test_remax_subtracts_the_greedy_responses_reward():
    """ReMax (Li et al. 2023, arXiv 2310.10505): A_i = r(x, y_i) - r(x, greedy)."""
    mask = torch.ones(3, 2, dtype=torch.bool)
    adv, _ = adv_mod.compute("remax", mask=mask, scores=torch.tensor([1.0, 0.0, 1.0], dtype=F64),
                             baseline_scores=torch.tensor([1.0, 1.0, 0.0], dtype=F64))
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.0, -1.0, 1.0], dtype=F64))
    assert adv_mod.needs_baseline_scores("remax") and not adv_mod.needs_baseline_scores("grpo")
    with pytest.raises(ValueError, match="needs baseline_scores"):
        adv_mod.compute("remax", mask=mask, scores=torch.ones(3))
    with pytest.raises(ValueError, match="takes no baseline_scores"):
        adv_mod.compute("grpo", mask=mask, scores=torch.ones(3), group_ids=torch.zeros(3),
                        baseline_scores=torch.ones(3))
    algo = algorithms.get("grpo", advantage_estimator="remax")
    adv2, _ = algo.compute_advantages(mask=mask, scores=torch.tensor([1.0, 0.0, 1.0], dtype=F64),
                                      baseline_scores=torch.tensor([1.0, 1.0, 0.0], dtype=F64))
    torch.testing.assert_close(adv2, adv)


@pytest.mark.parametrize("n,n_pos,k,a_pos,a_neg", [
    # Chen et al. 2025 (arXiv 2508.10751): Rbar = 1 - C(N_neg, k)/C(N, k), sigma = sqrt(Rbar (1 - Rbar)),
    # A_pos = (1 - Rbar)/sigma, A_neg = (1 - Rbar - C(N_neg - 1, k - 1)/C(N - 1, k - 1))/sigma; by hand:
    (4, 1, 2, 1.0, -1 / 3),                     # Rbar = 1 - 3/6 = 1/2, sigma = 1/2; C(2,1)/C(3,1) = 2/3
    (4, 2, 2, math.sqrt(1 / 5), -math.sqrt(1 / 5)),   # Rbar = 5/6, sigma = sqrt(5)/6; C(1,1)/C(3,1) = 1/3
    (4, 1, 1, math.sqrt(3), -1 / math.sqrt(3)),  # k = 1 is GRPO with the population std: Rbar = 1/4
])
def test_grpo_passk_matches_the_analytical_formula(n, n_pos, k, a_pos, a_neg):
    scores = torch.tensor([1.0] * n_pos + [-1.0] * (n - n_pos), dtype=F64)
    adv, _ = adv_mod.compute("grpo-passk", mask=torch.ones(n, 1, dtype=torch.bool), scores=scores,
                             group_ids=torch.zeros(n, dtype=torch.long), k=k)
    torch.testing.assert_close(adv[:, 0], torch.tensor([a_pos] * n_pos + [a_neg] * (n - n_pos), dtype=F64))
    # N_neg C(N_neg-1, k-1)/C(N-1, k-1) = N C(N_neg, k)/C(N, k) = N (1 - Rbar): a group's advantages sum to 0
    assert abs(float(adv.sum())) < 1e-12


def test_grpo_passk_edge_groups_and_errors():
    mask = torch.ones(6, 1, dtype=torch.bool)
    adv, _ = adv_mod.compute("grpo-passk", mask=mask, scores=torch.tensor([1.0, 1, 1, 0, 0, 0]),
                             group_ids=torch.tensor([0, 0, 0, 1, 1, 1]), k=2)
    assert (adv == 0).all()                       # all correct, all wrong: no signal, no NaN
    with pytest.raises(ValueError, match="at least k = 4 responses per prompt"):
        adv_mod.compute("grpo-passk", mask=mask, scores=torch.ones(6), group_ids=torch.tensor([0, 0, 0, 1, 1, 1]))
    assert algorithms.get("grpo", advantage_estimator="grpo-passk", passk_k=2).advantage_params() == {"k": 2}


def test_gpg_rescales_by_the_fraction_of_responses_with_signal():
    """GPG (Chu et al. 2025): alpha = B / (B - M); here B = 6, M = 3 (one all-equal group of three): alpha = 2."""
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=F64)
    adv, _ = adv_mod.compute("gpg", mask=torch.ones(6, 1, dtype=torch.bool), scores=scores,
                             group_ids=torch.tensor([0, 0, 0, 1, 1, 1]))
    torch.testing.assert_close(adv[:, 0], 2 * torch.tensor([2 / 3, -1 / 3, -1 / 3, 0, 0, 0], dtype=F64))


def test_lite_ppo_uses_the_group_mean_and_the_batch_std():
    """Lite PPO (Liu et al. 2025, arXiv 2508.08221): (R - group mean) / std over the batch's rewards."""
    scores = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=F64)
    adv, _ = adv_mod.compute("lite-ppo", mask=torch.ones(4, 1, dtype=torch.bool), scores=scores,
                             group_ids=torch.tensor([0, 0, 1, 1]), eps=0.0)
    std = math.sqrt(((0.25 ** 2) * 3 + 0.75 ** 2) / 3)      # unbiased std of {1, 0, 1, 1}: mean 3/4
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.5 / std, -0.5 / std, 0.0, 0.0], dtype=F64))


def test_adaptive_entropy_coefficient_follows_skywork_or1():
    """Skywork-OR1 (arXiv 2505.22312; EntController in its code): alpha moves by delta towards the target, is clipped
    to [min, max], and the bonus is applied only while the entropy is below target."""
    ctrl = algorithms.AdaptiveEntropyCoefficient(target_entropy=0.2, delta=0.002, max_coef=0.005)
    assert ctrl.coef == 0.0
    assert ctrl.update(0.1) == pytest.approx(0.002)          # below target: +delta, on
    assert ctrl.update(0.1) == pytest.approx(0.004)
    assert ctrl.update(0.1) == pytest.approx(0.005)          # clipped at max
    assert ctrl.update(0.3) == 0.0 and ctrl.value == pytest.approx(0.003)   # above target: -delta, off
    assert ctrl.update(0.19) == pytest.approx(0.005)
    resumed = algorithms.AdaptiveEntropyCoefficient.from_state_dict(ctrl.state_dict())
    assert resumed == ctrl and resumed.update(0.5) == ctrl.update(0.5)
    for _ in range(10):
        ctrl.update(1.0)
    assert ctrl.value == 0.0                                 # clipped at min
    with pytest.raises(ValueError, match="must be finite"):
        ctrl.update(float("nan"))
    with pytest.raises(ValueError, match="min_coef <= max_coef"):
        algorithms.AdaptiveEntropyCoefficient(min_coef=0.1, max_coef=0.01)


def test_gdpo_normalises_each_reward_component_before_the_sum():
    """Group 0: responses (correct 1, format 0) and (0, 10); group 1: (1, 0) and (1, 10). Summing first (grpo) lets
    the format's spread decide group 0 (R = 1 vs 10); GDPO gives each component +-1/sqrt(2) within its group
    (std sqrt(1/2)), so in group 0 the two cancel, and group 1 has only the format's: sums (0, 0, -a, a),
    a = 1/sqrt(2), whitened over the 4 tokens (mean 0, unbiased std sqrt(1/3)): (0, 0, -a sqrt(3), a sqrt(3))."""
    mask = torch.ones(4, 1, dtype=torch.bool)
    groups = torch.tensor([0, 0, 1, 1])
    scores = torch.tensor([[1.0, 0.0], [0.0, 10.0], [1.0, 0.0], [1.0, 10.0]], dtype=F64)
    adv, returns = adv_mod.compute("gdpo", mask=mask, scores=scores, group_ids=groups)
    a = math.sqrt(0.5)
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.0, 0.0, -a * math.sqrt(3), a * math.sqrt(3)],
                                                       dtype=F64), rtol=1e-5, atol=1e-5)
    assert returns is None
    grpo, _ = adv_mod.compute("grpo", mask=mask, scores=scores.sum(-1), group_ids=groups)
    assert grpo[1, 0] > 0.7                                  # summing first: format decides group 0
    with pytest.raises(ValueError, match=r"'gdpo' needs scores \[B\] or \[B, K\]"):
        adv_mod.compute("gdpo", mask=mask, scores=torch.ones(4, 2, 2), group_ids=groups)


# ----------------------------------------------------------------------------------------------- aggregation

def test_aggregation_modes_by_hand():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])                  # the third sequence is empty
    loss[1, 1] = float("nan")                                              # padding may hold anything
    agg = algorithms.aggregate
    assert agg(loss, mask, "token-mean").item() == pytest.approx(10 / 4)
    assert agg(loss, mask, "seq-mean-token-mean").item() == pytest.approx((2 + 4) / 2)
    assert agg(loss, mask, "seq-mean-token-sum").item() == pytest.approx((6 + 4) / 2)
    assert agg(loss, mask, "seq-mean-token-sum-norm").item() == pytest.approx((6 / 3 + 4 / 3) / 2)
    assert agg(loss, mask, "seq-mean-token-sum-norm", norm_length=10).item() == pytest.approx((0.6 + 0.4) / 2)
    assert agg(loss, mask, "token-mean", global_tokens=8).item() == pytest.approx(10 / 8)
    assert agg(loss, mask, "seq-mean-token-sum", global_seqs=torch.tensor(5)).item() == pytest.approx(10 / 5)
    assert algorithms.count_tokens_and_seqs(mask) == (4, 2)
    assert agg(loss, torch.zeros_like(mask), "token-mean").item() == 0.0
    # prompt-mean: sequences 0 and 2 answer prompt 7, sequence 1 prompt 3: (6 / 3 + 4 / 1) / 2 prompts
    groups = torch.tensor([7, 3, 7])
    assert agg(loss, mask, "prompt-mean", group_ids=groups).item() == pytest.approx((6 / 3 + 4 / 1) / 2)
    # one prompt: the token mean; each its own prompt: the sequence mean (of the non-empty ones)
    assert agg(loss, mask, "prompt-mean", group_ids=torch.zeros(3)).item() == pytest.approx(10 / 4)
    assert agg(loss, mask, "prompt-mean", group_ids=torch.arange(3)).item() == pytest.approx((2 + 4) / 2)
    row_tokens, prompts = algorithms.aggregation.prompt_counts(mask, groups)
    assert row_tokens.tolist() == [3, 1, 3] and prompts == 2
    with pytest.raises(ValueError, match="'prompt-mean' needs group_ids"):
        agg(loss, mask, "prompt-mean")
    with pytest.raises(ValueError, match="unknown loss aggregation mode 'sum'; valid modes: token-mean"):
        agg(loss, mask, "sum")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(algorithms.AGG_MODES),
       n_parts=st.integers(1, 5))
def test_aggregation_of_parts_with_global_counts_sums_to_the_whole(seed, mode, n_parts):
    g = torch.Generator().manual_seed(seed)
    loss = torch.randn(9, 5, generator=g, dtype=F64)
    mask = torch.rand(9, 5, generator=g) < 0.6
    groups = torch.randint(0, 4, (9,), generator=g)          # a prompt's responses may fall into several parts
    tokens, seqs = algorithms.count_tokens_and_seqs(mask)
    prompt_tokens, prompts = algorithms.aggregation.prompt_counts(mask, groups)
    whole = algorithms.aggregate(loss, mask, mode, norm_length=7, group_ids=groups)
    parts = sum(algorithms.aggregate(loss[idx], mask[idx], mode, global_tokens=tokens, global_seqs=seqs,
                                     norm_length=7, prompt_tokens=prompt_tokens[idx], global_prompts=prompts)
                for idx in torch.arange(9).chunk(n_parts))
    torch.testing.assert_close(parts, whole, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------------- KL

def test_kl_estimators():
    logp = torch.tensor([-1.0, -2.0, -0.1], dtype=F64)
    ref = torch.tensor([-1.5, -1.0, -0.1], dtype=F64)
    d = logp - ref
    torch.testing.assert_close(algorithms.kl(logp, ref, "k1"), d)
    torch.testing.assert_close(algorithms.kl(logp, ref, "k2"), 0.5 * d ** 2)
    torch.testing.assert_close(algorithms.kl(logp, ref, "k3"), torch.exp(-d) - 1 + d)
    torch.testing.assert_close(algorithms.kl(logp, ref, "abs"), d.abs())
    assert (algorithms.kl(logp, ref, "k3") >= 0).all()
    with pytest.raises(ValueError, match="unknown KL estimator 'k5'; valid estimators: k1, k2, k3, abs"):
        algorithms.kl(logp, ref, "k5")


def test_kl_estimators_are_unbiased_where_the_theory_says():
    """Sampled from p: E[k1] = E[k3] = KL(p || q) exactly (computed by summing over a small support)."""
    p = torch.tensor([0.5, 0.3, 0.2], dtype=F64)
    q = torch.tensor([0.2, 0.5, 0.3], dtype=F64)
    true_kl = (p * (p / q).log()).sum()
    for name in ("k1", "k3"):
        assert (p * algorithms.kl(p.log(), q.log(), name)).sum().item() == pytest.approx(true_kl.item())


def test_k3_is_finite_for_extreme_log_ratios():
    logp = torch.tensor([0.0, 0.0], requires_grad=True)
    value = algorithms.kl(logp, torch.tensor([60.0, -60.0]), "k3")
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(logp.grad).all()


# ------------------------------------------------------------------------------------- chunked logits maths

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("chunk_size", [1, 5, None])
def test_chunked_logprobs_and_entropy_equal_full_log_softmax(dtype, chunk_size):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 7, 50, generator=g) * 3).to(dtype)
    labels = torch.randint(0, 50, (3, 7), generator=g)
    full = logits.float().log_softmax(-1)
    expected_logp = full.gather(-1, labels[..., None]).squeeze(-1)
    expected_entropy = -(full.exp() * full).sum(-1)
    logp = algorithms.logprobs_from_logits(logits, labels, chunk_size=chunk_size)
    entropy = algorithms.entropy_from_logits(logits, chunk_size=chunk_size)
    assert logp.dtype == entropy.dtype == torch.float32
    torch.testing.assert_close(logp, expected_logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, expected_entropy, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chunked_gradients_equal_full_log_softmax_gradients(dtype):
    g = torch.Generator().manual_seed(1)
    base = (torch.randn(2, 6, 40, generator=g) * 2).to(dtype)
    labels = torch.randint(0, 40, (2, 6), generator=g)
    w1, w2 = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    ours = base.clone().requires_grad_(True)
    (w1 * algorithms.logprobs_from_logits(ours, labels, chunk_size=4)
     + w2 * algorithms.entropy_from_logits(ours, chunk_size=4)).sum().backward()
    ref = base.clone().requires_grad_(True)
    full = ref.float().log_softmax(-1)
    (w1 * full.gather(-1, labels[..., None]).squeeze(-1) - w2 * (full.exp() * full).sum(-1)).sum().backward()
    assert ours.grad.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-2   # bf16 gradients: both rounded to bf16 once
    torch.testing.assert_close(ours.grad.float(), ref.grad.float(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_combined_logprobs_and_entropy_equal_the_separate_functions(dtype):
    g = torch.Generator().manual_seed(3)
    base = (torch.randn(3, 5, 30, generator=g) * 2).to(dtype)
    labels = torch.randint(0, 30, (3, 5), generator=g)
    labels[1, 2] = -100
    w1, w2 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    a = base.clone().requires_grad_(True)
    logp, entropy = algorithms.logprobs_and_entropy_from_logits(a, labels, chunk_size=4)
    (w1 * logp + w2 * entropy).sum().backward()
    b = base.clone().requires_grad_(True)
    logp_ref = algorithms.logprobs_from_logits(b, labels, chunk_size=7)
    entropy_ref = algorithms.entropy_from_logits(b, chunk_size=7)
    (w1 * logp_ref + w2 * entropy_ref).sum().backward()
    torch.testing.assert_close(logp, logp_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(entropy, entropy_ref, rtol=1e-6, atol=1e-6)
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(a.grad.float(), b.grad.float(), rtol=tol, atol=tol)
    # only one of the two outputs in the loss
    c = base.clone().requires_grad_(True)
    algorithms.logprobs_and_entropy_from_logits(c, labels, chunk_size=4)[1].sum().backward()
    d = base.clone().requires_grad_(True)
    algorithms.entropy_from_logits(d, chunk_size=4).sum().backward()
    torch.testing.assert_close(c.grad.float(), d.grad.float(), rtol=tol, atol=tol)
    # the log-prob alone in the loss (the trainer reports the entropy, detached): the entropy's gradient is skipped
    e = base.clone().requires_grad_(True)
    lp_e, ent_e = algorithms.logprobs_and_entropy_from_logits(e, labels, chunk_size=4)
    (w1 * lp_e + 0.0 * ent_e.detach()).sum().backward()
    f = base.clone().requires_grad_(True)
    (w1 * algorithms.logprobs_from_logits(f, labels, chunk_size=4)).sum().backward()
    torch.testing.assert_close(e.grad.float(), f.grad.float(), rtol=tol, atol=tol)
    # and both equal the plain full log-softmax in float64
    full = torch.log_softmax(base.double(), -1)
    want = (w1.double()[..., None] * torch.nn.functional.one_hot(labels.clamp_min(0), 30).double()
            * (labels != -100)[..., None]) - (w1.double() * (labels != -100))[..., None] * full.exp()
    torch.testing.assert_close(e.grad.double(), want, rtol=tol, atol=tol)


def test_chunked_functions_pass_gradcheck_in_float64():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(7, 6, generator=g, dtype=F64, requires_grad=True)
    labels = torch.randint(0, 6, (7,), generator=g)
    assert torch.autograd.gradcheck(lambda x: algorithms.logprobs_from_logits(x, labels, chunk_size=3), (logits,))
    assert torch.autograd.gradcheck(lambda x: algorithms.entropy_from_logits(x, chunk_size=3), (logits,))
    assert torch.autograd.gradcheck(
        lambda x: algorithms.logprobs_and_entropy_from_logits(x, labels, chunk_size=3), (logits,))


def test_autograd_keeps_no_float32_copy_of_bf16_logits():
    """What autograd saves for backward is the bf16 logits and one float per row, never a [B*T, V] float32."""
    logits = torch.randn(4, 8, 64).to(torch.bfloat16).requires_grad_(True)
    labels = torch.randint(0, 64, (4, 8))
    saved = []

    def pack(t):
        saved.append((t.dtype, t.numel()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = algorithms.logprobs_from_logits(logits, labels, chunk_size=4).sum() \
            + algorithms.entropy_from_logits(logits, chunk_size=4).sum() \
            + sum(t.sum() for t in algorithms.logprobs_and_entropy_from_logits(logits, labels, chunk_size=4))
    loss.backward()
    big_float = [s for s in saved if s[0] == torch.float32 and s[1] >= 4 * 8 * 64]
    assert saved and not big_float


def test_ignore_index_and_bad_labels():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    labels = torch.tensor([[1, -100, 4], [0, 2, -100]])
    logp = algorithms.logprobs_from_logits(logits, labels)
    assert logp[0, 1] == 0 and logp[1, 2] == 0
    logp.sum().backward()
    assert (logits.grad[0, 1] == 0).all() and (logits.grad[1, 2] == 0).all()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        algorithms.logprobs_from_logits(logits, torch.tensor([[1, 5, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="labels shape"):
        algorithms.logprobs_from_logits(logits, torch.tensor([1, 2]))


# --------------------------------------------------------------------------------------------------- regions

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), eps_low=st.floats(0.0, 0.9), eps_high=st.floats(0.0, 2.0))
def test_regions_partition_the_response_tokens(seed, eps_low, eps_high):
    g = torch.Generator().manual_seed(seed)
    ratio = torch.exp(torch.randn(5, 6, generator=g))
    adv = torch.randn(5, 6, generator=g).round()                  # includes A == 0
    mask = torch.rand(5, 6, generator=g) < 0.7
    regions = algorithms.region_masks(ratio, adv, mask, eps_low, eps_high)
    assert set(regions) == set(algorithms.REGIONS)
    total = sum(r.long() for r in regions.values())
    assert torch.equal(total, mask.long())                        # every response token in exactly one region
    assert torch.equal(regions["low_neg"], mask & (ratio < 1 - eps_low) & (adv < 0))
    assert torch.equal(regions["high_pos"], mask & (ratio > 1 + eps_high) & (adv > 0))


def test_gradient_shares_of_a_zero_gradient_are_zero():
    mask = torch.ones(2, 2, dtype=torch.bool)
    regions = algorithms.region_masks(torch.ones(2, 2), torch.ones(2, 2), mask, 0.2, 0.2)
    assert algorithms.gradient_shares(torch.zeros(2, 2), regions, mask) == {r: 0.0 for r in algorithms.REGIONS}
    shares = algorithms.gradient_shares(torch.tensor([[1.0, -3.0], [0.0, 0.0]]), regions, mask)
    assert shares["inside"] == 1.0 and math.isclose(sum(shares.values()), 1.0)


@pytest.mark.parametrize("chunk_size", [3, None])
def test_combined_logprobs_and_entropy_equal_full_log_softmax_on_a_real_vocabulary(chunk_size):
    """The trainer's one-pass path (max, exp into a reused chunk buffer, a row dot product for E_p[x]) against a plain
    float64 log-softmax, on SmolLM2's vocabulary size where the float32 sums are long."""
    g = torch.Generator().manual_seed(11)
    base = torch.randn(2, 5, 49152, generator=g) * 4
    base[0, 0, 7] = 40.0                      # a peaked row
    labels = torch.randint(0, 49152, (2, 5), generator=g)
    logits = base.clone().requires_grad_(True)
    logp, entropy = algorithms.logprobs_and_entropy_from_logits(logits, labels, chunk_size=chunk_size)
    w = torch.randn(2, 5, generator=g)
    (w * logp + w * entropy).sum().backward()
    ref = base.double().requires_grad_(True)
    full = ref.log_softmax(-1)
    ref_logp = full.gather(-1, labels[..., None]).squeeze(-1)
    ref_entropy = -(full.exp() * full).sum(-1)
    (w.double() * ref_logp + w.double() * ref_entropy).sum().backward()
    torch.testing.assert_close(logp.double(), ref_logp.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy.double(), ref_entropy.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits.grad.double(), ref.grad, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------- remax in the trainer

@pytest.mark.usefixtures("one_torch_thread")
def test_remax_in_the_trainer_draws_one_greedy_response_per_prompt(tmp_path):
    """With advantage_estimator=remax the collector draws one temperature-0 response per prompt and its reward is
    the group's baseline; the step then trains with A = R - baseline."""
    from harness.rollout import Sampling
    from harness.training import TrainConfig, Trainer

    rows = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(8)]

    def reward(golds, rollouts):
        return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]

    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, prompts_per_step=2, responses_per_prompt=3,
                      max_new_tokens=3, lr=1e-3, micro_batch_size=6, out_dir=str(tmp_path / "run"), save_final=False,
                      tensorboard=False, algo="grpo", algo_overrides={"advantage_estimator": "remax", "kl_coef": 0.0})
    trainer = Trainer(cfg, dataset=rows, reward_fn=reward, progress=False)
    collected = trainer.collector.collect(1)
    prompts = [trainer.collector.prompt(g.row) for g in collected.groups]
    greedy = trainer.engine.generate(prompts, Sampling(n=1, max_new_tokens=3, temperature=0.0))
    assert [g.baseline for g in collected.groups] == reward(None, greedy)
    result = trainer.train()
    assert result.status == "completed"
    with pytest.raises(ValueError, match="needs baseline_scores"):
        algorithms.get("grpo", advantage_estimator="remax").compute_advantages(
            mask=torch.ones(2, 1, dtype=torch.bool), scores=torch.ones(2))
