"""TOPR: REINFORCE on the good responses, a ratio truncated to [0, 1] on the bad ones.

Le Roux et al. 2025, "Tapered Off-Policy REINFORCE" (arXiv 2503.14286). Per token, with r = pi / pi_old:

    A > 0:   loss_t = -w_pos * A * log pi                  the supervised (SFT-like) update, no importance weight
    A < 0:   loss_t = -w_neg * sg(clip(r, 0, 1)) * A * log pi
    dloss_t/dlogp_t = -w_pos A (A > 0),   -w_neg min(r, 1) A (A < 0)

Pushing down a bad response whose probability already grew (r > 1) is what makes off-policy REINFORCE unstable:
TOPR caps that weight at 1, while positive examples keep their full gradient whatever r is. With
sequence_ratio=True the weight is the paper's trajectory ratio prod_t r_t (truncated to [0, 1]) on every token.
The split is on the sign of the advantage (the paper splits trajectories by the sign of their reward; with
group-relative advantages a response above its group's mean is a positive one). clip_ratio_low = 1 and
clip_ratio_high = 0 make `clipfrac/high_neg` count the negative tokens whose weight is truncated (r > 1).
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import LOG_RATIO_CLAMP, Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("topr")
class TOPR(Algorithm):
    """TOPR (Le Roux et al. 2025): -A log pi on A > 0 tokens, -sg(clip(r, 0, 1)) A log pi on A < 0 tokens.

    The TOPR gradient is the paper's Eq. (8): positive trajectories unweighted, negative ones with the truncated
    ratio [pi / mu]_0^1.
    """

    paper = 'Le Roux et al. 2025, "Tapered Off-Policy REINFORCE" (arXiv 2503.14286)'

    positive_weight: float = hp(1.0, "weight of the A > 0 tokens' term (ROLL's topr_positive_weight: 1.0)")
    negative_weight: float = hp(1.0, "weight of the A < 0 tokens' term (ROLL's topr_negative_weight: 1.0)")
    sequence_ratio: bool = hp(False, "True: the truncated weight of a negative token is its sequence's ratio "
                                     "prod_t r_t (the paper's trajectory ratio); False: the token's own r (ROLL)")
    clip_ratio_low: float = hp(1.0, "diagnostics only: TOPR has no lower bound (the weight is >= 0 anyway)")
    clip_ratio_high: float = hp(0.0, "diagnostics only: negative tokens with r > 1 + 0 have their weight "
                                     "truncated to 1 (clipfrac/high_neg)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation")

    def validate(self) -> None:
        super().validate()
        if self.positive_weight < 0 or self.negative_weight < 0:
            raise ValueError(f"{self._label()}: positive_weight and negative_weight must be >= 0, got "
                             f"{self.positive_weight} and {self.negative_weight}")

    def truncated_weight(self, x: PolicyInputs) -> Tensor:
        """sg(clip(r, 0, 1)) [B, T]: of the token's ratio, or of its sequence's product of ratios."""
        if self.sequence_ratio:
            log_seq = torch.where(x.mask, x.log_ratio, 0.0).sum(-1, keepdim=True).detach()
            return torch.exp(log_seq.clamp(-LOG_RATIO_CLAMP, 0.0)).expand_as(x.ratio)
        return x.ratio.detach().clamp(0.0, 1.0)

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        weight = torch.where(x.advantages > 0, torch.full_like(x.ratio, self.positive_weight),
                             self.negative_weight * self.truncated_weight(x))
        return -weight * x.advantages * x.logp
