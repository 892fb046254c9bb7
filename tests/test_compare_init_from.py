"""`compare --init-from`: every arm and the base evaluation start from one checkpoint (a warm start), recorded in
config.yaml. Resolution of the argument by hand-made directories; the warm start end to end on tiny-random."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.compare import runner as compare
from harness.cli import main


def _model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_resolve_init_from(tmp_path):
    model = _model_dir(tmp_path / "model")
    assert compare.resolve_init_from(model) == str(model.resolve())
    run = tmp_path / "run"
    _model_dir(run / "final")
    assert compare.resolve_init_from(run) == str((run / "final").resolve())
    one = tmp_path / "cmp-one"
    _model_dir(one / "runs" / "grpo" / "seed-0" / "final")
    assert compare.resolve_init_from(one) == str((one / "runs/grpo/seed-0/final").resolve())
    two = tmp_path / "cmp-two"
    for algo in ("grpo", "dapo"):
        _model_dir(two / "runs" / algo / "seed-0" / "final")
    with pytest.raises(ValueError, match="holds 2 trained models; give one of them"):
        compare.resolve_init_from(two)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no model found"):
        compare.resolve_init_from(tmp_path / "empty")
    with pytest.raises(ValueError, match="no such directory"):
        compare.resolve_init_from("./nowhere")
    assert compare.resolve_init_from("smollm2-135m") == "smollm2-135m"     # a name: checked when loaded
    assert compare.resolve_init_from("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"


def test_plan_records_init_from_and_replaces_the_model(tmp_path):
    import shutil

    from harness.models import resolve

    model = tmp_path / "model"    # a real model folder: the plan checks its files before any work
    shutil.copytree(resolve("tiny-random"), model)
    plan = compare.make_plan("tiny-test", out=tmp_path / "o", init_from=str(model))
    assert plan.train["model"] == str(model.resolve())
    assert plan.config_dict()["compare"]["init_from"] == str(model)
    via_set = compare.make_plan("tiny-test", out=tmp_path / "o", sets=[f"compare.init_from={model}"])
    assert via_set.train["model"] == str(model.resolve())
    assert compare.make_plan("tiny-test", out=tmp_path / "o").train["model"] == "tiny-random"


@pytest.mark.slow
def test_warm_start_end_to_end(tmp_path, capsys):
    """A one-step GRPO run, then a comparison that starts from its trained model: the second comparison's base
    evaluation is the first run's trained model, so its responses equal the first run's final evaluation."""
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--preset", "tiny-test", "--set", "steps=1", "--no-progress"]
    assert main(["compare", "--algos", "grpo", "--out", str(first), *common]) == 0
    assert main(["compare", "--algos", "grpo,dapo", "--out", str(second), "--init-from", str(first), *common]) == 0
    final = (first / "runs/grpo/seed-0/final").resolve()
    cfg = yaml.safe_load((second / "config.yaml").read_text())
    assert cfg["train"]["model"] == str(final) and cfg["compare"]["init_from"] == str(first)
    base = json.loads((second / "base/eval/summary.json").read_text())
    assert base["model"] == str(final)
    assert (second / "base/eval/arith.responses.jsonl").read_text() == \
        (first / "runs/grpo/seed-0/eval/arith.responses.jsonl").read_text()
    for algo in ("grpo", "dapo"):
        run = json.loads((second / f"runs/{algo}/seed-0/run.json").read_text())
        assert run["config"]["model"] == str(final)
    # a different warm start for the same --out is refused, naming the field
    other = tmp_path / "other"
    (other / "final").mkdir(parents=True)
    (other / "final" / "config.json").write_text("{}")
    assert main(["compare", "--algos", "grpo", "--out", str(second), "--init-from", str(other), *common]) == 2
    assert "model" in capsys.readouterr().err
