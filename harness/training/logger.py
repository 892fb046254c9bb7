"""Per-step metrics: JSON lines, a tqdm progress bar, and the trackers of ``report_to`` (harness.training.trackers).

``metrics.jsonl`` holds one JSON object per training step (keys in docs/INTERFACES.md). Each line is written and
flushed whole, so a crash leaves at most the lines of completed steps; on resume the lines after the checkpoint's
step are dropped (the file is rewritten atomically) so that the file never holds a step twice.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from harness import metric_keys as mk
from harness.io import open_append, write_text
from harness.run_layout import METRICS_FILE, metrics_records

__all__ = ["MetricsLogger", "record_line", "restore_record", "truncate_metrics"]


def _jsonable(value):
    """Plain JSON value; non-finite floats become null (strict JSON has no NaN)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def record_line(record: dict) -> str:
    """The JSON line (without its newline) that ``MetricsLogger.log`` writes for ``record``."""
    return json.dumps(_jsonable(record))


def truncate_metrics(path: str | os.PathLike, last_step: int) -> None:
    """Keep only records with ``step <= last_step`` (atomic rewrite); used when resuming from a checkpoint."""
    path = Path(path)
    if not path.exists():
        return
    kept = [r for r in metrics_records(path) if r.get(mk.STEP, 0) <= last_step]
    write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def restore_record(path: str | os.PathLike, step: int, line: str | None) -> bool:
    """Append ``line`` (a `record_line` kept in checkpoint ``step``) when the file's last record is older than
    ``step``: the process died after writing the checkpoint and before logging its step. Returns whether it did."""
    if not line:
        return False
    records = metrics_records(path)
    if records and int(records[-1].get(mk.STEP, 0)) >= step:
        return False
    write_text(path, "".join(json.dumps(r) + "\n" for r in records) + line + "\n")
    return True


class MetricsLogger:
    """Writes step records. Only the main rank should create one with ``enabled=True``."""

    #: keys shown on the progress bar, with their short labels
    BAR_KEYS = ((mk.REWARD_MEAN, "reward"), (mk.ACCURACY, "acc"), (mk.ENTROPY, "ent"), (mk.STEP_TIME, "s/step"))

    def __init__(self, out_dir: str | os.PathLike, total_steps: int, initial_step: int = 0, enabled: bool = True,
                 progress: bool = True, tensorboard: bool = True, desc: str = "train",
                 report_to: list[str] | tuple[str, ...] = ("tensorboard",), config: dict | None = None):
        """``report_to``: trackers that get every record (harness.training.trackers.TRACKERS) and ``config`` once;
        ``tensorboard=False`` leaves TensorBoard out of them. A run resumed at ``initial_step > 0`` continues the
        tracker runs it started."""
        self.enabled = enabled
        self.path = Path(out_dir) / METRICS_FILE
        self._fh = None
        self._bar = None
        self._trackers: list = []
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open_append(self.path)   # never through a link planted at its name
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, initial=initial_step, desc=desc, unit="step", dynamic_ncols=True,
                             file=sys.stderr)
        from harness.training import trackers

        names = [n for n in trackers.check(report_to) if tensorboard or n != "tensorboard"]
        self._trackers = trackers.open_trackers(names, out_dir, _jsonable(config or {}), resumed=initial_step > 0)

    @property
    def tensorboard_enabled(self) -> bool:
        from harness.training.trackers import TensorBoardTracker

        return any(isinstance(getattr(t, "tracker", t), TensorBoardTracker) for t in self._trackers)

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        record = _jsonable(record)
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        step = int(record.get(mk.STEP, 0))
        for tracker in self._trackers:
            tracker.log(step, record)
        if self._bar is not None:
            post = {}
            for key, label in self.BAR_KEYS:
                value = record.get(key)
                if isinstance(value, (int, float)):
                    post[label] = f"{value:.3g}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(1 if step > 0 else 0)   # a step-0 record (the initial model) is no step

    def write(self, message: str) -> None:
        """A message that does not break the progress bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        for tracker in self._trackers:
            tracker.close()
        self._trackers = []
