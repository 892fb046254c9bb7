"""Per-token surrogate losses shared by several objectives (pure functions on [B, T] tensors; loss = -surrogate).

r = ratio, A = advantage, sg = stop-gradient, [lo, hi] = [1 - eps_low, 1 + eps_high].

clipped_surrogate (PPO, Schulman et al. 2017), with the optional dual clip (Ye et al. 2020, "Mastering Complex
Control in MOBA Games"):
    loss = max(-r A, -clip(r, lo, hi) A)               gradient -A dr on unclipped tokens, 0 on clipped ones
    if A < 0 and r > c:  loss = -c A                   the dual clip: a constant, gradient 0
    (For PPO this is exactly the usual min(loss, -c A) on A < 0 tokens. For the gradient-preserving surrogate it
    equals that form whenever beta1 * (1 - eps_low) < c, i.e. for every sensible beta1; beyond, the usual form
    would also cap low-ratio tokens, which the dual clip, meant for exploded ratios, does not intend.)

gradient_preserving_surrogate (GPPO, Su et al. 2025; CE-GPPO, arXiv 2509.20712):
    r < lo and A < 0:   surrogate = beta1 * lo / sg(r) * r * A   value beta1*lo*A, gradient beta1*lo*A dlogp
    r > hi and A > 0:   surrogate = beta2 * hi / sg(r) * r * A   value beta2*hi*A, gradient beta2*hi*A dlogp
    otherwise:          surrogate = r * A                        (PPO's min keeps r*A there too)
    plus the dual clip on A < 0 tokens as above.
    r / sg(r) is computed as exp(log r - sg(log r)): exactly 1, derivative d log r = d logp, for any log-ratio.

token_covariance (Cui et al. 2025, "The Entropy Mechanism of RL for Reasoning LMs"):
    cov_t = (logp_t - mean(logp)) * (A_t - mean(A)), means over the response tokens of the batch, logp detached.
"""
from __future__ import annotations

import torch
from torch import Tensor


def dual_clip(loss: Tensor, ratio: Tensor, advantages: Tensor, c: float | None) -> Tensor:
    """-c A (no gradient) on tokens with A < 0 and r > c; unchanged elsewhere or when c is None."""
    if c is None:
        return loss
    return torch.where((advantages < 0) & (ratio > c), -c * advantages, loss)


def clipped_surrogate(ratio: Tensor, advantages: Tensor, eps_low: float, eps_high: float,
                      dual_clip_c: float | None = None) -> Tensor:
    """PPO's per-token clipped loss max(-rA, -clip(r)A), optionally dual-clipped."""
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    return dual_clip(torch.maximum(unclipped, clipped), ratio, advantages, dual_clip_c)


def gradient_preserving_surrogate(log_ratio: Tensor, ratio: Tensor, advantages: Tensor, eps_low: float,
                                  eps_high: float, beta1: float, beta2: float,
                                  dual_clip_c: float | None = None) -> Tensor:
    """CE-GPPO's per-token loss (GPPO when beta1 = beta2 = 1)."""
    one = torch.exp(log_ratio - log_ratio.detach())            # r / sg(r): value 1, gradient dlogp
    low_neg = (ratio < 1.0 - eps_low) & (advantages < 0)
    high_pos = (ratio > 1.0 + eps_high) & (advantages > 0)
    surrogate = ratio * advantages
    surrogate = torch.where(low_neg, beta1 * (1.0 - eps_low) * one * advantages, surrogate)
    surrogate = torch.where(high_pos, beta2 * (1.0 + eps_high) * one * advantages, surrogate)
    return dual_clip(-surrogate, ratio, advantages, dual_clip_c)


def token_covariance(logp: Tensor, advantages: Tensor, mask: Tensor) -> Tensor:
    """Centered product (logp - mean logp)(A - mean A) per response token [B, T]; 0 on padding; no gradient."""
    logp = logp.detach()
    n = mask.sum().clamp(min=1)
    mean_logp = torch.where(mask, logp, 0.0).sum() / n
    mean_adv = torch.where(mask, advantages, 0.0).sum() / n
    return torch.where(mask, (logp - mean_logp) * (advantages - mean_adv), 0.0)


def top_tokens(scores: Tensor, candidates: Tensor, k: int) -> Tensor:
    """Bool mask of the k candidates with the largest score; ties go to the earlier (row-major) position.

    Deterministic given the inputs (a stable sort, no random sampling).
    """
    k = min(int(k), int(candidates.sum()))
    selected = torch.zeros_like(candidates)
    if k <= 0:
        return selected
    flat = torch.where(candidates, scores, torch.full_like(scores, float("-inf"))).reshape(-1)
    order = torch.sort(flat, descending=True, stable=True).indices[:k]
    selected.view(-1)[order] = True
    return selected
