"""Clip-Cov: PPO's clipped surrogate, plus no gradient for a few tokens of high covariance.

Cui et al. 2025, "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"
(arXiv 2505.22617). Entropy falls when the log-probability of a token and its advantage covary; Clip-Cov stops
the gradient of a small fraction of the tokens with the largest covariance:

    cov_t  = (logp_t - mean logp) (A_t - mean A)         means over the response tokens of the batch
    candidates: clip_cov_lb < cov_t < clip_cov_ub, among the tokens PPO's clip leaves a gradient to
                (-clip(r) A > -r A, the clipped branch active, excludes a token; so does the dual clip when on)
    k = max(floor(clip_cov_ratio * N), 1)
    selected: the k candidates with the largest cov_t     (the paper samples them at random; this picks the largest,
                                                           so the loss is deterministic given its inputs)
    loss_t = max(-r A, -clip(r) A) on other tokens, the same value with no gradient on selected tokens

The candidate rule and k follow the authors' code (PRIME-RL/Entropy-Mechanism-of-RL, compute_policy_loss_clip_cov,
and verl's clip_cov): a token that PPO already clipped has no gradient to stop, so spending the budget on it would
make the loss plain PPO's. Paper defaults: ratio 2e-4, bounds 1 and 5. The selection looks at
the whole batch (batch_dependent).

Equations (Cui et al. 2025): cov_t is Eq. (10), the candidate set Eq. (11) and the Clip-Cov loss Eq. (12).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate, token_covariance, top_tokens


@register("clip-cov")
class ClipCov(Algorithm):
    """Clip-Cov (Cui et al. 2025): detach the gradient of the highest-covariance tokens."""

    paper = ('Cui et al. 2025, "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"'
             ' (arXiv 2505.22617)')

    batch_dependent = True
    clip_cov_ratio: float = hp(2e-4, "fraction of the response tokens whose gradient is stopped (paper: 2e-4)")
    clip_cov_lb: float = hp(1.0, "only tokens with covariance above this are candidates (paper: 1)")
    clip_cov_ub: float = hp(5.0, "only tokens with covariance below this are candidates (paper: 5)")
    dual_clip_c: float | None = hp(None, "dual clip (Ye et al. 2020): cap the loss of A<0 tokens at -c*A; the "
                                         "paper has none (None); e.g. 3.0 as PPO")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation")

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.clip_cov_ratio <= 1.0 or self.clip_cov_lb >= self.clip_cov_ub:
            raise ValueError(f"{self._label()}: need 0 <= clip_cov_ratio <= 1 and clip_cov_lb < clip_cov_ub, got "
                             f"{self.clip_cov_ratio}, {self.clip_cov_lb}, {self.clip_cov_ub}")

    def selected_tokens(self, x: PolicyInputs) -> Tensor:
        """Bool [B, T]: the tokens whose gradient is stopped."""
        ratio, adv = x.ratio.detach(), x.advantages
        unclipped = -adv * ratio
        clipped = -adv * ratio.clamp(1.0 - self.clip_ratio_low, 1.0 + self.clip_ratio_high)
        already_clipped = clipped > unclipped                 # the authors' clip_by_origin
        if self.dual_clip_c is not None:
            already_clipped = already_clipped | ((adv < 0) & (ratio > self.dual_clip_c))
        cov = token_covariance(x.logp, adv, x.mask)
        candidates = x.mask & ~already_clipped & (cov > self.clip_cov_lb) & (cov < self.clip_cov_ub)
        k = max(math.floor(self.clip_cov_ratio * int(x.num_tokens)), 1)
        return top_tokens(cov, candidates, k)

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        loss = clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high, self.dual_clip_c)
        return torch.where(self.selected_tokens(x), loss.detach(), loss)
