"""Every objective's autograd gradient w.r.t. logp equals the per-token weight its paper
gives, and the identities between objectives hold.

The analytic weights below are written out token by token from the papers' formulas (see docs/algorithms.md),
independently of the implementation: dL/dlogp_bt = c_bt * w_bt, where w_bt = d loss_bt / d logp_bt is the paper's
per-token weight and c_bt the aggregation weight of the token.
"""
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import algorithms

F64 = torch.float64  # every tensor here is float64 (set explicitly: no global default dtype changes)

B, T = 10, 9


# ------------------------------------------------------------------------------------------- inputs and helpers

def make_batch(seed: int, lr_range: float = 3.0, b: int = B, t: int = T):
    """Random float64 inputs whose log-ratios span [-lr_range, lr_range], with ragged lengths and both signs of A."""
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(b, t, generator=g, dtype=F64) * 4.0 - 0.05
    log_ratio = (torch.rand(b, t, generator=g, dtype=F64) * 2 - 1) * lr_range
    old_logp = logp - log_ratio
    adv = torch.randn(b, t, generator=g, dtype=F64)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[0] = t
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(torch.float64)
    ref_logp = logp + 0.3 * torch.randn(b, t, generator=g, dtype=F64)
    return logp, old_logp, adv, mask, ref_logp


def groups_of(mask):
    """Prompt ids for prompt-mean: consecutive pairs of responses answer one prompt."""
    return torch.arange(mask.shape[0]) // 2


def autograd_grad(algo, logp, old_logp, adv, mask, **kw):
    assert logp.dtype == old_logp.dtype == adv.dtype == mask.dtype == F64
    kw.setdefault("group_ids", groups_of(mask))
    logp = logp.clone().requires_grad_(True)
    loss, metrics = algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=mask, **kw)
    (grad,) = torch.autograd.grad(loss, logp)
    return loss.detach(), grad, metrics


def agg_weights(mode: str, mask: torch.Tensor, norm_length=None) -> torch.Tensor:
    """c_bt of each aggregation mode, token by token (prompt-mean with the prompts of groups_of)."""
    c = torch.zeros_like(mask)
    n_tokens = mask.sum().item()
    n_seqs = sum(1 for i in range(mask.shape[0]) if mask[i].sum() > 0)
    prompt = groups_of(mask).tolist()
    prompt_tokens = {p: sum(mask[j].sum().item() for j in range(mask.shape[0]) if prompt[j] == p) for p in prompt}
    n_prompts = sum(1 for p in prompt_tokens if prompt_tokens[p] > 0)
    for i in range(mask.shape[0]):
        n_i = mask[i].sum().item()
        for t in range(mask.shape[1]):
            if mask[i, t] == 0:
                continue
            c[i, t] = {"token-mean": 1.0 / n_tokens,
                       "seq-mean-token-mean": 1.0 / (n_seqs * n_i),
                       "seq-mean-token-sum": 1.0 / n_seqs,
                       "seq-mean-token-sum-norm": 1.0 / (n_seqs * (norm_length or mask.shape[1])),
                       "token-sum": 1.0,
                       "prompt-mean": 1.0 / (n_prompts * prompt_tokens[prompt[i]])}[mode]
    return c


def tokens(mask):
    return [(i, t) for i in range(mask.shape[0]) for t in range(mask.shape[1]) if mask[i, t] > 0]


# --------------------------------------------------------------------- per-token weights from the papers

def w_ppo_clip(r, a, lo, hi, dual_c=None):
    """PPO: -r*A unless clipped (r<lo & A<0, r>hi & A>0) or dual-clipped (A<0 & r>c)."""
    if (r < lo and a < 0) or (r > hi and a > 0):
        return 0.0
    if dual_c is not None and a < 0 and r > dual_c:
        return 0.0
    return -r * a


def w_ce_gppo(r, a, lo, hi, beta1, beta2, dual_c=None):
    """CE-GPPO: -beta1*lo*A on low_neg, -beta2*hi*A on high_pos, -r*A elsewhere (0 above the dual clip)."""
    if r < lo and a < 0:
        return -beta1 * lo * a
    if r > hi and a > 0:
        return -beta2 * hi * a
    if dual_c is not None and a < 0 and r > dual_c:
        return 0.0
    return -r * a


def w_sapo(r, a, tau_pos, tau_neg):
    """SAPO: d/dlogp of -sigmoid(tau (r - 1)) 4/tau A = -4 s (1 - s) r A, tau by the sign of A."""
    tau = tau_pos if a > 0 else tau_neg
    s = 1.0 / (1.0 + math.exp(-tau * (r - 1.0)))
    return -4.0 * s * (1.0 - s) * r * a


def binary_kl(mu, p):
    """KL(Bernoulli(mu) || Bernoulli(p)), written out."""
    return mu * math.log(mu / p) + (1 - mu) * math.log((1 - mu) / (1 - p))


def w_dppo(name, logp, old_logp, r, a, delta_low, delta_high):
    """DPPO: -r A unless the token left the trust region in the direction A pushes (then 0)."""
    p, mu = math.exp(logp), math.exp(old_logp)
    if name == "dppo-tv":
        out = (a > 0 and p - mu > delta_high) or (a <= 0 and p - mu < -delta_low)
    else:
        d = binary_kl(mu, p)
        out = (a > 0 and p > mu and d > delta_high) or (a <= 0 and p < mu and d > delta_low)
    return 0.0 if out else -r * a


