"""GPG: plain policy gradient on group-relative advantages, with no surrogate, ratio, clip, critic or KL.

Chu et al. 2025, "GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning" (arXiv 2504.02546):

    J = (1 / sum_i |o_i|) sum_i sum_t A_i log pi(o_it)             (token-mean of -A log pi as the loss)
    A_i = alpha (R_i - mean_g R) / F_norm,  alpha = B / (B - M),  F_norm = 1
    dloss_t/dlogp_t = -A_t

M counts the responses of groups whose rewards are all equal (zero advantage): alpha rescales the gradient so that
such groups do not shrink it (the `gpg` advantage estimator). F_norm = 1 and alpha = B / (B - M) are the paper's
choice (the ablation table of AMAP-ML/GPG's README: F_norm = 1, alpha = B/(B-M)). The authors' code (open-r1
gpg_trainer) divides the loss by the valid fraction instead (the same alpha) and can also re-sample until a fraction
beta_th of the batch is valid (`min_inverse_alpha`, 0.6 in the table's best row); that re-sampling is not part of
`gpg` (the zoo's `dynamic_sampling`, which drops all equal-reward groups, is the nearest recipe field). The loss
uses log pi, not a ratio: with one update per batch it is on-policy.

Equations (Chu et al. 2025, arXiv v4, the ICLR 2026 version): the GPG objective is Eq. (5), the advantage
A_i = (r_i - mean_g R) / F_norm Eq. (6), the accurate gradient estimate g_hat = alpha g, alpha = B / (B - M), Eq. (7),
and the scaled objective J_hat = alpha J Eq. (8); Eqs. (1)-(4) are the return and the policy-gradient theorem.
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("gpg")
class GPG(Algorithm):
    """GPG (Chu et al. 2025): -A log pi per token, token-mean, alpha-corrected group advantages."""

    paper = 'Chu et al. 2025, "GPG: A Simple and Strong RL Baseline for Model Reasoning" (arXiv 2504.02546)'

    advantage_estimator: str = hp("gpg", "alpha (R - group mean), alpha = B / (B - M) (GPG)")
    loss_agg_mode: str = hp("token-mean", "1 / sum_i |o_i| over all tokens (GPG)")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return -x.advantages * x.logp
