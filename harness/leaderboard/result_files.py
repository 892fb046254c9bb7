"""Run files read as data, for the leaderboard: `DONE` records, evaluation summaries and metrics files.

Each field has a type and a range checked on read; a damaged or hostile file is an error naming the file and the
field (`UserError`: one line through the CLI) or, where the rest of a run is still usable, a one-line warning
(`PartialRunWarning`). Evidence is counted once: `DuplicateRunWarning` names a copied run folder or a byte-identical
evaluation that `collect` leaves out (see `harness.leaderboard.collect`).
"""
from __future__ import annotations

import hashlib
import math
import os
import warnings
from pathlib import Path
from typing import Any

from harness import metric_keys as mk
from harness import run_layout
from harness.errors import UserError
from harness.io import read_json, read_text

__all__ = ["MAX_LABEL", "PartialRunWarning", "DuplicateRunWarning", "warn", "read_done", "complete_summary",
           "check_metrics", "checker_of", "read_summary", "digest_of", "readable_or_missing"]


MAX_LABEL = 4096
"""longest row label read from a DONE record or a summary"""


class PartialRunWarning(UserWarning):
    """A run file the leaderboard uses only in part (see the module docstring)."""


class DuplicateRunWarning(UserWarning):
    """A run or evaluation given twice, counted once (see the module docstring)."""


def warn(message: str, category: type[Warning] = PartialRunWarning) -> None:
    warnings.warn(message, category, stacklevel=3)


def _number_problem(value: Any, low: float | None = 0.0, high: float | None = None, whole: bool = False) -> bool:
    """True when ``value`` is not a finite number (a whole one for ``whole``; never a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        return True
    if not math.isfinite(value):
        return True
    return (low is not None and value < low) or (high is not None and value > high)


def _label_problem(value: Any) -> bool:
    return not (isinstance(value, str) and value.strip() and len(value) <= MAX_LABEL and value.isprintable())


def read_done(path: Path) -> dict[str, Any]:
    """A DONE record of `rlvr-zoo compare`, each field checked as data; a file that is not valid JSON or a field of
    the wrong type or range is a UserError naming the file and the field."""
    try:
        info = read_json(path, 2**20)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as JSON ({exc}): the run's {run_layout.DONE_FILE} record is truncated "
                        f"or damaged; delete it and run the comparison again to redo that run") from None
    if not isinstance(info, dict) or not isinstance(info.get("label"), str):
        raise UserError(f"{path}: not a {run_layout.DONE_FILE} record of `rlvr-zoo compare` (no 'label')")
    problem = _done_problem(info)
    if problem:
        raise UserError(f"{path}: {problem}; a {run_layout.DONE_FILE} record of `rlvr-zoo compare` holds what it "
                        f"wrote: delete the file and run the comparison again to redo that run")
    return info


def _done_problem(info: dict[str, Any]) -> str | None:
    """What is wrong with a DONE record's fields, or None."""
    if _label_problem(info["label"]):
        return f"label is {info['label'][:80]!r}, not one line of printable text of at most {MAX_LABEL} characters"
    if info.get("algo") is not None and _label_problem(info["algo"]):
        return f"algo is {info['algo']!r}, not an objective name"
    if not isinstance(info.get("overrides") or {}, dict):
        return f"overrides is {info['overrides']!r}, not a mapping of field: value"
    if _number_problem(info.get("seed"), low=None, whole=True):
        return f"seed is {info.get('seed')!r}, not a whole number"
    for key in ("wall_time_s", "train_wall_time_s"):
        if info.get(key) is not None and _number_problem(info[key]):
            return f"{key} is {info[key]!r}, not a number of seconds >= 0"
    return None


def complete_summary(path: Path) -> dict[str, Any]:
    """:func:`read_summary`, with benchmarks whose per-problem list is partial left out (and a warning)."""
    data = read_summary(path)
    for bench, scores in list(data["benches"].items()):
        per_problem, problems = scores.get("per_problem"), scores.get("problems")
        if per_problem and len(per_problem) != problems:
            warn(f"{path}: {bench}: per_problem holds {len(per_problem)} values for {problems} problems (a partial "
                  f"file); this result is left out")
            data["benches"][bench] = {**scores, "per_problem": []}
    return data


