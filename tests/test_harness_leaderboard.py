"""Leaderboard, curves, presets and option parsing of the comparison harness (no model: real files, real stats)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from harness import compare, curves, leaderboard, presets
from harness.evaluate import EvalConfig, score_problems, write_json


def _summary(correct, label="x"):
    answers = [["1" if c else "2" for c in row] for row in correct]
    return {"label": label, "model": label, "config": {}, "wall_time_s": 3.0,
            "benches": {"arith": dict(score_problems(correct, answers, k=len(correct[0]), bootstrap_samples=200),
                                      gold_unparsable=0, rows=len(correct))}}


def _make_compare_dir(root: Path, runs: dict[str, list[list[list[bool]]]], base) -> Path:
    """runs: label -> one verdict matrix per seed."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"algos": list(runs)}))
    write_json(root / "base" / "eval" / "summary.json", _summary(base, "base"))
    for label, per_seed in runs.items():
        for seed, correct in enumerate(per_seed):
            d = root / "runs" / compare.parse_algo_spec(label).slug / f"seed-{seed}"
            write_json(d / "eval" / "summary.json", _summary(correct, label))
            (d / "metrics.jsonl").write_text("".join(
                json.dumps({"step": s, "reward/mean": 0.1 * s + seed, "entropy": 1.0 - 0.1 * s - 0.01 * seed,
                            "clipfrac/low_neg": 0.01, "response_length/mean": 20 + s}) + "\n" for s in (1, 2, 3))
                + '{"step": 4, "entro')  # a line cut by an interruption is ignored
            algo = compare.parse_algo_spec(label)
            write_json(d / "DONE", {"label": label, "algo": algo.algo, "overrides": algo.overrides, "seed": seed,
                                    "wall_time_s": 100.0 + seed})
    return root


BASE = [[False, False], [True, False], [False, False], [False, False]]          # avg@2 = 0.125
GRPO = [[True, True], [True, False], [False, False], [True, False]]             # 0.5
CE0 = [[True, True], [True, True], [False, False], [True, False]]               # 0.625
CE1 = [[True, True], [True, True], [True, True], [False, False]]                # 0.75


def test_collect_pools_seeds_and_computes_delta(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "ce-gppo:beta1=0.75,beta2=1": [CE0, CE1]}, BASE)
    rows = leaderboard.collect(d)
    assert [r["label"] for r in rows] == ["base (base)", "grpo", "ce-gppo:beta1=0.75,beta2=1"]
    base, grpo, ce = rows
    assert base["is_base"] and base["average"] == pytest.approx(0.125)
    assert grpo["benches"]["arith"]["score"] == pytest.approx(0.5)
    assert grpo["delta_vs_base"] == pytest.approx(0.375)
    # two seeds: per-problem fractions averaged first -> (0.625 + 0.75) / 2
    assert ce["benches"]["arith"]["score"] == pytest.approx(0.6875)
    assert ce["seeds"] == [0, 1] and ce["overrides"] == {"beta1": 0.75, "beta2": 1}
    lo, hi = ce["benches"]["arith"]["lo"], ce["benches"]["arith"]["hi"]
    assert lo <= 0.6875 <= hi and hi > lo
    # the last complete metrics record (step 3), mean over seeds; the cut line is skipped
    assert ce["final_entropy"] == pytest.approx(1.0 - 0.3 - 0.005)
    assert ce["wall_time_s"] == pytest.approx(100.5)


def test_render_all_formats(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "ce-gppo": [CE0]}, BASE)
    rows = leaderboard.collect(d)
    paths = leaderboard.write_all(rows, d)
    assert sorted(p.name for p in paths) == sorted(f"leaderboard.{e}" for e in ("md", "csv", "json", "tex", "html"))
    data = json.loads((d / "leaderboard.json").read_text())
    assert [r["label"] for r in data][1:] == ["grpo", "ce-gppo"]
    table = list(csv.DictReader(io.StringIO((d / "leaderboard.csv").read_text())))
    assert [r["algorithm"] for r in table][1:] == ["grpo", "ce-gppo"]
    assert float(table[2]["arith"]) == pytest.approx(0.625)
    assert float(table[2]["delta_vs_base"]) == pytest.approx(0.5)
    assert float(table[1]["arith_ci_low"]) <= 0.5 <= float(table[1]["arith_ci_high"])
    md = (d / "leaderboard.md").read_text()
    assert "| grpo" in md and "62.5 ±" in md and "+50.0" in md and "arith avg@2" in md
    tex = (d / "leaderboard.tex").read_text()
    assert r"\begin{tabular}" in tex and "62.5 $\\pm$" in tex and "ce-gppo" in tex
    html = (d / "leaderboard.html").read_text()
    assert "<table>" in html and "<td>grpo" in html.replace("  ", " ")
    with pytest.raises(ValueError, match="valid formats"):
        leaderboard.render(rows, "xlsx")


