"""tools.testbed.pilot end to end on the tiny preset: a grid setting runs as a comparison, is skipped when the pilot
runs again, and every finished setting becomes a row of the tables with its gain, seed SD, MDD and minutes."""
from __future__ import annotations

import json

import pytest

from tools.testbed import pilot

pytestmark = pytest.mark.slow


def test_a_tiny_grid_runs_resumes_and_summarises(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("preset: tiny-test\nalgos: [grpo, ce-gppo]\nseeds: [0, 1]\nsettings:\n"
                    "  short: {about: 'one step', set: {train.steps: 1}}\n"
                    "  broken: {about: 'never run', set: {train.steps: 1}}\n")
    out = tmp_path / "pilot"
    assert pilot.main([str(grid), "--out", str(out), "--only", "short", "--threads", "1"]) == 0
    record = json.loads((out / "short" / pilot.PILOT_FILE).read_text())
    assert record["minutes"] > 0 and record["machine_start"]["cores"] and "--set" in record["command"]
    rows = json.loads((out / "table.json").read_text())
    assert [r["setting"] for r in rows] == ["short"]            # the setting not run has no row
    row = rows[0]
    assert set(row["gains"]) == {"grpo", "ce-gppo"} and row["seeds"] == 2
    assert row["mdd"] is not None and row["seed_sd"] is not None and 0 <= row["zero_adv_share"] <= 1
    assert (out / "frontier.png").stat().st_size > 1000 and "| short |" in (out / "table.md").read_text()
    capsys.readouterr()
    assert pilot.main([str(grid), "--out", str(out), "--only", "short"]) == 0     # finished: skipped, not rerun
    assert "short: finished earlier, skipped" in capsys.readouterr().out


def test_grid_mistakes_are_one_line(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("preset: tiny-test\nsettings: {a: {sett: {}}}\n")
    assert pilot.main([str(grid), "--out", str(tmp_path)]) == 2
    assert "unknown key(s) ['sett']" in capsys.readouterr().err
    grid.write_text("preset: tiny-test\nsettings: {a: {}}\n")
    assert pilot.main([str(grid), "--out", str(tmp_path), "--only", "b"]) == 2
    assert "unknown setting(s) ['b']" in capsys.readouterr().err


def test_one_objective_gets_a_projected_mdd_from_its_seed_variance(tmp_path):
    """Seeds that differ by a constant shift per seed (no residual): the projection is 2.80 x sqrt(2 var(shift) / S),
    with var the sample variance of the shifts, computed here by hand."""
    base = [0.2, 0.4, 0.6, 0.3, 0.9]
    shifts = [0.0, 0.1, 0.2]
    for s, shift in enumerate(shifts):
        summary = tmp_path / "runs" / "grpo" / f"seed-{s}" / "eval" / "summary.json"
        summary.parent.mkdir(parents=True)
        summary.write_text(json.dumps({"benches": {"arith": {"per_problem": [b + shift for b in base]}}}))
    mdd, sd, seeds, problems = pilot.projected_mdd(tmp_path, "arith")
    var = sum((x - 0.1) ** 2 for x in shifts) / 2
    assert (seeds, problems) == (3, 5)
    assert sd == pytest.approx(100 * var ** 0.5)
    assert mdd == pytest.approx(100 * (1.959964 + 0.841621) * (2 * var / 3) ** 0.5, rel=1e-5)
    (tmp_path / "runs" / "grpo" / "seed-1" / "eval" / "summary.json").unlink()
    (tmp_path / "runs" / "grpo" / "seed-2" / "eval" / "summary.json").unlink()
    assert pilot.projected_mdd(tmp_path, "arith") is None       # one finished seed: no variance to project from
