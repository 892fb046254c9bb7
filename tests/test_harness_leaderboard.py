"""Leaderboard, curves, presets and option parsing of the comparison harness (no model: real files, real stats)."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from harness import leaderboard, presets, run_layout
from harness.compare import runner as compare
from harness.leaderboard import curves
from harness.evaluate import EvalConfig, score_problems
from harness.io import write_json


def _summary(correct, label="x"):
    answers = [["1" if c else "2" for c in row] for row in correct]
    return {"label": label, "model": label, "config": {}, "wall_time_s": 3.0,
            "benches": {"arith": dict(score_problems(correct, answers, k=len(correct[0]), bootstrap_samples=200),
                                      gold_unparsable=0, rows=len(correct))}}


def _default_metrics(seed: int) -> list[dict]:
    return [{"step": s, "reward/mean": 0.1 * s + seed, "entropy": 1.0 - 0.1 * s - 0.01 * seed,
             "clipfrac/low_neg": 0.01, "response_length/mean": 20 + s} for s in (1, 2, 3)]


def _make_compare_dir(root: Path, runs: dict[str, list[list[list[bool]]]], base, metrics=_default_metrics) -> Path:
    """runs: label -> one verdict matrix per seed; metrics(seed) -> that seed's metrics.jsonl records."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"algos": list(runs)}))
    if base is not None:
        write_json(root / "base" / "eval" / "summary.json", _summary(base, "base"))
    for label, per_seed in runs.items():
        for seed, correct in enumerate(per_seed):
            d = root / "runs" / compare.parse_algo_spec(label).slug / f"seed-{seed}"
            # each seed's evaluation took its own time: byte-identical summaries are a copied run (counted once)
            write_json(d / "eval" / "summary.json", {**_summary(correct, label), "wall_time_s": 3.0 + seed})
            (d / "metrics.jsonl").write_text("".join(json.dumps(rec) + "\n" for rec in metrics(seed))
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
    assert [r.label for r in rows] == ["base (base)", "grpo", "ce-gppo:beta1=0.75,beta2=1"]
    base, grpo, ce = rows
    assert base.is_base and base.average == pytest.approx(0.125)
    assert grpo.benches["arith"].score == pytest.approx(0.5)
    assert grpo.delta_vs_base == pytest.approx(0.375)
    # two seeds: per-problem fractions averaged first -> (0.625 + 0.75) / 2
    assert ce.benches["arith"].score == pytest.approx(0.6875)
    assert ce.seeds == [0, 1] and ce.overrides == {"beta1": 0.75, "beta2": 1}
    lo, hi = ce.benches["arith"].lo, ce.benches["arith"].hi
    assert lo <= 0.6875 <= hi and hi > lo
    # the last complete metrics record (step 3), mean over seeds; the cut line is skipped
    assert ce.final_entropy == pytest.approx(1.0 - 0.3 - 0.005)
    assert ce.wall_time_s == pytest.approx(100.5)


def test_render_all_formats(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "ce-gppo": [CE0]}, BASE)
    rows = leaderboard.collect(d)
    paths = leaderboard.write_all(rows, d)
    assert sorted(p.name for p in paths) == sorted(f"leaderboard{v}.{e}" for e in ("md", "csv", "json", "tex", "html")
                                                   for v in ("", "-verdicts", "-delta", "-dynamics"))
    assert not any(k.startswith("_") for r in json.loads((d / "leaderboard.json").read_text()) for k in r)
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
    labels = [r.label for r in leaderboard.merge([a, b])]
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
    steps, mean, std = curves.series([run_layout.read_metrics(p) for p in runs["grpo"]], "reward/mean")
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
    # the training fields go through train's --set parser: typed values, one entry of a preset's mapping replaced
    merged = compare.parse_sets(["task_params.n=7", "train.lr=1e-5"], train={"task_params": {"level": 2, "n": 400}})
    assert merged["train"] == {"task_params": {"level": 2, "n": 7}, "lr": 1e-5}


