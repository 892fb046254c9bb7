"""DPPO: PPO's policy gradient, masked by a trust region on the policy divergence instead of the ratio.

Qi et al. 2026, "Rethinking the Trust Region in LLM Reinforcement Learning" (arXiv 2602.04879), its Binary
approximations. With p = pi(y_t) the current and mu = pi_old(y_t) the behaviour probability of the
sampled token, the divergence between the two-outcome distributions {y_t, not y_t}:

    dppo-tv:  D_t = p - mu                                                (signed binary total variation)
    dppo-kl:  D_t = mu log(mu / p) + (1 - mu) log((1 - mu) / (1 - p))     (binary KL(mu || p))
    M_t = 0 when the update leaves the trust region in the direction the advantage pushes:
          A > 0 and p > mu and D_t > delta_high,   A <= 0 and p < mu and D_t > delta_low   (TV: |p - mu| > delta)
    loss_t = -M_t r_t A_t,   the masked tokens keep their value with no gradient
    dloss_t/dlogp_t = -r_t A_t M_t

Unlike the ratio clip, this bounds the change of probability mass: a rare token may grow from 1e-5 to 1e-3 (ratio
100), a likely one may not drop from 0.99 to 0.8 (ratio 0.81). Defaults from the authors' recipe (sail-sg/Stable-RL,
verl examples/dppo_trainer/run_qwen30b_dppo.sh): delta = 0.15 (TV) and 0.05 (KL) both sides (the paper's Appendix
C.1 states the same), Dr. GRPO advantages (no std, also the paper's) with seq-mean-token-sum-norm, DAPO's rewards
(+1 / -1), no dual clip, no KL. The paper anchors the trust region to the rollout engine's probabilities mu and
reports that a recomputed anchor destabilises training (its section 5.2); the authors' code does so with
`bypass_mode`; here the divergence is to old_logp, the behaviour policy the trainer passes: TrainConfig
old_logprobs='rollout' makes that the engine's log-probs, the paper's anchor. Region
diagnostics use 1 + sign(p - mu) D_t, so `clipfrac/low_neg` and `clipfrac/high_pos` count the masked tokens.

Equations (Qi et al. 2026, arXiv v3, the ICML 2026 version): the DPPO objective and its mask M_t are Eq. (12), the
Binary TV |mu - p| Eq. (13) (here signed; the mask conditions use its sign as r > 1 or r < 1) and the Binary KL
Eq. (14); the Top-K forms (not implemented) are Eqs. (15)-(16) and PPO's clipped objective Eq. (10).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.base import LOG_RATIO_CLAMP, Algorithm, PolicyInputs, hp
from algorithms.registry import register


def binary_tv(logp: Tensor, old_logp: Tensor) -> Tensor:
    """p - mu, signed (no gradient)."""
    return torch.exp(logp.detach()) - torch.exp(old_logp.detach())


def binary_kl(logp: Tensor, old_logp: Tensor) -> Tensor:
    """KL(Bernoulli(mu) || Bernoulli(p)) per token, >= 0 (no gradient); probabilities clamped below 1 so that
    log(1 - p) stays finite."""
    logp, old_logp = logp.detach(), old_logp.detach()
    tiny = torch.finfo(logp.dtype).tiny
    p, mu = torch.exp(logp), torch.exp(old_logp)
    log_not_p = torch.log((1.0 - p).clamp(min=tiny))
    log_not_mu = torch.log((1.0 - mu).clamp(min=tiny))
    return (mu * (old_logp - logp) + (1.0 - mu) * (log_not_mu - log_not_p)).clamp(min=0.0)


@dataclass
class _DPPO(Algorithm):
    """Shared by dppo-tv and dppo-kl: clip_ratio_low / clip_ratio_high are the divergence bounds delta."""

    advantage_estimator: str = hp("dr-grpo", "R - group mean, no std (the DPPO authors' recipe)")
    loss_agg_mode: str = hp("seq-mean-token-sum-norm", "Dr. GRPO's constant-length normalisation (DPPO recipe)")
    reward_incorrect: float = hp(-1.0, "the DPPO recipe's DAPO reward: +1 correct, -1 incorrect")

    def signed_divergence(self, x: PolicyInputs) -> Tensor:
        raise NotImplementedError

    def outside(self, x: PolicyInputs) -> Tensor:
        """Bool [B, T]: tokens outside the trust region in the direction their advantage pushes."""
        d = self.signed_divergence(x)
        return ((x.advantages > 0) & (d > self.clip_ratio_high)) | ((x.advantages <= 0) & (d < -self.clip_ratio_low))

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        return 1.0 + self.signed_divergence(x)

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        loss = -x.advantages * x.ratio
        return torch.where(self.outside(x), loss.detach(), loss)


def bounded_logp(x: PolicyInputs) -> tuple[Tensor, Tensor]:
    """logp and old_logp with |logp - old_logp| <= the ratio clamp, as everywhere else in the zoo."""
    return x.old_logp + x.log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP), x.old_logp


@register("dppo-tv")
class DPPOTV(_DPPO):
    """DPPO-Binary-TV (Qi et al. 2026): mask tokens whose probability moved more than delta, by advantage sign.

    The objective and mask are the paper's Eq. (12), the Binary TV its Eq. (13) (arXiv v3; module notes).
    """

    paper = 'Qi et al. 2026, "Rethinking the Trust Region in LLM Reinforcement Learning" (arXiv 2602.04879)'

    clip_ratio_low: float = hp(0.15, "delta: A <= 0 tokens with p - mu < -delta get no gradient (DPPO-TV: 0.15)")
    clip_ratio_high: float = hp(0.15, "delta: A > 0 tokens with p - mu > delta get no gradient (DPPO-TV: 0.15)")

    def signed_divergence(self, x: PolicyInputs) -> Tensor:
        return binary_tv(*bounded_logp(x))


@register("dppo-kl")
class DPPOKL(_DPPO):
    """DPPO-Binary-KL (Qi et al. 2026): mask tokens whose binary KL to the behaviour policy exceeds delta.

    The objective and mask are the paper's Eq. (12), the Binary KL its Eq. (14) (arXiv v3; module notes).
    """

    paper = 'Qi et al. 2026, "Rethinking the Trust Region in LLM Reinforcement Learning" (arXiv 2602.04879)'

    clip_ratio_low: float = hp(0.05, "delta: A <= 0 tokens with p < mu and binary KL > delta get no gradient "
                                     "(DPPO-KL: 0.05)")
    clip_ratio_high: float = hp(0.05, "delta: A > 0 tokens with p > mu and binary KL > delta get no gradient "
                                      "(DPPO-KL: 0.05)")

    def signed_divergence(self, x: PolicyInputs) -> Tensor:
        logp, old_logp = bounded_logp(x)
        return torch.sign(logp.detach() - old_logp) * binary_kl(logp, old_logp)
