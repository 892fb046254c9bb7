"""Advantage estimators, in their own registry: rewards in, per-token advantages [B, T] out.

    compute(name, *, mask, scores=None, group_ids=None, token_rewards=None, values=None, baseline_scores=None,
            **params) -> (advantages [B, T], returns [B, T] or None)

mask [B, T] marks response tokens; scores [B] is one outcome reward per response; group_ids [B] says which
prompt each response answers (responses to the same prompt share an id); token_rewards [B, T] are per-token rewards
(see `token_level_rewards`); values [B, T] are a critic's values; baseline_scores [B] is the reward of the greedy
response to each response's prompt (remax). Advantages are 0 on padding.

Outcome estimators (one advantage per response, copied to all its tokens), with group g of size G:

    grpo         A_i = (R_i - mean_g R) / (std_g R + eps)            Shao et al. 2024 (DeepSeekMath), std unbiased
    dr-grpo      A_i = R_i - mean_g R                                 Liu et al. 2025 ("Understanding R1-Zero...")
    rloo         A_i = R_i - mean_{j in g, j != i} R_j                Ahmadian et al. 2024 ("Back to Basics")
                     = G/(G-1) * (R_i - mean_g R)

    reinforce++-baseline  A_i = whiten_batch(R_i - mean_g R)                  Hu et al. 2025 (REINFORCE++,
                 arXiv 2501.03262): the group mean removes the prompt's difficulty, then the advantages are
                 normalised over all response tokens of the batch
    opo          A_i = R_i - sum_{j in g} l_j R_j / sum_{j in g} l_j           Hao et al. 2025 (OPO, arXiv
                 2505.23585): the length-weighted optimal baseline, l_j = response tokens of j
    remax        A_i = R_i - R(greedy response to the prompt of i)             Li et al. 2023 (ReMax, arXiv
                 2310.10505): baseline_scores [B] come from one greedy response per prompt
    grpo-passk   binary rewards, N responses per group of which N_neg are wrong, k = passk_k:
                 Rbar = 1 - C(N_neg, k) / C(N, k)      (the group's pass@k),  sigma = sqrt(Rbar (1 - Rbar))
                 A_correct = (1 - Rbar) / sigma,  A_wrong = (1 - Rbar - C(N_neg - 1, k - 1) / C(N - 1, k - 1)) / sigma
                 Chen et al. 2025, "Pass@k Training for Adaptively Balancing Exploration and Exploitation"
                 (arXiv 2508.10751), its analytical pass@k advantages; a response is correct when its score > 0
    gpg          A_i = alpha (R_i - mean_g R),  alpha = B / (B - M)             Chu et al. 2025 (GPG, arXiv
                 2504.02546): M = responses of groups whose rewards are all equal (they carry no gradient)
    lite-ppo     A_i = (R_i - mean_g R) / (std_batch R + eps)                   Liu et al. 2025 ("Tricks or Traps",
                 arXiv 2508.08221): group mean, batch std (unbiased, over the B responses)
    maxrl        A_i = (R_i - mean_g R) / mean_g R, 0 when mean_g R <= 0       Tajwar et al. 2026 (MaxRL, arXiv
                 2602.02710): normalised by the pass rate, not the std
    gdpo         A_i = whiten_batch(sum_k (R_ik - mean_g R_k) / (std_g R_k + eps))   GDPO (arXiv 2601.05242): scores
                 [B, K] holds K reward components, each normalised within its group before the sum

A group of one response, or a group whose rewards are all equal, gets A = 0 (no NaN).

Token-level estimators:

    reinforce++  G_t = sum_{k>=t} gamma^(k-t) r_k, then whitened over the batch's tokens   Hu 2025 (REINFORCE++)
    gae          delta_t = r_t + gamma V_{t+1} - V_t,  A_t = delta_t + gamma lam A_{t+1}    Schulman et al. 2016
                 returns_t = A_t + V_t; A whitened over the batch's tokens when whiten=True (PPO practice)

Time steps are the response tokens in order; padding between them is skipped, and the value after the last
response token is 0.
"""
from __future__ import annotations

import inspect
import math

import torch
from torch import Tensor

_ESTIMATORS: dict = {}
_PAPERS: dict[str, str] = {}