def m2po_masked(logp, old_logp, mask, tau):
    """M2PO's mask written out: sort the tokens by (log r)^2, largest first, and mask them one by one until the mean
    of the remaining ones is below tau (all but the last one if that never happens)."""
    ranked = sorted(tokens(mask), key=lambda k: -(logp[k].item() - old_logp[k].item()) ** 2)
    squares = [(logp[k].item() - old_logp[k].item()) ** 2 for k in ranked]
    for n_masked in range(len(ranked)):
        rest = squares[n_masked:]
        if sum(rest) / len(rest) < tau:
            return set(ranked[:n_masked])
    return set(ranked[:-1])


def masked_weights(name, algo, logp, old_logp, mask, ratio, a):
    """Per-token weights of the objectives with a mask M: -M r A, plus prime-rl's kl_tau (log r)^2 term (weight
    2 kl_tau log r on every token). prime-dppo: M = 0 where A > 0 and p - mu > delta_high or A <= 0 and
    p - mu < -delta_low; ipo: where |p - mu| > delta; m2po: m2po_masked."""
    w = torch.zeros_like(mask)
    if name == "m2po":
        masked = m2po_masked(logp, old_logp, mask, algo.m2_threshold)
        assert 0 < len(masked) < len(tokens(mask)), "the test inputs must mask some tokens and keep others"
    else:
        masked = set()
        for k in tokens(mask):
            diff = math.exp(logp[k].item()) - math.exp(old_logp[k].item())
            if name == "prime-dppo":
                out = (a[k] > 0 and diff > algo.clip_ratio_high) or (a[k] <= 0 and diff < -algo.clip_ratio_low)
            else:
                out = abs(diff) > algo.ipo_threshold
            masked |= {k} if out else set()
    kl_tau = getattr(algo, "kl_tau", 0.0)
    for k in tokens(mask):
        w[k] = (0.0 if k in masked else -ratio[k] * a[k]) + 2 * kl_tau * math.log(ratio[k])
    return w


def w_fec(p, r, a, algo):
    """FEC: PPO's weight with the bounds 1 - E-(p), 1 + E+(p) linear in the token's probability p."""
    w_high, w_low = algo._weights
    e_high = max(w_high * (algo.high_slope * p + algo.high_intercept) + (1 - w_high) * algo.clip_ratio_high, 0.0)
    e_low = min(max(w_low * (algo.low_slope * p + algo.low_intercept) + (1 - w_low) * algo.clip_ratio_low, 0.0), 1.0)
    return w_ppo_clip(r, a, 1 - e_low, 1 + e_high)


def covariance(logp, adv, mask):
    toks = tokens(mask)
    mean_lp = sum(logp[i, t].item() for i, t in toks) / len(toks)
    mean_a = sum(adv[i, t].item() for i, t in toks) / len(toks)
    return {(i, t): (logp[i, t].item() - mean_lp) * (adv[i, t].item() - mean_a) for i, t in toks}


