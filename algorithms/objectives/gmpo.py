"""GMPO: the geometric mean of the token ratios of a response, clipped token by token in log space.

Zhao et al. 2025, "Geometric-Mean Policy Optimization" (arXiv 2507.20673), the GMPO objective
(GRPO's arithmetic mean of r_t A replaced by the geometric mean). For response i with n_i tokens and advantage A:

    c_t    = clip(log r_t, -eps_low, eps_high) where the clip is pessimistic for sgn(A), else log r_t:
             A > 0: c_t = min(log r_t, eps_high);   A < 0: c_t = max(log r_t, -eps_low)
    s_i    = exp( (1/n_i) sum_t c_t )                           the geometric mean of the clipped ratios
    J_i    = s_i A
    dJ_i/dlogp_t = s_i A / n_i   where c_t is not clipped, 0 where it is

Written per token in the GSPO-token way, loss_t = -A_t sg(s_i) exp(c_t - sg(c_t)) (value -s_i A_t, gradient
-s_i A_t dc_t) and aggregated with seq-mean-token-mean, this is exactly -(1/S) sum_i J_i and its gradient.
Paper and code defaults (callsys/GMPO, scripts/qwen2.5-math-7b-gmpo.sh): clip range (e^-0.4, e^0.4) on the token
ratio, i.e. eps = 0.4 in log space; group-normalised advantages; no KL. verl's `geo_mean` is the same loss.
The region diagnostics use 1 + log r, so `clipfrac/*` counts exactly the tokens clipped in log space.

Equations (Zhao et al. 2025, v3): the clipped objective computed here is Eq. (3), its unclipped form Eq. (2) and the
GRPO objective it replaces Eq. (1); the GMPO gradient is Eq. (5).
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import LOG_RATIO_CLAMP, Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("gmpo")
class GMPO(Algorithm):
    """GMPO (Zhao et al. 2025): geometric mean of token ratios per response, clipped per token in log space."""

    paper = 'Zhao et al. 2025, "Geometric-Mean Policy Optimization" (arXiv 2507.20673)'

    clip_ratio_low: float = hp(0.4, "log r below -eps_low is clipped (GMPO: 0.4, i.e. ratio e^-0.4)")
    clip_ratio_high: float = hp(0.4, "log r above eps_high is clipped (GMPO: 0.4, i.e. ratio e^0.4)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages (GMPO)")
    loss_agg_mode: str = hp("seq-mean-token-mean", "one geometric mean per response, averaged over responses")

    def clipped_log_ratio(self, x: PolicyInputs) -> Tensor:
        lr = x.log_ratio
        clipped = (((x.advantages > 0) & (lr > self.clip_ratio_high))
                   | ((x.advantages < 0) & (lr < -self.clip_ratio_low)))
        return torch.where(clipped, lr.clamp(-self.clip_ratio_low, self.clip_ratio_high).detach(), lr)

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        return 1.0 + x.log_ratio.detach()

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        c = self.clipped_log_ratio(x)
        n = x.mask.sum(-1, keepdim=True).clamp(min=1)
        mean_c = torch.where(x.mask, c, 0.0).sum(-1, keepdim=True) / n
        s = torch.exp(mean_c.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)).detach()
        return -x.advantages * s * torch.exp(c - c.detach())
