"""prime-rl's two RL losses: a trust-region mask on the probability change plus a squared log-ratio term.

PrimeIntellect's prime-rl (src/prime_rl/trainer/rl/loss.py) trains with these; with p = pi(y_t), mu = pi_old(y_t)
and log r = log p - log mu, per token:

    prime-dppo:  M_t = 0 where A > 0 and p - mu > delta_high, or A <= 0 and p - mu < -delta_low  (DPPO-Binary-TV)
    ipo:         M_t = 0 where |p - mu| > delta                                  (symmetric, whatever A's sign)
    loss_t = -M_t r_t A_t + kl_tau (log r_t)^2
    dloss_t/dlogp_t = -M_t r_t A_t + 2 kl_tau log r_t

The mask keeps the update inside a trust region on the sampled token's probability (a rare token may grow from
1e-5 to 1e-3; a likely one may not fall from 0.99 to 0.8), and the squared log-ratio (Kimi K2.5's KL term) pulls
every token, masked or not, back towards mu. prime-rl anchors both on the inference engine's log-probs; here the
anchor is old_logp (TrainConfig old_logprobs='rollout' makes it the engine's). A masked token's policy term is 0
(prime-rl), where `dppo-tv` keeps its value detached: the same gradient.
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.objectives.dppo import DPPOTV, binary_tv, bounded_logp
from algorithms.registry import register


def _policy_with_kl(x: PolicyInputs, masked: Tensor, kl_tau: float) -> Tensor:
    return torch.where(masked, 0.0, -x.advantages * x.ratio) + kl_tau * x.log_ratio.square()


@register("prime-dppo")
class PrimeDPPO(DPPOTV):
    """prime-rl's default loss: the DPPO-Binary-TV mask plus kl_tau (log r)^2 on every token.

    The mask is DPPO's Eq. (12) with the Binary TV of its Eq. (13) (Qi et al. 2026, arXiv 2602.04879); the squared
    log-ratio is Kimi K2.5's KL term (arXiv 2602.02276), whose equation number is not confirmed.
    """

    paper = ("prime-rl's default RL loss (PrimeIntellect-ai/prime-rl): DPPO-Binary-TV (Qi et al. 2026, arXiv "
             "2602.04879) + Kimi K2.5's KL term (arXiv 2602.02276)")

    clip_ratio_low: float = hp(0.2, "delta_low: A <= 0 tokens with p - mu < -delta get no policy gradient "
                                    "(prime-rl's dppo_mask_low: 0.2)")
    clip_ratio_high: float = hp(0.2, "delta_high: A > 0 tokens with p - mu > delta get no policy gradient "
                                     "(prime-rl's dppo_mask_high: 0.2)")
    kl_tau: float = hp(1e-3, "coefficient of (log pi - log pi_old)^2 on every token (prime-rl's kl_tau: 1e-3)")
    advantage_estimator: str = hp("dr-grpo", "R - group mean (prime-rl's grpo credit)")
    loss_agg_mode: str = hp("token-mean", "the sum over tokens divided by the batch's token count (prime-rl)")
    reward_incorrect: float = hp(0.0, "reward of an incorrect response")

    def validate(self) -> None:
        super().validate()
        if self.kl_tau < 0:
            raise ValueError(f"{self._label()}: kl_tau must be >= 0, got {self.kl_tau}")

    def masked_tokens(self, x: PolicyInputs) -> Tensor:
        return self.outside(x) & x.mask

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return _policy_with_kl(x, self.outside(x), self.kl_tau)


@register("ipo")
class IPO(Algorithm):
    """prime-rl's IPO loss: no policy gradient where |p - mu| > delta, plus kl_tau (log r)^2 on every token.

    Stated unnumbered in prime-rl's loss.py (ipo_loss_fn); no paper is cited there. The mask is the symmetric form
    of DPPO's Binary-TV trust region (Qi et al. 2026, arXiv 2602.04879, Eqs. (12)-(13)).
    """

    paper = ("prime-rl's IPO loss (PrimeIntellect-ai/prime-rl, ipo_loss_fn): a symmetric DPPO-Binary-TV trust region "
             "(Qi et al. 2026, arXiv 2602.04879) + Kimi K2.5's KL term (arXiv 2602.02276)")

    ipo_threshold: float = hp(0.1, "delta: tokens whose probability moved by more than delta (either way) get no "
                                   "policy gradient (prime-rl's ipo_threshold: 0.1)")
    kl_tau: float = hp(1e-3, "coefficient of (log pi - log pi_old)^2 on every token (prime-rl's kl_tau: 1e-3)")
    clip_ratio_low: float = hp(0.1, "diagnostics only: 1 + (p - mu) below 1 - 0.1 counts as clipped")
    clip_ratio_high: float = hp(0.1, "diagnostics only: 1 + (p - mu) above 1 + 0.1 counts as clipped")
    advantage_estimator: str = hp("dr-grpo", "R - group mean (prime-rl's grpo credit)")
    loss_agg_mode: str = hp("token-mean", "the sum over tokens divided by the batch's token count (prime-rl)")

    def validate(self) -> None:
        super().validate()
        if self.ipo_threshold < 0 or self.kl_tau < 0:
            raise ValueError(f"{self._label()}: ipo_threshold and kl_tau must be >= 0, got {self.ipo_threshold} "
                             f"and {self.kl_tau}")

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        return 1.0 + binary_tv(*bounded_logp(x))

    def masked_tokens(self, x: PolicyInputs) -> Tensor:
        return (binary_tv(*bounded_logp(x)).abs() > self.ipo_threshold) & x.mask

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return _policy_with_kl(x, self.masked_tokens(x), self.kl_tau)