def analytic(name, algo, logp, old_logp, adv, mask, scores=None):
    """dLoss/dlogp [B, T] from the paper's per-token weight and the aggregation weight."""
    lo, hi = 1 - algo.clip_ratio_low, 1 + algo.clip_ratio_high
    c = agg_weights(algo.loss_agg_mode, mask, algo.loss_norm_length)
    w = torch.zeros_like(mask)
    ratio = {(i, t): math.exp(logp[i, t].item() - old_logp[i, t].item()) for i, t in tokens(mask)}
    a = {(i, t): adv[i, t].item() for i, t in tokens(mask)}
    if name == "gspo":
        for i in range(mask.shape[0]):
            toks = [(j, t) for j, t in tokens(mask) if j == i]
            s = math.exp(sum(math.log(ratio[k]) for k in toks) / len(toks))
            for k in toks:  # the sequence is clipped (or not) as a whole
                w[k] = 0.0 if (s < lo and a[k] < 0) or (s > hi and a[k] > 0) else -s * a[k]
        return c * w
    if name == "gmpo":
        for i in range(mask.shape[0]):
            toks = [(j, t) for j, t in tokens(mask) if j == i]
            clipped = {k: (a[k] > 0 and math.log(ratio[k]) > algo.clip_ratio_high)
                       or (a[k] < 0 and math.log(ratio[k]) < -algo.clip_ratio_low) for k in toks}
            logs = [min(max(math.log(ratio[k]), -algo.clip_ratio_low), algo.clip_ratio_high) if clipped[k]
                    else math.log(ratio[k]) for k in toks]
            s = math.exp(sum(logs) / len(toks))               # geometric mean of the clipped token ratios
            for k in toks:
                w[k] = 0.0 if clipped[k] else -s * a[k]
        return c * w
    if name in ("dppo-tv", "dppo-kl"):
        for k in tokens(mask):
            w[k] = w_dppo(name, logp[k].item(), old_logp[k].item(), ratio[k], a[k], algo.clip_ratio_low,
                          algo.clip_ratio_high)
        return c * w
    if name in ("prime-dppo", "ipo", "m2po"):
        return c * masked_weights(name, algo, logp, old_logp, mask, ratio, a)
    if name in ("clip-cov", "kl-cov"):
        cov = covariance(logp, adv, mask)
        if name == "clip-cov":
            # the authors' code: only tokens PPO's clip leaves a gradient to are candidates; k = max(floor(rN), 1)
            cands = [k for k, v in cov.items() if algo.clip_cov_lb < v < algo.clip_cov_ub
                     and w_ppo_clip(ratio[k], a[k], lo, hi, algo.dual_clip_c) == -ratio[k] * a[k]]
            k_sel = max(math.floor(algo.clip_cov_ratio * len(cov)), 1)
        else:
            cands = list(cov)
            k_sel = math.ceil(algo.kl_cov_ratio * len(cov))
        selected = set(sorted(cands, key=lambda k: -cov[k])[:k_sel])
        assert selected, "the test inputs must select some tokens"
        for k in tokens(mask):
            if name == "clip-cov":
                w[k] = 0.0 if k in selected else w_ppo_clip(ratio[k], a[k], lo, hi, algo.dual_clip_c)
            else:
                lr = math.log(ratio[k])
                w[k] = -ratio[k] * a[k] + (algo.kl_cov_coef * math.copysign(1.0, lr) if k in selected else 0.0)
        return c * w
    for k in tokens(mask):
        r = ratio[k]
        w[k] = {
            "ppo": lambda: w_ppo_clip(r, a[k], lo, hi, algo.dual_clip_c),
            "grpo": lambda: w_ppo_clip(r, a[k], lo, hi, algo.dual_clip_c),
            "dapo": lambda: w_ppo_clip(r, a[k], lo, hi, algo.dual_clip_c),
            "dr-grpo": lambda: w_ppo_clip(r, a[k], lo, hi, algo.dual_clip_c),
            "gppo": lambda: w_ce_gppo(r, a[k], lo, hi, 1.0, 1.0, algo.dual_clip_c),
            "ce-gppo": lambda: w_ce_gppo(r, a[k], lo, hi, algo.beta1, algo.beta2, algo.dual_clip_c),
            "cispo": lambda: -min(max(r, lo), hi) * a[k],       # sg(clip(r)) * A * dlogp
            "lite-ppo": lambda: w_ppo_clip(r, a[k], lo, hi),
            "sapo": lambda: w_sapo(r, a[k], algo.tau_pos, algo.tau_neg),
            "gpg": lambda: -a[k],                                # -A log pi: weight -A whatever the ratio
            # TOPR: -A log pi on A > 0; -sg(clip(r, 0, 1)) A log pi on A < 0
            "topr": lambda: -algo.positive_weight * a[k] if a[k] > 0 else -algo.negative_weight * min(r, 1.0) * a[k],
            "kimi-1.5": lambda: -a[k] + algo.tau * math.log(r),  # -A log pi + tau/2 (log r)^2
            "fec": lambda: w_fec(math.exp(logp[k].item()), r, a[k], algo),
            "ce-gppo-authors": lambda: (w_ce_gppo(r, a[k], lo, hi, algo.beta1, algo.beta2, algo.dual_clip_c)
                                        - (algo.positive_loss_coeff if scores[k[0]] == algo.reward_correct
                                           else 0.0)),
        }[name]()
    return c * w


# test-only overrides: populate every region (cispo's default has no lower bound; covariance objectives need a
# selection ratio large enough to select tokens out of ~60); GRPO's KL is tested separately
OVERRIDES = {
    "grpo": {"kl_coef": 0.0},
    "cispo": {"clip_ratio_low": 0.2},
    "clip-cov": {"clip_cov_ratio": 0.1, "clip_cov_lb": 0.2, "clip_cov_ub": 5.0},
    "kl-cov": {"kl_cov_ratio": 0.1},
    "dr-grpo": {"loss_norm_length": 16},
    "topr": {"clip_ratio_low": 0.2, "clip_ratio_high": 0.2},      # diagnostics only: regions around r = 1
    "m2po": {"m2_threshold": 0.5},                                  # log-ratios up to 3: keep some tokens
    "fec": {"schedule": "static", "weight_high": 0.6, "weight_low": 0.3},
}


def gspo_batch(seed: int):
    """Sequences whose geometric-mean ratios land in every region of GSPO's tiny clip range."""
    g = torch.Generator().manual_seed(seed)
    offsets = torch.tensor([-0.3, 0.3, -0.3, 0.3, 1e-4, -1e-4, 0.2, -0.2, 5e-5, 0.0], dtype=F64)
    signs = torch.tensor([-1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0], dtype=F64)
    logp, _, _, mask, ref = make_batch(seed)
    noise = torch.randn(B, T, generator=g, dtype=F64) * 0.5 * mask
    noise = (noise - (noise.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True))) * mask
    old_logp = logp - (offsets[:, None] + noise)
    adv = signs[:, None] * (0.5 + torch.rand(B, T, generator=g, dtype=F64))
    return logp, old_logp, adv, mask, ref


# ---------------------------------------------------------------------------------------------- the tests

def dppo_batch(seed: int):
    """Valid probabilities on both sides (old_logp < 0 too), so that p - mu spans the trust region both ways."""
    g = torch.Generator().manual_seed(seed)
    _, _, adv, mask, ref = make_batch(seed)
    logp = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    old_logp = torch.log(0.02 + 0.96 * torch.rand(B, T, generator=g, dtype=F64))
    return logp, old_logp, adv, mask, ref


def batch_for(name: str, seed: int):
    return {"gspo": gspo_batch, "dppo-tv": dppo_batch, "dppo-kl": dppo_batch, "prime-dppo": dppo_batch,
            "ipo": dppo_batch}.get(name, make_batch)(seed)


