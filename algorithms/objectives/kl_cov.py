"""KL-Cov: the unclipped surrogate, plus a KL penalty on the tokens of highest covariance.

Cui et al. 2025, "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"
(arXiv 2505.22617):

    cov_t  = (logp_t - mean logp) (A_t - mean A)          means over the response tokens of the batch
    selected: the k = ceil(kl_cov_ratio * N) tokens with the largest cov_t (ties: earlier position)
    loss_t = -r A + kl_cov_coef * |log r| * 1[selected]   (no ratio clipping)
    dloss_t/dlogp_t = -r A + kl_cov_coef * sign(log r) * 1[selected]

Paper defaults: k = 2e-3 of the tokens (7B; 2e-4 for 32B), coefficient 1. The selection looks at the whole batch
(batch_dependent). The clip range fields only define the region diagnostics here.

Equations (Cui et al. 2025): cov_t is Eq. (10), the top-k selection Eq. (13) and the KL-Cov loss Eq. (14).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import token_covariance, top_tokens


@register("kl-cov")
class KLCov(Algorithm):
    """KL-Cov (Cui et al. 2025): KL penalty on the highest-covariance tokens, no clipping."""

    paper = ('Cui et al. 2025, "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"'
             ' (arXiv 2505.22617)')

    batch_dependent = True
    kl_cov_ratio: float = hp(2e-3, "fraction of the response tokens that get the KL penalty (paper: 2e-3 for 7B)")
    kl_cov_coef: float = hp(1.0, "coefficient of |log r| on the selected tokens (paper: 1)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation")

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.kl_cov_ratio <= 1.0 or self.kl_cov_coef < 0:
            raise ValueError(f"{self._label()}: need 0 <= kl_cov_ratio <= 1 and kl_cov_coef >= 0, got "
                             f"{self.kl_cov_ratio} and {self.kl_cov_coef}")

    def selected_tokens(self, x: PolicyInputs) -> Tensor:
        cov = token_covariance(x.logp, x.advantages, x.mask)
        return top_tokens(cov, x.mask, math.ceil(self.kl_cov_ratio * int(x.num_tokens)))

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        penalty = self.kl_cov_coef * x.log_ratio.abs()
        return -x.advantages * x.ratio + torch.where(self.selected_tokens(x), penalty, torch.zeros_like(penalty))