def test_presets_are_valid_and_errors_list_choices(tmp_path):
    assert {"cpu-demo", "cpu-smoke", "tiny-test"} <= set(presets.names())
    demo = presets.load("cpu-demo")
    assert demo.algos == ["grpo", "ce-gppo"] and demo.train["model"] == "smollm2-135m"
    assert demo.train["task"] == "arith" and len(demo.seeds) >= 3        # verdicts need the seed variance
    assert demo.eval["temperature"] == 0                                   # greedy: the base score is fixed
    for name in presets.names():
        EvalConfig.from_dict(presets.load(name).eval)
    # every shipped preset is listed, not only the three the suite relies on
    with pytest.raises(ValueError, match="valid presets: " + re.escape(", ".join(presets.names()))):
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
    with pytest.raises(ValueError, match="unknown EvalConfig field.*benchs.*valid fields"):
        EvalConfig.from_dict({"benchs": ["arith"]})


# ----------------------------------------------------------------------------------------------------------------
# delta and dynamics views, --only

WRONG = [[False, False]] * 4
RIGHT = [[True, True]] * 4
ONE_BETTER = [[True, True], [False, False], [False, False], [False, False]]   # base + problem 0


def test_delta_view_paired_interval_hand_cases(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"perfect": [RIGHT], "one-better": [ONE_BETTER]}, WRONG)
    base, perfect, one = leaderboard.delta_rows(leaderboard.collect(d))
    assert base["is_base"] and base["benches"]["arith"]["delta"] is None and base["benches"]["arith"]["score"] == 0
    # every problem goes from 0 to 1: every resample's difference is exactly 1
    p = perfect["benches"]["arith"]
    assert (p["delta"], p["lo"], p["hi"], p["excludes_zero"], p["problems"]) == (1.0, 1.0, 1.0, True, 4)
    # ... but 4 of 4 problems is what a fair coin gives 1 time in 8 (two-sided): the exact sign test decides
    assert p["p_sign"] == pytest.approx(0.125) and p["p_value"] == pytest.approx(0.125)
    assert p["verdict"] == "indistinguishable"
    # differences [1, 0, 0, 0]: a resample misses problem 0 with probability (3/4)^4 = 0.32 > 2.5%, so lo = 0
    o = one["benches"]["arith"]
    assert o["delta"] == pytest.approx(0.25) and o["lo"] == 0.0 and 0.25 <= o["hi"] <= 1.0
    assert o["excludes_zero"] is False and o["p_sign"] == 1.0 and o["p_holm"] == 1.0
    md = leaderboard.render(leaderboard.collect(d), "md", "delta")
    assert "+100.0 [+100.0, +100.0]" in md and "+25.0 [+0.0," in md
    assert [line.split("|")[-2].strip() for line in md.splitlines()[2:]] == ["-", "indistinguishable",
                                                                               "indistinguishable"]


def test_delta_view_pools_seeds_then_pairs_with_base(tmp_path):
    from harness.leaderboard import stats

    d = _make_compare_dir(tmp_path / "cmp", {"ce-gppo": [CE0, CE1]}, BASE)
    _, ce = leaderboard.delta_rows(leaderboard.collect(d))
    c = ce["benches"]["arith"]
    seeds = [[1.0, 1.0, 0.0, 0.5], [1.0, 1.0, 1.0, 0.0]]   # per problem: CE0 and CE1
    base = [0.0, 0.5, 0.0, 0.0]
    assert c["per_seed"] == [0.625, 0.75] and c["score"] == pytest.approx(0.6875)
    assert c["delta"] == pytest.approx(0.5625)  # mean of the differences
    expected = stats.paired_hierarchical_bootstrap(seeds, [base], reference=True,
                                                   n_boot=leaderboard.BOOTSTRAP_SAMPLES, bounds=(0.0, 1.0))
    assert (c["lo"], c["hi"], c["p_value"]) == (expected.low, expected.high, expected.p_value)
    assert c["p_value"] == max(expected.p_boot, expected.p_t)      # fractions of 0.5: not 0/1, no sign test
    assert c["p_holm"] == c["p_value"] and c["verdict"] == "indistinguishable"   # 2 seeds, 4 problems
    md = leaderboard.render(leaderboard.collect(d), "md", "delta")
    assert "62.5 / 75.0" in md and "68.8" in md


