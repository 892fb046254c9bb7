"""CE-GPPO: gradient-preserving clipping with separate weights for the two clipped regions.

Su et al. 2025, "CE-GPPO: Controlling Entropy via Gradient-Preserving Clipping Policy Optimization"
(arXiv 2509.20712). Per token, with lo = 1 - eps_low, hi = 1 + eps_high:

    r < lo and A < 0  (low_neg):   surrogate = beta1 * lo / sg(r) * r * A   value beta1*lo*A, grad beta1*lo*A dlogp
    r > hi and A > 0  (high_pos):  surrogate = beta2 * hi / sg(r) * r * A   value beta2*hi*A, grad beta2*hi*A dlogp
    otherwise:                     surrogate = r * A                                         grad r*A dlogp
    loss = -token-mean(surrogate); an A < 0 token with r > c gets the constant loss -c*A (dual clip, c = 10, the
    authors' code).

PPO gives these clipped tokens no gradient at all (beta1 = beta2 = 0 reproduces PPO's gradient exactly);
GPPO (Klear-Reasoner) is beta1 = beta2 = 1. Larger beta1 (pushing down the probability of already unlikely bad
tokens) speeds up entropy collapse (exploitation); larger beta2 (pushing up unlikely good tokens) slows it
(exploration). Paper defaults: eps = 0.2 both sides, (beta1, beta2) = (0.5, 1) for 1.5B and (0.75, 1) for 7B
models, no KL, no entropy term in the objective. The rewards +1/-1 are the authors' code's (the math_dapo reward of
Kwai-Klear/CE-GPPO); the paper does not state them. One sentence of the paper's section 3.2 swaps beta1 and beta2;
its equations, section 5.1, experiments and the authors' code use the mapping above, and so does this file.

Equations (Su et al. 2025, CE-GPPO, arXiv v5): the objective is Eq. (8) (restated as Eq. (24) in Appendix A.3), its
gradient Eq. (9) with the per-token weight F = beta1 (1 - eps), beta2 (1 + eps) or delta in Eq. (10); the GRPO
advantage is Eq. (2). Earlier versions of the paper may number them differently.
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import gradient_preserving_surrogate


@register("ce-gppo")
class CEGPPO(Algorithm):
    """CE-GPPO (Su et al. 2025): gradient-preserving clipping, beta1 on low_neg and beta2 on high_pos tokens.

    The objective is the paper's Eq. (8), its gradient weight Eqs. (9)-(10) (arXiv v5; module notes).
    """

    paper = ('Su et al. 2025, "CE-GPPO: Controlling Entropy via Gradient-Preserving Clipping Policy Optimization"'
             ' (arXiv 2509.20712)')

    beta1: float = hp(0.5, "weight of the gradient of r < 1-eps_low, A < 0 tokens (paper: 0.5 for 1.5B, 0.75 "
                           "for 7B); larger beta1 speeds up entropy collapse")
    beta2: float = hp(1.0, "weight of the gradient of r > 1+eps_high, A > 0 tokens (paper: 1.0); larger beta2 "
                           "slows entropy collapse")
    dual_clip_c: float | None = hp(10.0, "dual clip on A<0 tokens: loss capped at -c*A (the authors' code: 10); "
                                         "None turns it off")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "loss = -token-mean(surrogate) (CE-GPPO)")
    reward_incorrect: float = hp(-1.0, "CE-GPPO's reward: +1 correct, -1 incorrect")

    def validate(self) -> None:
        super().validate()
        if self.beta1 < 0 or self.beta2 < 0:
            raise ValueError(f"{self._label()}: beta1 and beta2 must be >= 0, got {self.beta1} and {self.beta2}")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return gradient_preserving_surrogate(x.log_ratio, x.ratio, x.advantages, self.clip_ratio_low,
                                             self.clip_ratio_high, self.beta1, self.beta2, self.dual_clip_c)


@register("ce-gppo-authors")
class CEGPPOAuthors(CEGPPO):
    """CE-GPPO as the authors' public recipes run it: dual clip 10, group filtering, + 0.1 x NLL of correct answers.

    The paper (arXiv 2509.20712) states beta1, beta2, eps = 0.2, token-mean, no KL, no entropy term.
    Only the authors' code (Kwai-Klear/CE-GPPO, recipe/dapo/*gppo*.sh and verl/workers/actor/dp_actor.py) has:
      - the rewards +1/-1 (its math_dapo reward), also the default of `ce-gppo`;
      - the dual clip c = 10 on A < 0 tokens (clip_ratio_c=10.0), also on by default in `ce-gppo`;
      - group filtering (enable_filter_groups=True, metric acc): DAPO's dynamic sampling;
      - an extra term positive_loss_coeff * NLL on the responses whose reward is the correct score (0.1):
            loss_t += positive_loss_coeff * (-logp_t) * 1[R_i == reward_correct]
            dloss_t/dlogp_t = CE-GPPO's weight - positive_loss_coeff on the tokens of correct responses.
    The authors aggregate that term over the correct responses' tokens only (token-mean over them, per micro-batch);
    here it is aggregated like the policy loss, over all response tokens of the batch, so that micro-batches with
    global counts sum exactly to the batch: their 0.1 equals 0.1 * N / N_correct here. loss() needs `scores`.

    Equations: the CE-GPPO terms are the paper's Eqs. (8)-(10), as in `ce-gppo` (arXiv v5). The CE-GPPO paper has no
    NLL term; the same authors' Klear-Reasoner paper states one, L = L^GPPO + alpha L_LM with L_LM the token-mean NLL of
    the correct responses (printed there without the log) and alpha = 0.1 (arXiv 2508.07629, Eqs. (13)-(14)). The
    dual clip and the group filtering are stated unnumbered in the authors' code only.
    """

    paper = ('Su et al. 2025, CE-GPPO (arXiv 2509.20712), with the settings of the authors\' public recipes'
             ' (github.com/Kwai-Klear/CE-GPPO)')

    needs_scores = True

    dynamic_sampling: bool = hp(True, "group filtering: drop groups whose rewards are all equal and sample again "
                                      "(the authors' recipes: enable_filter_groups=True; not in the paper)")
    positive_loss_coeff: float = hp(0.1, "coefficient of the NLL of correct responses' tokens (the authors' "
                                         "recipes: 0.1; not in the paper); 0 turns it off")

    def validate(self) -> None:
        super().validate()
        if self.positive_loss_coeff < 0:
            raise ValueError(f"{self._label()}: positive_loss_coeff must be >= 0, got {self.positive_loss_coeff}")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        loss = super().policy_loss(x)
        if self.positive_loss_coeff == 0:
            return loss
        if x.scores is None:
            raise ValueError(f"{self._label()} has positive_loss_coeff={self.positive_loss_coeff}, so loss() needs "
                             f"scores [B] (each response's reward) to find the correct responses (or set "
                             f"positive_loss_coeff=0)")
        correct = (x.scores == self.reward_correct)[:, None] & x.mask
        return loss + torch.where(correct, -self.positive_loss_coeff * x.logp, 0.0)
