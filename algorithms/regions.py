"""The four clipping regions of a token, and how much of the gradient each contributes.

With ratio r, advantage A and clip range [1 - eps_low, 1 + eps_high], a response token lies in

    low_neg    r < 1 - eps_low  and A < 0    PPO clips it (no gradient); CE-GPPO's beta1 scales it
    high_pos   r > 1 + eps_high and A > 0    PPO clips it (no gradient); CE-GPPO's beta2 scales it
    low_pos    r < 1 - eps_low  and A > 0    PPO's pessimistic min keeps r*A (gradient flows)
    high_neg   r > 1 + eps_high and A < 0    likewise (dual-clip caps it for large r)
    inside     everything else: inside the clip range, or A == 0

These are the diagnostics every objective reports (`clipfrac/<region>`), and the trainer reports
`gradshare/<region>`: the share of sum |dL/dlogp| that comes from each region.
"""
from __future__ import annotations

import torch
from torch import Tensor

REGIONS = ("low_neg", "high_pos", "low_pos", "high_neg", "inside")


def region_masks(ratio: Tensor, advantages: Tensor, mask: Tensor, eps_low: float, eps_high: float) -> dict[str, Tensor]:
    """Boolean [B, T] masks of the five regions (restricted to mask == 1); they partition the response tokens."""
    mask = mask.bool()
    low, high = ratio < 1.0 - eps_low, ratio > 1.0 + eps_high
    neg, pos = advantages < 0, advantages > 0
    regions = {
        "low_neg": mask & low & neg,
        "high_pos": mask & high & pos,
        "low_pos": mask & low & pos,
        "high_neg": mask & high & neg,
    }
    outside = torch.zeros_like(mask)
    for region in regions.values():
        outside = outside | region
    regions["inside"] = mask & ~outside
    return regions


def gradient_shares(grad_logp: Tensor, regions: dict[str, Tensor], mask: Tensor) -> dict[str, float]:
    """Share of sum |grad| over response tokens that lies in each region (0.0 everywhere when the gradient is 0)."""
    magnitude = torch.where(mask.bool(), grad_logp.detach().abs(), torch.zeros((), dtype=grad_logp.dtype,
                                                                               device=grad_logp.device))
    total = magnitude.sum()
    sums = torch.stack([magnitude[regions[name]].sum() for name in REGIONS])
    shares = (sums / total).tolist() if float(total) > 0 else [0.0] * len(REGIONS)
    return dict(zip(REGIONS, shares))