def test_delta_view_without_base_says_why(tmp_path):
    d = _make_compare_dir(tmp_path / "nobase", {"grpo": [GRPO]}, None)
    (row,) = leaderboard.delta_rows(leaderboard.collect(d))
    assert row["benches"]["arith"]["delta"] is None and "no base model" in row["benches"]["arith"]["note"]
    assert "| -" in leaderboard.render(leaderboard.collect(d), "md", "delta")


def _dynamics_metrics(seed: int) -> list[dict]:
    recs = []
    for t in range(1, 9):
        rec = {"step": t, "entropy": 2.0 - (0.1 + 0.02 * seed) * t, "accuracy": t / 10 + 0.1 * seed,
               "gradshare/low_neg": 0.02 * (seed + 1), "clipfrac/low_neg": 0.1 * (t % 2)}
        if seed == 0:
            rec["clipfrac/high_pos"] = 0.01
        if t in (4, 8):
            rec["eval/accuracy"] = 0.25 * (t // 4) + 0.25 * seed
        # step timers (harness.timing): 10 s a step (11 for seed 1), 5 in the update, 3 (4) in rollouts, an
        # evaluation of 1 s at the last step
        rec.update({"time/step_s": 10.0 + seed, "time/update_s": 5.0, "time/rollout_s": 3.0 + seed,
                    "time/eval_s": 1.0 if t == 8 else 0.0})
        recs.append(rec)
    return recs


def test_dynamics_view_by_hand(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"ce-gppo": [GRPO, GRPO]}, BASE, metrics=_dynamics_metrics)
    rows = leaderboard.collect(d)
    (dyn,) = leaderboard.dynamics_rows(rows)  # the base row has no training: left out
    # seed 0: entropy 2 - .1 t -> first 3 steps 1.8, last 3 (6..8) 1.3; seed 1: 2 - .12 t -> 1.76, 1.16
    assert dyn["entropy_start"] == pytest.approx(1.78) and dyn["entropy_end"] == pytest.approx(1.23)
    assert dyn["entropy_change"] == pytest.approx(-0.55)
    assert dyn["entropy_change_per_seed"] == pytest.approx([-0.5, -0.6])
    # accuracy t/10 (+.1 for seed 1): steps 1..5 -> .3 / .4, steps 4..8 -> .6 / .7
    assert dyn["accuracy_first"] == pytest.approx(0.35) and dyn["accuracy_last"] == pytest.approx(0.65)
    assert dyn["gradshare/low_neg"] == pytest.approx(0.03) and dyn["gradshare/high_pos"] is None
    assert dyn["clipfrac/low_neg"] == pytest.approx(0.05)
    assert dyn["clipfrac/high_pos"] == pytest.approx(0.01)  # only seed 0 logged it
    assert dyn["eval_accuracy_final"] == pytest.approx(0.625) and dyn["steps"] == 8
    # mean step 10.5 s: update 5 (48%), rollout 3.5 (33%), evaluation 0.125 (1%); phases never logged: None
    assert dyn["time/step_s"] == pytest.approx(10.5) and dyn["time/rollout_s"] == pytest.approx(3.5)
    assert dyn["time/eval_s"] == pytest.approx(0.125) and dyn["time/checkpoint_s"] is None
    md = leaderboard.render(rows, "md", "dynamics")
    line = next(x for x in md.splitlines() if x.startswith("| ce-gppo"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells == ["ce-gppo", "2", "8", "1.780", "1.230", "-0.550 (-0.500 / -0.600)", "35.0", "65.0", "3.00",
                     "-", "5.00", "1.00", "62.5"] + ["-"] * 5 + \
        ["10.5", "update 48% rollout 33% eval 1%"]      # no budget/* logged
    table = list(csv.DictReader(io.StringIO(leaderboard.render(rows, "csv", "dynamics"))))
    assert float(table[0]["entropy_change"]) == pytest.approx(-0.55) and table[0]["gradshare_high_pos"] == ""
    assert table[0]["entropy_change_per_seed"] == "-0.5 -0.6"


def test_every_view_in_every_format_parses(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "ce-gppo:beta1=0.75,beta2=1": [CE0, CE1]}, BASE,
                          metrics=_dynamics_metrics)
    rows = leaderboard.collect(d)
    for view in leaderboard.VIEWS:
        if view == "verdicts":  # one document of several tables: tests/test_leaderboard_verdicts.py
            continue
        data = json.loads(leaderboard.render(rows, "json", view))
        expected = ["grpo", "ce-gppo:beta1=0.75,beta2=1"]
        assert [r["label"] for r in data][-2:] == expected
        table = list(csv.DictReader(io.StringIO(leaderboard.render(rows, "csv", view))))
        assert [r["algorithm"] for r in table][-2:] == expected
        assert r"\begin{tabular}" in leaderboard.render(rows, "latex", view)
        assert "<table>" in leaderboard.render(rows, "html", view)
        assert "ce-gppo:beta1=0.75,beta2=1" in leaderboard.render(rows, "md", view)
    delta_csv = list(csv.DictReader(io.StringIO(leaderboard.render(rows, "csv", "delta"))))
    assert delta_csv[2]["arith_per_seed"] == "0.625 0.75" and delta_csv[2]["arith_verdict"] == "indistinguishable"
    assert float(delta_csv[1]["arith_delta"]) == pytest.approx(0.375)
    assert r"[95\% CI]" in leaderboard.render(rows, "latex", "delta")
    with pytest.raises(ValueError, match="valid views: verdicts, scores, delta, dynamics"):
        leaderboard.render(rows, "md", "deltas")


def test_only_filter_keeps_base_and_errors_list_labels(tmp_path, capsys):
    from harness.cli import main

    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "ce-gppo:beta1=0.75,beta2=1": [CE0],
                                             "ce-gppo:beta1=1,beta2=0.5": [CE1]}, BASE)
    out = tmp_path / "only.json"
    assert main(["leaderboard", str(d), "--view", "delta", "--only", "ce-gppo*", "--format", "json",
                 "-o", str(out)]) == 0
    assert [r["label"] for r in json.loads(out.read_text())] == \
        ["base (base)", "ce-gppo:beta1=0.75,beta2=1", "ce-gppo:beta1=1,beta2=0.5"]
    assert main(["leaderboard", str(d), "--view", "scores", "--only", "grpo", "--only", "*beta2=0.5",
                 "--format", "csv"]) == 0
    assert [r["algorithm"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == \
        ["base (base)", "grpo", "ce-gppo:beta1=1,beta2=0.5"]
    assert main(["leaderboard", str(d), "--only", "gppo"]) == 2
    err = capsys.readouterr().err
    assert "--only 'gppo' matches no row" in err and "'grpo', 'ce-gppo:beta1=0.75,beta2=1'" in err


def test_refresh_markdown_blocks_and_check(tmp_path, capsys):
    """Tables kept in a README between markers are regenerated from the run files; --check fails on a stale one."""
    from harness.cli import main

    d = _make_compare_dir(tmp_path / "study" / "cmp", {"grpo": [GRPO], "ce-gppo:beta1=0.75,beta2=1": [CE0, CE1]},
                          BASE)
    readme = tmp_path / "study" / "README.md"
    readme.write_text("# Study\n\n<!-- rlvr-zoo leaderboard cmp --view delta --only 'ce-gppo*' -->\nold table\n"
                      "<!-- /rlvr-zoo leaderboard -->\n\ntext between\n\n<!-- rlvr-zoo leaderboard cmp -->\n"
                      "<!-- /rlvr-zoo leaderboard -->\nend\n")
    assert main(["leaderboard", "--refresh", str(readme), "--check"]) == 1
    assert "2 table block(s), 2 differ" in capsys.readouterr().out
    assert "old table" in readme.read_text()              # --check writes nothing
    assert main(["leaderboard", "--refresh", str(readme)]) == 0
    text = readme.read_text()
    delta = leaderboard.render(leaderboard.select(leaderboard.collect(d), ["ce-gppo*"]), "md", "delta")
    scores = leaderboard.render(leaderboard.collect(d), "md")     # the default view: verdicts
    assert text == ("# Study\n\n<!-- rlvr-zoo leaderboard cmp --view delta --only 'ce-gppo*' -->\n" + delta +
                    "<!-- /rlvr-zoo leaderboard -->\n\ntext between\n\n<!-- rlvr-zoo leaderboard cmp -->\n" + scores +
                    "<!-- /rlvr-zoo leaderboard -->\nend\n")
    capsys.readouterr()
    assert main(["leaderboard", "--refresh", str(readme), "--check"]) == 0
    assert "0 differ" in capsys.readouterr().out
    readme.write_text("<!-- rlvr-zoo leaderboard cmp -->\nno end marker\n")
    assert main(["leaderboard", "--refresh", str(readme)]) == 2
    assert "has no closing line '<!-- /rlvr-zoo leaderboard -->'" in capsys.readouterr().err
    readme.write_text("no blocks\n")
    assert main(["leaderboard", "--refresh", str(readme)]) == 2
    assert "no table block" in capsys.readouterr().err
    # a block's ARGS go through the command's own parser: its errors, and options a block cannot take
    for args, message in (("cmp --format csv", "option --format is not supported in a Markdown block"),
                          ("cmp --vew delta", "unrecognized arguments: --vew delta"),
                          ("cmp --view deltas", "invalid choice: 'deltas'"), ("--view delta", "no RUN_DIR given")):
        readme.write_text(f"<!-- rlvr-zoo leaderboard {args} -->\n<!-- /rlvr-zoo leaderboard -->\n")
        assert main(["leaderboard", "--refresh", str(readme)]) == 2
        assert f"block '{args}': " in (err := capsys.readouterr().err) and message in err, err


def test_committed_markdown_tables_match_the_committed_run_files():
    """Every table block in the README and in results/*/README.md equals what `rlvr-zoo leaderboard` prints for the
    committed run files now (refresh with `rlvr-zoo leaderboard --refresh FILE`)."""
    from harness.commands.leaderboard import block_table

    root = Path(__file__).resolve().parents[1]
    files = [p for p in [root / "README.md", *sorted((root / "results").glob("*/README.md"))]
             if leaderboard.BLOCK_OPEN in p.read_text()]
    assert root / "README.md" in files
    for path in files:
        blocks, changed = leaderboard.refresh(path, block_table, check=True)
        assert blocks >= 1 and changed == [], f"{path}: stale table block(s) {changed}; run `rlvr-zoo leaderboard --refresh {path}`"


# ---------------------------------------------------------------------------------------------------------------
# damaged or partial run files are named, never used silently


def test_truncated_summary_is_an_error_naming_the_file(tmp_path, capsys):
    from harness.cli import main

    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO]}, BASE)
    summary = d / "runs" / "grpo" / "seed-0" / "eval" / "summary.json"
    text = summary.read_text()
    summary.write_text(text[: len(text) // 2])
    from harness.errors import UserError

    with pytest.raises(UserError, match=rf"{re.escape(str(summary))}: cannot be read as JSON"):
        leaderboard.collect(d)
    assert main(["leaderboard", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(summary) in err
    write_json(summary, {"benches": ["arith"]})
    with pytest.raises(UserError, match="not an evaluation summary"):
        leaderboard.collect(d)


def test_partial_per_problem_list_is_left_out_with_a_warning(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO, GRPO]}, BASE)
    summary = d / "runs" / "grpo" / "seed-1" / "eval" / "summary.json"
    data = json.loads(summary.read_text())
    data["benches"]["arith"]["per_problem"] = data["benches"]["arith"]["per_problem"][:2]   # 2 of 4 problems
    write_json(summary, data)
    with pytest.warns(leaderboard.PartialRunWarning,
                      match=rf"{re.escape(str(summary))}: arith: per_problem holds 2 values for 4 problems"):
        rows = leaderboard.collect(d)
    grpo = rows[1]
    assert grpo.benches["arith"].seeds == 1 and grpo.benches["arith"].score == pytest.approx(0.5)


def test_finished_run_without_eval_and_truncated_metrics_are_reported(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO], "dapo": [CE0]}, BASE)
    grpo = d / "runs" / "grpo" / "seed-0"
    (grpo / "eval" / "summary.json").unlink()
    dapo = d / "runs" / "dapo" / "seed-0"
    write_json(dapo / "run.json", {"status": "completed", "step": 5})   # metrics.jsonl stops at step 3
    with pytest.warns(UserWarning) as record:
        rows = leaderboard.collect(d)
    messages = [str(w.message) for w in record]
    assert any(str(grpo) in m and "has no eval/summary.json" in m for m in messages), messages
    assert any(f"{dapo / 'metrics.jsonl'} ends at step 3 but" in m and "truncated" in m for m in messages), messages
    assert any(f"{dapo / 'metrics.jsonl'}: line(s) 4 are not valid JSON" in m for m in messages), messages
    assert {r.label: r.benches["arith"] for r in rows}["grpo"] is None


