"""Where a comparison's time goes: `rlvr-zoo compare`'s own phases and OUT/timing.json.

The comparison times what it does outside its runs with a `harness.timing.PhaseTimer` over ``COMPARE_PHASES``; each
run it trains has its own non-step phases (run.json ``timing``) and its steps' phases (metrics.jsonl ``time/*``).
`write_timing` puts them together: ``wall_s``, ``phases`` (its own), ``runs`` (`run_breakdown` of each run it
trained) and ``totals`` (every phase over the whole invocation, largest first, with ``unaccounted_s``).
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

from harness import run_layout
from harness.io import write_json
from harness.timing import PHASES, STEP_KEY, time_key

__all__ = ["COMPARE_PHASES", "comparison_totals", "run_breakdown", "timed", "write_timing"]

COMPARE_PHASES = (
    "load",           # loading a model from disk outside a run: the base model, a trained model evaluated afterwards
    "engine_start",   # building a rollout engine outside a run (the shared vLLM engine's start-up)
    "warm_start",     # the warm start's own short run and its checks (harness.compare.warm_start), when asked for
    "base_eval",      # the held-out evaluation of the base model (and of the untouched base beside a warm start)
    "train",          # the runs (each one's own phases: run.json `timing` and metrics.jsonl `time/*`)
    "final_eval",     # a trained model's final evaluation when the run's last step did not do it
    "cleanup",        # DONE markers, deleting the checkpoints of finished runs
    "leaderboard",    # collecting the rows, writing the leaderboards and the curves
)
"""What `rlvr-zoo compare` spends, kept in the comparison folder's timing file."""


def timed(timer, name: str):
    """``timer.phase(name)``, or nothing when there is no timer."""
    return timer.phase(name) if timer is not None else nullcontext()


def run_breakdown(run_dir) -> dict:
    """A finished run's time: ``trainer`` (run.json's ``timing``) and ``steps`` (each step phase summed over the
    run's steps, with ``step_s``, the steps' wall time)."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / run_layout.RUN_INFO_FILE).read_text(encoding="utf-8"))
    steps = dict.fromkeys([f"{p}_s" for p in PHASES] + ["step_s"], 0.0)
    for rec in run_layout.read_metrics(run_dir / run_layout.METRICS_FILE):
        if int(rec.get("step", 0)) > 0:
            for p in PHASES:
                steps[f"{p}_s"] += float(rec.get(time_key(p)) or 0.0)
            steps["step_s"] += float(rec.get(STEP_KEY) or 0.0)
    return {"trainer": dict(info.get("timing") or {}), "steps": steps}


def comparison_totals(phases: dict, runs: dict) -> dict:
    """Seconds per phase over a whole comparison: its own phases (``phases``, from `PhaseTimer.seconds`) with
    ``train_s`` replaced by what the runs (``runs``: label -> `run_breakdown`) spent in each of their own phases and
    steps' phases; ``unaccounted_s`` is what no timer covers."""
    totals: dict[str, float] = {k: v for k, v in phases.items() if k not in ("train_s", "wall_s")}
    for run in runs.values():
        trainer, steps = run.get("trainer", {}), run.get("steps", {})
        for k, v in trainer.items():
            if k not in ("steps_s", "wall_s"):
                totals[f"run_{k}"] = totals.get(f"run_{k}", 0.0) + v
        for k, v in steps.items():
            if k != "step_s":
                totals[f"step_{k}"] = totals.get(f"step_{k}", 0.0) + v
    covered = sum(totals.values())
    totals["unaccounted_s"] = max(phases.get("wall_s", 0.0) - covered, 0.0)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def write_timing(out: Path, timer, runs: dict[str, Path]) -> None:
    """OUT/timing.json (module notes): this invocation's own phases, each run it trained (``runs``: name -> run
    folder) and the totals per phase over everything."""
    phases = timer.seconds()
    per_run = {name: run_breakdown(path) for name, path in runs.items()}
    write_json(out / run_layout.TIMING_FILE, {"wall_s": phases["wall_s"], "phases": phases, "runs": per_run,
                                              "totals": comparison_totals(phases, per_run)})