def check_metrics(folder: Path) -> None:
    """Warn about a missing, damaged or truncated metrics.jsonl of a finished run."""
    path = folder / run_layout.METRICS_FILE
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "is missing"
        warn(f"{path} {what}: this seed is left out of the training-dynamics figures")
        return
    records, bad = run_layout.scan_metrics(path)
    steps = [rec[mk.STEP] for rec in records if mk.STEP in rec]
    last = max(steps) if steps else None
    if bad:
        warn(f"{path}: line(s) {', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''} are not valid JSON "
              f"records (a torn or damaged file: not a JSON object, a step that is not a whole number >= 0, or over "
              f"{run_layout.MAX_METRICS_LINE} bytes); they are left out")
    info_path = folder / run_layout.RUN_INFO_FILE
    if info_path.is_file():
        try:
            info = read_json(info_path)
            step = info.get("step") if isinstance(info, dict) else None
        except (OSError, ValueError):
            step = None
        if step is not None and _number_problem(step, whole=True):
            warn(f"{info_path}: step is {step!r}, not a whole number >= 0; it is not used")
        elif isinstance(step, int) and (last is None or last < step):
            warn(f"{path} ends at step {last} but {info_path} records step {step}: the file is truncated")


def checker_of(summary: dict[str, Any]) -> str | None:
    """The checker fingerprint a summary records (``"checker": {"fingerprint": ...}``, written by
    `harness.evaluate` and by `tools/checker/recheck.py --rescored-copy`), None when it records none."""
    checker = summary.get("checker")
    return checker.get("fingerprint") if isinstance(checker, dict) else None


def read_summary(path: str | Path) -> dict[str, Any]:
    """A summary.json written by `harness.evaluate.evaluate`, checked for the fields readers use; a file that is not valid JSON
    or not of that shape is a :class:`harness.errors.UserError` naming the file and the first problem."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as JSON ({exc}); it should be the summary.json that `rlvr-zoo eval` "
                        f"or `rlvr-zoo compare` writes: re-run the evaluation that wrote it") from None
    problem = _summary_problem(data)
    if problem:
        raise UserError(f"{path}: not an evaluation summary ({problem}); expected the summary.json that `rlvr-zoo "
                        f"eval` or `rlvr-zoo compare` writes, {{\"benches\": {{bench: {{\"k\", \"problems\", "
                        f"\"per_problem\", ...}}}}, ...}}")
    return data


def _summary_problem(data: Any) -> str | None:
    """What is wrong with a summary's shape, or None."""
    if not isinstance(data, dict):
        return f"the top level is a JSON {type(data).__name__}, not an object"
    benches = data.get("benches")
    if not isinstance(benches, dict):
        return "no 'benches' object"
    for key in ("label", "model"):
        if data.get(key) is not None and _label_problem(data[key]):
            return f"{key} is {str(data[key])[:80]!r}, not one line of printable text of at most {MAX_LABEL} characters"
    if data.get("wall_time_s") is not None and _number_problem(data["wall_time_s"]):
        return f"wall_time_s is {data['wall_time_s']!r}, not a number of seconds >= 0"
    for bench, scores in benches.items():
        problem = _bench_problem(bench, scores)
        if problem:
            return problem
    checker = data.get("checker")
    if checker is not None and not (isinstance(checker, dict) and isinstance(checker.get("fingerprint"), str)):
        return f"checker is {checker!r}, not an object with a 'fingerprint' string"
    return None


def _bench_problem(bench: str, scores: Any) -> str | None:
    """What is wrong with one benchmark's entry of a summary, or None."""
    if not isinstance(scores, dict):
        return f"benches.{bench} is not an object"
    k = scores.get("k")
    if _number_problem(k, low=1, whole=True):
        return f"benches.{bench}.k is {k!r}, not an integer >= 1"
    if _number_problem(scores.get("problems"), whole=True):
        return f"benches.{bench}.problems is {scores.get('problems')!r}, not an integer >= 0"
    per_problem = scores.get("per_problem", [])
    if not isinstance(per_problem, list) or any(_number_problem(x, high=1) for x in per_problem):
        return f"benches.{bench}.per_problem is not a list of fractions in [0, 1]"
    for key in (f"pass@{k}", f"maj@{k}"):
        if scores.get(key) is not None and _number_problem(scores[key], high=1):
            return f"benches.{bench}.{key} is {scores[key]!r}, not a fraction in [0, 1]"
    if scores.get("gold_unparsable") is not None and _number_problem(scores["gold_unparsable"], whole=True):
        return f"benches.{bench}.gold_unparsable is {scores['gold_unparsable']!r}, not a count >= 0"
    ci = scores.get("ci95")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and
                               not any(_number_problem(x, low=None) for x in ci)):
        return f"benches.{bench}.ci95 is {ci!r}, not a pair of numbers"
    return None


def digest_of(path: Path) -> str | None:
    """SHA-256 of a file's bytes, None when it cannot be read (read_summary then names the problem)."""
    try:
        return hashlib.sha256(read_text(path).encode("utf-8")).hexdigest()
    except (OSError, ValueError):
        return None


def readable_or_missing(path: Path) -> bool:
    """False for a path that exists but is no regular file (a FIFO, a device, a link to one): never read."""
    return path.is_file() or not os.path.lexists(path)
