"""tools.study.lr_pilot: one row per lr and step, lrs in numeric order, the two β-weighted regions summed, "-" where a
step has no off-policy figure, and a one-line error for a folder without runs."""
from __future__ import annotations

import json

import pytest

from tools.study import lr_pilot


def _run(root, lr, records):
    (root / f"lr-{lr}").mkdir(parents=True)
    (root / f"lr-{lr}" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_rows_sum_the_two_regions_and_mark_missing_figures(tmp_path):
    full = {"step": 1, "kl/old": 0.0123, "entropy": 0.5, "accuracy": 0.25,
            "offpolicy/clipfrac/low_neg": 0.04, "offpolicy/clipfrac/high_pos": 0.02,
            "offpolicy/gradshare/low_neg": 0.1, "offpolicy/gradshare/high_pos": 0.05}
    _run(tmp_path, "2e-5", [{"step": 0, "entropy/probe": 0.6}, full])
    _run(tmp_path, "1e-5", [{k: v for k, v in full.items() if not k.startswith("offpolicy/gradshare")}])
    rows = lr_pilot.table(tmp_path).splitlines()[2:]
    assert rows == ["| 1e-5 | 1 | 0.012 | 6.0 | - | 0.50 | 0.25 |", "| 2e-5 | 1 | 0.012 | 6.0 | 15.0 | 0.50 | 0.25 |"]


def test_a_folder_without_runs_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        lr_pilot.main([str(tmp_path)])
    assert exc.value.code == 2 and capsys.readouterr().err.strip().count("\n") == 0
