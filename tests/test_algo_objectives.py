"""Objectives as the trainer uses them: micro-batches and ranks, padding, extreme log-ratios, bad inputs, metrics,
the PPO value loss, and advantages through each algorithm's recipe."""
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import algorithms

F64 = torch.float64
ALL = algorithms.BUILTIN
SPLITTABLE = [n for n in ALL if not algorithms.get_class(n).batch_dependent]
METRIC_KEYS = {"clipfrac/low_neg", "clipfrac/high_pos", "clipfrac/low_pos", "clipfrac/high_neg", "ratio/mean",
               "kl/old", "loss/policy", "loss/kl", "loss/entropy", "loss/total"}


def batch(seed, b=8, t=7, lr_range=1.0):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(b, t, generator=g, dtype=F64) * 3 - 0.1
    old_logp = logp - (torch.rand(b, t, generator=g, dtype=F64) * 2 - 1) * lr_range
    adv = torch.randn(b, t, generator=g, dtype=F64)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(F64)
    ref_logp = logp + 0.2 * torch.randn(b, t, generator=g, dtype=F64)
    entropy = torch.rand(b, t, generator=g, dtype=F64)
    scores = torch.where(torch.arange(b) % 2 == 0, 1.0, -1.0).to(F64)     # outcome rewards (ce-gppo-authors)
    group_ids = torch.arange(b) // 2                                       # two responses per prompt (prompt-mean)
    return dict(logp=logp, old_logp=old_logp, advantages=adv, mask=mask, ref_logp=ref_logp, entropy=entropy,
                scores=scores, group_ids=group_ids)


def loss_and_grads(algo, inputs, **kw):
    """Loss and the gradients w.r.t. logp (and entropy, when it takes part)."""
    leaves = {k: inputs[k].clone().requires_grad_(True) for k in ("logp", "entropy")}
    loss, metrics = algo.loss(**{**inputs, **leaves}, **kw)
    grads = torch.autograd.grad(loss, [leaves["logp"], leaves["entropy"]], allow_unused=True)
    return loss.detach(), [torch.zeros_like(leaves[k]) if g is None else g for k, g in zip(leaves, grads)], metrics


def rows(inputs, idx):
    return {k: v[idx] for k, v in inputs.items()}


# ------------------------------------------------------------------------------------ micro-batches and ranks

@pytest.mark.parametrize("mode", algorithms.AGG_MODES)
@pytest.mark.parametrize("name", SPLITTABLE)
def test_micro_batches_and_ranks_reproduce_the_single_batch_gradient(name, mode):
    """2 ranks x 2 micro-batches, each normalised by the global counts; their summed gradient is the big batch's.

    KL loss and entropy bonus are on so that every term of the loss is covered. PPO's critic does not take
    prompt-mean (test_prompt_mean_is_refused_where_it_is_not_defined)."""
    if name == "ppo" and mode == "prompt-mean":
        return
    algo = algorithms.get(name, loss_agg_mode=mode, loss_norm_length=12, kl_coef=0.05, kl_in_reward=False,
                          entropy_coef=0.01)
    inputs = batch(1, b=8)
    assert_pieces_add_up(algo, inputs, RANKS_X_MICRO, **global_counts(inputs))


# rows of 2 simulated data-parallel ranks (0-3, 4-7), each in 2 uneven micro-batches
RANKS_X_MICRO = [torch.arange(0, 1), torch.arange(1, 4), torch.arange(4, 5), torch.arange(5, 8)]


def global_counts(inputs) -> dict:
    """What every piece of ``inputs`` is given: the whole batch's token and sequence counts and, for prompt-mean,
    each row's prompt token count (prompt_tokens, sliced per piece) and the number of prompts."""
    tokens, seqs = algorithms.count_tokens_and_seqs(inputs["mask"])
    prompt_tokens, prompts = algorithms.aggregation.prompt_counts(inputs["mask"], inputs["group_ids"])
    return dict(global_tokens=tokens, global_seqs=seqs, prompt_tokens=prompt_tokens, global_prompts=prompts)