def _probe_metrics(seeds_with_probe):
    """_dynamics_metrics plus `entropy/probe` (step 0 record, then steps 4 and 8) for the given seeds."""
    def metrics(seed: int) -> list[dict]:
        recs = _dynamics_metrics(seed)
        if seed in seeds_with_probe:
            recs = [{"step": 0, "entropy/probe": 3.0 + seed}] + recs
            for rec in recs:
                if rec["step"] in (4, 8):
                    rec["entropy/probe"] = 3.0 + seed - 0.05 * rec["step"]
        return recs
    return metrics


def test_dynamics_view_uses_probe_entropy_when_every_seed_logged_it(tmp_path):
    d = _make_compare_dir(tmp_path / "cmp", {"ce-gppo": [GRPO, GRPO]}, BASE, metrics=_probe_metrics({0, 1}))
    rows = leaderboard.collect(d)
    (dyn,) = leaderboard.dynamics_rows(rows)
    # probe: seed 0 from 3.0 (step 0) to 2.6 (step 8), seed 1 from 4.0 to 3.6
    assert dyn["entropy_source"] == "probe"
    assert dyn["entropy_start"] == pytest.approx(3.5) and dyn["entropy_end"] == pytest.approx(3.1)
    assert dyn["entropy_change_per_seed"] == pytest.approx([-0.4, -0.4])
    assert dyn["steps"] == 8 and dyn["accuracy_first"] == pytest.approx(0.35)   # the step-0 record has no accuracy
    md = leaderboard.render(rows, "md", "dynamics")
    assert "probe entropy start (step 0)" in md and "rollout entropy" not in md
    table = list(csv.DictReader(io.StringIO(leaderboard.render(rows, "csv", "dynamics"))))
    assert table[0]["entropy_source"] == "probe"
    # one seed without the probe: the row falls back to rollout entropy (first / last 3 steps), and says so
    d2 = _make_compare_dir(tmp_path / "cmp2", {"ce-gppo": [GRPO, GRPO]}, BASE, metrics=_probe_metrics({0}))
    rows2 = leaderboard.collect(d2)
    (dyn2,) = leaderboard.dynamics_rows(rows2)
    assert dyn2["entropy_source"] == "rollout" and dyn2["entropy_start"] == pytest.approx(1.78)
    assert "rollout entropy start (first 3)" in leaderboard.render(rows2, "md", "dynamics")
    # both kinds in one table: the rollout rows are marked
    from harness.leaderboard.render import dynamics_table

    headers, body = dynamics_table(rows + rows2)
    assert "probe: step 0" in headers[3]
    assert body[0][3] == "3.500" and body[1][3].startswith("†")


