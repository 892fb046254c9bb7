"""Trackers: a tiny-test comparison reported to W&B (offline) and MLflow (a local file store) holds every metric of
every run's metrics.jsonl, grouped per comparison. The stores are read back with each tool's own client (MLflow) or
by decoding W&B's offline run file (its record format: a 7-byte header, then LevelDB-log-style 32 KiB blocks of
records with a 7-byte header each: CRC32C, little-endian length, type full/first/middle/last)."""
import json
import math
from pathlib import Path

import pytest
import yaml

from harness.training import trackers
from harness.cli import main
from harness.run_layout import read_metrics

wandb = pytest.importorskip("wandb", reason="wandb is not installed (pip install 'rlvr-zoo[trackers]')")
mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'rlvr-zoo[trackers]')")


def _numeric(record: dict) -> dict:
    return {k: v for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _wandb_records(path: Path):
    """Decoded protobuf records of an offline .wandb file."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def _item_value(item):
    """A history value: JSON text, or one of the typed fields of newer W&B versions."""
    if item.value_json:
        return json.loads(item.value_json)
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    if kind:
        return getattr(item, kind)
    return item.number or item.integer


def _wandb_history(run_dir: Path) -> tuple[dict[int, dict], str, dict]:
    """{step: {key: value}}, the group and the config of the one offline W&B run under run_dir/wandb."""
    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    history, group, config = {}, None, {}
    for record in _wandb_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {(item.key or "/".join(item.nested_key)): _item_value(item) for item in record.history.item}
            history[int(items.pop("_step"))] = items
        elif kind == "run":
            group = record.run.run_group
            config.update({u.key: json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in record.config.update})
    return history, group, config


@pytest.mark.slow
def test_tiny_test_comparison_reaches_wandb_and_mlflow(tmp_path, monkeypatch, capsys):
    store = tmp_path / "mlruns"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = tmp_path / "cmp-trackers"
    assert main(["compare", "--preset", "tiny-test", "--algos", "grpo,ce-gppo", "--out", str(out),
                 "--report-to", "wandb,mlflow", "--no-progress"]) == 0
    capsys.readouterr()
    assert (out / "index.html").is_file()  # compare writes the comparison's page
    run_dirs = sorted(p.parent for p in out.glob("runs/*/seed-*/metrics.jsonl"))
    assert len(run_dirs) == 2

    client = mlflow.tracking.MlflowClient(store.as_uri())
    experiment = client.get_experiment_by_name(out.name)  # one experiment per comparison
    assert experiment is not None
    mlflow_runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(mlflow_runs) == {f"{d.parent.name}/{d.name}" for d in run_dirs}

    for run_dir in run_dirs:
        records = read_metrics(run_dir / "metrics.jsonl")
        assert [r["step"] for r in records] == [0, 1, 2] and all(_numeric(r) for r in records)  # 0: initial probe
        # W&B: one group per comparison, the run's config, every metric at its step
        history, group, config = _wandb_history(run_dir)
        assert group == out.name
        assert config["algo"]["value"] if isinstance(config.get("algo"), dict) else config["algo"]
        for record in records:
            logged = history[record["step"]]
            for key, value in _numeric(record).items():
                assert math.isclose(logged[key], value, rel_tol=1e-6, abs_tol=1e-12), (key, logged[key], value)
        # MLflow: every metric's history, keys mapped by trackers.mlflow_key
        run = mlflow_runs[f"{run_dir.parent.name}/{run_dir.name}"]
        assert run.data.params["algo"].strip('"') == json.loads((run_dir / "run.json").read_text())["config"]["algo"]
        for key in {k for r in records for k in _numeric(r)}:
            got = {m.step: m.value for m in client.get_metric_history(run.info.run_id, trackers.mlflow_key(key))}
            want = {r["step"]: r[key] for r in records if key in _numeric(r)}
            assert got.keys() == want.keys(), key
            for step, value in want.items():
                assert math.isclose(got[step], value, rel_tol=1e-6, abs_tol=1e-12), (key, step)


def test_unknown_or_missing_tracker_is_refused_before_training(tmp_path, capsys):
    assert main(["train", "--model", "tiny-random", "--report-to", "neptune", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown tracker 'neptune'" in err and "tensorboard, wandb, mlflow" in err
    assert not (tmp_path / "r").exists()


def test_mlflow_key_keeps_allowed_characters():
    assert trackers.mlflow_key("eval/arith/avg@4") == "eval.arith.avg_4"
    assert trackers.mlflow_key("clipfrac/low_neg") == "clipfrac.low_neg"
    # no key becomes a folder of another in MLflow's file store (a metric is a file named by its key)
    assert "/" not in trackers.mlflow_key("entropy/probe")


def test_comparison_runs_are_grouped_by_the_comparison_folder(tmp_path):
    assert trackers.run_identity(tmp_path / "study" / "runs" / "ce-gppo" / "seed-1") == ("study", "ce-gppo/seed-1")
    assert trackers.run_identity(tmp_path / "lone-run") == (None, "lone-run")


def test_trackers_can_be_added_when_a_comparison_is_resumed(tmp_path, monkeypatch):
    """report_to changes where metrics go, not the runs: a comparison folder accepts a new --report-to."""
    from harness.compare import runner as compare

    out = tmp_path / "cmp"
    plan = compare.make_plan("tiny-test", algos=["grpo"], seeds=None, out=str(out), sets=[])
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(plan.config_dict()))
    again = compare.make_plan("tiny-test", algos=["grpo"], seeds=None, out=str(out), sets=["report_to=[wandb]"])
    compare._check_existing(again)
    changed = compare.make_plan("tiny-test", algos=["grpo"], seeds=None, out=str(out), sets=["steps=3"])
    with pytest.raises(ValueError, match="steps"):
        compare._check_existing(changed)
