"""Per-token KL estimators (Schulman, "Approximating KL divergence", 2020).

Tokens are sampled from the current policy pi; with log-ratio d = log pi - log pi_ref, each estimator is a
per-token quantity whose expectation under pi approximates KL(pi || pi_ref):

    k1   d                        unbiased, high variance, can be negative
    k2   d^2 / 2                  biased, low variance, always >= 0
    k3   exp(-d) - 1 + d          unbiased, low variance, always >= 0  (GRPO's KL loss: DeepSeekMath's Eq. (4))
    abs  |d|                      always >= 0

d is clamped to [-20, 20] before the exponential of k3 so that a wildly divergent token gives a finite (if large)
value and a zero gradient instead of inf/NaN.
"""
from __future__ import annotations

import torch
from torch import Tensor

KL_CLAMP = 20.0


def _k1(d: Tensor) -> Tensor:
    return d


def _k2(d: Tensor) -> Tensor:
    return 0.5 * d.square()


def _k3(d: Tensor) -> Tensor:
    d = d.clamp(-KL_CLAMP, KL_CLAMP)
    return torch.exp(-d) - 1.0 + d


def _abs(d: Tensor) -> Tensor:
    return d.abs()


KL_ESTIMATORS = {"k1": _k1, "k2": _k2, "k3": _k3, "abs": _abs}


def kl(logp: Tensor, ref_logp: Tensor, estimator: str = "k3") -> Tensor:
    """Per-token KL(pi || pi_ref) estimate [B, T] from log-probs of the sampled tokens (differentiable in logp)."""
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator {estimator!r}; valid estimators: {', '.join(KL_ESTIMATORS)}")
    return KL_ESTIMATORS[estimator](logp - ref_logp)
