"""DAPO: clip-higher, token-level aggregation, dynamic sampling, soft overlong punishment, no KL.

Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale" (arXiv 2503.14476):
eps_low = 0.2, eps_high = 0.28; loss = sum over all tokens / number of tokens (token-mean); groups whose rewards
are all equal are dropped and re-sampled; responses longer than L_max - L_cache = 16384 tokens are penalised
linearly down to -1 at L_max = 20480; rewards +1 / -1; no KL term.

    loss_t = max(-r A, -clip(r, 1 - eps_low, 1 + eps_high) A)   dloss_t/dlogp_t = -r A unclipped, 0 clipped

Equations (Yu et al. 2025): the DAPO objective is Eq. (8), with r and A in Eq. (9); clip-higher is Eq. (10), dynamic
sampling's constraint Eq. (11), the token-level loss Eq. (12), the soft overlong punishment Eq. (13) and the +1/-1
rule reward Eq. (7).
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate


@register("dapo")
class DAPO(Algorithm):
    """DAPO (Yu et al. 2025): clip-higher, token-mean, dynamic sampling, overlong shaping, no KL."""

    paper = 'Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale" (arXiv 2503.14476)'

    clip_ratio_high: float = hp(0.28, "clip-higher: a larger upper clip leaves room for low-probability tokens "
                                      "to grow (DAPO: 0.28)")
    dual_clip_c: float | None = hp(None, "dual clip (Ye et al. 2020): cap the loss of A<0 tokens at -c*A; the "
                                         "paper has none (None); e.g. 3.0 as PPO")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages (as GRPO)")
    loss_agg_mode: str = hp("token-mean", "token-level policy gradient loss: every token weighs the same (DAPO)")
    dynamic_sampling: bool = hp(True, "drop groups whose rewards are all equal, sample again until full (DAPO)")
    overlong_shaping: bool = hp(True, "soft overlong punishment (DAPO)")
    reward_incorrect: float = hp(-1.0, "DAPO's rule-based reward: +1 correct, -1 incorrect")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high,
                                 self.dual_clip_c)