def assert_pieces_add_up(algo, inputs, pieces, **counts):
    """The pieces' losses, each given the global ``counts`` (prompt_tokens sliced to the piece's rows), add up to the
    whole batch's loss, and their gradients (w.r.t. logp and entropy) to its gradients."""
    loss_full, grads_full, _ = loss_and_grads(algo, inputs)
    total, grads = 0.0, [torch.zeros_like(g) for g in grads_full]
    for piece in pieces:
        piece_counts = {k: (v[piece] if k == "prompt_tokens" else v) for k, v in counts.items()}
        loss, g, _ = loss_and_grads(algo, rows(inputs, piece), **piece_counts)
        total += loss
        for acc, part in zip(grads, g):
            acc[piece] += part
    torch.testing.assert_close(total, loss_full, rtol=1e-12, atol=1e-14)
    for acc, full in zip(grads, grads_full):
        torch.testing.assert_close(acc, full, rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
       mode=st.sampled_from(algorithms.AGG_MODES))
def test_any_split_with_global_counts_sums_to_the_big_batch(seed, cuts, mode):
    algo = algorithms.get("ce-gppo", loss_agg_mode=mode, loss_norm_length=10)
    inputs = batch(seed, b=10, t=6)
    _, (g_full, _), _ = loss_and_grads(algo, inputs)
    counts = global_counts(inputs)
    bounds = [0, *sorted(cuts), 10]
    g_sum = torch.zeros_like(g_full)
    for lo, hi in zip(bounds, bounds[1:]):
        piece = {**counts, "prompt_tokens": counts["prompt_tokens"][lo:hi]}
        _, (g, _), _ = loss_and_grads(algo, rows(inputs, slice(lo, hi)), **piece)
        g_sum[lo:hi] += g
    torch.testing.assert_close(g_sum, g_full, rtol=1e-12, atol=1e-14)


def test_without_global_counts_micro_batches_differ_from_the_big_batch():
    """The global counts matter: local token-mean normalisation over uneven micro-batches is a different loss."""
    algo = algorithms.get("dapo")
    inputs = batch(2, b=8)
    _, (g_full, _), _ = loss_and_grads(algo, inputs)
    g_sum = torch.zeros_like(g_full)
    for part in (slice(0, 1), slice(1, 8)):
        _, (g, _), _ = loss_and_grads(algo, rows(inputs, part))
        g_sum[part] += g / 2          # the usual "average the micro-batch losses"
    assert not torch.allclose(g_sum, g_full)


def forking_batch(seed, q, pieces, lengths):
    """Inputs whose entropies make each piece's own top-q selection (what loss() chooses when it is given that
    piece) part of the whole batch's: in piece m, ceil(q n_m) random tokens get an entropy above 10 and the rest one
    below 1, and the lengths make these counts add up to ceil(q N), so the whole batch selects exactly their union."""
    g = torch.Generator().manual_seed(seed)
    inputs = batch(seed, b=len(lengths), t=max(lengths))
    mask = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).to(F64)
    entropy = torch.rand(mask.shape, generator=g, dtype=F64)
    chosen = 0
    for piece in pieces:
        flat = [(int(i), t) for i in piece for t in range(mask.shape[1]) if mask[i, t] > 0]
        k = math.ceil(Fraction(str(q)) * len(flat))
        for j in torch.randperm(len(flat), generator=g)[:k].tolist():
            entropy[flat[j]] += 10.0
        chosen += k
    assert chosen == math.ceil(Fraction(str(q)) * int(mask.sum()))
    return {**inputs, "mask": mask, "entropy": entropy}


@pytest.mark.parametrize("denominator", ["selected", "trl"])
@pytest.mark.parametrize("mode", [m for m in algorithms.AGG_MODES if m != "prompt-mean"])   # refused with q < 1
def test_forking_tokens_micro_batches_and_ranks_reproduce_the_single_batch_gradient(mode, denominator):
    """Wang et al. 2025 (arXiv 2506.01939v2), Eq. (6) selects within each (micro-)batch; when the pieces' selections
    make up the big batch's, 2 ranks x 2 uneven micro-batches with the global counts (global_policy_tokens: the sum
    of policy_token_count over the pieces) give the big batch's loss and gradients, KL and entropy terms included."""
    q = 0.5
    inputs = forking_batch(3, q, RANKS_X_MICRO, lengths=[4, 2, 3, 5, 6, 1, 2, 3])   # tokens per piece: 4, 10, 6, 6
    algo = algorithms.get("dapo", entropy_top_q=q, entropy_top_q_denominator=denominator, loss_agg_mode=mode,
                          loss_norm_length=12, kl_coef=0.05, kl_in_reward=False, entropy_coef=0.01)
    tokens, seqs = algorithms.count_tokens_and_seqs(inputs["mask"])
    policy_tokens = sum(algo.policy_token_count(inputs["mask"][p]) for p in RANKS_X_MICRO)
    assert policy_tokens == (13 if denominator == "selected" else 26) == algo.policy_token_count(inputs["mask"])
    assert_pieces_add_up(algo, inputs, RANKS_X_MICRO, global_tokens=tokens, global_seqs=seqs,
                         global_policy_tokens=policy_tokens)


