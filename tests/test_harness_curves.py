"""`rlvr-zoo curves` and harness.leaderboard.curves: real metrics.jsonl files, real matplotlib PNGs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.leaderboard import curves
from harness.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metrics(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture()
def study(tmp_path) -> Path:
    """A comparison directory with a base evaluation and three rows (two with two seeds)."""
    from harness.io import write_json

    root = tmp_path / "study"
    summary = {"label": "base", "model": "m", "benches": {"arith": {"k": 1, "problems": 2, "per_problem": [0, 1],
                                                                    "ci95": [0.0, 1.0]}}}
    write_json(root / "base/eval/summary.json", summary)
    for slug, label in (("grpo", "grpo"), ("ce-gppo_beta1=0_beta2=1", "ce-gppo:beta1=0,beta2=1"),
                        ("ce-gppo_beta1=1_beta2=0.5", "ce-gppo:beta1=1,beta2=0.5")):
        for seed in (0, 1) if slug != "grpo" else (0,):
            run = root / "runs" / slug / f"seed-{seed}"
            _metrics(run / "metrics.jsonl", [{"step": t, "entropy": 1.0 - 0.05 * t * (seed + 1), "accuracy": t / 10,
                                              "old_logprobs": "recompute"} for t in range(1, 7)])
            write_json(run / "eval/summary.json", {**summary, "label": label})
            write_json(run / "DONE", {"label": label, "algo": label.split(":")[0], "seed": seed})
    return root


def test_series_smooths_each_seed_then_averages(tmp_path):
    a = [{"step": t, "x": v} for t, v in zip((1, 2, 3, 4), (0.0, 2.0, 4.0, 6.0))]
    b = [{"step": t, "x": v} for t, v in zip((1, 2, 3, 4), (2.0, 2.0, 2.0, 2.0))] + [{"step": 5, "x": None}]
    steps, mean, std = curves.series([a, b], "x", smooth=2)
    # seed a smoothed over its last 2 values: 0, 1, 3, 5; seed b: 2, 2, 2, 2
    assert list(steps) == [1, 2, 3, 4]
    assert list(mean) == pytest.approx([1.0, 1.5, 2.5, 3.5]) and list(std) == pytest.approx([1.0, 0.5, 0.5, 1.5])
    steps, mean, _ = curves.series([a], "x")
    assert list(mean) == [0.0, 2.0, 4.0, 6.0]
    with pytest.raises(ValueError, match=">= 1"):
        curves.series([a], "x", smooth=0)
    assert curves.numeric_keys([a, b, [{"step": 1, "s": "text", "flag": True}]]) == ["x"]


def test_curves_command_writes_a_png_per_metric_panel(study, tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "beta_sweep_entropy.png"
    assert main(["curves", str(study), "--metric", "entropy", "--only", "ce-gppo*", "--smooth", "2",
                 "--title", "β sweep", "--output", str(out)]) == 0
    assert "2 rows, 1 panels" in capsys.readouterr().out
    assert out.read_bytes()[:8] == PNG_MAGIC
    one = matplotlib.image.imread(out)
    out2 = tmp_path / "two.png"
    assert main(["curves", str(study), "--metric", "entropy", "--metric", "accuracy", "--output", str(out2)]) == 0
    two = matplotlib.image.imread(out2)
    assert two.shape[0] == one.shape[0] and two.shape[1] > 1.5 * one.shape[1]  # panels side by side
    assert not list(tmp_path.glob(".*.png"))  # no temporary file left behind


def test_curves_command_errors_name_the_choices(study, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["curves", str(study), "--metric", "entropyy", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--metric 'entropyy'" in err and "did you mean entropy" in err and "accuracy, entropy" in err
    assert "old_logprobs" not in err  # not a number: cannot be plotted
    assert main(["curves", str(study), "--metric", "entropy", "--only", "dapo*", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--only 'dapo*' matches no row" in err and "'ce-gppo:beta1=0,beta2=1'" in err
    assert main(["curves", str(study), "--metric", "entropy", "--output", str(tmp_path / "x.pdf")]) == 2
    assert "ending in .png" in capsys.readouterr().err
    assert main(["curves", str(study), "--smooth", "0", "--output", str(out)]) == 2
    assert ">= 1" in capsys.readouterr().err
    assert main(["curves", str(tmp_path / "missing"), "--output", str(out)]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert not out.exists()


def test_probe_entropy_panel_only_when_logged(study, tmp_path):
    """`entropy/probe` (harness.training.probe) gets a default panel when a run logged it, beside rollout entropy."""
    import matplotlib.image

    plain = [[{"step": 1, "entropy": 1.0}]]
    probed = [[{"step": 0, "entropy/probe": 2.0}, {"step": 1, "entropy": 1.0, "entropy/probe": 1.9}]]
    assert "entropy/probe" not in curves.default_metrics(plain)
    keys = curves.default_metrics(probed)
    assert keys.index("entropy/probe") == keys.index("entropy") + 1 and len(keys) == len(curves.PANELS)
    runs = {"a": [study / "runs/grpo/seed-0/metrics.jsonl"]}
    without = matplotlib.image.imread(curves.plot(runs, tmp_path / "without.png"))
    _metrics(tmp_path / "probed/metrics.jsonl", probed[0])
    with_probe = matplotlib.image.imread(curves.plot({**runs, "b": [tmp_path / "probed/metrics.jsonl"]},
                                                     tmp_path / "with.png"))
    assert with_probe.shape[0] > without.shape[0]   # a third row of panels
