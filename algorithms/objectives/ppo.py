"""PPO: clipped surrogate with dual clip, GAE from a learned critic with a clipped value loss, KL in the reward.

Schulman et al. 2017 (PPO), Ye et al. 2020 (dual clip), Schulman et al. 2016 (GAE), Ouyang et al. 2022
(InstructGPT: the per-token KL penalty in the reward, beta = 0.02, gamma = 1, lambda = 0.95).

    loss_t = max(-r A, -clip(r, 1 - eps, 1 + eps) A);   for A < 0: min(loss_t, -c A), c = 3
    dloss_t/dlogp_t = -r A on unclipped tokens (and r <= c when A < 0), 0 elsewhere
    value loss_t = 1/2 max((V - R)^2, (V_old + clip(V - V_old, -vc, vc) - R)^2)

Equations: the clipped surrogate is L^CLIP (Schulman et al. 2017, Eq. (7)); the unclipped r A is L^CPI, its Eq. (6);
the advantages are GAE (Schulman et al. 2016, Eq. (16)). The dual clip is Ye et al. 2020's Eq. (5) and the reward
with the KL penalty is InstructGPT's RL objective, Ouyang et al. 2022's Eq. (2) (written there per response,
beta log(pi_RL(y|x) / pi_SFT(y|x)), here summed per token). The value clip is implementation practice, not an
equation of the PPO paper.
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.aggregation import aggregate
from algorithms.base import Algorithm, PolicyInputs, _check_tensors, hp
from algorithms.registry import register
from algorithms.surrogates import clipped_surrogate


@register("ppo")
class PPO(Algorithm):
    """PPO (Schulman et al. 2017): clipped surrogate, dual clip, GAE critic, KL penalty in the reward."""

    paper = ('Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv 1707.06347);'
             ' dual clip: Ye et al. 2020 (arXiv 1912.09729)')

    dual_clip_c: float | None = hp(3.0, "dual clip: the loss of an A<0 token is capped at -c*A (Ye et al. 2020); "
                                        "None turns it off")
    advantage_estimator: str = hp("gae", "GAE from the critic's values (Schulman et al. 2016)")
    lam: float = hp(0.95, "GAE lambda (InstructGPT, Ouyang et al. 2022)")
    needs_critic: bool = hp(True, "PPO trains a value model")
    value_clip: float = hp(0.2, "value clip range: V is kept within +-value_clip of V_old in the clipped term")
    vf_coef: float = hp(0.5, "weight of the value loss when loss() is given values (shared optimiser step)")
    kl_coef: float = hp(0.02, "beta of the per-token KL reward penalty (InstructGPT: 0.02)")
    kl_estimator: str = hp("k1", "the KL penalty in the reward is the log-ratio log pi_old - log pi_ref (k1)")
    kl_in_reward: bool = hp(True, "KL to the reference policy is a per-token reward penalty, not a loss term")

    def validate(self) -> None:
        super().validate()
        if self.value_clip < 0 or self.vf_coef < 0:
            raise ValueError(f"{self._label()}: value_clip and vf_coef must be >= 0, got {self.value_clip} and "
                             f"{self.vf_coef}")

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        return clipped_surrogate(x.ratio, x.advantages, self.clip_ratio_low, self.clip_ratio_high, self.dual_clip_c)

    def value_loss(self, *, values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
                   global_tokens=None, global_seqs=None) -> tuple[Tensor, dict[str, float]]:
        """vf_coef * aggregate(1/2 max((V - R)^2, (V_clipped - R)^2)) and {"loss/value", "value/clipfrac"}."""
        if values is None or old_values is None or returns is None:
            raise ValueError(f"{self._label()}: the value loss needs values, old_values and returns, all [B, T]")
        _check_tensors(mask, values=values, old_values=old_values, returns=returns)
        keep = mask.bool()
        zero = torch.zeros((), dtype=values.dtype, device=values.device)
        values = torch.where(keep, values, zero)
        old_values = torch.where(keep, old_values.detach(), zero)
        returns = torch.where(keep, returns.detach(), zero)
        clipped = old_values + (values - old_values).clamp(-self.value_clip, self.value_clip)
        unclipped_sq, clipped_sq = (values - returns).square(), (clipped - returns).square()
        per_token = 0.5 * torch.maximum(unclipped_sq, clipped_sq)
        loss = aggregate(per_token, keep, self.loss_agg_mode, global_tokens=global_tokens, global_seqs=global_seqs,
                         norm_length=self.loss_norm_length)
        n = keep.sum().clamp(min=1)
        clipfrac = (keep & (clipped_sq > unclipped_sq)).sum() / n
        return self.vf_coef * loss, {"loss/value": float(loss.detach()), "value/clipfrac": float(clipfrac)}
