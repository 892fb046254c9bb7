"""Benchmarks: dataset loaders (Hub or local files), the offline procedural ``arith`` task, prompt templates.

```python
import benchmarks
benchmarks.names()                                           # every loadable name
rows = benchmarks.load("gsm8k", split="test")                # from the Hub (openai/gsm8k, "main")
rows = benchmarks.load("gsm8k", data_dir="../shared/data")   # from <data_dir>/gsm8k/test.jsonl
rows = benchmarks.load("arith", split="train", level=2, n=500, seed=0)
rows[0]  # {"id": "gsm8k/test/0", "problem": "...", "answer": "18", ...the source's other fields}
prompt = benchmarks.render_prompt(tokenizer, rows[0]["problem"], template="boxed")
```
See docs/benchmarks.md for the table of benchmarks and their gold-answer fields.
"""
from __future__ import annotations

import os

from benchmarks import arith
from benchmarks.sources import (BENCHMARKS, DATA_DIR_ENV, HUB_DATASETS, Benchmark, BenchmarkDataError, LoadReport,
                                load_records, map_records, warn_report)
from benchmarks.templates import BOXED_INSTRUCTION, render_prompt, template_names, template_stop

__all__ = ["names", "load", "load_with_report", "splits", "render_prompt", "template_names", "HUB_DATASETS",
           "BENCHMARKS", "Benchmark", "BenchmarkDataError", "LoadReport", "DATA_DIR_ENV", "BOXED_INSTRUCTION",
           "TEST_SETS", "TRAIN_SETS", "arith", "answer_options", "template_stop"]

#: The held-out evaluation sets and the training sets.
TEST_SETS = ("gsm8k", "math500", "aime24", "aime25", "hmmt25", "amc23", "minerva", "olympiadbench")
TRAIN_SETS = ("gsm8k", "math", "arith")


def names() -> list[str]:
    """Every benchmark/task name ``load`` accepts (sorted)."""
    return sorted([*BENCHMARKS, "arith"])


ANSWER_OPTIONS: dict[str, dict] = {"arith": {"answer_form": "number"}}
"""Answer-checking options a benchmark needs (fields of rewards.Options): arith's questions are expressions, so an
answer that restates one (``\\boxed{13 + 25}``) is not an answer; only a number written out is."""


def answer_options(name: str) -> dict:
    """The answer-checking options of ``name`` (``rewards.Options`` fields; empty for most benchmarks), used by the
    evaluation and by the training reward of a task."""
    _check_name(name)
    return dict(ANSWER_OPTIONS.get(name, {}))


def splits(name: str) -> list[str]:
    """The splits ``name`` has."""
    _check_name(name)
    return ["test", "train"] if name == "arith" else BENCHMARKS[name].splits


def _check_name(name: str) -> None:
    if name not in BENCHMARKS and name != "arith":
        raise ValueError(f"unknown benchmark {name!r}; choose one of {names()}")


def load_with_report(name: str, split: str = "test", data_dir: str | os.PathLike | None = None,
                     limit: int | None = None, **task_params) -> tuple[list[dict], LoadReport]:
    """Like :func:`load`, also returning the :class:`LoadReport` (source, counts, ids of rows without gold)."""
    _check_name(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    if name == "arith":
        unknown = sorted(set(task_params) - set(arith.PARAMS))
        if unknown:
            raise ValueError(f"arith: unknown parameter(s) {unknown}; valid: {list(arith.PARAMS)}")
        if limit is not None and "n" not in task_params:
            task_params["n"] = limit
        rows = arith.generate(split=split, **task_params)
        report = LoadReport(name="arith", split=split, source="procedural", records=len(rows), rows=len(rows))
    else:
        if task_params:
            raise ValueError(f"benchmark {name!r} takes no task parameters (got {sorted(task_params)}); only the "
                             f"procedural task 'arith' does ({list(arith.PARAMS)})")
        bench = BENCHMARKS[name]
        if split not in bench.hub_splits:
            raise ValueError(f"benchmark {name!r} has no split {split!r}; it has {bench.splits}")
        records, source = load_records(bench, split, data_dir)
        rows, report = map_records(bench, split, records, source)
    if limit is not None:
        rows = rows[:limit]
    return rows, report


def load(name: str, split: str = "test", data_dir: str | os.PathLike | None = None, limit: int | None = None,
         **task_params) -> list[dict]:
    """Rows ``{"id", "problem", "answer", ...extra fields}`` of benchmark ``name`` / ``split``.

    Source: local JSON lines under ``data_dir`` (or ``$RLVR_ZOO_DATA_DIR``) laid out as ``<folder>/<split>.jsonl``;
    otherwise the benchmark's Hugging Face Hub dataset (:data:`HUB_DATASETS`). ``limit`` keeps the first rows.
    ``task_params`` go to the procedural ``arith`` task (level, n, seed, curriculum, order).
    Rows whose gold answer cannot be read are left out with a warning naming their count and ids.
    """
    rows, report = load_with_report(name, split, data_dir, limit, **task_params)
    warn_report(report)
    return rows
