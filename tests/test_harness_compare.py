"""End to end: `rlvr-zoo compare` on tiny-random (two objectives, two steps), resuming, leaderboards in all five
formats, error messages, and a user plugin through `list` and `compare`. Real model, real trainer, real files."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.cli import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _compare(out: Path, *extra: str) -> int:
    return main(["compare", "--preset", "tiny-test", "--out", str(out), "--no-progress", *extra])


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "tiny"
    assert _compare(out, "--algos", "grpo,ce-gppo:beta1=0.75,beta2=1") == 0
    return out


def test_compare_writes_every_file(compared):
    out = compared
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["algos"] == ["grpo", "ce-gppo:beta1=0.75,beta2=1"] and cfg["train"]["model"] == "tiny-random"
    base = json.loads((out / "base/eval/summary.json").read_text())
    assert base["benches"]["arith"]["problems"] == 4 and base["model"] == "tiny-random"
    assert len((out / "base/eval/arith.responses.jsonl").read_text().splitlines()) == 4 * 2
    # where the invocation's time went (harness.compare.time_report): its own phases, each run's, and the totals
    timing = json.loads((out / "timing.json").read_text())
    assert set(timing["runs"]) == {"grpo/seed-0", "ce-gppo_beta1=0.75_beta2=1/seed-0"}
    assert timing["phases"]["base_eval_s"] > 0 and timing["phases"]["train_s"] > 0
    assert all(r["steps"]["update_s"] > 0 and r["trainer"]["load_s"] > 0 for r in timing["runs"].values())
    assert sum(timing["totals"].values()) == pytest.approx(timing["wall_s"], rel=0.01)
    probes = set()
    for slug in ("grpo", "ce-gppo_beta1=0.75_beta2=1"):
        run = out / "runs" / slug / "seed-0"
        done = json.loads((run / "DONE").read_text())
        assert done["seed"] == 0 and done["wall_time_s"] > 0
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        # step 0: the initial model's entropy on the fixed probe set (harness.training.probe), the same tokens in
        # every arm (one seed, one model)
        assert [r["step"] for r in records] == [0, 1, 2] and \
            set(records[0]) == {"step", "entropy/probe", "time/probe_s"}
        assert all("entropy/probe" in r for r in records)       # eval_every: 1
        probes.add((run / "entropy_probe.json").read_text())
        records = records[1:]
        # ratio/mean and loss/policy come only from the objective's loss, so the clip fractions beside them were
        # measured by it; eval/* only from the held-out callback
        for key in ("reward/mean", "entropy", "ratio/mean", "loss/policy", "clipfrac/low_neg", "clipfrac/high_pos",
                    "response_length/mean", "eval/accuracy", "eval/arith/avg@1"):
            assert all(key in r for r in records), key
        assert all(0.0 <= r[k] <= 1.0 for r in records for k in ("clipfrac/low_neg", "clipfrac/high_pos"))
        assert (run / "run.json").is_file() and (run / "final" / "config.json").is_file()
        assert not (run / "checkpoints").exists()  # removed once the run is finished (keep_checkpoints: false)
        summary = json.loads((run / "eval/summary.json").read_text())
        assert summary["label"] == done["label"] and summary["model"] == str(run / "final") and summary["step"] == 2
        s = summary["benches"]["arith"]
        assert s["problems"] == 4 and s["k"] == 2 and 0.0 <= s["avg@2"] <= 1.0
        assert s["pass@"]["1"] == pytest.approx(s["avg@2"])  # pass@1 estimated from k samples is avg@k
        assert s["ci95"][0] <= s["avg@2"] <= s["ci95"][1]
        lines = [json.loads(x) for x in (run / "eval/arith.responses.jsonl").read_text().splitlines()]
        assert len(lines) == 8 and all({"id", "response", "extracted", "correct", "gold"} <= set(x) for x in lines)
        assert sum(x["correct"] for x in lines) / 8 == pytest.approx(s["avg@2"])
    assert done["algo"] == "ce-gppo" and done["overrides"] == {"beta1": 0.75, "beta2": 1}
    assert len(probes) == 1   # both arms teacher-force the same probe tokens
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    for ext in ("md", "csv", "json", "tex", "html"):
        assert (out / f"leaderboard.{ext}").stat().st_size > 0


def test_leaderboard_renders_compare_in_all_formats(compared, tmp_path, capsys):
    labels = ["base (tiny-random)", "grpo", "ce-gppo:beta1=0.75,beta2=1"]
    texts = {}
    for fmt in ("md", "csv", "latex", "html", "json"):
        assert main(["leaderboard", str(compared), "--view", "scores", "--format", fmt,
                     "-o", str(tmp_path / f"lb.{fmt}")]) == 0
        texts[fmt] = (tmp_path / f"lb.{fmt}").read_text()
    rows = json.loads(texts["json"])
    assert [r["label"] for r in rows] == labels
    table = list(csv.DictReader(io.StringIO(texts["csv"])))
    assert [r["algorithm"] for r in table] == labels
    assert 0.0 <= float(table[1]["arith"]) <= 1.0 and table[1]["final_entropy"] != ""
    for fmt in ("md", "latex", "html"):
        for label in ("grpo", "ce-gppo:beta1=0.75,beta2=1"):
            assert label in texts[fmt], (fmt, label)
    assert r"\begin{tabular}" in texts["latex"] and "<table>" in texts["html"]
    # stdout by default; two directories merge (same labels -> labelled by run directory)
    copy = tmp_path / "copy"
    shutil.copytree(compared, copy, ignore=shutil.ignore_patterns("final"))
    with pytest.warns(UserWarning, match="the same evaluation appears in two directories"):   # named, not pooled
        assert main(["leaderboard", str(compared), str(copy), "--view", "scores", "--format", "json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert len(merged) == 6 and {"grpo [tiny]", "grpo [copy]"} <= {r["label"] for r in merged}
    with pytest.warns(UserWarning, match="is read once"):      # the same directory twice
        assert main(["leaderboard", str(compared), str(compared), "--view", "scores", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    # the default view: verdicts, with one seed no ranking between objectives
    assert main(["leaderboard", str(compared)]) == 0
    assert "no ranking between objectives is supported" in capsys.readouterr().out


def test_resume_skips_finished_runs_and_resumes_from_checkpoint(tmp_path, monkeypatch, capsys):
    import harness.compare.runner as compare_mod
    from harness.evaluate import make_train_callback

    out = tmp_path / "resume"
    # first compare: interrupted (Ctrl-C) during the second step of its only run, after checkpoint step-1
    def interrupting(*args, **kwargs):
        real = make_train_callback(*args, **kwargs)

        def cb(step, trainer):
            if step >= 2:
                raise KeyboardInterrupt
            return real(step, trainer)
        return cb

    monkeypatch.setattr(compare_mod, "make_train_callback", interrupting)
    with pytest.raises(KeyboardInterrupt):
        _compare(out, "--algos", "grpo")
    monkeypatch.undo()
    run = out / "runs/grpo/seed-0"
    assert not (run / "DONE").exists() and (run / "checkpoints").is_dir()
    # second compare: grpo resumes from its checkpoint and finishes
    assert _compare(out, "--algos", "grpo") == 0
    done = json.loads((run / "DONE").read_text())
    assert done["resumed"] is True
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert steps[:2] == [0, 1] and steps[-1] == 2   # step 0: the initial model's entropy/probe
    first_done = (run / "DONE").read_bytes()
    first_metrics = (run / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    # third compare: one more algorithm; grpo is not redone
    assert _compare(out, "--algos", "grpo,ce-gppo") == 0
    printed = capsys.readouterr().out
    assert "grpo seed 0: finished earlier, skipped" in printed
    assert "base model: already evaluated" in printed
    assert (run / "DONE").read_bytes() == first_done and (run / "metrics.jsonl").read_bytes() == first_metrics
    assert (out / "runs/ce-gppo/seed-0/DONE").is_file()
    rows = json.loads((out / "leaderboard.json").read_text())
    assert [r["label"] for r in rows][1:] == ["grpo", "ce-gppo"]
    # changing a setting for an existing output directory is refused
    assert _compare(out, "--algos", "grpo", "--set", "steps=3") == 2
    assert "different train settings" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["--algos", "grpo,ppo2"], "unknown algorithm 'ppo2'; valid algorithms: "),
    (["--algos", "grpo", "--set", "eval.benches=[gsm8k,mathh]"], "unknown benchmark 'mathh'; valid benchmarks: "),
    (["--algos", "ce-gppo:beta3=1"], "beta3"),
    (["--algos", "grpo", "--set", "stepz=3"], "unknown TrainConfig field 'stepz'; valid fields: "),
])
def test_compare_errors_list_valid_choices(tmp_path, capsys, argv, expected):
    assert _compare(tmp_path / "err", *argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    if "valid algorithms" in expected:
        assert "ce-gppo" in err and "dapo" in err
    if "valid benchmarks" in expected:
        assert "math500" in err and "arith" in err
    assert not (tmp_path / "err").exists()  # nothing is written before the plan is valid


def test_unknown_preset_lists_presets(tmp_path, capsys):
    assert main(["compare", "--preset", "cpu-dmeo", "--out", str(tmp_path / "x")]) == 2
    from harness import presets

    names = presets.names()
    assert {"cpu-demo", "cpu-smoke", "tiny-test"} <= set(names)
    assert f"unknown preset 'cpu-dmeo'; valid presets: {', '.join(names)}" in capsys.readouterr().err


def test_list_shows_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("ppo", "grpo", "dapo", "ce-gppo", "clip_ratio_high=0.28", "gae", "gsm8k", "math500", "arith",
                 "cpu-demo", "tiny-test", "boxed", "correctness"):
        # a whole word: "ppo" inside "gppo" or "ppo2" does not count
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", out), word
    assert main(["list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["algorithms"]["ce-gppo"]["fields"]["beta1"] == 0.5
    assert "cpu-demo" in [p["name"] for p in info["presets"]]


def test_plugin_objective_through_list_and_compare(tmp_path, capsys):
    import algorithms

    plugin = REPO / "examples" / "my_objective.py"
    if not plugin.is_file():
        pytest.fail(f"{plugin} is missing: the plugin example of the README is expected there")
    before = set(algorithms.names())
    assert main(["list", "--json", "--plugin", str(plugin)]) == 0
    listed = json.loads(capsys.readouterr().out)["algorithms"]
    new = sorted(set(algorithms.names()) - before) or sorted(set(listed) - set(algorithms.BUILTIN))
    assert new and all(name in listed for name in new)
    name = new[0]
    out = tmp_path / "plugin"
    assert main(["compare", "--plugin", str(plugin), "--preset", "tiny-test", "--algos", name, "--out", str(out),
                 "--no-progress", "--set", "steps=1"]) == 0
    rows = json.loads((out / "leaderboard.json").read_text())
    for extra in set(algorithms.names()) - before:   # leave the registry as other tests expect it
        algorithms.unregister(extra)
    assert [r["label"] for r in rows][1:] == [name]
    assert rows[1]["benches"]["arith"]["score"] is not None


def test_the_bench_compare_yardstick_holds_the_work_of_cpu_demo_at_d59bddb():
    """harness/presets/bench-compare.yaml freezes the demo's work as of commit d59bddb (tools/perf/bench_compare.py
    times it against that commit): only the means (batch sizes here) may differ from that preset, copied below."""
    from harness.compare.runner import make_plan

    plan = make_plan("bench-compare")
    work = plan.config_dict()
    means = {"train": {"engine_params"}, "eval": {"batch_size"}, "train_eval": {"batch_size"}}
    frozen = {
        "algos": ["grpo", "ce-gppo"], "seeds": [0, 1, 2],
        "train": {"model": "smollm2-135m", "dtype": "float32", "task": "arith",
                  "task_params": {"level": 1, "n": 400}, "template": "boxed", "engine": "hf", "steps": 3,
                  "prompts_per_step": 4, "responses_per_prompt": 8, "max_new_tokens": 32, "temperature": 1.0,
                  "lr": 5.0e-5, "minibatch_size": 16, "eval_every": 0, "save_every": 0, "tensorboard": False,
                  "budget": "equal-rollouts", "deterministic": True},
        "eval": {"benches": ["arith"], "k": 1, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 32, "limit": 128,
                 "bench_params": {"arith": {"level": 1}}},
        "train_eval": {"limit": 8},
    }
    assert work["algos"] == frozen["algos"] and work["seeds"] == frozen["seeds"]
    assert {k: v for k, v in work["train"].items() if k not in means["train"]} == frozen["train"]
    ev = {k: v for k, v in work["eval"].items() if k not in means["eval"]}
    defaults = {k: v for k, v in ev.items() if k not in frozen["eval"]}
    assert {k: ev[k] for k in frozen["eval"]} == frozen["eval"]
    assert {k: v for k, v in work["train_eval"].items() if k not in means["train_eval"]} == \
        {**frozen["eval"], **defaults, **frozen["train_eval"]}
