"""GPPO: gradient-preserving clipping -- clipped tokens keep a bounded gradient instead of none.

Su et al. 2025, "Klear-Reasoner: Advancing Reasoning Capability via Gradient-Preserving Clipping Policy
Optimization" (arXiv 2508.07629). With lo = 1 - eps_low, hi = 1 + eps_high:

    r < lo and A < 0:  surrogate = lo / sg(r) * r * A     value lo*A, gradient lo*A dlogp
    r > hi and A > 0:  surrogate = hi / sg(r) * r * A     value hi*A, gradient hi*A dlogp
    otherwise:         surrogate = r * A                  gradient r*A dlogp
    loss = -token-mean(surrogate)

This is CE-GPPO with beta1 = beta2 = 1; the other defaults (eps = 0.2, dual clip c = 10 on A < 0, rewards +1/-1)
follow the CE-GPPO paper's GPPO baseline so that the two compare with one variable changed.

Equation number not confirmed: no copy of the Klear-Reasoner paper's text was found (searched the stored pages,
docs and code for its objective); the authors' repository READMEs number no equations.
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import gradient_preserving_surrogate


@register("gppo")
class GPPO(Algorithm):
    """GPPO (Klear-Reasoner, Su et al. 2025): clipped tokens keep the gradient (1 +- eps) A."""

    paper = 'Su et al. 2025, "Klear-Reasoner" (arXiv 2508.07629)'

    dual_clip_c: float | None = hp(10.0, "dual clip on A<0 tokens: loss capped at -c*A (as CE-GPPO's code); "
                                         "None turns it off")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages")
    loss_agg_mode: str = hp("token-mean", "loss = -token-mean(surrogate)")
    reward_incorrect: float = hp(-1.0, "+1 correct, -1 incorrect (as CE-GPPO)")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return gradient_preserving_surrogate(x.log_ratio, x.ratio, x.advantages, self.clip_ratio_low,
                                             self.clip_ratio_high, 1.0, 1.0, self.dual_clip_c)
