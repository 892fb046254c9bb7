"""An adaptive entropy coefficient that steers the policy's entropy towards a target (Skywork-OR1).

He et al. 2025, "Skywork Open Reasoner 1 Technical Report" (arXiv 2505.22312), adaptive entropy control: with e_k
the mean token entropy of the responses at step k and a target entropy e*,

    alpha_{k+1} = clip(alpha_k + delta, lo, hi)   if e_k < e*
                  clip(alpha_k - delta, lo, hi)   otherwise
    c_{k+1}     = alpha_{k+1} * 1[e_k < e*]        the entropy bonus is on only while the entropy is below target

and the loss of step k+1 has the term -c_{k+1} * aggregate(entropy) (an Algorithm's `entropy_coef`). Defaults from
the authors' scripts (SkyworkAI/Skywork-OR1, or1_scripts/train/*.sh and verl/trainer/ppo/core_algos.py
EntController): e* = 0.2, delta = 1e-4, alpha in [0, 0.005], alpha_0 = 0. The rule above, with its clip, is the
authors' code, where it is stated unnumbered.

The report (v2, section 3.2.5) numbers its equations by section: the rule is
its Eq. (3.2), alpha_k = c_k 1[e_k <= e*], c_{k+1} = c_k + delta if e_k < e*, c_k - delta if e_k > e*, c_0 = 0 (the
report's c is the accumulator and alpha the coefficient used, the reverse of the names here), with e_k the actor's
entropy at step k estimated from the rollout buffer; the loss with the term alpha_k H is its Eq. (3.1). It differs
from the code in three ways: no clip to [lo, hi]; delta = 0.005 (its Skywork-OR1-Math-7B run; the scripts use 1e-4);
and step k uses its own e_k with c_k, where here step k+1 uses e_k with the updated accumulator (at e_k = e* the
report keeps c and the bonus on, here the accumulator steps down and the bonus is off).

    ctrl = AdaptiveEntropyCoefficient()
    algo.entropy_coef = ctrl.coef          # before each step
    ...                                    # the step; e = mean entropy of its response tokens
    ctrl.update(e)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class AdaptiveEntropyCoefficient:
    """Skywork-OR1's controller; `coef` is the entropy coefficient to use, `update(entropy)` advances one step."""

    target_entropy: float = 0.2
    delta: float = 1e-4
    min_coef: float = 0.0
    max_coef: float = 0.005
    value: float = 0.0            # alpha_k
    enabled: bool = True          # 1[e_{k-1} < e*]; on before the first measurement, as in the authors' code

    def __post_init__(self):
        if not (math.isfinite(self.target_entropy) and self.target_entropy >= 0):
            raise ValueError(f"target_entropy must be a finite number >= 0, got {self.target_entropy}")
        if self.delta < 0 or not 0 <= self.min_coef <= self.max_coef:
            raise ValueError(f"need delta >= 0 and 0 <= min_coef <= max_coef, got delta={self.delta}, "
                             f"min_coef={self.min_coef}, max_coef={self.max_coef}")
        self.value = min(max(self.value, self.min_coef), self.max_coef)

    @property
    def coef(self) -> float:
        """c_k = alpha_k * 1[e_{k-1} < e*]: the coefficient of the entropy bonus for the coming step."""
        return self.value if self.enabled else 0.0

    def update(self, entropy: float) -> float:
        """One step: move alpha by delta towards raising (entropy below target) or lowering it; returns coef."""
        entropy = float(entropy)
        if not math.isfinite(entropy):
            raise ValueError(f"the measured entropy must be finite, got {entropy}")
        below = entropy < self.target_entropy
        step = self.delta if below else -self.delta
        self.value = min(max(self.value + step, self.min_coef), self.max_coef)
        self.enabled = below
        return self.coef

    def state_dict(self) -> dict:
        """Everything needed to resume (for the trainer's checkpoint)."""
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict) -> AdaptiveEntropyCoefficient:
        return cls(**state)
