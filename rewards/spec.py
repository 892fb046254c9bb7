"""The training reward built from a spec: what the trainer scores each response with.

    reward = rewards.training_reward("correctness+format", params={}, correct=1.0, incorrect=-1.0,
                                     overlong={"max_len": 20480, "cache_len": 4096, "penalty": 1.0})
    scored = reward.score(golds, responses, num_tokens)       # [Scored(value, correct, reason), ...]

The spec names reward functions joined by ``+`` (``rewards.reward_names()``); their values are summed. ``params``
holds the keyword arguments of the one function, or, for a sum, one mapping per part name. The correctness part
takes the objective's reward values (``correct`` / ``incorrect``) unless ``params`` sets them.

Two rules hold for every training reward, also for values computed elsewhere (``shape``):

* an empty response (only whitespace) is wrong, whatever the reward says: its value is at most ``incorrect``;
* with ``overlong`` (DAPO's soft overlong punishment, Yu et al. 2025 eq. 13, for objectives that ask for it and
  whose spec does not already name ``overlong``), the punishment is added to the value.

``correct`` of a scored response (for ``accuracy``): the correctness part's verdict when the spec has one (value ==
its correct value), else value > 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rewards.functions import RewardFn, get_reward

__all__ = ["Scored", "TrainingReward", "training_reward"]


@dataclass(frozen=True)
class Scored:
    """One response's reward: value, whether it counts as correct (for accuracy) and why (the checker's reason)."""
    value: float
    correct: bool
    reason: str = ""


@dataclass
class TrainingReward:
    """Reward parts summed, the empty-response rule and the optional overlong punishment (module notes)."""
    parts: list[RewardFn]
    incorrect: float
    overlong: RewardFn | None = None

    def warmup(self) -> None:
        """Start the checker workers now (only when a part checks answers)."""
        if self.parts:
            from rewards.pool import get_pool

            get_pool().warmup()

    def score(self, golds: Sequence[str], responses: Sequence[str], num_tokens: Sequence[int]) -> list[Scored]:
        """The value of each response under the spec, then `shape`."""
        if not self.parts:
            raise ValueError("this training reward was built without reward functions (spec None); score values "
                             "computed elsewhere with shape()")
        values = [0.0] * len(responses)
        correct: list[bool | None] = [None] * len(responses)
        reasons = [""] * len(responses)
        for part in self.parts:
            for i, r in enumerate(part.batch(golds, responses, num_tokens)):
                values[i] += float(r.value)
                if getattr(part, "name", "") == "correctness":
                    correct[i] = float(r.value) == float(part.correct)
                    reasons[i] = r.reason
        scored = [Scored(v, bool(c) if c is not None else v > 0, why) for v, c, why in zip(values, correct, reasons)]
        return self.shape(golds, responses, num_tokens, scored)

    def shape(self, golds: Sequence[str], responses: Sequence[str], num_tokens: Sequence[int],
              scored: Sequence[Scored]) -> list[Scored]:
        """The rules every training reward obeys (module notes), applied to already computed scores."""
        out = list(scored)
        for i, text in enumerate(responses):
            if not text.strip():
                out[i] = Scored(min(out[i].value, self.incorrect), False, "empty_response")
        if self.overlong is not None:
            for i, p in enumerate(self.overlong.batch(golds, responses, num_tokens)):
                out[i] = Scored(out[i].value + float(p.value), out[i].correct, out[i].reason)
        return out


def training_reward(spec: str | None, params: dict | None = None, *, correct: float = 1.0, incorrect: float = 0.0,
                    overlong: dict | None = None, answer_options: dict | None = None) -> TrainingReward:
    """Build the training reward of ``spec`` (module notes). ``spec`` None: no reward functions, for values computed
    by the caller (``TrainingReward.shape`` still applies the rules). ``overlong``: ``{max_len, cache_len, penalty}``
    of DAPO's soft overlong punishment, or None. ``answer_options``: the task's answer-checking options (fields of
    the correctness reward such as ``answer_form``), used where the params do not set them."""
    names = [n.strip() for n in spec.split("+")] if spec is not None else []
    params = dict(params or {})
    per_part = len(names) > 1
    if per_part and set(params) - set(names):
        raise ValueError(f"reward_params for the sum {spec!r} are per part ({names}); got "
                         f"{sorted(set(params) - set(names))}")
    parts = []
    for name in names:
        p = dict(params.get(name) or {}) if per_part else dict(params)
        if name == "correctness":
            p.setdefault("correct", float(correct))
            p.setdefault("incorrect", float(incorrect))
            for key, value in (answer_options or {}).items():
                p.setdefault(key, value)
        parts.append(get_reward(name, **p))
    shaping = None
    if overlong is not None and "overlong" not in names:
        shaping = get_reward("overlong", max_len=int(overlong["max_len"]), cache_len=int(overlong["cache_len"]),
                             penalty=float(overlong["penalty"]))
    return TrainingReward(parts, float(incorrect), shaping)