# ---------------------------------------------------------------------------------------------------------------
# which answer checker scored each row: a note when one table mixes checkers


def _stamp(root: Path, fingerprint: str | None, pattern: str = "**/summary.json") -> None:
    """Record `fingerprint` as the checker of the summaries under `root` (None: remove the record), in the shape
    harness.evaluate writes (`rewards.checker_record()`)."""
    for path in root.glob(pattern):
        data = json.loads(path.read_text())
        data.pop("checker", None)
        if fingerprint is not None:
            data["checker"] = {"fingerprint": fingerprint, "sympy": "1.14.0"}
        write_json(path, data)


MIXED = "Scored by different answer checkers"


def _every_human_output(rows) -> dict[str, str]:
    return {f"{view}.{fmt}": leaderboard.render(rows, fmt, view) for view in leaderboard.VIEWS
            for fmt in ("md", "latex", "html")}


def test_two_directories_scored_by_different_checkers_get_one_note(tmp_path, capsys):
    from harness.cli import main

    a = _make_compare_dir(tmp_path / "runA", {"grpo": [GRPO]}, BASE)
    b = _make_compare_dir(tmp_path / "runB", {"dapo": [CE0]}, BASE)
    _stamp(a, "aaaaaaaaaaaa")
    _stamp(b, "bbbbbbbbbbbb")
    rows = leaderboard.merge([a, b])
    assert [r.checkers for r in rows] == [["aaaaaaaaaaaa"]] * 2 + [["bbbbbbbbbbbb"]] * 2
    md = leaderboard.render(rows, "md", "scores")
    note = next(line for line in md.splitlines() if MIXED in line)
    assert md.count(MIXED) == 1
    assert "checker aaaaaaaaaaaa (base (base) [runA], grpo)" in note
    assert "checker bbbbbbbbbbbb (base (base) [runB], dapo)" in note
    assert "python -m tools.checker.recheck DIR --rescored-copy NEW_DIR" in note
    for name, text in _every_human_output(rows).items():
        assert "aaaaaaaaaaaa" in text and "bbbbbbbbbbbb" in text, name
    assert any(MIXED in n for n in json.loads(leaderboard.render(rows, "json", "verdicts"))["notes"])
    # csv and json records keep their shape; the command says it on stderr
    assert main(["leaderboard", str(a), str(b), "--view", "scores", "--format", "csv", "--no-page"]) == 0
    captured = capsys.readouterr()
    assert MIXED not in captured.out and captured.err.startswith("note: " + MIXED)


