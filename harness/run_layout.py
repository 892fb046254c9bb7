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
"""
from __future__ import annotations

import json
import os
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


def metrics_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file in file order; a line cut by an interruption (a torn last line from a
    hard crash) is skipped, and a missing file has no records."""
    records = []
    path = Path(path)
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl file, one per step in step order (see :func:`metrics_records`). Later records of
    the same step (a resumed run repeats steps after its last checkpoint) replace earlier ones."""
    by_step: dict[int, dict[str, Any]] = {}
    for rec in metrics_records(path):
        if "step" in rec:
            by_step.setdefault(int(rec["step"]), {}).update(rec)
    return [by_step[s] for s in sorted(by_step)]
