"""The verdicts view of `rlvr-zoo leaderboard`: per-seed scores, hierarchical intervals, Holm-corrected verdicts
against the base model and between objectives, the minimum detectable difference, and the one-seed rule. Real
comparison directories (summary.json, DONE) written from known 0/1 outcomes; every figure is checked against the
`harness.leaderboard.stats` functions applied by hand to the same tables."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import yaml

from harness import leaderboard
from harness.leaderboard import stats
from harness.evaluate import score_problems
from harness.io import write_json
from harness.leaderboard import verdicts

N = 80   # problems


def _summary(correct: np.ndarray, label: str) -> dict:
    rows = [[bool(c)] for c in correct]
    answers = [["1" if c else "2"] for c in correct]
    return {"label": label, "model": label, "config": {}, "wall_time_s": 1.0,
            "benches": {"arith": dict(score_problems(rows, answers, k=1, bootstrap_samples=50), gold_unparsable=0,
                                      rows=len(rows))}}


def _compare_dir(root, base: np.ndarray, runs: dict[str, list[np.ndarray]]):
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"algos": list(runs)}))
    write_json(root / "base" / "eval" / "summary.json", _summary(base, "base"))
    for label, seeds in runs.items():
        for seed, correct in enumerate(seeds):
            d = root / "runs" / label / f"seed-{seed}"
            write_json(d / "eval" / "summary.json", _summary(correct, label))
            (d / "metrics.jsonl").write_text(json.dumps({"step": 1, "entropy": 1.0}) + "\n")
            write_json(d / "DONE", {"label": label, "algo": label, "overrides": {}, "seed": seed, "wall_time_s": 2.0})
    return root


def _outcomes(rng, p_correct: float, seeds: int) -> list[np.ndarray]:
    return [(rng.random(N) < p_correct).astype(float) for _ in range(seeds)]


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = (rng.random(N) < 0.15).astype(float)
    bad = _outcomes(rng, 0.2, 3)
    runs = {"good": _outcomes(rng, 0.8, 3), "bad": bad, "same": [b.copy() for b in bad]}
    return _compare_dir(tmp_path_factory.mktemp("v") / "cmp", base, runs), base, runs


def test_verdicts_match_the_statistics_by_hand(three_seeds):
    d, base, runs = three_seeds
    data = json.loads(leaderboard.render(leaderboard.collect(d), "json", "verdicts"))
    # scores: mean over seeds, each seed's score, the hierarchical interval of the seeds x problems table
    good = next(s for s in data["scores"] if s["label"] == "good")["benches"]["arith"]
    ci = stats.hierarchical_bootstrap(np.array(runs["good"]), n_boot=leaderboard.BOOTSTRAP_SAMPLES, seed=0)
    assert (good["score"], good["lo"], good["hi"]) == (ci.mean, ci.low, ci.high)
    assert good["per_seed"] == pytest.approx([r.mean() for r in runs["good"]]) and good["seeds"] == 3
    # against the base model: reference comparison, Holm over the three rows
    diffs = [stats.paired_hierarchical_bootstrap(np.array(runs[k]), [base], reference=True,
                                                 n_boot=leaderboard.BOOTSTRAP_SAMPLES) for k in ("good", "bad", "same")]
    holm = stats.holm([x.p_value for x in diffs])
    assert [e["p_holm"] for e in data["vs_base"]] == pytest.approx(list(holm))
    assert [e["diff"]["p_value"] for e in data["vs_base"]] == pytest.approx([x.p_value for x in diffs])
    assert data["vs_base"][0]["verdict"] == "good > base"
    # pairwise: paired by seed (same directory, same seeds); identical arms are indistinguishable
    pairs = {(e["a"], e["b"]): e for e in data["pairwise"]}
    assert set(pairs) == {("good", "bad"), ("good", "same"), ("bad", "same")}
    assert pairs[("good", "bad")]["verdict"] == "good > bad" and pairs[("good", "bad")]["diff"]["paired_seeds"]
    assert pairs[("bad", "same")]["verdict"] == "indistinguishable" and pairs[("bad", "same")]["diff"]["diff"] == 0
    p_pairs = [stats.paired_hierarchical_bootstrap(np.array(runs[a]), np.array(runs[b]), seeds_a=[0, 1, 2],
                                                   seeds_b=[0, 1, 2], n_boot=leaderboard.BOOTSTRAP_SAMPLES).p_value
               for a, b in pairs]
    assert [e["p_holm"] for e in pairs.values()] == pytest.approx(list(stats.holm(p_pairs)))
    # MDD: variance components of the three paired difference tables, averaged
    comps = [stats.variance_components(np.array(runs[a]) - np.array(runs[b])) for a, b in pairs]
    pooled = stats.VarianceComponents(seed=np.mean([c.seed for c in comps]), problem=np.mean([c.problem for c in comps]),
                                      resid=np.mean([c.resid for c in comps]), n_seeds=3, n_problems=N)
    mdd = data["mdd"]["arith"]
    assert mdd["mdd"] == pytest.approx(stats.minimum_detectable_difference(pooled))
    assert (mdd["seeds"], mdd["problems"], mdd["pairs"]) == (3, N, 3)
    assert mdd["seeds_for_target"] == stats.seeds_for_difference(pooled, 0.10)
    assert any("minimum detectable difference between two objectives" in n for n in data["notes"])


def test_verdicts_md_is_the_default_view_and_every_format_renders(three_seeds, capsys):
    from harness.cli import main

    d, _, _ = three_seeds
    assert main(["leaderboard", str(d)]) == 0
    md = capsys.readouterr().out
    assert md.startswith("**Scores") and "**Against the base model" in md and "**Between objectives" in md
    assert "| good " in md and "good > bad" in md and "Holm over 3 comparisons" in md
    assert "minimum detectable difference between two objectives" in md and verdicts.NO_RANKING not in md
    rows = leaderboard.collect(d)
    table = list(csv.DictReader(io.StringIO(leaderboard.render(rows, "csv", "verdicts"))))
    assert {r["kind"] for r in table} == {"score", "vs_base", "pairwise"}
    assert next(r for r in table if r["kind"] == "pairwise" and r["a"] == "good")["verdict"] == "good > bad"
    assert leaderboard.render(rows, "latex", "verdicts").count(r"\begin{tabular}") == 3
    html = leaderboard.render(rows, "html", "verdicts")
    assert html.count("<table>") == 3 and "<p><b>Scores" in html


def test_one_seed_says_no_ranking_is_supported(tmp_path):
    rng = np.random.default_rng(1)
    d = _compare_dir(tmp_path / "one", (rng.random(N) < 0.15).astype(float),
                     {"a": _outcomes(rng, 0.9, 1), "b": _outcomes(rng, 0.1, 1)})
    rows = leaderboard.collect(d)
    md = leaderboard.render(rows, "md")
    assert verdicts.NO_RANKING in md and "Between objectives" not in md
    assert "minimum detectable difference not estimable with one seed" in md
    data = json.loads(leaderboard.render(rows, "json"))
    assert [e["verdict"] for e in data["pairwise"]] == [verdicts.ONE_SEED]
    assert data["mdd"]["arith"] is None and data["vs_base"][0]["verdict"] == "a > base"


def test_a_one_seed_row_gets_no_pairwise_verdict(tmp_path):
    rng = np.random.default_rng(2)
    d = _compare_dir(tmp_path / "mixed", (rng.random(N) < 0.15).astype(float),
                     {"a": _outcomes(rng, 0.9, 3), "b": _outcomes(rng, 0.1, 1), "c": _outcomes(rng, 0.1, 2)})
    data = json.loads(leaderboard.render(leaderboard.collect(d), "json"))
    verdict = {(e["a"], e["b"]): e["verdict"] for e in data["pairwise"]}
    assert verdict[("a", "b")] == verdict[("b", "c")] == verdicts.ONE_SEED
    assert verdict[("a", "c")] in ("a > c", "indistinguishable")
    assert verdicts.NO_RANKING not in leaderboard.render(leaderboard.collect(d), "md")