def register_estimator(name: str, paper: str = ""):
    """Decorator: add an advantage estimator function to the registry under `name`, with the paper it comes from."""
    def decorator(fn):
        _ESTIMATORS[name] = fn
        _PAPERS[name] = paper
        return fn
    return decorator


def names() -> list[str]:
    return sorted(_ESTIMATORS)


def paper(name: str) -> str:
    """The paper estimator `name` comes from (for `rlvr-zoo list`)."""
    _get(name)
    return _PAPERS[name]


def _params_of(fn) -> list[str]:
    inputs = {"mask", "scores", "group_ids", "token_rewards", "values", "baseline_scores"}
    return [p for p in inspect.signature(fn).parameters if p not in inputs]


def accepted_params(name: str) -> list[str]:
    """The hyperparameters (beyond the input tensors) that estimator `name` accepts."""
    return _params_of(_get(name))


def _get(name: str):
    if name not in _ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {name!r}; valid estimators: {', '.join(names())}")
    return _ESTIMATORS[name]


def needs_baseline_scores(name: str) -> bool:
    """Whether estimator `name` needs baseline_scores (one greedy response per prompt: the trainer draws it)."""
    return "baseline_scores" in inspect.signature(_get(name)).parameters


def compute(name: str, *, mask: Tensor, scores: Tensor | None = None, group_ids: Tensor | None = None,
            token_rewards: Tensor | None = None, values: Tensor | None = None, baseline_scores: Tensor | None = None,
            **params):
    """Run estimator `name`; unknown params raise ValueError listing the accepted ones."""
    fn = _get(name)
    accepted = _params_of(fn)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"advantage estimator {name!r} got unknown parameter(s) {unknown}; "
                         f"it accepts: {', '.join(accepted) or '(none)'}")
    inputs = {"mask": mask.bool(), "scores": scores, "group_ids": group_ids, "token_rewards": token_rewards,
              "values": values}
    if needs_baseline_scores(name):
        inputs["baseline_scores"] = baseline_scores
    elif baseline_scores is not None:
        raise ValueError(f"advantage estimator {name!r} takes no baseline_scores (only remax does)")
    return fn(**inputs, **params)


# ----------------------------------------------------------------------------------------------------- helpers

def _outcome_scores(name, mask, scores, token_rewards) -> Tensor:
    if scores is None and token_rewards is None:
        raise ValueError(f"advantage estimator {name!r} needs scores [B] (one reward per response) "
                         f"or token_rewards [B, T]")
    if scores is None:
        scores = torch.where(mask, token_rewards, torch.zeros_like(token_rewards)).sum(-1)
    if scores.dim() != 1 or scores.shape[0] != mask.shape[0]:
        raise ValueError(f"scores must have shape [B] = [{mask.shape[0]}], got {tuple(scores.shape)}")
    return scores.to(torch.float32) if not scores.is_floating_point() else scores


def _group_stats(name, scores: Tensor, group_ids: Tensor | None):
    """Per-response group mean, unbiased std (0 for a group of one) and group size."""
    if group_ids is None:
        raise ValueError(f"advantage estimator {name!r} needs group_ids [B]: which prompt each response answers")
    group_ids = torch.as_tensor(group_ids, device=scores.device)
    if group_ids.shape != scores.shape:
        raise ValueError(f"group_ids must have shape {tuple(scores.shape)} like scores, got {tuple(group_ids.shape)}")
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    size = torch.zeros(n_groups, dtype=scores.dtype, device=scores.device).index_add_(0, inverse,
                                                                                       torch.ones_like(scores))
    total = torch.zeros_like(size).index_add_(0, inverse, scores)
    mean = (total / size)[inverse]
    sq = torch.zeros_like(size).index_add_(0, inverse, (scores - mean).square())
    var = torch.where(size > 1, sq / (size - 1).clamp(min=1), torch.zeros_like(size))
    return mean, var.sqrt()[inverse], size[inverse]


def _broadcast(per_response: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, per_response[:, None], 0.0)


def _whiten(x: Tensor, mask: Tensor, eps: float) -> Tensor:
    n = mask.sum().clamp(min=1)
    mean = torch.where(mask, x, 0.0).sum() / n
    var = torch.where(mask, (x - mean).square(), 0.0).sum() / (n - 1).clamp(min=1)
    return torch.where(mask, (x - mean) / (var.sqrt() + eps), 0.0)


