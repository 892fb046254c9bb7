"""Fault injection on tiny-random: damaged checkpoints, a writer killed mid-checkpoint, a second writer.

Each case checks that the damage is noticed and named, that training falls back to what is intact (nothing
lost), and that no non-finite weight is written. The failures these reproduce were found by an adversarial test of
the trainer: 4 KiB of garbage in optimizer.pt resumed silently into ~1,000 non-finite weights, truncated files ended
in raw tracebacks, a SIGKILL mid-write left a hidden temporary directory forever, and a second `train` on the same
--out was accepted.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.training import checkpoint_files as ckpt
from harness.models import load_policy

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py

MODES = ("middle", "truncate", "delete")


def damage(path: Path, mode: str) -> bool:
    """Damage one file: flip up to 4 KiB of bytes in its middle, cut it to half, or delete it. False when the file
    is empty (nothing to flip or cut)."""
    size = path.stat().st_size
    if mode == "delete":
        path.unlink()
        return True
    if size == 0:
        return False
    if mode == "truncate":
        os.truncate(path, size // 2)
        return True
    n = max(1, min(4096, size // 4))
    start = (size - n) // 2
    with open(path, "r+b") as fh:
        fh.seek(start)
        block = fh.read(n)
        fh.seek(start)
        fh.write(bytes(b ^ 0xFF for b in block))
    return True


def assert_all_weights_finite(root: Path) -> int:
    """Every safetensors file under root holds only finite values; returns how many files were checked."""
    from safetensors.torch import load_file

    files = sorted(root.rglob("*.safetensors"))
    for f in files:
        for name, t in load_file(str(f)).items():
            assert torch.isfinite(t.float()).all(), f"{f}: {name} has non-finite values"
    return len(files)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A run folder with step-1 and step-2 of tiny-random (different weights), and step-1's parameters."""
    out = tmp_path_factory.mktemp("template")
    model, tokenizer = load_policy("tiny-random")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    saved = {}
    for step in (1, 2):
        model.zero_grad()
        ids = torch.tensor([[1, 2, 3, 4, 5]])
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        ckpt.save_checkpoint(out, step, model=model, tokenizer=tokenizer, optimizer=opt, scheduler=None,
                             trainer_state={"sampler": {"pos": step}}, keep=0)
        saved[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return out, saved


def _files_of_step2(template: Path) -> list[str]:
    listed = json.loads((template / "checkpoints" / "step-2" / ckpt.MANIFEST).read_text())["files"]
    return sorted(listed) + [ckpt.MANIFEST]


@pytest.mark.parametrize("mode", MODES)
def test_every_checkpoint_file_damaged_falls_back_to_the_older_checkpoint(two_checkpoints, tmp_path, mode):
    template, saved = two_checkpoints
    files = _files_of_step2(template)
    assert {"optimizer.pt", "trainer_state.pt", "model/model.safetensors", "model/config.json"} <= set(files)
    checked = 0
    for rel in files:
        out = tmp_path / rel.replace("/", "_")
        shutil.copytree(template, out)
        step2 = out / "checkpoints" / "step-2"
        if not damage(step2 / rel, mode):
            continue
        checked += 1
        name = Path(rel).name
        with pytest.raises(ckpt.CheckpointError, match=name.replace(".", r"\.")) as err:
            ckpt.verify_checkpoint(step2)
        assert "\n" not in str(err.value)
        with pytest.warns(UserWarning, match=rf"checkpoint skipped: .*{name.replace('.', '[.]')}.*step-1"):
            assert ckpt.latest_checkpoint(out) == out / "checkpoints" / "step-1"
    assert checked >= len(files) - 2  # only empty files (none expected) are skipped for middle/truncate
    # the fallback checkpoint loads into a model exactly (and finitely)
    model, _ = load_policy("tiny-random")
    state = ckpt.load_checkpoint(out / "checkpoints" / "step-1", model=model,
                                 optimizer=torch.optim.AdamW(model.parameters()), restore_rng_state=False)
    assert state["step"] == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[1][k]), k
    assert assert_all_weights_finite(out / "checkpoints" / "step-1") == 1