def dapo_token_loss(inputs, eps_low=0.2, eps_high=0.28):
    """-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) per token (DAPO, Yu et al. 2025, Eq. (8))."""
    r = torch.exp(inputs["logp"] - inputs["old_logp"])
    a = inputs["advantages"]
    return -torch.minimum(r * a, r.clamp(1 - eps_low, 1 + eps_high) * a)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
       q=st.sampled_from([0.1, 0.2, 0.35, 0.5]))
def test_any_split_sums_to_eq_6_over_the_micro_batches_selections(seed, cuts, q):
    """Any split: the pieces' token-mean losses add up to Eq. (6) of Wang et al. 2025 (v2) written out here: minus
    the sum of min(rA, clip(r)A) over the union of the pieces' top-q tokens, divided by that union's size."""
    algo = algorithms.get("dapo", entropy_top_q=q)
    inputs = batch(seed, b=10, t=6)
    bounds = [0, *sorted(cuts), 10]
    pieces = [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    tokens, seqs = algorithms.count_tokens_and_seqs(inputs["mask"])
    policy_tokens = sum(algo.policy_token_count(inputs["mask"][p]) for p in pieces)
    union = torch.zeros_like(inputs["mask"], dtype=torch.bool)
    total = 0.0
    for p in pieces:
        part = rows(inputs, p)
        values = sorted((part["entropy"][i, t].item() for i, t in torch.nonzero(part["mask"]).tolist()),
                        reverse=True)
        k = math.ceil(Fraction(str(q)) * len(values))
        union[p] = (part["entropy"] >= values[k - 1]) & (part["mask"] > 0)
        loss, _, _ = loss_and_grads(algo, part, global_tokens=tokens, global_seqs=seqs,
                                    global_policy_tokens=policy_tokens)
        total += loss
    assert int(union.sum()) == policy_tokens
    expected = dapo_token_loss(inputs)[union].sum() / int(union.sum())
    torch.testing.assert_close(total, expected, rtol=1e-12, atol=1e-14)


def test_forking_tokens_with_global_tokens_need_the_global_policy_count():
    inputs = batch(4)
    tokens, seqs = algorithms.count_tokens_and_seqs(inputs["mask"])
    with pytest.raises(ValueError, match="global_policy_tokens"):
        algorithms.get("dapo", entropy_top_q=0.2).loss(**rows(inputs, slice(0, 4)), global_tokens=tokens,
                                                       global_seqs=seqs)
    # TRL's denominator is the global token count, which global_tokens already is
    algorithms.get("dapo", entropy_top_q=0.2, entropy_top_q_denominator="trl").loss(
        **rows(inputs, slice(0, 4)), global_tokens=tokens, global_seqs=seqs)


# ------------------------------------------------------------------------------------------------- robustness

@pytest.mark.parametrize("name", ALL)
def test_padding_is_inert(name):
    algo = algorithms.get(name, **({"clip_cov_ratio": 0.2, "clip_cov_lb": 0.0} if name == "clip-cov" else {}))
    inputs = batch(3)
    padding = inputs["mask"] == 0
    assert padding.any()
    loss0, (g0, _), m0 = loss_and_grads(algo, inputs)
    for garbage in (torch.full_like(inputs["logp"], 1e4), torch.full_like(inputs["logp"], float("nan")),
                    torch.randn(inputs["logp"].shape, dtype=F64) * 100):
        changed = dict(inputs)
        for key in ("logp", "old_logp", "advantages", "ref_logp", "entropy"):
            changed[key] = torch.where(padding, garbage, inputs[key])
        loss1, (g1, _), m1 = loss_and_grads(algo, changed)
        assert torch.equal(loss0, loss1) and torch.equal(g0, g1) and m0 == m1


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_ratios_of_plus_minus_50_give_finite_loss_and_gradient(name, dtype):
    algo = algorithms.get(name, **({"kl_coef": 0.1, "kl_in_reward": False} if name != "ppo" else {}))
    lr = torch.tensor([[50.0, -50.0, 0.1], [-50.0, 50.0, -0.1]], dtype=dtype)
    adv = torch.tensor([[1.0, -1.0, 1.0], [1.0, -1.0, -1.0]], dtype=dtype)
    logp = torch.full((2, 3), -60.0, dtype=dtype).requires_grad_(True)
    loss, metrics = algo.loss(logp=logp, old_logp=logp.detach() - lr, advantages=adv,
                              mask=torch.ones(2, 3, dtype=dtype), ref_logp=logp.detach() - lr,
                              scores=torch.tensor([1.0, -1.0], dtype=dtype))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert all(math.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize("tensor", ["logp", "old_logp", "advantages", "ref_logp", "entropy"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_on_response_tokens_raises_naming_the_tensor(tensor, bad):
    inputs = batch(4)
    inputs[tensor] = inputs[tensor].clone()
    inputs[tensor][0, 0] = bad                           # row 0 always has at least one response token
    with pytest.raises(ValueError, match=rf"^{tensor} has 1 NaN/inf value\(s\) on response tokens"):
        algorithms.get("grpo").loss(**inputs)


def test_shape_mismatch_is_an_error():
    inputs = batch(5)
    inputs["advantages"] = inputs["advantages"][:, 0]
    with pytest.raises(ValueError, match=r"advantages has shape \(8,\) but mask has \(8, 7\)"):
        algorithms.get("dapo").loss(**inputs)


def test_missing_reference_or_entropy_is_an_error_that_says_what_is_needed():
    inputs = batch(6)
    with pytest.raises(ValueError, match="needs ref_logp"):
        algorithms.get("grpo").loss(logp=inputs["logp"], old_logp=inputs["old_logp"],
                                    advantages=inputs["advantages"], mask=inputs["mask"])
    with pytest.raises(ValueError, match="needs entropy"):
        algorithms.get("dapo", entropy_coef=0.01).loss(logp=inputs["logp"], old_logp=inputs["old_logp"],
                                                       advantages=inputs["advantages"], mask=inputs["mask"])
    with pytest.raises(ValueError, match="has no critic"):
        algorithms.get("dapo").loss(**inputs, values=inputs["logp"], old_values=inputs["logp"],
                                    returns=inputs["logp"])


# -------------------------------------------------------------------------------------------------- metrics

# the objectives' own metrics: the share of tokens and sequences their mask takes the gradient from, FEC's bounds
MASK_KEYS = {"mask/token_frac", "mask/seq_frac"}
OWN_KEYS = {"m2po": MASK_KEYS, "prime-dppo": MASK_KEYS, "ipo": MASK_KEYS,
            "fec": {"fec/weight_high", "fec/weight_low", "fec/eps_high_mean", "fec/eps_low_mean"}}


@pytest.mark.parametrize("name", ALL)
def test_every_objective_reports_the_same_metric_keys(name):
    inputs = batch(7)
    bare = {k: inputs[k] for k in ("logp", "old_logp", "advantages", "mask", "scores")}
    algo = algorithms.get(name, kl_coef=0.0)
    _, metrics = algo.loss(**bare)
    assert set(metrics) == METRIC_KEYS | OWN_KEYS.get(name, set())
    _, metrics = algo.loss(**bare, ref_logp=inputs["ref_logp"], entropy=inputs["entropy"])
    assert set(metrics) == METRIC_KEYS | {"kl/ref", "entropy"} | OWN_KEYS.get(name, set())
    assert all(isinstance(v, float) for v in metrics.values())


def test_metric_values():
    inputs = batch(8, lr_range=0.6)
    algo = algorithms.get("dapo")
    loss, metrics = algo.loss(**inputs)
    m = inputs["mask"].bool()
    r = torch.exp(inputs["logp"] - inputs["old_logp"])[m]
    a = inputs["advantages"][m]
    assert metrics["clipfrac/low_neg"] == pytest.approx(((r < 0.8) & (a < 0)).double().mean().item())
    assert metrics["clipfrac/high_pos"] == pytest.approx(((r > 1.28) & (a > 0)).double().mean().item())
    assert metrics["clipfrac/low_pos"] == pytest.approx(((r < 0.8) & (a > 0)).double().mean().item())
    assert metrics["clipfrac/high_neg"] == pytest.approx(((r > 1.28) & (a < 0)).double().mean().item())
    assert metrics["ratio/mean"] == pytest.approx(r.mean().item())
    assert metrics["kl/old"] == pytest.approx((r - 1 - r.log()).mean().item())
    d = (inputs["logp"] - inputs["ref_logp"])[m]
    assert metrics["kl/ref"] == pytest.approx((torch.exp(-d) - 1 + d).mean().item())
    assert metrics["loss/total"] == pytest.approx(loss.item()) == pytest.approx(metrics["loss/policy"])


def test_gradient_shares_partition_the_gradient():
    inputs = batch(9)
    algo = algorithms.get("ce-gppo")
    _, (grad, _), _ = loss_and_grads(algo, inputs)
    regions = algorithms.region_masks(torch.exp(inputs["logp"] - inputs["old_logp"]), inputs["advantages"],
                                      inputs["mask"], algo.clip_ratio_low, algo.clip_ratio_high)
    shares = algorithms.gradient_shares(grad, regions, inputs["mask"])
    assert set(shares) == set(algorithms.REGIONS)
    assert sum(shares.values()) == pytest.approx(1.0)
    expected = grad[regions["low_neg"]].abs().sum() / (grad * inputs["mask"]).abs().sum()
    assert shares["low_neg"] == pytest.approx(expected.item())
    ppo_grad = loss_and_grads(algorithms.get("ppo"), inputs)[1][0]
    ppo_shares = algorithms.gradient_shares(ppo_grad, regions, inputs["mask"])
    assert ppo_shares["low_neg"] == 0.0 and ppo_shares["high_pos"] == 0.0      # PPO drops the clipped tokens


@pytest.mark.parametrize("name", ["ce-gppo", "gspo"])
def test_algo_regions_match_the_reported_clip_fractions(name):
    inputs = batch(11, lr_range=0.3 if name == "ce-gppo" else 2e-3)
    algo = algorithms.get(name)
    _, metrics = algo.loss(**{k: inputs[k] for k in ("logp", "old_logp", "advantages", "mask")})
    regions = algo.regions(**{k: inputs[k] for k in ("logp", "old_logp", "advantages", "mask")})
    n = inputs["mask"].sum().item()
    for region in ("low_neg", "high_pos", "low_pos", "high_neg"):
        assert metrics[f"clipfrac/{region}"] == pytest.approx(regions[region].sum().item() / n)
    if name == "gspo":   # one region per sequence: the sequence ratio decides
        for i in range(inputs["mask"].shape[0]):
            row = inputs["mask"][i].bool()
            signs = torch.sign(inputs["advantages"][i][row])
            for region in ("low_neg", "high_pos", "low_pos", "high_neg"):
                hits = regions[region][i][row]
                expected = signs < 0 if region.endswith("neg") else signs > 0
                assert not hits.any() or torch.equal(hits, expected)


# ---------------------------------------------------------------------------------------------- PPO's critic

def test_ppo_value_loss_value_and_gradient():
    algo = algorithms.get("ppo", value_clip=0.2, vf_coef=0.5, loss_agg_mode="token-mean")
    old_values = torch.tensor([[0.0, 0.0, 0.0, 0.0]], dtype=F64)
    values = torch.tensor([[0.1, 0.5, -0.5, 0.5]], dtype=F64, requires_grad=True)
    returns = torch.tensor([[1.0, 1.0, 1.0, -1.0]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=F64)
    loss, metrics = algo.value_loss(values=values, old_values=old_values, returns=returns, mask=mask)
    loss.backward()
    # token 0: inside the clip range; token 1: clipped to 0.2 -> (0.2-1)^2=0.64 > (0.5-1)^2=0.25, clipped term
    # wins, no gradient; token 2: unclipped (1.5^2) > clipped (1.2^2), gradient (V-R); token 3: clipped 1.44 < 2.25
    per_token = [0.5 * 0.81, 0.5 * 0.64, 0.5 * 2.25, 0.5 * 2.25]
    assert loss.item() == pytest.approx(0.5 * sum(per_token) / 4)
    expected = torch.tensor([[0.1 - 1.0, 0.0, -0.5 - 1.0, 0.5 + 1.0]], dtype=F64) * 0.5 / 4
    torch.testing.assert_close(values.grad, expected)
    assert metrics["value/clipfrac"] == pytest.approx(0.25)


def test_ppo_loss_with_values_adds_the_value_loss():
    inputs = batch(10)
    algo = algorithms.get("ppo")
    values = torch.randn(8, 7, dtype=F64)
    critic = dict(values=values, old_values=values + 0.1, returns=values + 1.0)
    total, metrics = algo.loss(**inputs, **critic)
    vloss, _ = algo.value_loss(mask=inputs["mask"], **critic)
    assert total.item() == pytest.approx(metrics["loss/policy"] + vloss.item())
    assert metrics["loss/value"] == pytest.approx(vloss.item() / algo.vf_coef)


def test_ppo_recipe_puts_the_kl_into_the_reward_and_uses_gae():
    algo = algorithms.get("ppo", lam=1.0)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    old_logp = torch.tensor([[-1.0, -2.0, -0.5, 0.0], [-1.0, -1.5, 0.0, 0.0]], dtype=F64)
    ref_logp = old_logp - 0.1
    values = torch.zeros(2, 4, dtype=F64)
    scores = torch.tensor([1.0, 0.0], dtype=F64)
    adv, returns = algo.compute_advantages(mask=mask, scores=scores, values=values, old_logp=old_logp,
                                           ref_logp=ref_logp)
    # with V = 0, gamma = lambda = 1: the return of token t is the score minus the KL penalties from t on
    expected = torch.tensor([[1 - 0.006, 1 - 0.004, 1 - 0.002, 0.0], [-0.004, -0.002, 0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(returns, expected)
    assert adv.shape == (2, 4) and (adv[~mask] == 0).all()


def test_outcome_recipe_advantages_follow_the_algorithm():
    mask = torch.ones(4, 3, dtype=torch.bool)
    scores = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=F64)
    groups = torch.tensor([0, 0, 1, 1])
    adv_grpo, _ = algorithms.get("grpo").compute_advantages(mask=mask, scores=scores, group_ids=groups)
    adv_dr, _ = algorithms.get("dr-grpo").compute_advantages(mask=mask, scores=scores, group_ids=groups)
    torch.testing.assert_close(adv_dr[:, 0], torch.tensor([0.5, -0.5, 0.0, 0.0], dtype=F64))
    s = math.sqrt(0.5)   # unbiased std of {1, 0}
    torch.testing.assert_close(adv_grpo[:, 0], torch.tensor([0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0, 0], dtype=F64))


# ------------------------------------------------------------------------------------------------ issue 31's items

def test_m2po_micro_batches_and_ranks_when_their_masks_make_up_the_batchs():
    """M2PO chooses its mask over the batch it is given (batch_dependent). Each of the 2 ranks x 2 micro-batches holds
    one outlier token (log r = 3, (log r)^2 = 9) among small ones (|log r| <= 0.05): alone each masks its outlier
    (the rest's mean is below tau = 0.04), and the whole batch masks all four (with 1 to 3 of them masked the mean
    of the rest is still above tau). With the global counts the pieces then add up to the batch's loss and
    gradients."""
    inputs = batch(12, b=8)
    inputs["mask"][[0, 4]] = 1.0                          # the one-row pieces need more tokens than their outlier
    g = torch.Generator().manual_seed(12)
    log_ratio = (torch.rand(8, 7, generator=g, dtype=F64) * 2 - 1) * 0.05
    outliers = [(0, 0), (1, 0), (4, 0), (5, 0)]           # one in each piece of RANKS_X_MICRO
    for k in outliers:
        log_ratio[k] = 3.0
    inputs["old_logp"] = inputs["logp"] - log_ratio
    algo = algorithms.get("m2po")
    x = algo._inputs(inputs["logp"], inputs["old_logp"], inputs["advantages"], inputs["mask"])
    assert sorted(map(tuple, torch.nonzero(algo.masked_tokens(x)).tolist())) == outliers
    for piece in RANKS_X_MICRO:
        part = rows(inputs, piece)
        xp = algo._inputs(part["logp"], part["old_logp"], part["advantages"], part["mask"])
        assert int(algo.masked_tokens(xp).sum()) == 1
    assert_pieces_add_up(algo, inputs, RANKS_X_MICRO, **global_counts(inputs))


def test_prompt_mean_is_refused_where_it_is_not_defined():
    with pytest.raises(ValueError, match="'prompt-mean'.*not available with a critic"):
        algorithms.get("ppo", loss_agg_mode="prompt-mean")
    with pytest.raises(ValueError, match="'prompt-mean'.*entropy_top_q < 1"):
        algorithms.get("dapo", loss_agg_mode="prompt-mean", entropy_top_q=0.2)
    inputs = batch(13)
    del inputs["group_ids"]
    with pytest.raises(ValueError, match="needs group_ids"):
        algorithms.get("dapo", loss_agg_mode="prompt-mean").loss(**inputs)


@pytest.mark.parametrize("schedule, expected", [
    # lambda = 1 - 2k/T with T = 10; id: (lambda, 0) then (0, 1 + lambda); did: (1 - lambda, 0) then (1, 1 + lambda)
    ("id", {0: (1.0, 0.0), 2: (0.6, 0.0), 5: (0.0, 0.0), 6: (0.0, 0.8), 10: (0.0, 0.0)}),
    ("did", {0: (0.0, 0.0), 2: (0.4, 0.0), 5: (1.0, 0.0), 6: (1.0, 0.8), 10: (1.0, 0.0)}),
])
def test_fec_id_and_did_schedules_follow_the_authors_formulas(schedule, expected):
    algo = algorithms.get("fec", schedule=schedule)
    for step, weights in expected.items():
        algo.start_step(step, 10, None)
        assert algo._weights == pytest.approx(weights, abs=1e-12), step
    assert algo.follows_schedule and not algorithms.get("fec", schedule="static").follows_schedule


def test_fec_oscillatory_decay_switches_on_the_entropy_thresholds():
    """od: tau_low = 0.2 H_init, tau_high(k) = tau_low + (H_init - tau_low)(1 - k/T); boost (dynamic upper bound)
    once H <= tau_low, suppress (dynamic lower bound) once H > tau_high(k), otherwise keep the state; start in
    suppress. H_init = 2 (the first entropy heard), T = 10."""
    algo = algorithms.get("fec", schedule="od")
    steps = [(0, None, (0.0, 1.0)),      # nothing measured yet: suppress
             (1, 2.0, (0.0, 1.0)),       # tau_high(1) = 0.4 + 1.6 * 0.9 = 1.84 < 2.0: suppress
             (2, 0.39, (1.0, 0.0)),      # <= tau_low = 0.4: boost
             (3, 1.0, (1.0, 0.0)),       # between 0.4 and tau_high(3) = 1.52: keep boosting
             (4, 1.5, (0.0, 1.0))]       # > tau_high(4) = 1.36: suppress
    for step, entropy, weights in steps:
        algo.start_step(step, 10, entropy)
        assert algo._weights == weights, step
    resumed = algorithms.get("fec", schedule="od")
    resumed.load_schedule_state(algo.schedule_state())
    resumed.start_step(5, 10, 1.0)       # 1.0 < tau_high(5) = 1.2: the restored suppress state holds
    algo.start_step(5, 10, 1.0)
    assert resumed._weights == algo._weights == (0.0, 1.0)


def test_topr_trajectory_ratio_truncates_the_whole_sequence():
    """sequence_ratio=True: a negative response's weight is clip(prod_t r_t, 0, 1) on every token."""
    algo = algorithms.get("topr", sequence_ratio=True, loss_agg_mode="token-sum")
    lr = torch.tensor([[0.3, -0.1, 0.2], [-0.5, 0.1, 0.0]], dtype=F64)      # products e^0.4 and e^-0.4
    logp = torch.full((2, 3), -1.0, dtype=F64)
    adv = torch.tensor([[-1.0] * 3, [-2.0] * 3], dtype=F64)
    loss, (grad, _), _ = loss_and_grads(algo, {"logp": logp, "old_logp": logp - lr, "advantages": adv,
                                               "mask": torch.ones(2, 3, dtype=F64), "entropy": torch.zeros(2, 3)})
    expected = torch.tensor([[1.0] * 3, [2.0 * math.exp(-0.4)] * 3], dtype=F64)       # -w A, w = min(prod r, 1)
    torch.testing.assert_close(grad, expected)