def scores_for(seed: int) -> torch.Tensor:
    """Outcome rewards per response: +1 correct / -1 wrong, both present."""
    g = torch.Generator().manual_seed(100 + seed)
    scores = torch.where(torch.rand(B, generator=g) < 0.5, 1.0, -1.0).to(F64)
    scores[0], scores[1] = 1.0, -1.0
    return scores


def test_every_builtin_objective_has_an_analytic_gradient_test():
    covered = {"ppo", "grpo", "dapo", "dr-grpo", "gppo", "ce-gppo", "gspo", "cispo", "clip-cov", "kl-cov",
               "sapo", "gmpo", "gpg", "dppo-tv", "dppo-kl", "lite-ppo", "ce-gppo-authors", "topr", "kimi-1.5",
               "prime-dppo", "ipo", "m2po", "fec"}
    assert set(algorithms.BUILTIN) == covered


@pytest.mark.parametrize("name", algorithms.BUILTIN)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_autograd_gradient_equals_the_papers_per_token_weight(name, seed):
    algo = algorithms.get(name, **OVERRIDES.get(name, {}))
    logp, old_logp, adv, mask, _ = batch_for(name, seed)
    scores = scores_for(seed)
    _, grad, metrics = autograd_grad(algo, logp, old_logp, adv, mask, scores=scores)
    for region in ("low_neg", "high_pos", "low_pos", "high_neg"):
        assert metrics[f"clipfrac/{region}"] > 0, f"{name}: inputs must populate region {region}"
    expected = analytic(name, algo, logp, old_logp, adv, mask, scores.tolist())
    assert expected.abs().max() > 0
    torch.testing.assert_close(grad, expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("mode", algorithms.AGG_MODES)
def test_gradient_under_every_aggregation_mode(mode):
    algo = algorithms.get("ce-gppo", loss_agg_mode=mode, beta1=0.3, beta2=0.7)
    logp, old_logp, adv, mask, _ = make_batch(5)
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    torch.testing.assert_close(grad, analytic("ce-gppo", algo, logp, old_logp, adv, mask), rtol=1e-6, atol=1e-12)


def test_ppo_dual_clip_zeroes_the_gradient_of_negative_tokens_above_c():
    algo = algorithms.get("ppo")
    logp = torch.zeros(1, 3, dtype=F64)
    old_logp = -torch.log(torch.tensor([[2.0, 3.5, 5.0]], dtype=F64))      # r = 2, 3.5, 5
    adv = -torch.ones(1, 3, dtype=F64)
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, torch.ones(1, 3, dtype=F64))
    torch.testing.assert_close(grad, torch.tensor([[2.0 / 3, 0.0, 0.0]], dtype=F64))


def test_clip_cov_selects_only_among_tokens_that_ppo_has_not_clipped():
    """Issue 18's minimal case, with the paper's defaults (k = 1, bounds 1 and 5). The authors' code
    (compute_policy_loss_clip_cov: cov_all[clip_by_origin] = -inf) excludes token [0, 0] (covariance 2.1, ratio 1.5,
    A > 0: clipped by PPO), so the only valid candidate is [1, 0] (covariance 1.7); covariances by hand: mean logp
    -1.15, mean A 0, cov = (1.05)(2), (0.15)(2), (-0.85)(-2), (-0.35)(-2)."""
    algo = algorithms.get("clip-cov")
    logp = torch.tensor([[-0.1, -1.0], [-2.0, -1.5]], dtype=F64)
    old_logp = logp.clone()
    old_logp[0, 0] = -0.1 - math.log(1.5)
    adv = torch.tensor([[2.0, 2.0], [-2.0, -2.0]], dtype=F64)
    mask = torch.ones(2, 2, dtype=F64)
    x = algo._inputs(logp, old_logp, adv, mask)
    assert torch.equal(algo.selected_tokens(x), torch.tensor([[False, False], [True, False]]))
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    # token-mean (1/4): [0,0] clipped by PPO -> 0; [0,1] -rA = -2; [1,0] selected -> 0; [1,1] -rA = 2
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5], [0.0, 0.5]], dtype=F64))
    _, grad_ppo, _ = autograd_grad(algorithms.get("dapo", clip_ratio_high=0.2), logp, old_logp, adv, mask)
    assert not torch.equal(grad, grad_ppo)          # picking [0, 0] would have left PPO's gradient unchanged


def test_ce_gppo_forward_value_on_clipped_tokens_is_beta_times_bound_times_advantage():
    algo = algorithms.get("ce-gppo", beta1=0.5, beta2=0.8, dual_clip_c=None)
    for r, a, value in [(0.5, -2.0, -0.5 * 0.8 * -2.0), (1.5, 3.0, -0.8 * 1.2 * 3.0)]:
        loss, _ = algo.loss(logp=torch.tensor([[math.log(r)]], dtype=F64), old_logp=torch.zeros(1, 1, dtype=F64),
                            advantages=torch.tensor([[a]], dtype=F64), mask=torch.ones(1, 1, dtype=F64))
        assert loss.item() == pytest.approx(value, rel=1e-12)


