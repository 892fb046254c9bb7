"""GSPO: a sequence-level importance ratio (the geometric mean of the token ratios), clipped per sequence.

Zheng et al. 2025, "Group Sequence Policy Optimization" (arXiv 2507.18071). For sequence i with n_i tokens:

    s_i    = exp( (1/n_i) sum_t log r_it )                    sequence ratio (length-normalised)
    s_it   = sg(s_i) * pi(y_t) / sg(pi(y_t))                  GSPO-token form: value s_i, d s_it = s_i dlogp_t
    loss_t = max(-s_it A_it, -clip(s_it, 1 - eps_low, 1 + eps_high) A_it)
    dloss_t/dlogp_t = -s_i A_it when sequence i is unclipped, 0 when it is clipped

With one advantage per sequence and seq-mean-token-mean aggregation this is exactly GSPO's sequence objective
(its gradient is s_i A_i (1/n_i) sum_t dlogp_t). Clip range from the paper: 3e-4 below, 4e-4 above (sequence ratios
stay much closer to 1 than token ratios). The region diagnostics use s_i.

Equations (Zheng et al. 2025): the GSPO objective is Eq. (5), its advantage Eq. (6) and s_i Eq. (7); GSPO-token,
the form computed here, is Eq. (13) with s_it in Eq. (14). The clip range 3e-4 / 4e-4 is given for Eq. (5).
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import LOG_RATIO_CLAMP, Algorithm, PolicyInputs, hp
from algorithms.registry import register


def sequence_log_ratio(x: PolicyInputs) -> Tensor:
    """(1/n_i) sum_t log r_it per sequence, [B, 1] (0 for a sequence without tokens)."""
    n = x.mask.sum(-1, keepdim=True).clamp(min=1)
    return x.log_ratio.sum(-1, keepdim=True) / n


@register("gspo")
class GSPO(Algorithm):
    """GSPO (Zheng et al. 2025): sequence-level geometric-mean ratio, clipped per sequence (token form)."""

    paper = 'Zheng et al. 2025, "Group Sequence Policy Optimization" (arXiv 2507.18071)'

    clip_ratio_low: float = hp(3e-4, "sequence ratios below 1 - 3e-4 are clipped (GSPO paper)")
    clip_ratio_high: float = hp(4e-4, "sequence ratios above 1 + 4e-4 are clipped (GSPO paper)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("seq-mean-token-mean", "per-sequence mean (the sequence objective's length "
                                                    "normalisation)")

    def sequence_ratio(self, x: PolicyInputs) -> Tensor:
        return torch.exp(sequence_log_ratio(x).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        return self.sequence_ratio(x).detach().expand_as(x.ratio)

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        s_token = self.sequence_ratio(x).detach() * torch.exp(x.log_ratio - x.log_ratio.detach())
        unclipped = -x.advantages * s_token
        clipped = -x.advantages * s_token.clamp(1.0 - self.clip_ratio_low, 1.0 + self.clip_ratio_high)
        return torch.maximum(unclipped, clipped)