def _discounted_sum(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """G_t = r_t + gamma * G_next over response tokens, right to left, skipping padding."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = torch.where(mask[:, t], rewards[:, t] + gamma * running, running)
        out[:, t] = torch.where(mask[:, t], running, 0.0)
    return out


def token_level_rewards(scores: Tensor, mask: Tensor, kl: Tensor | None = None, kl_coef: float = 0.0) -> Tensor:
    """Per-token rewards [B, T]: the sequence score on the last response token, minus kl_coef * kl on every token.

    This is PPO's KL-in-reward (Ziegler et al. 2019; Ouyang et al. 2022): r_t = score * 1[t = last] - beta * KL_t,
    with KL_t a per-token estimate (`algorithms.kl(old_logp, ref_logp, "k1")`). Rows without response tokens get 0.
    """
    mask = mask.bool()
    if scores.shape != mask.shape[:1]:
        raise ValueError(f"scores must have shape [B] = [{mask.shape[0]}], got {tuple(scores.shape)}")
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask, positions, -1).max(dim=-1).values
    dtype = scores.dtype if scores.is_floating_point() else torch.float32
    rewards = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    rows = torch.nonzero(last >= 0).squeeze(-1)
    rewards[rows, last[rows]] = scores[rows].to(dtype)
    if kl is not None and kl_coef != 0.0:
        rewards = rewards - kl_coef * torch.where(mask, kl.to(dtype), 0.0)
    return rewards


# ------------------------------------------------------------------------------------------------ estimators

@register_estimator("grpo",
                    paper='Shao et al. 2024, "DeepSeekMath" (arXiv 2402.03300)')
def grpo(*, mask, scores, group_ids, token_rewards, values, eps: float = 1e-6):
    """A_i = (R_i - mean_g) / (std_g + eps).

    Stated unnumbered in DeepSeekMath (Shao et al. 2024, section 4.1.2): inline in the text, A_it = r~_i =
    (r_i - mean(r)) / std(r), just before the sentence that sends the reader to the objective, its Eq. (3). The same
    formula is DAPO's Eq. (9) (Yu et al. 2025), GSPO's Eq. (6) (Zheng et al. 2025) and REINFORCE++'s Eq. (3) (Hu et al. 2025,
    v9). The paper has no eps and does not say which std; here eps = 1e-6 (verl's) and the std is the unbiased one.
    """
    scores = _outcome_scores("grpo", mask, scores, token_rewards)
    mean, std, _ = _group_stats("grpo", scores, group_ids)
    return _broadcast((scores - mean) / (std + eps), mask), None


@register_estimator("dr-grpo",
                    paper='Liu et al. 2025, "Understanding R1-Zero-Like Training" (arXiv 2503.20783)')
def dr_grpo(*, mask, scores, group_ids, token_rewards, values):
    """A_i = R_i - mean_g (no division by the std: Dr. GRPO removes that bias).

    Stated unnumbered in Liu et al. 2025 (section 3.2 and the caption of Fig. 4, A~ = R - mean(R)).
    """
    scores = _outcome_scores("dr-grpo", mask, scores, token_rewards)
    mean, _, _ = _group_stats("dr-grpo", scores, group_ids)
    return _broadcast(scores - mean, mask), None


@register_estimator("rloo",
                    paper='Ahmadian et al. 2024, "Back to Basics" (RLOO, arXiv 2402.14740)')
def rloo(*, mask, scores, group_ids, token_rewards, values):
    """A_i = R_i - mean of the other responses of the group = G/(G-1) (R_i - mean_g); 0 for a group of one.

    Stated unnumbered in Ahmadian et al. 2024 (section 2.3): the RLOO estimator (1/k) sum_i [R(y_i, x) - 1/(k-1)
    sum_{j != i} R(y_j, x)] grad log pi(y_i | x) is displayed without a number right after the moving-average
    baseline, Eq. (8) (REINFORCE is Eq. (6), the baseline form Eq. (7)).
    """
    scores = _outcome_scores("rloo", mask, scores, token_rewards)
    mean, _, size = _group_stats("rloo", scores, group_ids)
    scale = torch.where(size > 1, size / (size - 1).clamp(min=1), torch.zeros_like(size))
    return _broadcast(scale * (scores - mean), mask), None


@register_estimator("reinforce++",
                    paper='Hu 2025, "REINFORCE++" (arXiv 2501.03262)')
def reinforce_pp(*, mask, scores, group_ids, token_rewards, values, gamma: float = 1.0, eps: float = 1e-8):
    """Discounted returns of the per-token rewards, whitened over all response tokens of the batch.

    Hu et al. 2025 (arXiv 2501.03262v9, section 3.1): the advantage A_t = r(o_1:T, q) - beta sum_{i=t..T} KL(i),
    KL(i) = log pi_old(o_i) / pi_ref(o_i) (the k1 KL in the reward), is Eq. (4); the global normalisation
    (A - mean(A | A in D_batch)) / (std(A | A in D_batch) + eps) is Eq. (5).
    The paper has no discount (gamma = 1, this function's default); the KL term comes in through `token_rewards`
    (`token_level_rewards(scores, mask, kl, kl_coef)`). Earlier versions of the paper may number them differently.
    """
    if token_rewards is None:
        token_rewards = token_level_rewards(_outcome_scores("reinforce++", mask, scores, None), mask)
    returns = _discounted_sum(token_rewards, mask, gamma)
    return _whiten(returns, mask, eps), returns


@register_estimator("gae",
                    paper='Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE" (arXiv 1506.02438)')
def gae(*, mask, scores, group_ids, token_rewards, values, gamma: float = 1.0, lam: float = 0.95,
        whiten: bool = True, eps: float = 1e-8):
    """Generalised advantage estimation from a critic's values and per-token rewards.

    A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t + gamma V_{t+1} - V_t (Schulman et al. 2016, Eq. (16)).
    """
    if values is None:
        raise ValueError("advantage estimator 'gae' needs values [B, T] from a critic (needs_critic=True)")
    if token_rewards is None:
        token_rewards = token_level_rewards(_outcome_scores("gae", mask, scores, None), mask)
    values = values.detach().to(token_rewards.dtype)
    advantages = torch.zeros_like(token_rewards)
    next_value = torch.zeros_like(token_rewards[:, 0])
    running = torch.zeros_like(next_value)
    for t in range(token_rewards.shape[1] - 1, -1, -1):
        m = mask[:, t]
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        running = torch.where(m, delta + gamma * lam * running, running)
        next_value = torch.where(m, values[:, t], next_value)
        advantages[:, t] = torch.where(m, running, 0.0)
    returns = torch.where(mask, advantages + values, 0.0)
    if whiten:
        advantages = _whiten(advantages, mask, eps)
    return advantages, returns


@register_estimator("reinforce++-baseline",
                    paper='Hu et al. 2025, "REINFORCE++" (arXiv 2501.03262), the group-baseline variant')
def reinforce_pp_baseline(*, mask, scores, group_ids, token_rewards, values, eps: float = 1e-6):
    """R_i - group mean, then whitened over the response tokens of the batch (REINFORCE++ with a group baseline).

    Hu et al. 2025 (arXiv 2501.03262v9, section 3.2, "REINFORCE++ w/ Baseline"): A' = R - mean_group(R) is Eq. (6),
    A_norm = (A' - mean_batch(A')) / (std_batch(A') + eps) is Eq. (7). The paper pairs it with a separate k2 KL loss
    (its Eq. (8)), which belongs to the objective, not to this estimator.
    """
    scores = _outcome_scores("reinforce++-baseline", mask, scores, token_rewards)
    mean, _, _ = _group_stats("reinforce++-baseline", scores, group_ids)
    return _whiten(_broadcast(scores - mean, mask), mask, eps), None


@register_estimator("opo",
                    paper='Hao et al. 2025, "On-Policy RL with Optimal Reward Baseline" (arXiv 2505.23585)')
def opo(*, mask, scores, group_ids, token_rewards, values):
    """R_i minus the length-weighted mean reward of its group: b = sum_j l_j R_j / sum_j l_j (OPO).

    Equation number not confirmed (docs/algorithms.md, source table).
    """
    scores = _outcome_scores("opo", mask, scores, token_rewards)
    lengths = mask.sum(-1).to(scores.dtype)
    weighted, _, _ = _group_stats("opo", scores * lengths, group_ids)
    mean_length, _, _ = _group_stats("opo", lengths, group_ids)
    baseline = torch.where(mean_length > 0, weighted / mean_length.clamp(min=1e-30), scores)
    return _broadcast(scores - baseline, mask), None


@register_estimator("remax",
                    paper='Li et al. 2023, "ReMax" (arXiv 2310.10505)')
def remax(*, mask, scores, group_ids, token_rewards, values, baseline_scores):
    """R_i - the reward of the greedy response to the same prompt (ReMax).

    Equation number not confirmed (docs/algorithms.md, source table). REINFORCE++ v9 (section 2.1) writes the same
    advantage, A = r(o) - r(o_greedy), unnumbered.
    """
    scores = _outcome_scores("remax", mask, scores, token_rewards)
    if baseline_scores is None:
        raise ValueError("advantage estimator 'remax' needs baseline_scores [B]: the reward of one greedy response "
                         "to each response's prompt (the trainer draws it)")
    baseline_scores = torch.as_tensor(baseline_scores, dtype=scores.dtype, device=scores.device)
    if baseline_scores.shape != scores.shape:
        raise ValueError(f"baseline_scores must have shape {tuple(scores.shape)} like scores, got "
                         f"{tuple(baseline_scores.shape)}")
    return _broadcast(scores - baseline_scores, mask), None


@register_estimator("grpo-passk",
                    paper=('Chen et al. 2025, "Pass@k Training for Adaptively Balancing Exploration and '
                           'Exploitation" (arXiv 2508.10751)'))
def grpo_passk(*, mask, scores, group_ids, token_rewards, values, k: int = 4):
    """Analytical pass@k advantages of a group with binary rewards (Chen et al. 2025, arXiv 2508.10751).

    With N responses of which N_neg are wrong (section 2.4 of v1): the mean group reward R = 1 - C(N_neg, k) / C(N, k)
    is Eq. (11), sigma = sqrt(R (1 - R)) Eq. (12), a correct response gets A_pos = (1 - R) / sigma, Eq. (14), a wrong
    one A_neg = (1 - R - C(N_neg - 1, k - 1) / C(N - 1, k - 1)) / sigma, Eq. (15). The paper trains with k in
    {4, 8, 16}; where sigma = 0 (no correct response, or fewer than k wrong ones, a case the paper does not discuss)
    every advantage of the group is 0 here.
    """
    scores = _outcome_scores("grpo-passk", mask, scores, token_rewards)
    if k < 1:
        raise ValueError(f"advantage estimator 'grpo-passk' needs k >= 1, got {k}")
    wrong = (scores <= 0).to(scores.dtype)
    _, _, size = _group_stats("grpo-passk", scores, group_ids)
    mean_wrong, _, _ = _group_stats("grpo-passk", wrong, group_ids)
    if bool((size < k).any()):
        raise ValueError(f"advantage estimator 'grpo-passk' needs at least k = {k} responses per prompt, got a group "
                         f"of {int(size.min())}; lower passk_k or sample more responses per prompt")
    n = size.round().long().tolist()
    n_wrong = (mean_wrong * size).round().long().tolist()
    adv = []
    for n_i, w_i, is_wrong in zip(n, n_wrong, wrong.tolist()):
        pass_k = 1.0 - math.comb(w_i, k) / math.comb(n_i, k)
        sigma = math.sqrt(pass_k * (1.0 - pass_k))
        if sigma == 0.0:
            adv.append(0.0)
        elif is_wrong:
            adv.append((1.0 - pass_k - math.comb(w_i - 1, k - 1) / math.comb(n_i - 1, k - 1)) / sigma)
        else:
            adv.append((1.0 - pass_k) / sigma)
    return _broadcast(torch.tensor(adv, dtype=scores.dtype, device=scores.device), mask), None


@register_estimator("gpg",
                    paper='Chu et al. 2025, "GPG" (arXiv 2504.02546)')
def gpg(*, mask, scores, group_ids, token_rewards, values):
    """alpha (R_i - group mean), alpha = B / (B - M), M = responses of groups whose rewards are all equal (GPG).

    Chu et al. 2025 (arXiv 2504.02546v4, pages 4-5): the advantage (r_i - mean(R)) / F_norm is Eq. (6) (F_norm = 1
    in the final recipe), alpha = B / (B - M) is Eq. (7), the objective scaled by alpha Eq. (8), the objective itself
    Eq. (5).
    """
    scores = _outcome_scores("gpg", mask, scores, token_rewards)
    mean, std, _ = _group_stats("gpg", scores, group_ids)
    valid = int((std > 0).sum())
    alpha = scores.shape[0] / valid if valid else 1.0
    return _broadcast(alpha * (scores - mean), mask), None


@register_estimator("lite-ppo",
                    paper='Liu et al. 2025, "Part I: Tricks or Traps?" (Lite PPO, arXiv 2508.08221)')
def lite_ppo(*, mask, scores, group_ids, token_rewards, values, eps: float = 1e-6):
    """(R_i - group mean) / (std of the batch's rewards + eps): Lite PPO's group-mean, batch-std normalisation.

    Stated unnumbered in Liu et al. 2025 (arXiv 2508.08221v3, section 4.1.2 "Takeaway 3" and section 5: group-level
    mean with batch-level std, in words). Its parts are numbered there: group-level normalisation is Eq. (5),
    batch-level normalisation Eq. (6) (std over all the batch's rewards, as here), the mean-only form Eq. (7).
    """
    scores = _outcome_scores("lite-ppo", mask, scores, token_rewards)
    mean, _, _ = _group_stats("lite-ppo", scores, group_ids)
    batch_std = scores.std() if scores.numel() > 1 else scores.new_zeros(())
    return _broadcast((scores - mean) / (batch_std + eps), mask), None


@register_estimator("maxrl",
                    paper='Tajwar et al. 2026, "Maximum Likelihood Reinforcement Learning" (MaxRL, arXiv 2602.02710)')
def maxrl(*, mask, scores, group_ids, token_rewards, values):
    """A_i = (R_i - mean_g R) / mean_g R, and 0 for every response of a group whose mean reward is <= 0.

    Dividing by the group's pass rate p instead of its std makes the policy gradient an unbiased estimate of the
    gradient of the order-G truncation of log p (the maximum-likelihood objective): a prompt solved rarely weighs
    ~1/p. Meant for rewards >= 0 (binary correctness); a group with mean <= 0 carries no signal.
    Equation number not confirmed (docs/algorithms.md, source table).
    """
    scores = _outcome_scores("maxrl", mask, scores, token_rewards)
    mean, _, _ = _group_stats("maxrl", scores, group_ids)
    positive = mean > 0
    adv = torch.where(positive, (scores - mean) / torch.where(positive, mean, torch.ones_like(mean)), 0.0)
    return _broadcast(adv, mask), None


@register_estimator("gdpo",
                    paper=('"GDPO: Group reward-Decoupled Normalization Policy Optimization for Multi-reward RL '
                           'Optimization" (arXiv 2601.05242)'))
def gdpo(*, mask, scores, group_ids, token_rewards, values, eps: float = 1e-6):
    """Each reward component normalised within its group, summed, then whitened over the batch's response tokens.

    scores [B, K]: K reward components per response (a [B] tensor is one component). With A_k the grpo advantage
    of component k, (R_k - mean_g R_k) / (std_g R_k + eps), the advantage is whiten(sum_k A_k) over the response
    tokens. Normalising each component before the sum keeps a component with a large spread from drowning out the
    others, which summing the rewards first (grpo) does.
    Equation number not confirmed (docs/algorithms.md, source table).
    """
    if scores is None:
        scores = _outcome_scores("gdpo", mask, None, token_rewards)
    if scores.dim() == 1:
        scores = scores[:, None]
    if scores.dim() != 2 or scores.shape[0] != mask.shape[0]:
        raise ValueError(f"advantage estimator 'gdpo' needs scores [B] or [B, K] (K reward components per response) "
                         f"with B = {mask.shape[0]}, got {tuple(scores.shape)}")
    scores = scores.to(torch.float32) if not scores.is_floating_point() else scores
    total = torch.zeros_like(scores[:, 0])
    for k in range(scores.shape[1]):
        mean, std, _ = _group_stats("gdpo", scores[:, k], group_ids)
        total = total + (scores[:, k] - mean) / (std + eps)
    return _whiten(_broadcast(total, mask), mask, eps), None