def test_grpo_kl_loss_gradient_is_k3_derivative():
    """GRPO's k3 term: d/dlogp [beta (exp(ref - logp) - 1 + logp - ref)] = beta (1 - exp(ref - logp))."""
    algo = algorithms.get("grpo", loss_agg_mode="token-mean")
    logp, old_logp, adv, mask, ref = make_batch(3)
    _, grad, metrics = autograd_grad(algo, logp, old_logp, adv, mask, ref_logp=ref)
    no_kl = algorithms.get("grpo", loss_agg_mode="token-mean", kl_coef=0.0)
    _, grad0, _ = autograd_grad(no_kl, logp, old_logp, adv, mask)
    expected_kl = mask * algo.kl_coef * (1 - torch.exp(ref - logp)) / mask.sum()
    torch.testing.assert_close(grad - grad0, expected_kl, rtol=1e-6, atol=1e-12)
    assert metrics["kl/ref"] > 0 and metrics["loss/kl"] > 0


def test_entropy_bonus_gradient():
    algo = algorithms.get("dapo", entropy_coef=0.01)
    logp, old_logp, adv, mask, _ = make_batch(4)
    entropy = torch.rand(B, T, dtype=F64).requires_grad_(True)
    loss, metrics = algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=mask, entropy=entropy)
    (g,) = torch.autograd.grad(loss, entropy)
    torch.testing.assert_close(g, -0.01 * mask / mask.sum())
    assert metrics["entropy"] == pytest.approx((entropy * mask).sum().item() / mask.sum().item())


# ---------------------------------------------------------------------------------------------- identities

def test_ce_gppo_with_zero_betas_has_exactly_ppos_clipped_gradient():
    for seed in range(3):
        logp, old_logp, adv, mask, _ = make_batch(seed)
        _, g_ce, _ = autograd_grad(algorithms.get("ce-gppo", beta1=0.0, beta2=0.0, dual_clip_c=None),
                                   logp, old_logp, adv, mask)
        _, g_ppo, _ = autograd_grad(algorithms.get("ppo", dual_clip_c=None), logp, old_logp, adv, mask)
        assert torch.equal(g_ce, g_ppo)


def test_ce_gppo_with_unit_betas_equals_gppo():
    for seed in range(3):
        logp, old_logp, adv, mask, _ = make_batch(seed)
        l_ce, g_ce, m_ce = autograd_grad(algorithms.get("ce-gppo", beta1=1.0, beta2=1.0), logp, old_logp, adv, mask)
        l_gp, g_gp, m_gp = autograd_grad(algorithms.get("gppo"), logp, old_logp, adv, mask)
        assert torch.equal(l_ce, l_gp) and torch.equal(g_ce, g_gp) and m_ce == m_gp


def test_dapo_with_symmetric_clip_equals_grpo_surrogate_under_token_mean():
    for seed in range(3):
        logp, old_logp, adv, mask, _ = make_batch(seed)
        l_d, g_d, _ = autograd_grad(algorithms.get("dapo", clip_ratio_high=0.2), logp, old_logp, adv, mask)
        l_g, g_g, _ = autograd_grad(algorithms.get("grpo", loss_agg_mode="token-mean", kl_coef=0.0),
                                    logp, old_logp, adv, mask)
        assert torch.equal(l_d, l_g) and torch.equal(g_d, g_g)


def test_gspo_on_one_token_sequences_equals_the_token_level_ratio_objective():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(40, 1, generator=g, dtype=F64) * 3
    old_logp = logp - (torch.rand(40, 1, generator=g, dtype=F64) * 2 - 1) * 1e-3   # around GSPO's clip range
    adv = torch.randn(40, 1, generator=g, dtype=F64)
    mask = torch.ones(40, 1, dtype=F64)
    gspo = algorithms.get("gspo")
    token_level = algorithms.get("grpo", kl_coef=0.0, clip_ratio_low=gspo.clip_ratio_low,
                                 clip_ratio_high=gspo.clip_ratio_high, loss_agg_mode=gspo.loss_agg_mode)
    l_s, g_s, m_s = autograd_grad(gspo, logp, old_logp, adv, mask)
    l_t, g_t, m_t = autograd_grad(token_level, logp, old_logp, adv, mask)
    assert all(m_s[f"clipfrac/{r}"] > 0 for r in ("low_neg", "high_pos", "low_pos", "high_neg"))
    torch.testing.assert_close(l_s, l_t, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(g_s, g_t, rtol=1e-12, atol=1e-15)
    assert m_s == pytest.approx(m_t)


@pytest.mark.parametrize("which,region", [("beta1", "low_neg"), ("beta2", "high_pos")])
def test_each_beta_changes_only_its_own_region(which, region):
    logp, old_logp, adv, mask, _ = make_batch(7)
    base = {"beta1": 0.5, "beta2": 1.0}
    _, g0, _ = autograd_grad(algorithms.get("ce-gppo", **base), logp, old_logp, adv, mask)
    _, g1, _ = autograd_grad(algorithms.get("ce-gppo", **{**base, which: 0.2}), logp, old_logp, adv, mask)
    regions = algorithms.region_masks(torch.exp(logp - old_logp), adv, mask, 0.2, 0.2)
    changed = g0 != g1
    assert regions[region].any()
    assert torch.equal(changed, regions[region])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), eps_low=st.floats(0.05, 0.6), eps_high=st.floats(0.05, 1.0),
       beta1=st.floats(0.0, 2.0), beta2=st.floats(0.0, 2.0),
       dual=st.one_of(st.none(), st.floats(1.5, 12.0)), mode=st.sampled_from(algorithms.AGG_MODES))
