"""The three views of the same rows, as plain records (what the json format prints; csv and tables read them too).

* ``scores``: per row and benchmark the pooled avg@k with its 95% interval, the average, the difference to the base
  model, the final entropy and the wall time (`Row.to_dict`).
* ``delta``: per row and benchmark the pooled score, the score of each seed, and the difference to the base model
  of the same directory in fractions with a *paired* 95% bootstrap interval over problems (`stats.paired_bootstrap`:
  the row's per-problem fractions, averaged over seeds, minus the base's on the same problems, resampled together),
  and whether that interval excludes 0.
* ``dynamics``: training dynamics from metrics.jsonl, per seed then averaged over seeds: entropy at the start (mean
  of the first 3 logged steps) and at the end (last 3), their difference, training `accuracy` over the first 5 and
  the last 5 steps, the run means of `gradshare/low_neg`, `gradshare/high_pos`, `clipfrac/low_neg`,
  `clipfrac/high_pos`, and the last `eval/accuracy`. Rows without training (the base model) are left out.

A new view is a records function here (rows -> list of dicts), a csv and a table function in `render.py`, its name in
VIEWS and its three functions in `render.VIEW_FUNCTIONS`.
"""
from __future__ import annotations

from typing import Any

from harness.leaderboard.collect import BOOTSTRAP_SAMPLES, DYNAMICS_KEYS, Cell, Row

VIEWS = ("scores", "delta", "dynamics")


def scores_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The scores view: each row's public fields."""
    return [r.to_dict() for r in rows]


def _no_pairing_note(row: Row, bench: str) -> str | None:
    """Why `row` cannot be paired with its base model on `bench` (None: it can)."""
    mine = row.per_problem.get(bench)
    if row.base_per_problem is None:
        return "no base model in this directory"
    base = row.base_per_problem.get(bench)
    if base is None:
        return f"the base model has no per-problem results for {bench}"
    if mine is None:
        return "the seeds were scored on different numbers of problems: no pairing"
    if len(mine) != len(base):
        return f"scored on {len(mine)} problems, the base model on {len(base)}: no pairing"
    return None


def _delta_cell(row: Row, bench: str, cell: Cell | None, bootstrap_samples: int) -> dict[str, Any]:
    from harness import stats

    d: dict[str, Any] = {"score": None if cell is None else cell.score, "k": None if cell is None else cell.k,
                         "per_seed": row.per_seed.get(bench, []), "delta": None, "lo": None, "hi": None,
                         "p_value": None, "excludes_zero": None, "problems": None, "note": None}
    if row.is_base or cell is None:
        return d
    d["note"] = _no_pairing_note(row, bench)
    if d["note"] is None:
        p = stats.paired_bootstrap(row.per_problem[bench], row.base_per_problem[bench], n_boot=bootstrap_samples,
                                   seed=0)
        d.update(delta=p.diff, lo=p.low, hi=p.high, p_value=p.p_value, problems=p.n,
                 excludes_zero=bool(p.low > 0 or p.high < 0))
    return d


def delta_rows(rows: list[Row], bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> list[dict[str, Any]]:
    """The delta view: per row and benchmark the pooled score, each seed's score, and score minus the base model's
    (same directory) with its paired 95% bootstrap interval over problems and whether it excludes 0. Fractions;
    `note` says why a trained row has no difference."""
    return [{**r.identity(), "is_base": r.is_base,
             "benches": {b: _delta_cell(r, b, cell, bootstrap_samples) for b, cell in r.benches.items()}}
            for r in rows]


def dynamics_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The dynamics view: one entry per row with training metrics (base rows left out)."""
    empty = {key: None for key in DYNAMICS_KEYS}
    return [{**r.identity(), **empty, "entropy_change_per_seed": [], **(r.dynamics or {})}
            for r in rows if not r.is_base]
