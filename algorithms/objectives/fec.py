"""Flexible entropy control: PPO's clip with bounds that depend on the token's probability and move over training.

Chen et al. 2026, "Flexible Entropy Control in RLVR with Gradient-Preserving Perspective" (arXiv 2602.09782), the
follow-up of CE-GPPO on which clipped tokens raise or lower the entropy. With p = pi_theta(y_t) (detached) and
eps_std the standard clip range, per token:

    upper bound   1 + E+(p),   E+ = w_high * H(p) + (1 - w_high) * eps_high,   H(p) = a_high * p + b_high
    lower bound   1 - E-(p),   E- = w_low  * M(p) + (1 - w_low)  * eps_low,    M(p) = a_low  * p + b_low
    loss_t = max(-r A, -clip(r, 1 - E-(p), 1 + E+(p)) A)       dloss_t/dlogp_t = -r A unclipped, 0 clipped

With negative slopes, a rare token gets a wider bound than a likely one. On A > 0 tokens that lets unlikely good
tokens grow (entropy up) while holding back likely ones (which sharpen the distribution); on A < 0 tokens a wider
lower bound for unlikely bad tokens lowers the entropy. The weights w_high, w_low blend the dynamic bounds with the
standard ones; `schedule` moves them over training (k = step, T = total steps, lambda = 1 - 2k/T):

    static   w_high, w_low as set
    id       increase-then-decrease: k <= T/2: w_high = lambda, w_low = 0;   k > T/2: w_high = 0, w_low = 1 + lambda
    did      decrease-increase-decrease: k <= T/2: w_high = 1 - lambda, w_low = 0;  k > T/2: w_high = 1,
             w_low = 1 + lambda
    od       oscillatory decay on the measured entropy H: boost (w_high = 1, w_low = 0) once H <= 0.2 H_init,
             suppress (w_high = 0, w_low = 1) once H > 0.2 H_init + 0.8 H_init (1 - k/T); start in suppress

The trainer calls `start_step` before each step (Algorithm.start_step). Region diagnostics map r onto the scalar clip
range (r above 1 + E+ lands above 1 + eps_high, below 1 - E- below 1 - eps_low), so `clipfrac/*` counts the tokens
clipped by the dynamic bounds.
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.base import Algorithm, PolicyInputs, hp
from algorithms.registry import register

SCHEDULES = ("static", "id", "did", "od")


def schedule_weights(schedule: str, step: int, total_steps: int) -> tuple[float, float]:
    """(w_high, w_low) of the id and did schedules at step ``step`` of ``total_steps``."""
    lam = 1.0 - 2.0 * step / max(total_steps, 1)
    if schedule == "id":
        return (lam, 0.0) if lam >= 0 else (0.0, 1.0 + lam)
    if schedule == "did":
        return (1.0 - lam, 0.0) if lam >= 0 else (1.0, 1.0 + lam)
    raise ValueError(f"schedule_weights covers id and did, got {schedule!r}")


@register("fec")
class FlexibleEntropyControl(Algorithm):
    """Flexible entropy control (Chen et al. 2026): clip bounds linear in the token's probability, scheduled.

    Equation number not confirmed; what is and is not confirmed of its defaults: docs/algorithms.md.
    """

    paper = ('Chen et al. 2026, "Flexible Entropy Control in RLVR with Gradient-Preserving Perspective" '
             '(arXiv 2602.09782)')

    high_slope: float = hp(-0.25, "a_high of H(p) = a_high p + b_high, the dynamic upper clip range (value "
                                  "not confirmed: docs/algorithms.md)")
    high_intercept: float = hp(0.5, "b_high of H(p) (value not confirmed: docs/algorithms.md)")
    low_slope: float = hp(-0.13, "a_low of M(p) = a_low p + b_low, the dynamic lower clip range (value not "
                                 "confirmed: docs/algorithms.md)")
    low_intercept: float = hp(0.3, "b_low of M(p) (value not confirmed: docs/algorithms.md)")
    schedule: str = hp("id", "static | id (increase-then-decrease, the paper's best) | did | od: how w_high and "
                             "w_low move over training")
    weight_high: float = hp(1.0, "w_high of the static schedule: 1 = H(p), 0 = the standard eps_high")
    weight_low: float = hp(0.0, "w_low of the static schedule: 1 = M(p), 0 = the standard eps_low")
    od_floor: float = hp(0.2, "od: boost once the entropy falls to od_floor * the first step's entropy (0.2)")
    advantage_estimator: str = hp("grpo", "group-normalised outcome advantages (GRPO)")
    loss_agg_mode: str = hp("token-mean", "token-level aggregation")

    def __post_init__(self):
        super().__post_init__()
        self._od_boost, self._entropy_init = False, None
        self._weights = self._scheduled(0, 1, None)

    def validate(self) -> None:
        super().validate()
        if self.schedule not in SCHEDULES:
            raise ValueError(f"{self._label()}: unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if not (0.0 <= self.weight_high <= 1.0 and 0.0 <= self.weight_low <= 1.0 and 0.0 < self.od_floor < 1.0):
            raise ValueError(f"{self._label()}: need weight_high and weight_low in [0, 1] and od_floor in (0, 1), "
                             f"got {self.weight_high}, {self.weight_low}, {self.od_floor}")

    # ----------------------------------------------------------------------------------------- the schedule

    def _scheduled(self, step: int, total_steps: int, entropy: float | None) -> tuple[float, float]:
        if self.schedule == "static":
            return self.weight_high, self.weight_low
        if self.schedule in ("id", "did"):
            return schedule_weights(self.schedule, step, total_steps)
        return (1.0, 0.0) if self._od_boost else (0.0, 1.0)

    def start_step(self, step: int, total_steps: int, entropy: float | None) -> None:
        if self.schedule == "od" and entropy is not None:
            if self._entropy_init is None:
                self._entropy_init = entropy
            low = self.od_floor * self._entropy_init
            high = low + (self._entropy_init - low) * (1.0 - step / max(total_steps, 1))
            if entropy <= low:
                self._od_boost = True
            elif entropy > high:
                self._od_boost = False
        self._weights = self._scheduled(step, total_steps, entropy)

    @property
    def follows_schedule(self) -> bool:
        return self.schedule != "static"

    def schedule_state(self) -> dict:
        return {"od_boost": self._od_boost, "entropy_init": self._entropy_init}

    def load_schedule_state(self, state: dict) -> None:
        self._od_boost = bool(state.get("od_boost", False))
        self._entropy_init = state.get("entropy_init")

    # ----------------------------------------------------------------------------------------- the loss

    def bounds(self, x: PolicyInputs) -> tuple[Tensor, Tensor]:
        """(E-, E+) per token [B, T]: the lower and upper clip ranges at the token's current probability."""
        w_high, w_low = self._weights
        p = torch.exp(x.logp.detach())
        e_high = w_high * (self.high_slope * p + self.high_intercept) + (1.0 - w_high) * self.clip_ratio_high
        e_low = w_low * (self.low_slope * p + self.low_intercept) + (1.0 - w_low) * self.clip_ratio_low
        return e_low.clamp(0.0, 1.0), e_high.clamp(min=0.0)

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        e_low, e_high = self.bounds(x)
        r = x.ratio.detach()
        tiny = torch.finfo(r.dtype).tiny
        above = 1.0 + self.clip_ratio_high * (r - 1.0) / e_high.clamp(min=tiny)
        below = 1.0 - self.clip_ratio_low * (1.0 - r) / e_low.clamp(min=tiny)
        return torch.where(r >= 1.0, above, below)

    def objective_metrics(self, x: PolicyInputs) -> dict[str, float]:
        with torch.no_grad():
            e_low, e_high = self.bounds(x)
            n = x.mask.sum().clamp(min=1)
            return {"fec/weight_high": float(self._weights[0]), "fec/weight_low": float(self._weights[1]),
                    "fec/eps_high_mean": float(torch.where(x.mask, e_high, 0.0).sum() / n),
                    "fec/eps_low_mean": float(torch.where(x.mask, e_low, 0.0).sum() / n)}

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        e_low, e_high = self.bounds(x)
        clipped = torch.minimum(torch.maximum(x.ratio, 1.0 - e_low), 1.0 + e_high)
        return torch.maximum(-x.advantages * x.ratio, -x.advantages * clipped)
