"""The names of the files in a run folder and a comparison folder, in one place.

Each name belongs to the code that writes it (named beside it); readers (the leaderboard, `curves`, resuming) import
it from here instead of from the writer, so that no reader depends on a writer's module and no name is spelt twice.
The reader of `metrics.jsonl` is here for the same reason (`read_metrics`).

A training run (`TrainConfig.out_dir`), written by the trainer:

    metrics.jsonl          one JSON object per step (harness.training.logger)
    run.json               the resolved configuration and environment of the run
    checkpoints/step-N/    resumable checkpoints (harness.training.checkpoint_files)
    final/                 the trained policy in save_pretrained form

An evaluation folder (`rlvr-zoo eval --out`, or `eval/` of a run), written by harness.evaluate:

    summary.json           the scores of every benchmark
    <bench>.responses.jsonl

A comparison folder (`rlvr-zoo compare --out OUT`), written by harness.compare.runner:

    config.yaml            the resolved settings
    base/eval/             evaluation of the initial model
    runs/<slug>/seed-<s>/  one training run, plus eval/ (its final evaluation) and DONE (JSON: label, algo, overrides,
                           seed, wall times; written last, when the run is trained and evaluated)
    timing.json            where the invocation's time went: model loads, engine start-up, evaluations, each run's
                           phases (harness.timing)
"""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
RUN_INFO_FILE = "run.json"
CHECKPOINTS_DIR = "checkpoints"
FINAL_DIR = "final"

SUMMARY_FILE = "summary.json"
RESPONSES_SUFFIX = ".responses.jsonl"

CONFIG_FILE = "config.yaml"
BASE_DIR = "base"
UNTOUCHED_DIR = "base-model"
WARM_START_FILE = "warm_start.json"
RUNS_DIR = "runs"
EVAL_DIR = "eval"
DONE_FILE = "DONE"
TIMING_FILE = "timing.json"


def slug(label: str) -> str:
    """The folder name of a comparison row (`runs/<slug>/`): its label with every run of characters other than
    letters, digits, '.', '-', '=' replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9.=\-]+", "_", label).strip("_")


def responses_file(bench: str) -> str:
    """File name of one benchmark's responses in an evaluation folder."""
    return bench + RESPONSES_SUFFIX


def base_eval_dir(compare_dir: str | Path) -> Path:
    """Evaluation folder of the initial model of a comparison."""
    return Path(compare_dir) / BASE_DIR / EVAL_DIR


def untouched_eval_dir(compare_dir: str | Path) -> Path:
    """Evaluation folder of the untouched model of a comparison whose arms start from a warm start (the base row is
    then the warm start; harness/compare/warm_start.py)."""
    return Path(compare_dir) / UNTOUCHED_DIR / EVAL_DIR


def run_dir(compare_dir: str | Path, slug: str, seed: int) -> Path:
    """Training-run folder of one (algorithm or variant, seed) of a comparison."""
    return Path(compare_dir) / RUNS_DIR / slug / f"seed-{seed}"


def done_files(compare_dir: str | Path) -> list[Path]:
    """DONE markers of the finished runs of a comparison, sorted by path."""
    return sorted(Path(compare_dir).glob(f"{RUNS_DIR}/*/*/{DONE_FILE}"))


MAX_METRICS_LINE = 2**20
"""longest metrics.jsonl line read (bytes); a record of a few hundred keys is ~10 KB, so a longer line is damage"""


def _record(line: bytes) -> dict[str, Any] | None:
    """The record on one metrics.jsonl line, None when the line is not one: not a JSON object, or a ``step`` that is
    not a whole number >= 0. NaN and Infinity (which strict JSON lacks; rlvr-zoo writes null) read as null."""
    try:
        rec = json.loads(line.decode("utf-8", errors="replace"), parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        return None
    if not isinstance(rec, dict):
        return None
    step = rec.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return None
    return rec


def scan_metrics(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[int]]:
    """(records of a metrics.jsonl file in file order, numbers of the lines that are not a record). A line cut by an
    interruption (a torn last line from a hard crash), a line longer than ``MAX_METRICS_LINE`` and a line that is not
    a record (:func:`_record`) are left out and numbered; a missing file has no records. ValueError when ``path`` is
    not a regular file (a FIFO or a device would block or never end)."""
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return records, bad
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path} is not a regular file; it should be the metrics.jsonl a training run writes")
        os.set_blocking(fd, True)
        lineno = 0
        while line := fh.readline(MAX_METRICS_LINE + 1):
            lineno += 1
            if len(line) > MAX_METRICS_LINE:
                while line and not line.endswith(b"\n"):   # the rest of the overlong line
                    line = fh.readline(MAX_METRICS_LINE)
                bad.append(lineno)
                continue
            if not line.strip():
                continue
            rec = _record(line)
            if rec is None:
                bad.append(lineno)
            else:
                records.append(rec)
    return records, bad


def metrics_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file in file order (:func:`scan_metrics` leaves out what is not a record)."""
    return scan_metrics(path)[0]


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl file, one per step in step order (see :func:`metrics_records`). Later records of
    the same step (a resumed run repeats steps after its last checkpoint) replace earlier ones."""
    by_step: dict[int, dict[str, Any]] = {}
    for rec in metrics_records(path):
        if "step" in rec:
            by_step.setdefault(int(rec["step"]), {}).update(rec)
    return [by_step[s] for s in sorted(by_step)]
