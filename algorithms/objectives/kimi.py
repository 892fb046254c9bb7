"""Kimi k1.5's policy loss: REINFORCE with a mean-reward baseline plus a squared log-ratio to pi_old.

Kimi Team 2025, "Kimi k1.5: Scaling Reinforcement Learning with LLMs" (arXiv 2501.12599), its online policy mirror
descent update. Per token, with log r = log pi - log pi_old:

    loss_t = -A_t log pi(y_t) + tau / 2 (log r_t)^2,     A = R - mean of the prompt's k responses
    dloss_t/dlogp_t = -A_t + tau log r_t

The squared term keeps pi near pi_old (a mirror-descent proximal term) instead of a clip: at r = 1 the gradient
is plain REINFORCE, and a token pulled far from pi_old is pulled back in proportion to its log-ratio. The paper
writes both terms per response (log pi(y|x) summed over the tokens, and the square of the response's log-ratio);
verl (`dro`) and ROLL (`kimi15`) square each token's log-ratio, as here, so the loss aggregates like the others.
tau = 0.1 is ROLL's default (verl requires dro_beta to be set). The clip range fields only define the region
diagnostics.
"""
from __future__ import annotations

from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register


@register("kimi-1.5")
class Kimi15(Algorithm):
    """Kimi k1.5 (Kimi Team 2025; verl's dro): -A log pi + tau/2 (log pi - log pi_old)^2 per token.

    The paper's policy gradient with the squared log-ratio regulariser is its Eq. (3).
    """

    paper = 'Kimi Team 2025, "Kimi k1.5: Scaling Reinforcement Learning with LLMs" (arXiv 2501.12599)'

    tau: float = hp(0.1, "coefficient of the squared log-ratio to pi_old (ROLL's kimi15_tau: 0.1; verl's dro_beta)")
    advantage_estimator: str = hp("dr-grpo", "R - the mean reward of the prompt's responses (Kimi k1.5)")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation (verl's and ROLL's default)")

    def validate(self) -> None:
        super().validate()
        if self.tau < 0:
            raise ValueError(f"{self._label()}: tau must be >= 0, got {self.tau}")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return -x.advantages * x.logp + 0.5 * self.tau * x.log_ratio.square()
