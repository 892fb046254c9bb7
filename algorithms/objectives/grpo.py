"""GRPO: PPO's clipped surrogate on group-normalised outcome advantages, a k3 KL loss, per-sequence averaging.

Shao et al. 2024, "DeepSeekMath" (arXiv 2402.03300): A_i = (R_i - mean_g) / (std_g + eps) for G responses per
prompt, no critic, eps = 0.2, KL(pi || pi_ref) as a loss term with the k3 estimator and beta = 0.04,
loss = mean over sequences of the mean over their tokens (seq-mean-token-mean).

    loss_t = max(-r A, -clip(r, 1 - eps, 1 + eps) A)      dloss_t/dlogp_t = -r A unclipped, 0 clipped

Equations: the GRPO objective is DeepSeekMath's Eq. (3) and its k3 KL estimator its Eq. (4) (Shao et al. 2024); the
advantage is stated unnumbered in its section 4.1.2. The same objective is DAPO's Eq. (5) (Yu et al. 2025).
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate


@register("grpo")
class GRPO(Algorithm):
    """GRPO (Shao et al. 2024): clipped surrogate, group-normalised advantages, k3 KL loss (beta 0.04)."""

    paper = 'Shao et al. 2024, "DeepSeekMath" (arXiv 2402.03300)'

    dual_clip_c: float | None = hp(None, "dual clip (Ye et al. 2020): cap the loss of A<0 tokens at -c*A; the "
                                         "paper has none (None); e.g. 3.0 as PPO")
    advantage_estimator: str = hp("grpo", "(R - group mean) / (group std + eps) (DeepSeekMath)")
    loss_agg_mode: str = hp("seq-mean-token-mean", "mean over a sequence's tokens, then over sequences")
    kl_coef: float = hp(0.04, "beta of the k3 KL loss to the reference policy (DeepSeekMath: 0.04)")
    kl_estimator: str = hp("k3", "k3 = exp(-d) - 1 + d, unbiased and >= 0 (DeepSeekMath)")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high,
                                 self.dual_clip_c)