def test_no_intact_checkpoint_is_one_line_naming_each_bad_file(two_checkpoints, tmp_path):
    template, _ = two_checkpoints
    out = tmp_path / "run"
    shutil.copytree(template, out)
    damage(out / "checkpoints" / "step-2" / "optimizer.pt", "middle")
    damage(out / "checkpoints" / "step-1" / "model" / "model.safetensors", "truncate")
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.latest_checkpoint(out)
    msg = str(err.value)
    assert "\n" not in msg and "no intact checkpoint" in msg
    assert "step-2/optimizer.pt is damaged" in msg and "step-1/model/model.safetensors is truncated" in msg


def test_direct_load_of_a_damaged_checkpoint_modifies_nothing(two_checkpoints, tmp_path):
    template, _ = two_checkpoints
    out = tmp_path / "run"
    shutil.copytree(template, out)
    damage(out / "checkpoints" / "step-2" / "model" / "model.safetensors", "middle")
    model, _ = load_policy("tiny-random")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ckpt.CheckpointError, match=r"model\.safetensors is damaged"):
        ckpt.load_checkpoint(out / "checkpoints" / "step-2", model=model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_checkpoint_from_before_manifests_is_used_with_a_warning(two_checkpoints, tmp_path):
    template, _ = two_checkpoints
    out = tmp_path / "run"
    shutil.copytree(template, out)
    step2 = out / "checkpoints" / "step-2"
    state = ckpt.safe_load(step2 / "trainer_state.pt")
    del state["integrity"]
    torch.save(state, step2 / "trainer_state.pt")
    (step2 / ckpt.MANIFEST).unlink()
    with pytest.warns(UserWarning, match="not verified"):
        assert ckpt.latest_checkpoint(out) == step2


BAD_MANIFEST_VALUES = [("bytes", "Infinity"), ("bytes", "-Infinity"), ("bytes", "NaN"), ("bytes", "1e400"),
                       ("bytes", "-5"), ("bytes", '"12"'), ("bytes", "true"), ("bytes", "1.5"), ("bytes", "null"),
                       ("sha256", "5"), ("sha256", '"not-hex"'), ("sha256", "[]")]


@pytest.mark.parametrize("key, raw", BAD_MANIFEST_VALUES, ids=[f"{k}={v}" for k, v in BAD_MANIFEST_VALUES])
def test_a_manifest_value_out_of_range_falls_back_to_the_older_checkpoint(two_checkpoints, tmp_path, key, raw):
    """A size of Infinity gave an OverflowError traceback (issue 33); every value of the wrong type or range is a
    damaged manifest: the checkpoint is skipped with a one-line warning naming the entry."""
    template, _ = two_checkpoints
    out = tmp_path / "run"
    shutil.copytree(template, out)
    manifest = out / "checkpoints" / "step-2" / ckpt.MANIFEST
    data = json.loads(manifest.read_text())
    data["files"]["optimizer.pt"][key] = "@VALUE@"
    manifest.write_text(json.dumps(data).replace('"@VALUE@"', raw))     # raw JSON text: Infinity, NaN, 1e400
    with pytest.raises(ckpt.CheckpointError, match=rf"bad entry for optimizer\.pt: {key} is") as err:
        ckpt.verify_checkpoint(manifest.parent)
    assert "\n" not in str(err.value)
    with pytest.warns(UserWarning, match=r"checkpoint skipped: .*manifest\.json is damaged .*using the older .*step-1"):
        assert ckpt.latest_checkpoint(out) == out / "checkpoints" / "step-1"


def test_stale_temporaries_are_removed_unless_their_writer_runs(tmp_path):
    root = tmp_path / "checkpoints"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = [root / f".step-3.tmp-{dead.pid}-abc", root / ".step-4.tmp-xyz", root / f".step-2.old-{dead.pid}-",
                tmp_path / f".final.tmp-{dead.pid}-q", ckpt.sharded_staging_dir(tmp_path, 6)]
        kept = root / f".step-5.tmp-{live.pid}-def"
        for d in gone + [kept]:
            (d / "model").mkdir(parents=True)
            (d / "model" / "model.safetensors").write_bytes(b"x" * 100)
        assert ckpt.latest_checkpoint(tmp_path) is None
        assert not any(d.exists() for d in gone) and kept.is_dir()
    finally:
        live.kill()
        live.wait()


def test_a_checkpoint_moves_its_staging_folder_in_and_removes_stale_ones(tmp_path):
    """An FSDP2 checkpoint's ranks write their shards into a staging folder first; the one being saved is moved
    into the checkpoint, one left by a killed run (the same kind of folder, another step) is removed."""
    model, tokenizer = load_policy("tiny-random")
    stale, staging = ckpt.sharded_staging_dir(tmp_path, 1), ckpt.sharded_staging_dir(tmp_path, 2)
    for d in (stale, staging):
        d.mkdir(parents=True)
        (d / "__0_0.distcp").write_bytes(b"shard")
    path = ckpt.save_checkpoint(tmp_path, 2, model=model, tokenizer=tokenizer, optimizer=None, scheduler=None,
                                trainer_state={}, move_in={"sharded": staging})
    assert (path / "sharded" / "__0_0.distcp").read_bytes() == b"shard" and ckpt.verify_checkpoint(path)
    assert not stale.exists() and not staging.exists()
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-2"]


# ---------------------------------------------------------------------------------------------------------------
# end to end: the real `rlvr-zoo train` on tiny-random

TRAIN = ["train", "--algo", "grpo", "--model", "tiny-random", "--task", "arith", "--no-progress",
         "--set", "prompts_per_step=2", "--set", "responses_per_prompt=2", "--set", "max_new_tokens=4",
         "--set", "task_params.n=40", "--set", "dtype=float32", "--set", "template=plain",
         "--set", "save_every=1", "--set", "keep_checkpoints=0", "--set", "tensorboard=false"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "OMP_NUM_THREADS": "1"}


def _cli(args, prelude: str = "", timeout: float = 400) -> subprocess.CompletedProcess:
    code = prelude + "\nimport sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_resume_skips_a_damaged_checkpoint_and_writes_only_finite_weights(tmp_path):
    out = tmp_path / "run"
    first = _cli(TRAIN + ["--steps", "2", "--out", str(out), "--set", "save_final=false"])
    assert first.returncode == 0, first.stderr[-3000:]
    damage(out / "checkpoints" / "step-2" / "optimizer.pt", "middle")   # the case: 4 KiB of garbage
    second = _cli(TRAIN + ["--steps", "3", "--out", str(out), "--resume"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "step-2/optimizer.pt is damaged" in second.stderr and "step-1" in second.stderr
    assert "Traceback" not in second.stderr
    assert _steps(out) == [1, 2, 3]                  # step 2 redone from step 1: nothing lost, nothing doubled
    assert [s for s, _ in ckpt.list_checkpoints(out)] == [1, 2, 3]
    for _, path in ckpt.list_checkpoints(out):
        assert ckpt.verify_checkpoint(path)
    assert assert_all_weights_finite(out) >= 4      # three checkpoints + final/


@pytest.mark.slow
def test_resume_past_a_manifest_of_infinity_warns_in_one_readable_line(tmp_path):
    """`rlvr-zoo train --resume` over a checkpoint whose manifest says a size of Infinity: it falls back to the older
    checkpoint, and the warning is one line (not Python's form with the source line `path = ckpt.latest_...`)."""
    out = tmp_path / "run"
    small = TRAIN + ["--out", str(out), "--set", "entropy_probe_prompts=0", "--set", "report_to=[]",
                     "--set", "save_final=false"]
    first = _cli(small + ["--steps", "2"])
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = out / "checkpoints" / "step-2" / ckpt.MANIFEST
    manifest.write_text(manifest.read_text().replace('"bytes": ', '"bytes": Infinity, "was": ', 1))
    second = _cli(small + ["--steps", "2", "--resume"])
    assert second.returncode == 0, second.stderr[-3000:]
    warned = [line for line in second.stderr.splitlines() if "checkpoint skipped" in line]
    assert len(warned) == 1 and warned[0].startswith("rlvr-zoo train: warning: checkpoint skipped: "), second.stderr
    assert "manifest.json is damaged" in warned[0] and "bytes is inf" in warned[0] and "step-1" in warned[0]
    assert "latest_checkpoint" not in second.stderr and "UserWarning" not in second.stderr
    assert "Traceback" not in second.stderr
    assert _steps(out) == [1, 2]


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_then_resume(tmp_path):
    out = tmp_path / "run"
    # SIGKILL this process while step 2's checkpoint is half written (its files are there, the manifest is not)
    prelude = ("import os, signal\nfrom harness.training import checkpoint_files as c\n_w = c.write_manifest\n"
               "def _kill(d):\n    if '.step-2.' in str(d):\n        os.kill(os.getpid(), signal.SIGKILL)\n"
               "    return _w(d)\nc.write_manifest = _kill\n")
    killed = _cli(TRAIN + ["--steps", "3", "--out", str(out)], prelude=prelude)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    leftovers = [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".step-2.tmp-")]
    assert leftovers and (leftovers[0] / "optimizer.pt").is_file()
    assert [s for s, _ in ckpt.list_checkpoints(out)] == [1]
    resumed = _cli(TRAIN + ["--steps", "3", "--out", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not any(p.name.startswith(".") and p.is_dir() for p in (out / "checkpoints").iterdir())
    assert _steps(out) == [1, 2, 3]
    assert assert_all_weights_finite(out) >= 4


@pytest.mark.slow
def test_second_writer_is_refused_while_a_run_trains(tmp_path, running_train):
    out = tmp_path / "run"
    proc = running_train([*TRAIN, "--steps", "500", "--out", str(out)], out, ENV)
    second = _cli(TRAIN + ["--steps", "2", "--out", str(out), "--set", "seed=1"])
    assert second.returncode == 2
    err = second.stderr.strip().splitlines()
    assert len(err) == 1 and f"pid {proc.pid}" in err[0] and "in use by rlvr-zoo train" in err[0], err
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and run["config"]["seed"] == 0   # the first run's record, untouched
    assert _steps(out) == list(range(1, run["step"] + 1))
    assert ckpt.verify_checkpoint(ckpt.latest_checkpoint(out))
    assert assert_all_weights_finite(out) >= 1


# ---------------------------------------------------------------------------------------------------------------
# the trainer: finite weights after every optimiser step, no silent success

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": str(i)} for i in range(32)]


def _small_cfg(tmp_path, **kw):
    from harness.training import TrainConfig

    base = dict(model="tiny-random", dtype="float32", steps=2, prompts_per_step=2, responses_per_prompt=4,
                max_new_tokens=3, lr=1e-3, micro_batch_size=8, out_dir=str(tmp_path / "run"), save_final=False,
                tensorboard=False)
    base.update(kw)
    return TrainConfig(**base)


def _alternating_reward(golds, rollouts):
    return [1.0 if i % 2 == 0 else -1.0 for i in range(len(rollouts))]


def test_step_guard_undoes_a_step_that_writes_nan_into_the_weights():
    from harness.training.guard import StepGuard

    model, _ = load_policy("tiny-random")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    guard = StepGuard(model)
    ids = torch.tensor([[1, 2, 3, 4]])

    def backward():
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()

    backward()
    assert guard.step([opt]) == 0                      # an ordinary step goes through
    first = next(iter(opt.state.values()))
    first["exp_avg"].view(-1)[:7] = float("nan")       # an optimiser state damaged as by a bad checkpoint
    params = [p.detach().clone() for p in model.parameters()]
    state = {k: {n: v.clone() for n, v in s.items()} for k, s in opt.state.items()}
    backward()
    assert guard.step([opt]) >= 7
    for a, b in zip(params, model.parameters()):
        assert torch.equal(a, b)                       # weights bit for bit as before the step
    for k, s in opt.state.items():
        for n, v in s.items():
            torch.testing.assert_close(v, state[k][n], rtol=0, atol=0, equal_nan=True)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_step_guard_clears_an_ordinary_step_without_a_copy(monkeypatch):
    """An ordinary AdamW step is proven finite before it runs: no copy of the weights or the optimiser state is made
    (the copy path is not entered), and the weights are exactly those of an unguarded step."""
    from harness.training import guard as guard_mod

    model, _ = load_policy("tiny-random")
    twin, _ = load_policy("tiny-random")
    ids = torch.tensor([[1, 2, 3, 4]])
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.1, fused=True) for m in (model, twin)]
    g = guard_mod.StepGuard(model)
    monkeypatch.setattr(guard_mod.StepGuard, "_copy_step", lambda *a: pytest.fail("copied an ordinary step"))
    for _ in range(3):
        for m, opt in zip((model, twin), opts):
            opt.zero_grad()
            m(input_ids=ids, labels=ids).loss.backward()
        assert g.step([opts[0]]) == 0
        opts[1].step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_step_guard_undoes_an_overflowing_step_from_finite_inputs():
    """Every input finite, but a learning rate so large that the step overflows: the check cannot clear it, the
    copy path runs it and undoes it; the next step with a sane learning rate goes through unguarded."""
    from harness.training.guard import StepGuard, proven_finite

    model, _ = load_policy("tiny-random")
    opt = torch.optim.AdamW(model.parameters(), lr=1e38, fused=True)   # lr / (1 - beta1) overflows float32
    ids = torch.tensor([[1, 2, 3, 4]])
    opt.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    assert not proven_finite(opt)
    assert StepGuard(model).step([opt]) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not opt.state                                 # the first step's state was dropped again
    opt.param_groups[0]["lr"] = 1e-3
    assert proven_finite(opt) and StepGuard(model).step([opt]) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("fused", [True, False])
def test_step_guard_check_never_clears_a_step_that_overflows(dtype, fused):
    """The bound against the real kernels: over random parameters, gradients, moments, learning rates, eps, weight
    decay and step counts spread over the whole float range, every step the check clears stays finite (and the
    check clears the ordinary ones)."""
    from harness.training.guard import proven_finite

    rng = torch.Generator().manual_seed(0)
    cleared = overflowed = 0
    for trial in range(400):
        def scale():
            return 10.0 ** float(torch.empty(()).uniform_(-30, 40, generator=rng))
        n = int(torch.randint(1, 300, (), generator=rng))
        p = torch.nn.Parameter((torch.randn(n, generator=rng) * scale()).clamp(-3e38, 3e38).to(dtype))
        p.grad = (torch.randn(n, generator=rng) * scale()).clamp(-3e38, 3e38).to(dtype)
        lr, eps = (scale(), 10.0 ** float(torch.empty(()).uniform_(-40, 0, generator=rng))) if trial % 4 else \
            (1e-3, 1e-8)
        opt = torch.optim.AdamW([p], lr=lr, eps=eps, weight_decay=float(torch.rand((), generator=rng)), fused=fused)
        if trial % 3:   # an existing state (from earlier steps) with moments of any size
            opt.state[p] = {"step": torch.tensor(float(torch.randint(0, 50, (), generator=rng))),
                            "exp_avg": (torch.randn(n, generator=rng) * scale()).clamp(-3e38, 3e38).to(dtype),
                            "exp_avg_sq": (torch.rand(n, generator=rng) * scale()).clamp(0, 3e38).to(dtype)}
        if not all(torch.isfinite(t).all() for t in [p, p.grad, *[v for v in opt.state.get(p, {}).values()]]):
            continue
        ok = proven_finite(opt)
        try:
            opt.step()
        except RuntimeError as exc:   # the unfused kernels refuse a learning rate beyond float32's range
            assert not ok and "overflow" in str(exc)
            continue
        finite = bool(torch.isfinite(p).all())
        cleared += ok
        overflowed += not finite
        assert finite or not ok, f"trial {trial}: cleared, yet the step wrote non-finite values"
    assert cleared > 50 and overflowed > 20   # both kinds of step were drawn


def test_a_poisoned_optimizer_state_never_reaches_the_weights_and_is_counted(tmp_path, capsys):
    from harness.training import Trainer

    trainer = Trainer(_small_cfg(tmp_path, steps=3), progress=False, dataset=ROWS, reward_fn=_alternating_reward)
    trainer._logger = None
    rec = trainer.train_step()
    trainer.step = 1
    assert rec["skipped_updates"] == 0 and "skipped_updates/nonfinite_weights" not in rec
    for s in trainer.optimizer.state.values():
        s["exp_avg_sq"].fill_(float("nan"))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    rec = trainer.train_step()
    assert rec["skipped_updates"] == 1 and rec["skipped_updates/nonfinite_weights"] == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert "would have written NaN/inf into the weights and were undone" in capsys.readouterr().out


def test_nan_rewards_are_named_and_a_run_without_one_update_fails(tmp_path, capsys):
    from harness.training import TrainingError, train

    def nan_reward(golds, rollouts):
        return [float("nan")] + [1.0] * (len(rollouts) - 1)

    cfg = _small_cfg(tmp_path)
    with pytest.raises(TrainingError, match=r"no update succeeded: all 2 update\(s\) of the run's 2 step\(s\)"):
        train(cfg, progress=False, dataset=ROWS, reward_fn=nan_reward)
    err = capsys.readouterr().err
    assert "1 of 8 rewards are NaN or infinite (responses 0 of the batch" in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "failed" and run["step"] == 2
    # resumable counts: the checkpoint holds them
    state = ckpt.safe_load(ckpt.latest_checkpoint(tmp_path / "run") / "trainer_state.pt")
    assert state["updates_applied"] == 0 and state["updates_skipped"] == 2


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_leaves_nothing(tmp_path, capfd):
    """A real full disk: the run folder on a small tmpfs that holds the metrics but not a checkpoint."""
    import subprocess

    from harness.cli import main

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): no real full disk to write to")
    try:
        out = mnt / "run"
        code = main(["train", "--model", "tiny-random", "--steps", "1", "--out", str(out), "--no-progress",
                     "--set", "save_every=1", "--set", "dtype=float32", "--set", "max_new_tokens=4",
                     "--set", "prompts_per_step=2", "--set", "responses_per_prompt=2",
                     "--set", "entropy_probe_prompts=0", "--set", "report_to=[]"])
        err = capfd.readouterr().err.strip().splitlines()
        assert code == 2, err
        errors = [line for line in err if line.startswith("rlvr-zoo")]   # (transformers prints loading bars)
        assert len(errors) == 1 and "no space left" in errors[0] and "step-1" in errors[0], err
        assert "Traceback" not in "\n".join(err)
        leftovers = [p.name for p in (out / "checkpoints").iterdir()] if (out / "checkpoints").is_dir() else []
        assert leftovers == [], leftovers          # no half-written or temporary checkpoint stays behind
    finally:
        # lazy: the run lock this process still holds keeps a file open there, so a plain umount fails (EBUSY)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
