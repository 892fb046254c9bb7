"""Where a step's time goes: one timer for the named phases of a step, logged as ``time/<phase>_s``.

A step's wall time, ``time/step_s``, runs from the start of its rollouts to the end of its checkpoint (when one is
written), just before its record is logged. Inside it every piece of work belongs to one phase, timed by one
:class:`PhaseTimer` with ``with timer.phase("rollout"): ...`` (the way verl's ``marked_timer`` names its sections).
Phases do not nest: a ``phase`` entered inside another is charged to the inner one only (the outer one is paused),
so the phases of a step add up to its wall time, less the few statements between them.

The step's phases and their keys are named in `harness.metric_keys` (``TIME_PHASES``, the ``time/{phase}_s``
family); the trainer's non-step phases (``RUN_PHASES``, kept in run.json) are named here. The timer is shared by the
trainer and `compare` (whose own phases are in `harness.compare.time_report`). No torch import.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

from harness import metric_keys as mk

__all__ = ["PHASES", "RUN_PHASES", "STEP_KEY", "PhaseTimer", "phase_keys", "time_key"]

PHASES = mk.TIME_PHASES
"""The phases of a training step, in the order of the step."""

STEP_KEY = mk.STEP_TIME
"""The step's wall time."""

RUN_PHASES = (
    "load",           # loading the policy (and the reference model and critic) from disk
    "engine",         # building the rollout engine (vLLM's start-up), or pushing the weights into a shared one
    "data",           # the training rows, the reward (its checker pool's warm-up), the optimiser
    "resume",         # reading the newest checkpoint back
    "probe_set",      # sampling the entropy probe's responses from the initial model
    "probe",          # entropy/probe of the initial model (the step-0 record)
    "steps",          # the training steps (their own phases are in metrics.jsonl)
    "final",          # final/: the trained model in save_pretrained form and its model card
)
"""What a run spends outside its steps, kept in run.json as ``timing``."""


def time_key(phase: str) -> str:
    """The metrics key of a phase: ``time/<phase>_s``."""
    return mk.key(mk.TIME, phase=phase)


def phase_keys() -> list[str]:
    """Every phase key, in the order of the step."""
    return [time_key(p) for p in PHASES]


class PhaseTimer:
    """Seconds per named phase (module notes). ``with timer.phase(name):`` adds the block's wall time to ``name``
    (one of ``phases``); a phase entered inside another pauses the outer one. ``record()`` gives
    ``{time/<phase>_s: seconds}`` for every phase (0.0 for a phase with no work this step) and ``time/step_s``, the
    wall time since the timer was made; ``seconds()`` gives ``{<phase>_s: seconds}`` and ``wall_s``."""

    def __init__(self, phases: tuple[str, ...] = PHASES):
        self.phases = phases
        self.start = time.perf_counter()
        self.totals: dict[str, float] = {}
        self._stack: list[list] = []   # [name, time it was (re)started]

    @contextmanager
    def phase(self, name: str):
        if name not in self.phases:
            raise ValueError(f"unknown phase {name!r}; phases: {', '.join(self.phases)}")
        now = time.perf_counter()
        if self._stack:   # pause the enclosing phase
            outer = self._stack[-1]
            self.totals[outer[0]] = self.totals.get(outer[0], 0.0) + now - outer[1]
        self._stack.append([name, now])
        try:
            yield
        finally:
            now = time.perf_counter()
            _, started = self._stack.pop()
            self.totals[name] = self.totals.get(name, 0.0) + now - started
            if self._stack:
                self._stack[-1][1] = now

    def elapsed(self) -> float:
        """Seconds since the timer was made."""
        return time.perf_counter() - self.start

    def record(self) -> dict[str, float]:
        """``{time/<phase>_s: seconds}`` for every phase and ``time/step_s`` (module notes)."""
        out = {time_key(p): self.totals.get(p, 0.0) for p in self.phases}
        out[STEP_KEY] = self.elapsed()
        return out

    def seconds(self) -> dict[str, float]:
        """``{<phase>_s: seconds}`` of the phases that ran, and ``wall_s``, the time since the timer was made."""
        return {**{f"{p}_s": self.totals[p] for p in self.phases if p in self.totals}, "wall_s": self.elapsed()}
