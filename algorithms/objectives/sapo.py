"""SAPO: a smooth, temperature-controlled gate on the token ratio instead of PPO's hard clip.

Gao et al. 2025, "Soft Adaptive Policy Optimization" (arXiv 2511.20347), the SAPO objective. Per token,
with the temperature chosen by the sign of the advantage:

    tau_t  = tau_pos if A_t > 0 else tau_neg
    f(r)   = sigmoid(tau_t (r - 1)) * 4 / tau_t                          the soft gate (f(1) = 2/tau, f'(1) = 1)
    loss_t = -f(r_t) A_t
    dloss_t/dlogp_t = -4 s (1 - s) r_t A_t,   s = sigmoid(tau_t (r_t - 1))

At r = 1 the weight is exactly -A (the on-policy gradient); it decays smoothly as r leaves 1, faster for larger tau.
tau_neg > tau_pos damps negative-advantage tokens more (the paper: their gradient spreads over many unsampled
tokens). Paper defaults: tau_pos = 1.0, tau_neg = 1.05, sequence-level averaging (1/G sum_i 1/|y_i| sum_t, i.e.
seq-mean-token-mean), group-normalised advantages. verl's `sapo` hard-codes seq-mean-token-mean as well. The clip
range fields only define the region diagnostics here (SAPO clips nothing).

Equations (Gao et al. 2025): the SAPO objective J = E[1/G sum_i 1/|y_i| sum_t f_it(r_it) A_it] is Eq. (5) and the
soft gate f_it(x) = sigmoid(tau_it (x - 1)) * 4/tau_it, with tau_pos / tau_neg by the sign of A, is Eq. (6); the
defaults are in its section 5.1. The gradient (4 s (1 - s) r A above) follows from Eq. (6).
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("sapo")
class SAPO(Algorithm):
    """SAPO (Gao et al. 2025): soft sigmoid gate on the ratio, asymmetric temperatures, no hard clip."""

    paper = 'Gao et al. 2025, "Soft Adaptive Policy Optimization" (arXiv 2511.20347)'

    tau_pos: float = hp(1.0, "gate temperature of A > 0 tokens (SAPO paper: 1.0)")
    tau_neg: float = hp(1.05, "gate temperature of A <= 0 tokens (SAPO paper: 1.05; > tau_pos damps them faster)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages (SAPO)")
    loss_agg_mode: str = hp("seq-mean-token-mean", "1/G sum_i 1/|y_i| sum_t (SAPO)")

    def validate(self) -> None:
        super().validate()
        if self.tau_pos <= 0 or self.tau_neg <= 0:
            raise ValueError(f"{self._label()}: tau_pos and tau_neg must be > 0, got {self.tau_pos} and "
                             f"{self.tau_neg}")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        tau = torch.where(x.advantages > 0, torch.tensor(self.tau_pos, dtype=x.ratio.dtype, device=x.ratio.device),
                          torch.tensor(self.tau_neg, dtype=x.ratio.dtype, device=x.ratio.device))
        gate = torch.sigmoid(tau * (x.ratio - 1.0)) * (4.0 / tau)
        return -gate * x.advantages
