"""CISPO: REINFORCE with a clipped, detached importance weight -- every token keeps a gradient.

MiniMax 2025, "MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention" (arXiv 2506.13585):

    loss_t = -sg(clip(r_t, 1 - eps_low, 1 + eps_high)) * A_t * log pi(y_t)
    dloss_t/dlogp_t = -clip(r_t, 1 - eps_low, 1 + eps_high) * A_t

Unlike PPO, no token is dropped: the weight is bounded, the gradient never vanishes. The paper puts no lower bound
on the weight (eps_low = 1: the weight is >= 0 anyway) and tunes only eps_high without publishing one value; 0.2
here (verl's CISPO example uses the same). Token-level aggregation, as DAPO.

Equations (MiniMax 2025): the CISPO objective is Eq. (4) and the clipped IS weight r_hat Eq. (5); the REINFORCE
objective it starts from is Eq. (3).
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("cispo")
class CISPO(Algorithm):
    """CISPO (MiniMax-M1 2025): clipped detached importance weight times log-prob."""

    paper = 'MiniMax 2025, "MiniMax-M1" (arXiv 2506.13585)'

    clip_ratio_low: float = hp(1.0, "the IS weight has no lower bound (1 - 1 = 0) (MiniMax-M1)")
    clip_ratio_high: float = hp(0.2, "IS weight capped at 1 + eps_high (tuned in MiniMax-M1; 0.2 here)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation (MiniMax-M1)")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        weight = x.ratio.clamp(1.0 - self.clip_ratio_low, 1.0 + self.clip_ratio_high).detach()
        return -weight * x.advantages * x.logp
