"""M2PO: no clip; the tokens with the largest squared log-ratio are masked until the batch's second moment is small.

Zheng et al. 2025, "Prosperity before Collapse: How Far Can Off-Policy RL Reach with Stale Data on LLMs?"
(M2PO, arXiv 2510.01161). With log r_t = log pi_theta - log pi_behav on the batch's N response tokens:

    M2 = (1/N) sum_t (log r_t)^2                       the second moment of the log importance weights
    M_t = 0 for the tokens of largest (log r_t)^2, taken in decreasing order until the mean of the remaining ones
          is below tau (0.04); M_t = 1 for the rest
    loss = -(1/N) sum_t M_t r_t A_t                     (the masked tokens stay in N)
    dloss_t/dlogp_t = -M_t r_t A_t / N

A batch-level KL lets positive and negative log-ratios cancel; the second moment does not, so it bounds the
variance that stale data brings while masking only the few extreme tokens (a ratio clip drops many informative
high-entropy tokens under staleness). The mask is chosen over the whole batch it is given (batch_dependent), from
the current policy's log-probs against old_logp, the behaviour policy the trainer passes; with fresh on-policy data
r = 1 and nothing is masked. The clip range fields only define the region diagnostics.
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register


def second_moment_mask(log_ratio: Tensor, mask: Tensor, tau: float) -> Tensor:
    """Bool [B, T], True on the tokens to mask: the k response tokens of largest (log r)^2, k the smallest count
    after which the mean of the others is below tau (all but the smallest one when no count gets there). Ties in
    (log r)^2 go to the earlier position."""
    m2 = torch.where(mask, log_ratio.detach().square(), torch.full_like(log_ratio, float("-inf"))).reshape(-1)
    n = int(mask.sum())
    out = torch.zeros_like(mask)
    if n == 0:
        return out
    order = torch.sort(m2, descending=True, stable=True).indices[:n]
    ranked = m2[order]
    suffix_mean = ranked.flip(0).cumsum(0).flip(0) / torch.arange(n, 0, -1, dtype=ranked.dtype,
                                                                   device=ranked.device)
    below = torch.nonzero(suffix_mean < tau)
    k = int(below[0]) if below.numel() else n - 1
    out.view(-1)[order[:k]] = True
    return out


@register("m2po")
class M2PO(Algorithm):
    """M2PO (Zheng et al. 2025): -M r A, token-mean, M masking the largest (log r)^2 until their mean is < tau.

    Equation number not confirmed (docs/algorithms.md, source table).
    """

    paper = ('Zheng et al. 2025, "Prosperity before Collapse: How Far Can Off-Policy RL Reach with Stale Data on '
             'LLMs?" (M2PO, arXiv 2510.01161)')

    batch_dependent = True
    m2_threshold: float = hp(0.04, "tau: mask the largest (log r)^2 until the mean of the rest is below tau (M2PO "
                                   "and AReaL's gsm8k_m2po.yaml: 0.04)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages (M2PO)")
    loss_agg_mode: str = hp("token-mean", "1 / sum_i |o_i| over all tokens, masked ones included (M2PO)")

    def validate(self) -> None:
        super().validate()
        if not self.m2_threshold > 0:
            raise ValueError(f"{self._label()}: m2_threshold must be > 0, got {self.m2_threshold}")

    def masked_tokens(self, x: PolicyInputs) -> Tensor:
        return second_moment_mask(x.log_ratio, x.mask, self.m2_threshold)

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return torch.where(self.masked_tokens(x), 0.0, -x.advantages * x.ratio)