def test_one_checker_or_none_recorded_prints_no_note_and_a_mix_with_none_does(tmp_path, capsys):
    from harness.cli import main

    a = _make_compare_dir(tmp_path / "runA", {"grpo": [GRPO]}, BASE)
    b = _make_compare_dir(tmp_path / "runB", {"dapo": [CE0, CE1]}, BASE)
    # results written before summaries recorded a checker: nothing is mixed
    unrecorded = _every_human_output(leaderboard.merge([a, b]))
    assert not any(MIXED in text for text in unrecorded.values())
    assert main(["leaderboard", str(a), str(b), "--format", "json", "--no-page"]) == 0
    assert MIXED not in capsys.readouterr().err
    # every summary scored by one checker: the same tables as with no record at all
    _stamp(a, "cccccccccccc")
    _stamp(b, "cccccccccccc")
    assert _every_human_output(leaderboard.merge([a, b])) == unrecorded
    # some summaries with a record and some without
    _stamp(b, None)
    note = verdicts_note(leaderboard.merge([a, b]))
    assert "checker cccccccccccc (base (base) [runA], grpo)" in note
    assert "no recorded checker (base (base) [runB], dapo;" in note
    # one row whose seeds were scored by different checkers
    _stamp(a, None)
    _stamp(b, "dddddddddddd")
    _stamp(b, "eeeeeeeeeeee", "runs/*/seed-1/eval/summary.json")
    note = verdicts_note(leaderboard.collect(b))
    assert "checker dddddddddddd (base (base), dapo) and checker eeeeeeeeeeee (dapo)" in note
    assert leaderboard.render(leaderboard.collect(b), "md").count(MIXED) == 1


def verdicts_note(rows) -> str:
    from harness.leaderboard.verdicts import checker_note

    note = checker_note(rows)
    assert note is not None and note.startswith(MIXED)
    return note


def test_a_checker_record_of_the_wrong_shape_is_an_error_naming_the_file(tmp_path):
    from harness.errors import UserError

    d = _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO]}, BASE)
    summary = d / "base" / "eval" / "summary.json"
    write_json(summary, {**json.loads(summary.read_text()), "checker": "abc"})
    with pytest.raises(UserError, match=rf"{re.escape(str(summary))}: not an evaluation summary \(checker is 'abc'"):
        leaderboard.collect(d)
