"""Reward functions for the trainer: correctness, format, DAPO's soft overlong punishment, and their sum.

    fn = rewards.get_reward("correctness", correct=1.0, incorrect=-1.0)
    fn(gold, response, num_tokens) -> RewardResult(value, reason)
    fn.batch(golds, responses, num_tokens) -> list[RewardResult]      # one worker-pool round trip per batch

    both = rewards.get_reward("correctness+overlong", overlong={"max_len": 4096, "cache_len": 512})
    both = rewards.combine(rewards.get_reward("correctness"), rewards.get_reward("overlong", max_len=4096))

Each reward is a dataclass whose fields are its parameters (unknown parameters are a ValueError naming the valid
ones). Bad input (empty response, no answer, unparsable gold, a check that timed out) gives the incorrect value
with the reason, never an exception.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

from rewards.cost import BATCH_TIMEOUT_REASON, batch_deadline, check_timeout
from rewards.extract import DEFAULT_PRIORITY, all_boxed, answer_region, check_priority, extract_answer
from rewards.options import Options
from rewards.verify import verify_batch_detailed

__all__ = ["RewardResult", "RewardFn", "Correctness", "FormatReward", "Overlong", "SumReward", "get_reward",
           "reward_names", "register_reward", "combine"]


@dataclass(frozen=True)
class RewardResult:
    """value: the reward (float); reason: why (for correctness the checker's Verdict.reason)."""
    value: float
    reason: str


_REGISTRY: dict[str, type] = {}


def register_reward(name: str):
    """Class decorator registering a RewardFn dataclass under ``name`` (for user plugins)."""
    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"reward {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def reward_names() -> list[str]:
    return sorted(_REGISTRY)


def _check_lengths(golds, responses, num_tokens):
    n = len(responses)
    if golds is not None and len(golds) != n:
        raise ValueError(f"got {len(golds)} golds for {n} responses; pass one gold per response")
    if num_tokens is not None and len(num_tokens) != n:
        raise ValueError(f"got {len(num_tokens)} token counts for {n} responses; pass one per response")


class RewardFn:
    """Base class: subclasses implement ``batch``; ``__call__`` scores one response through it."""
    name: ClassVar[str] = "?"

    def __call__(self, gold, response, num_tokens=None) -> RewardResult:
        return self.batch([gold], [response], None if num_tokens is None else [num_tokens])[0]

    def batch(self, golds, responses, num_tokens=None) -> list[RewardResult]:  # pragma: no cover - abstract
        raise NotImplementedError


@register_reward("correctness")
@dataclass
class Correctness(RewardFn):
    """+correct when the final answer equals the gold (rewards.verify), else incorrect.

    correct / incorrect: CE-GPPO and DAPO use +1/-1; use incorrect=0.0 for 1/0 rewards.
    timeout: seconds per check in the worker pool (finite, > 0, at most rewards.cost.MAX_TIMEOUT_S).
    batch_timeout: seconds one batch may spend in the worker pool; None (default): rewards.cost.batch_deadline,
        10 s + 0.25 s per response. Answers not checked by then are incorrect with the reason
        "timeout: batch deadline", and a warning gives their number, so no batch can stall training for long.
    percent_fraction: 10% also equals 0.1; rounded_gold_decimals: decimal golds are rounded values (a prediction
        that rounds to the gold is right); answer_form: "number" takes only a number written out as an answer
        (benchmarks.answer_options gives arith this); see rewards.options.Options.
    """
    correct: float = 1.0
    incorrect: float = -1.0
    timeout: float = 5.0
    batch_timeout: float | None = None
    percent_fraction: bool = False
    rounded_gold_decimals: bool = False
    answer_form: str = "any"
    extraction: tuple | list | str = DEFAULT_PRIORITY  # answer extraction order (rewards.extract, e.g. reward_params)

    def __post_init__(self):
        self.extraction = check_priority(self.extraction)
        Options(answer_form=self.answer_form)   # ValueError for an unknown form
        self.timeout = check_timeout(self.timeout, "correctness timeout")
        if self.batch_timeout is not None:
            self.batch_timeout = check_timeout(self.batch_timeout, "correctness batch_timeout", cap=86400.0)

    def batch(self, golds, responses, num_tokens=None) -> list[RewardResult]:
        golds, responses = list(golds), list(responses)
        _check_lengths(golds, responses, num_tokens)
        opts = None
        if self.percent_fraction or self.rounded_gold_decimals or self.answer_form != "any":
            opts = Options(percent_fraction=self.percent_fraction, rounded_gold_decimals=self.rounded_gold_decimals,
                           answer_form=self.answer_form)
        deadline = self.batch_timeout if self.batch_timeout is not None else batch_deadline(len(responses))
        verdicts = verify_batch_detailed(golds, responses, self.timeout, options=opts, priority=self.extraction,
                                         total_timeout=deadline)
        cut = sum(v.reason == BATCH_TIMEOUT_REASON for v in verdicts)
        if cut:
            warnings.warn(f"correctness reward: {cut} of {len(verdicts)} answers were not checked within the batch "
                          f"deadline of {deadline:.0f} s and count as incorrect (reason '{BATCH_TIMEOUT_REASON}'); "
                          f"raise reward_params.batch_timeout if honest answers are being cut", stacklevel=2)
        return [RewardResult(self.correct if v.correct else self.incorrect, v.reason) for v in verdicts]


@register_reward("format")
@dataclass
class FormatReward(RewardFn):
    """ok when the response states exactly one final answer in \\boxed{} (or, with boxed_only=False, any final
    answer marker of rewards.extract), else bad. Repeating the same boxed answer is fine; different ones are not."""
    ok: float = 0.0
    bad: float = -1.0
    boxed_only: bool = True

    def batch(self, golds, responses, num_tokens=None) -> list[RewardResult]:
        responses = list(responses)
        _check_lengths(None if golds is None else list(golds), responses, num_tokens)
        out = []
        for r in responses:
            if not isinstance(r, str) or not r.strip():
                out.append(RewardResult(self.bad, "empty_response"))
                continue
            boxes = {" ".join(b.split()) for b in all_boxed(answer_region(r)) if b.strip()}
            if len(boxes) == 1:
                out.append(RewardResult(self.ok, "one_boxed_answer"))
            elif len(boxes) > 1:
                out.append(RewardResult(self.bad, "multiple_different_answers"))
            elif not self.boxed_only and extract_answer(r, ("answer_tag", "final_answer", "answer_is",
                                                               "answer_colon", "hashes")) is not None:
                out.append(RewardResult(self.ok, "answer_marker"))
            else:
                out.append(RewardResult(self.bad, "no_boxed_answer"))
        return out


@register_reward("overlong")
@dataclass
class Overlong(RewardFn):
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), added to the correctness reward:

        0                                   if L <= max_len - cache_len
        ((max_len - cache_len) - L) / cache_len * penalty   if max_len - cache_len < L <= max_len
        -penalty                            if L > max_len

    L is the response length in tokens. DAPO's defaults: max_len 20480 (16384 expected + 4096 cache), cache 4096.
    """
    max_len: int = 20480
    cache_len: int = 4096
    penalty: float = 1.0

    def __post_init__(self):
        if self.max_len <= 0 or self.cache_len < 0 or self.cache_len > self.max_len:
            raise ValueError(f"overlong needs 0 <= cache_len <= max_len and max_len > 0, got max_len={self.max_len}"
                             f", cache_len={self.cache_len}")

    def value(self, length: int) -> float:
        start = self.max_len - self.cache_len
        if length <= start:
            return 0.0
        if length <= self.max_len:
            return (start - length) / self.cache_len * self.penalty
        return -self.penalty

    def batch(self, golds, responses, num_tokens=None) -> list[RewardResult]:
        responses = list(responses)
        if num_tokens is None:
            raise ValueError("the overlong reward needs num_tokens (the token count of each response)")
        num_tokens = list(num_tokens)
        _check_lengths(None, responses, num_tokens)
        out = []
        for n in num_tokens:
            v = self.value(int(n))
            reason = "within_limit" if v == 0 else ("over_max_len" if n > self.max_len else "in_cache_zone")
            out.append(RewardResult(v, reason))
        return out


@dataclass
class SumReward(RewardFn):
    """The sum of several rewards; the reason lists each part as name=reason joined by ';'."""
    parts: list = field(default_factory=list)
    name: ClassVar[str] = "sum"

    def batch(self, golds, responses, num_tokens=None) -> list[RewardResult]:
        golds, responses = list(golds), list(responses)
        results = [p.batch(golds, responses, num_tokens) for p in self.parts]
        out = []
        for i in range(len(responses)):
            value = sum(r[i].value for r in results)
            reason = ";".join(f"{p.name}={r[i].reason}" for p, r in zip(self.parts, results))
            out.append(RewardResult(value, reason))
        return out


def combine(*fns: RewardFn) -> SumReward:
    """A reward that is the sum of the given rewards."""
    for f in fns:
        if not isinstance(f, RewardFn):
            raise ValueError(f"combine takes RewardFn objects (from rewards.get_reward), got {type(f).__name__}")
    return SumReward(parts=list(fns))


def _make(name: str, params: dict) -> RewardFn:
    if name not in _REGISTRY:
        raise ValueError(f"unknown reward {name!r}; valid rewards are {reward_names()} (join names with '+' "
                         f"to sum them, e.g. 'correctness+overlong')")
    cls = _REGISTRY[name]
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(params) - valid
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for reward {name!r}; valid: {sorted(valid)}")
    return cls(**params)


def get_reward(name: str, **params) -> RewardFn:
    """A reward function by name. ``"a+b"`` sums rewards; then params are per part: ``overlong={"max_len": 4096}``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"reward name must be a non-empty string, got {name!r}; valid: {reward_names()}")
    names = [n.strip() for n in name.split("+")]
    if len(names) == 1:
        return _make(names[0], params)
    unknown = set(params) - set(names)
    if unknown:
        raise ValueError(f"for a sum of rewards pass parameters per part ({names}), got {sorted(unknown)}")
    for n, p in params.items():
        if not isinstance(p, dict):
            raise ValueError(f"parameters of {n!r} must be a dict, got {type(p).__name__}")
    return SumReward(parts=[_make(n, params.get(n, {})) for n in names])