def test_ce_gppo_gradient_for_any_hyperparameters(seed, eps_low, eps_high, beta1, beta2, dual, mode):
    algo = algorithms.get("ce-gppo", clip_ratio_low=eps_low, clip_ratio_high=eps_high, beta1=beta1, beta2=beta2,
                          dual_clip_c=dual, loss_agg_mode=mode)
    logp, old_logp, adv, mask, _ = make_batch(seed)
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    torch.testing.assert_close(grad, analytic("ce-gppo", algo, logp, old_logp, adv, mask), rtol=1e-6, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), eps_low=st.floats(0.05, 0.6), eps_high=st.floats(0.05, 1.0),
       dual=st.one_of(st.none(), st.floats(1.5, 12.0)),
       name=st.sampled_from(["ppo", "grpo", "dapo", "dr-grpo", "gppo", "cispo"]))
def test_clipped_objectives_gradient_for_any_clip_range(seed, eps_low, eps_high, dual, name):
    overrides = {**OVERRIDES.get(name, {}), "clip_ratio_low": eps_low, "clip_ratio_high": eps_high}
    if name != "cispo":
        overrides["dual_clip_c"] = dual
    algo = algorithms.get(name, **overrides)
    logp, old_logp, adv, mask, _ = make_batch(seed)
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    torch.testing.assert_close(grad, analytic(name, algo, logp, old_logp, adv, mask), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_dual_clip_equals_the_usual_min_form(seed):
    """Dual-clip PPO written the usual way, max(-rA, -clip(r)A) then min(., -cA) on A < 0: same loss and gradient."""
    algo = algorithms.get("ppo", loss_agg_mode="token-mean")
    logp, old_logp, adv, mask, _ = make_batch(seed)
    loss, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    lp = logp.clone().requires_grad_(True)
    r = torch.exp(lp - old_logp)
    pessimistic = torch.maximum(-adv * r, -adv * r.clamp(0.8, 1.2))
    per_token = torch.where(adv < 0, torch.minimum(pessimistic, -3.0 * adv), pessimistic)
    reference = (per_token * mask).sum() / mask.sum()
    (ref_grad,) = torch.autograd.grad(reference, lp)
    torch.testing.assert_close(loss, reference.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------- the newer objectives

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gmpo_token_form_equals_the_per_sequence_geometric_mean_objective(seed):
    """GMPO written per sequence as the paper (and callsys/GMPO's train_zero_math_gmpo.py) does it: one advantage per
    response, J_i = A_i exp(mean_t clipped log r_t), loss = -mean_i J_i; same loss and gradient as the token form."""
    logp, old_logp, _, mask, _ = make_batch(seed, lr_range=1.0)
    g = torch.Generator().manual_seed(seed)
    adv_seq = torch.randn(B, 1, generator=g, dtype=F64)
    adv = adv_seq.expand(B, T).clone()
    algo = algorithms.get("gmpo")
    loss, grad, metrics = autograd_grad(algo, logp, old_logp, adv, mask)
    lp = logp.clone().requires_grad_(True)
    log_ratio = lp - old_logp
    sign = torch.where(adv_seq >= 0, 1.0, -1.0).to(F64)        # the authors' sgn: A >= 0 is treated as positive
    clipped = sign * torch.maximum(-sign * log_ratio, (-sign * log_ratio).clamp(-0.4, 0.4)) * -1.0
    per_seq = -adv_seq[:, 0] * torch.exp((clipped * mask).sum(-1) / mask.sum(-1))
    reference = per_seq.mean()
    (ref_grad,) = torch.autograd.grad(reference, lp)
    assert metrics["clipfrac/high_pos"] > 0 and metrics["clipfrac/low_neg"] > 0
    torch.testing.assert_close(loss, reference.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-14)


def test_dppo_tv_bounds_probability_mass_not_the_ratio():
    """The DPPO paper's motivating pair: a rare token growing 1e-5 -> 1e-3 (ratio 100) keeps its gradient under
    DPPO-TV (|p - mu| < 0.15) where PPO clips it; a likely token dropping 0.99 -> 0.8 (ratio 0.81, inside PPO's
    range) with A < 0 loses it."""
    logp = torch.log(torch.tensor([[1e-3, 0.8]], dtype=F64))
    old_logp = torch.log(torch.tensor([[1e-5, 0.99]], dtype=F64))
    adv = torch.tensor([[1.0, -1.0]], dtype=F64)
    mask = torch.ones(1, 2, dtype=F64)
    _, grad, metrics = autograd_grad(algorithms.get("dppo-tv", loss_agg_mode="token-sum"), logp, old_logp, adv,
                                     mask)
    torch.testing.assert_close(grad, torch.tensor([[-100.0, 0.0]], dtype=F64))
    assert metrics["clipfrac/low_neg"] == 0.5 and metrics["clipfrac/high_pos"] == 0.0
    _, grad_ppo, _ = autograd_grad(algorithms.get("dapo", clip_ratio_high=0.2, loss_agg_mode="token-sum"),
                                   logp, old_logp, adv, mask)
    torch.testing.assert_close(grad_ppo, torch.tensor([[0.0, 0.8 / 0.99]], dtype=F64))   # -r A, A = -1
    # binary KL of 0.99 -> 0.8: 0.99 log(0.99/0.8) + 0.01 log(0.01/0.2) = 0.181 > 0.05
    _, grad_kl, _ = autograd_grad(algorithms.get("dppo-kl", loss_agg_mode="token-sum"), logp, old_logp, adv, mask)
    assert grad_kl[0, 1] == 0.0 and binary_kl(0.99, 0.8) == pytest.approx(0.18096, abs=1e-4)


def test_sapo_is_the_on_policy_gradient_at_ratio_one_and_decays_smoothly():
    algo = algorithms.get("sapo", loss_agg_mode="token-sum")
    adv = torch.tensor([[1.5, -2.0]], dtype=F64)
    _, grad, _ = autograd_grad(algo, torch.zeros(1, 2, dtype=F64), torch.zeros(1, 2, dtype=F64), adv,
                               torch.ones(1, 2, dtype=F64))
    torch.testing.assert_close(grad, -adv)            # 4 s (1 - s) r = 4 * 1/4 * 1 at r = 1
    weights = []
    for r in (1.0, 1.5, 2.0, 4.0):
        _, g, _ = autograd_grad(algo, torch.full((1, 1), math.log(r), dtype=F64), torch.zeros(1, 1, dtype=F64),
                                torch.ones(1, 1, dtype=F64), torch.ones(1, 1, dtype=F64))
        weights.append(-g.item())
    assert weights[0] == pytest.approx(1.0) and all(w > 0 for w in weights)   # never a hard zero like a clip


def test_ce_gppo_authors_recipe_and_its_positive_nll_term():
    algo = algorithms.get("ce-gppo-authors")
    paper = algorithms.get("ce-gppo")
    assert (algo.beta1, algo.beta2, algo.dual_clip_c) == (paper.beta1, paper.beta2, 10.0)
    assert algo.dynamic_sampling and not paper.dynamic_sampling and algo.positive_loss_coeff == 0.1
    logp, old_logp, adv, mask, _ = make_batch(4)
    with pytest.raises(ValueError, match="needs scores"):
        algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=mask)
    scores = scores_for(4)
    _, g_authors, _ = autograd_grad(algo, logp, old_logp, adv, mask, scores=scores)
    _, g_paper, _ = autograd_grad(paper, logp, old_logp, adv, mask)
    correct = (scores == 1.0)[:, None] & (mask > 0)
    torch.testing.assert_close(g_authors - g_paper, torch.where(correct, -0.1 / mask.sum(), 0.0))
    _, g_off, _ = autograd_grad(algorithms.get("ce-gppo-authors", positive_loss_coeff=0.0), logp, old_logp, adv,
                                mask)
    assert torch.equal(g_off, g_paper)


# Forking tokens, Wang et al. 2025, "Beyond the 80/20 Rule" (arXiv 2506.01939v2, section 5.1, Eq. (6)):
#     J = E[ 1/(sum_i sum_t 1[H_t^i >= tau]) * sum_i sum_t 1[H_t^i >= tau] * min(r A, clip(r, 1-e_lo, 1+e_hi) A) ]
# The paper lists two differences from DAPO's Eq. (4): the indicator on each token's term, and the token count of
# the normalisation, which counts only the selected tokens. TRL's top_entropy_quantile (and the paper's first
# version) keeps every response token in the count: entropy_top_q_denominator="trl".

def top_q_count(q, n):
    """ceil(q n) computed exactly (q as the decimal it is written as)."""
    return math.ceil(Fraction(str(q)) * n)


# A 2 x 3 batch (row 1 has two response tokens), DAPO's clip range [0.8, 1.28]. Per token: the ratio r, the
# advantage A and the entropy H; the padded position has the highest entropy and must never be chosen.
SMALL_R = [[1.1, 1.0, 1.0], [1.5, 0.9, 1.0]]
SMALL_A = [[1.0, -3.0, 0.5], [1.0, -1.0, 0.0]]
SMALL_H = [[0.9, 0.1, 0.5], [0.3, 0.7, 9.0]]
SMALL_MASK = [[1, 1, 1], [1, 1, 0]]
# d(-min(rA, clip(r)A))/dlogp per token, from the paper's surrogate: -rA inside the clip range, 0 when clipped
# ([1,0]: r = 1.5 > 1.28 with A > 0).
SMALL_W = {(0, 0): -1.1, (0, 1): 3.0, (0, 2): -0.5, (1, 0): 0.0, (1, 1): 0.9}
# Aggregation weight c of each selected token, by hand, for (mode, q, denominator); the other tokens have none.
# q = 0.8 selects ceil(4.0) = 4 tokens: H = 0.9, 0.7, 0.5, 0.3, i.e. every one but [0,1] (H = 0.1);
# q = 0.6 selects 3 (H = 0.9, 0.7, 0.5: [0,0], [1,1], [0,2]); q = 0.2 selects 1 ([0,0]).
SMALL_CASES = {
    # the paper: divide by the K selected tokens (the clipped [1,0] is selected, so it is counted)
    ("token-mean", 0.8, "selected"): {(0, 0): 1 / 4, (0, 2): 1 / 4, (1, 0): 1 / 4, (1, 1): 1 / 4},
    ("token-mean", 0.6, "selected"): {(0, 0): 1 / 3, (0, 2): 1 / 3, (1, 1): 1 / 3},
    ("token-mean", 0.2, "selected"): {(0, 0): 1.0},
    # per sequence: each row by its own selected count k_i (2 and 1), then by the S = 2 sequences
    ("seq-mean-token-mean", 0.6, "selected"): {(0, 0): 1 / (2 * 2), (0, 2): 1 / (2 * 2), (1, 1): 1 / (2 * 1)},
    ("seq-mean-token-mean", 0.2, "selected"): {(0, 0): 1 / (2 * 1)},     # row 1 has no selected token: adds 0
    ("seq-mean-token-sum", 0.6, "selected"): {(0, 0): 1 / 2, (0, 2): 1 / 2, (1, 1): 1 / 2},
    ("token-sum", 0.6, "selected"): {(0, 0): 1.0, (0, 2): 1.0, (1, 1): 1.0},
    # TRL: every count keeps all the response tokens (N = 5; rows of 3 and 2 tokens)
    ("token-mean", 0.8, "trl"): {(0, 0): 1 / 5, (0, 2): 1 / 5, (1, 0): 1 / 5, (1, 1): 1 / 5},
    ("seq-mean-token-mean", 0.6, "trl"): {(0, 0): 1 / (2 * 3), (0, 2): 1 / (2 * 3), (1, 1): 1 / (2 * 2)},
}


@pytest.mark.parametrize("mode, q, denominator", list(SMALL_CASES))
def test_entropy_top_q_gradient_on_a_hand_computed_case(mode, q, denominator):
    r, adv = torch.tensor(SMALL_R, dtype=F64), torch.tensor(SMALL_A, dtype=F64)
    mask, entropy = torch.tensor(SMALL_MASK, dtype=F64), torch.tensor(SMALL_H, dtype=F64)
    logp = torch.log(torch.tensor([[0.3, 0.2, 0.6], [0.45, 0.5, 0.1]], dtype=F64))
    algo = algorithms.get("dapo", entropy_top_q=q, entropy_top_q_denominator=denominator, loss_agg_mode=mode)
    loss, grad, _ = autograd_grad(algo, logp, logp - torch.log(r), adv, mask, entropy=entropy)
    weights = SMALL_CASES[(mode, q, denominator)]
    expected = torch.zeros_like(grad)
    for (i, t), c in weights.items():
        expected[i, t] = c * SMALL_W[(i, t)]
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)
    # the value is the objective itself: minus the weighted sum of min(rA, clip(r)A) over the selected tokens
    value = -sum(c * min(SMALL_R[i][t] * SMALL_A[i][t], min(max(SMALL_R[i][t], 0.8), 1.28) * SMALL_A[i][t])
                 for (i, t), c in weights.items())
    torch.testing.assert_close(loss, torch.tensor(value, dtype=F64), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("denominator", ["selected", "trl"])
@pytest.mark.parametrize("q", [0.2, 0.5])
def test_entropy_top_q_keeps_the_gradient_of_the_high_entropy_tokens_only(q, denominator):
    """Random batch, token-mean: the selected tokens' gradient is the full objective's times N / K (the paper) or
    times 1 (TRL); the others get none."""
    logp, old_logp, adv, mask, _ = make_batch(6)
    g = torch.Generator().manual_seed(6)
    entropy = torch.rand(B, T, generator=g, dtype=F64)
    full = algorithms.get("dapo")
    algo = algorithms.get("dapo", entropy_top_q=q, entropy_top_q_denominator=denominator)
    _, g_full, _ = autograd_grad(full, logp, old_logp, adv, mask, entropy=entropy)
    _, g_top, _ = autograd_grad(algo, logp, old_logp, adv, mask, entropy=entropy)
    values = sorted((entropy[k].item() for k in tokens(mask)), reverse=True)
    k = top_q_count(q, len(values))
    keep = (entropy >= values[k - 1]) & (mask > 0)
    assert int(keep.sum()) == k
    scale = len(values) / k if denominator == "selected" else 1.0
    torch.testing.assert_close(g_top, torch.where(keep, g_full * scale, 0.0))
    assert algo.policy_token_count(mask) == (k if denominator == "selected" else len(values))
    with pytest.raises(ValueError, match="needs entropy"):
        algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=mask)
    assert algo.batch_dependent and not full.batch_dependent


