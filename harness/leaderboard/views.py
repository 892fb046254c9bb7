"""The views of the same rows, as plain records (what the json format prints; csv and tables read them too).

* ``verdicts`` (the default): per-seed scores with hierarchical intervals, each objective against the base model and
  every pair of objectives with paired hierarchical intervals and Holm-corrected verdicts, and the minimum
  detectable difference; with one seed, the statement that no ranking between objectives is supported
  (`harness.leaderboard.verdicts`).
* ``scores``: per row and benchmark the avg@k (mean over seeds) with its hierarchical 95% interval, the average,
  the difference to the base model, the final entropy and the wall time (`Row.to_dict`).
* ``delta``: per row and benchmark the score, the score of each seed, and the difference to the base model of the
  same directory in fractions with its paired hierarchical 95% interval (the base model's one evaluation subtracted
  from every seed, problems resampled together), the p-value, the Holm-adjusted p over the table's against-base
  comparisons and the verdict: the against-base part of the verdicts view.
* ``dynamics``: training dynamics from metrics.jsonl, per seed then averaged over seeds: entropy at the start and at
  the end and their difference, from the fixed probe set when every seed of the row logged `entropy/probe` (start:
  step 0, the initial model; end: the last step; harness.training.probe), else from the rollouts' `entropy` (mean
  of the first 3 and of the last 3 logged steps), with ``entropy_source`` ("probe" | "rollout") saying which; training `accuracy` over the first 5 and
  the last 5 steps, the run means of `gradshare/low_neg`, `gradshare/high_pos`, `clipfrac/low_neg`,
  `clipfrac/high_pos`, and the last `eval/accuracy`. Rows without training (the base model) are left out.

A new view is a records function here (rows -> list of dicts), a csv and a table function in `render.py`, its name in
VIEWS and its three functions in `render.VIEW_FUNCTIONS`.
"""
from __future__ import annotations

from typing import Any

from harness.leaderboard import verdicts
from harness.leaderboard.collect import DYNAMICS_KEYS, Row

VIEWS = ("verdicts", "scores", "delta", "dynamics")
DEFAULT_VIEW = "verdicts"

_CACHE: list[Any] = [None, None]   # [rows, analysis]: one analysis serves every format of one list of rows


def analysis(rows: list[Row]) -> dict[str, Any]:
    """`verdicts.analyse(rows)`, computed once per list of rows (write_all renders it in five formats and two
    views; each costs a few seconds on a 10-row, 2-benchmark study)."""
    cached_rows, cached = _CACHE
    if cached_rows is not None and len(cached_rows) == len(rows) and all(a is b for a, b in zip(cached_rows, rows)):
        return cached
    _CACHE[:] = [list(rows), verdicts.analyse(rows)]
    return _CACHE[1]


def verdict_record(rows: list[Row]) -> dict[str, Any]:
    """The verdicts view as one JSON-able record (fractions)."""
    return verdicts.as_json(analysis(rows))


def scores_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The scores view: each row's public fields."""
    return [r.to_dict() for r in rows]


def _delta_cell(row: Row, bench: str, entry: dict[str, Any] | None, score: dict[str, Any] | None,
                k: int | None) -> dict[str, Any]:
    d: dict[str, Any] = {"score": None if score is None else score["score"], "k": k,
                         "per_seed": [] if score is None else score["per_seed"], "delta": None, "lo": None,
                         "hi": None, "p_value": None, "p_sign": None, "p_t": None, "p_holm": None, "verdict": None,
                         "excludes_zero": None, "problems": None, "note": None}
    if row.is_base or entry is None:
        return d
    p = entry["diff"]
    if p is None:
        d["note"] = entry["note"]
        return d
    d.update(delta=p.diff, lo=p.low, hi=p.high, p_value=p.p_value, p_sign=p.p_sign, p_t=p.p_t,
             p_holm=entry["p_holm"], verdict=entry["verdict"], problems=p.n_problems,
             excludes_zero=bool(p.low > 0 or p.high < 0))
    return d


def delta_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The delta view: per row and benchmark the score, each seed's score, and score minus the base model's (same
    directory) with its paired hierarchical 95% interval, p-value, Holm-adjusted p and verdict. Fractions; `note`
    says why a trained row has no difference."""
    a = analysis(rows)
    against = {(e["a"], e["bench"]): e for e in a["vs_base"]}
    return [{**r.identity(), "is_base": r.is_base,
             "benches": {b: _delta_cell(r, b, against.get((r.label, b)), s["benches"].get(b),
                                        None if cell is None else cell.k) for b, cell in r.benches.items()}}
            for r, s in zip(rows, a["scores"])]


def dynamics_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The dynamics view: one entry per row with training metrics (base rows left out)."""
    empty = {key: None for key in DYNAMICS_KEYS}
    return [{**r.identity(), **empty, "entropy_change_per_seed": [], **(r.dynamics or {})}
            for r in rows if not r.is_base]
