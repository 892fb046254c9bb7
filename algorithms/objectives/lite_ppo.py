"""Lite PPO: critic-free PPO loss with group-mean / batch-std advantages and token-level aggregation.

Liu et al. 2025, "Part I: Tricks or Traps? A Deep Dive into RL for LLM Reasoning" (arXiv 2508.08221), Lite PPO:
two techniques on top of the vanilla PPO clipped loss without a critic --

    A_i = (R_i - mean_group R) / (std_batch R + eps)     advantage normalisation: group mean, batch std
    loss = sum_{i,t} max(-r A, -clip(r, 1 - eps, 1 + eps) A) / N       token-level aggregation
    dloss_t/dlogp_t = -r A unclipped, 0 clipped

eps = 0.2 both sides, no KL, no entropy bonus, no dynamic sampling or overlong filtering.

Equations (Liu et al. 2025, arXiv v3): Lite PPO itself is stated unnumbered in the paper's section 5, as the
combination of its section 4.1.2 normalisation (group mean, batch std; described in words) and the token-level loss
displayed without a number in its section 4.3 (DAPO's Eq. (12), Yu et al. 2025). Its parts in the paper's own
numbering: the PPO objective Eq. (1), the group-level normalisation Eq. (5) whose mean Lite PPO keeps, the
batch-level normalisation Eq. (6) whose std it keeps, and the std-free form Eq. (7). The clipped surrogate is
PPO's L^CLIP (Schulman et al. 2017, Eq. (7)).
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate


@register("lite-ppo")
class LitePPO(Algorithm):
    """Lite PPO (Liu et al. 2025): PPO's clipped loss, group-mean/batch-std advantages, token-mean, no critic."""

    paper = 'Liu et al. 2025, "Part I: Tricks or Traps? A Deep Dive into RL for LLM Reasoning" (arXiv 2508.08221)'

    advantage_estimator: str = hp("lite-ppo", "(R - group mean) / (batch std + eps) (Lite PPO)")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation (Lite PPO)")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high)
