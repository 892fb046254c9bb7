"""Checkpoints: round trip, atomic layout and pruning, RNG states, refusal of crafted pickles, and a SIGTERM sent to a
running `rlvr-zoo train` leaving a loadable checkpoint."""
from __future__ import annotations

import json
import os
import pickle
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.training import checkpoint_files as ckpt
from harness.models import load_policy



pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = load_policy("tiny-random")
    return model, tokenizer


def _trained_optimizer(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.zero_grad()
    ids = torch.tensor([[1, 2, 3, 4]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    opt.zero_grad()
    return opt


def _save(tmp_path, model, tokenizer, opt, step, keep=2):
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return ckpt.save_checkpoint(tmp_path, step, model=model, tokenizer=tokenizer, optimizer=opt, scheduler=sched,
                                trainer_state={"sampler": {"epoch": 0, "pos": 3 * step, "n_rows": 10}}, keep=keep)


def test_round_trip_restores_weights_optimizer_and_state(tiny, tmp_path):
    model, tokenizer = tiny
    opt = _trained_optimizer(model)
    path = _save(tmp_path, model, tokenizer, opt, step=5)
    assert (path / "model" / "config.json").is_file() and (path / "model" / "model.safetensors").is_file()

    fresh, _ = load_policy(str(path / "model"))  # save_pretrained form: loadable as a model spec
    for (n, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), n
    other, _ = load_policy("tiny-random")
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-3)
    state = ckpt.load_checkpoint(path, model=other, optimizer=opt2)
    assert state["step"] == 5 and state["sampler"]["pos"] == 15
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"])


def test_final_model_shares_the_last_checkpoints_files_and_outlives_it(tiny, tmp_path):
    """save_final(same_as=checkpoint/model) links the checkpoint's files (same bytes, no second write); the files
    in the checkpoint are written without zip CRC-32 and still load; deleting the checkpoint keeps final/ whole."""
    import shutil

    model, tokenizer = tiny
    opt = _trained_optimizer(model)
    path = _save(tmp_path, model, tokenizer, opt, step=3)
    assert ckpt.verify_checkpoint(path)
    final = ckpt.save_final(model, tokenizer, tmp_path / "final", same_as=path / ckpt.MODEL_DIR)
    weights = final / "model.safetensors"
    assert os.path.samefile(weights, path / ckpt.MODEL_DIR / "model.safetensors")
    assert sorted(p.name for p in final.iterdir()) == sorted(p.name for p in (path / ckpt.MODEL_DIR).iterdir())
    written = ckpt.save_final(model, tokenizer, tmp_path / "written")
    assert (written / "model.safetensors").read_bytes() == weights.read_bytes()
    shutil.rmtree(path)
    loaded, _ = load_policy(str(final))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_rng_states_round_trip():
    state = ckpt.capture_rng()
    first = (random.random(), np.random.rand(), torch.rand(3))
    ckpt.restore_rng(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_atomic_directories_and_pruning(tiny, tmp_path):
    model, tokenizer = tiny
    opt = _trained_optimizer(model)
    for step in (1, 2, 3):
        _save(tmp_path, model, tokenizer, opt, step, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2, 3]
    # a crash mid-write leaves only a hidden temporary directory or a directory without trainer_state.pt
    (tmp_path / "checkpoints" / ".step-4.tmp-abc" / "model").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step-9" / "model").mkdir(parents=True)
    assert ckpt.latest_checkpoint(tmp_path).name == "step-3"
    assert not any(p.name.startswith(".step-3") for p in (tmp_path / "checkpoints").iterdir())


class _Exec:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class _System:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", [_Exec, _System])
@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_crafted_pickle_as_optimizer_file_does_not_execute(tiny, tmp_path, payload, fmt):
    model, tokenizer = tiny
    opt = _trained_optimizer(model)
    path = _save(tmp_path, model, tokenizer, opt, step=1)
    marker = tmp_path / "executed.txt"
    evil = {"state": {0: payload(marker)}, "param_groups": []}
    if fmt == "torch.save":
        torch.save(evil, path / "optimizer.pt")
    else:
        with open(path / "optimizer.pt", "wb") as fh:
            pickle.dump(evil, fh)
    # sanity: the file really is a working exploit for an unrestricted unpickler (never run it in this process)
    assert b"exec" in (path / "optimizer.pt").read_bytes() or b"system" in (path / "optimizer.pt").read_bytes()
    before = [p.detach().clone() for p in model.parameters()]
    # the manifest catches the changed file first ...
    with pytest.raises(ckpt.CheckpointError, match=r"optimizer\.pt is (damaged|truncated)"):
        ckpt.load_checkpoint(path, model=model, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3))
    # ... and with a manifest rewritten to match it, weights_only loading still refuses it
    ckpt.write_manifest(path)
    with pytest.raises(ckpt.CheckpointError, match="nothing in this file was executed"):
        ckpt.load_checkpoint(path, model=model, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3))
    assert not marker.exists()
    # nothing was modified before the refusal
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.slow
def test_sigterm_to_running_train_leaves_a_loadable_checkpoint(tmp_path, running_train):
    out = tmp_path / "run"
    argv = ["train", "--algo", "grpo", "--model", "tiny-random", "--task", "arith", "--steps", "500", "--out",
            str(out), "--no-progress",
            "--set", "prompts_per_step=2", "--set", "responses_per_prompt=2", "--set", "max_new_tokens=4",
            "--set", "task_params.n=40", "--set", "dtype=float32", "--set", "template=plain"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = running_train(argv, out, env)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    path = ckpt.latest_checkpoint(out)
    assert path is not None, output[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and 1 <= run["step"] < 500
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == run["step"] == int(path.name.split("-")[1])
    model, _ = load_policy(str(path / "model"))  # transformers-loadable policy
    state = ckpt.load_checkpoint(path, model=model, optimizer=torch.optim.AdamW(model.parameters()))
    assert state["step"] == run["step"]