def test_entropy_top_q_count_is_exact_and_the_denominator_is_checked():
    # 0.2 * 15 is 3.0000000000000004 in floating point; the selection must still be ceil(3) = 3 tokens
    mask = torch.ones(3, 5, dtype=F64)
    assert algorithms.get("dapo", entropy_top_q=0.2).policy_token_count(mask) == 3
    assert int(algorithms.high_entropy_tokens(torch.rand(3, 5, dtype=F64), mask, 0.2).sum()) == 3
    assert algorithms.get("dapo", entropy_top_q=1e-12).policy_token_count(mask) == 1
    assert algorithms.get("dapo").policy_token_count(mask) == 15
    with pytest.raises(ValueError, match="entropy_top_q_denominator"):
        algorithms.get("dapo", entropy_top_q=0.2, entropy_top_q_denominator="all")


def test_token_sum_aggregation_weighs_every_token_one():
    algo = algorithms.get("grpo", kl_coef=0.0, loss_agg_mode="token-sum")
    logp, old_logp, adv, mask, _ = make_batch(8)
    _, grad, _ = autograd_grad(algo, logp, old_logp, adv, mask)
    _, grad_mean, _ = autograd_grad(algorithms.get("grpo", kl_coef=0.0, loss_agg_mode="token-mean"), logp,
                                    old_logp, adv, mask)
    torch.testing.assert_close(grad, grad_mean * mask.sum())