def test_merge_labels_colliding_rows_by_run(tmp_path):
    a = _make_compare_dir(tmp_path / "runA", {"grpo": [GRPO]}, BASE)
    b = _make_compare_dir(tmp_path / "runB", {"grpo": [CE0], "dapo": [CE1]}, BASE)
    labels = [r["label"] for r in leaderboard.merge([a, b])]
    assert "grpo [runA]" in labels and "grpo [runB]" in labels and "dapo" in labels
    assert "base (base) [runA]" in labels
    with pytest.raises(ValueError, match="no such directory"):
        leaderboard.collect(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no finished run"):
        leaderboard.collect(tmp_path / "empty")


def test_curves_png(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO, GRPO], "ce-gppo": [CE0]}, BASE)
    runs = {"grpo": [d / "runs/grpo/seed-0/metrics.jsonl", d / "runs/grpo/seed-1/metrics.jsonl"],
            "ce-gppo": [d / "runs/ce-gppo/seed-0/metrics.jsonl"]}
    out = curves.plot(runs, d / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    steps, mean, std = curves.series([curves.read_metrics(p) for p in runs["grpo"]], "reward/mean")
    assert list(steps) == [1, 2, 3]
    assert mean[0] == pytest.approx(0.6) and std[0] == pytest.approx(0.5)  # seeds 0 and 1: 0.1 and 1.1


def test_algo_specs_and_sets():
    assert compare.split_algos("ppo,grpo,ce-gppo:beta1=0.75,beta2=1,dapo") == \
        ["ppo", "grpo", "ce-gppo:beta1=0.75,beta2=1", "dapo"]
    spec = compare.parse_algo_spec("ce-gppo:beta1=0.75,beta2=1")
    assert spec.algo == "ce-gppo" and spec.overrides == {"beta1": 0.75, "beta2": 1}
    assert spec.slug == "ce-gppo_beta1=0.75_beta2=1"
    with pytest.raises(ValueError, match="field=value"):
        compare.parse_algo_spec("ce-gppo:beta1")
    sets = compare.parse_sets(["steps=3", "eval.limit=5", "task_params={level: 2}", "compare.keep_final=false"])
    assert sets["train"] == {"steps": 3, "task_params": {"level": 2}}
    assert sets["eval"] == {"limit": 5} and sets["compare"] == {"keep_final": False}
    with pytest.raises(ValueError, match="unknown section"):
        compare.parse_sets(["evl.limit=3"])


def test_presets_are_valid_and_errors_list_choices(tmp_path):
    assert {"cpu-demo", "cpu-smoke", "tiny-test"} <= set(presets.names())
    demo = presets.load("cpu-demo")
    assert demo.algos == ["ppo", "grpo", "dapo", "ce-gppo"] and demo.train["model"] == "smollm2-135m"
    assert demo.train["task"] == "arith"
    for name in presets.names():
        EvalConfig.from_dict(presets.load(name).eval)
    with pytest.raises(ValueError, match="valid presets: cpu-demo, cpu-smoke, tiny-test"):
        presets.load("cpu-dmeo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("algos: [grpo]\ntrian: {steps: 1}\n")
    with pytest.raises(ValueError, match="unknown key.*trian.*valid keys"):
        presets.load(bad)
    bad.write_text("train: {seed: 3}\n")
    with pytest.raises(ValueError, match="seeds"):
        presets.load(bad)
    with pytest.raises(ValueError, match="does not exist"):
        presets.load(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="unknown evaluation setting.*valid"):
        EvalConfig.from_dict({"benchs": ["arith"]})
