"""Dr. GRPO: GRPO without its two length and difficulty biases.

Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective" (arXiv 2503.20783): the advantage is
R_i - mean_g (no division by the group std), and each sequence's token sum is divided by a constant (the generation
budget) instead of its own length (seq-mean-token-sum-norm; set loss_norm_length to the max_new_tokens of the run);
no KL term.

    loss_t = max(-r A, -clip(r, 1 - eps, 1 + eps) A)      dloss_t/dlogp_t = -r A unclipped, 0 clipped

Equations (Liu et al. 2025): Dr. GRPO recovers the PPO objective of Eq. (2) (a sum over a response's tokens) with a
Monte Carlo advantage; Eq. (3) is the GRPO objective whose 1/|o_i| and std terms it removes. The removal itself and the
constant MAX_TOKENS (Listing 1) are stated unnumbered in section 3.2.
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate


@register("dr-grpo")
class DrGRPO(Algorithm):
    """Dr. GRPO (Liu et al. 2025): advantages without std, constant-length normalisation, no KL."""

    paper = 'Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective" (arXiv 2503.20783)'

    dual_clip_c: float | None = hp(None, "dual clip (Ye et al. 2020): cap the loss of A<0 tokens at -c*A; the "
                                         "paper has none (None); e.g. 3.0 as PPO")
    advantage_estimator: str = hp("dr-grpo", "R - group mean, no std normalisation (Dr. GRPO)")
    loss_agg_mode: str = hp("seq-mean-token-sum-norm", "token sum / a constant length, averaged over sequences")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high,
                                 self.dual_clip_c)
