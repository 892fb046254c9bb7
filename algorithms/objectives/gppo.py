"""GPPO: gradient-preserving clipping -- clipped tokens keep a bounded gradient instead of none.

Su et al. 2025, "Klear-Reasoner: Advancing Reasoning Capability via Gradient-Preserving Clipping Policy
Optimization" (arXiv 2508.07629). With lo = 1 - eps_low, hi = 1 + eps_high:

    r < lo and A < 0:  surrogate = lo / sg(r) * r * A     value lo*A, gradient lo*A dlogp
    r > hi and A > 0:  surrogate = hi / sg(r) * r * A     value hi*A, gradient hi*A dlogp
    otherwise:         surrogate = r * A                  gradient r*A dlogp
    loss = -token-mean(surrogate)

This is CE-GPPO with beta1 = beta2 = 1; the other defaults (eps = 0.2 both sides from the CE-GPPO paper; dual clip
c = 10 on A < 0 and rewards +1/-1 from the CE-GPPO authors' code) match `ce-gppo` so that the two compare with one
variable changed.

Equations (Su et al. 2025, Klear-Reasoner): the GPPO objective is Eq. (11),
    L^GPPO = E[ 1/sum_j T_j  sum_j sum_t  min(delta A_j, clip(delta, lo/sg(delta) delta, hi/sg(delta) delta) A_j) ]
with delta = r_t^(j), lo = 1 - eps_l, hi = 1 + eps_h; its per-token gradient weight (lo, hi or delta) is Eq. (12);
the beta1/beta2 form is its Appendix A.2, Eqs. (17)-(18); the group advantage is Eq. (4). The paper's own recipe
differs from these defaults: Clip-Higher eps_h = 0.28 (eps_l = 0.2, its section 2.3), and the RL loss is trained with an SFT term on the correct responses, L = L^GPPO + alpha L_LM, alpha = 0.1
(Eqs. (13)-(14)), which `gppo` does not add (`ce-gppo-authors` has such a term, `positive_loss_coeff`).
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
