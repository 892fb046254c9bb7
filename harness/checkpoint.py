"""Trainer checkpoints: written atomically, read back as data only.

Layout of ``OUT/checkpoints/step-<N>/``::

    model/              the policy in save_pretrained form (safetensors + config + tokenizer): loadable by
                        transformers, vLLM and ``harness.models.load_policy``; a LoRA run stores its adapter here
    optimizer.pt        AdamW state            (torch.load(..., weights_only=True))
    trainer_state.pt    step, data position, scheduler, RNG states (python, numpy, torch, cuda), counters
    rng-rank<R>.pt      RNG states of rank R > 0 in a data-parallel run
    critic.safetensors  the critic (PPO), when there is one
    critic_optimizer.pt its AdamW state

A checkpoint is written into a temporary sibling directory and renamed into place, so ``step-<N>/`` either exists
complete or not at all. Loading never unpickles arbitrary objects: tensors come from safetensors files and every
``.pt`` file is read with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
containers; a file that is refused raises :class:`CheckpointError` naming it, and nothing in it runs.
"""
from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from harness.io import write_dir

__all__ = ["CheckpointError", "safe_load", "capture_rng", "restore_rng", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint", "list_checkpoints", "load_model_weights", "save_final"]

_STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, incomplete or not plain data."""


def safe_load(path: str | os.PathLike, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with a clear error when the file is refused or unreadable.

    weights_only unpickling only rebuilds tensors, numbers, strings and containers; a crafted pickle that tries to
    call anything (``os.system``, ``eval``, a class constructor) is rejected before anything runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing; a complete checkpoint directory has model/, "
                              f"optimizer.pt and trainer_state.pt")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"refused to load {path}: it is not a plain tensor/state file (torch.load with weights_only=True "
            f"rejected it: {first}). Checkpoints are read as data only and nothing in this file was executed. "
            f"Use a checkpoint written by rlvr-zoo, or delete this checkpoint directory and resume from an "
            f"earlier one.") from None


# ----------------------------------------------------------------------------------------------------------------
# RNG states


def capture_rng() -> dict:
    """Python, numpy (global) and torch (CPU and CUDA) RNG states as plain data."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------------------------
# model weights


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config")


def load_model_weights(model: torch.nn.Module, model_dir: str | os.PathLike) -> None:
    """Load the safetensors weights of a save_pretrained directory into ``model`` in place.

    Handles single-file and sharded (``*.index.json``) checkpoints, tied weights (saved once) and PEFT adapters.
    """
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    if _is_peft(model):
        from peft import set_peft_model_state_dict

        f = model_dir / "adapter_model.safetensors"
        if not f.is_file():
            raise CheckpointError(f"{model_dir} has no adapter_model.safetensors; this run uses LoRA, so its "
                                  f"checkpoints hold the adapter")
        result = set_peft_model_state_dict(model, load_file(str(f)))
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise CheckpointError(f"adapter in {model_dir} has unexpected keys {unexpected[:5]}")
        return
    single = model_dir / "model.safetensors"
    index = model_dir / "model.safetensors.index.json"
    if single.is_file():
        state = load_file(str(single))
    elif index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        state = {}
        for shard in sorted(set(weight_map.values())):
            state.update(load_file(str(model_dir / shard)))
    else:
        raise CheckpointError(f"{model_dir} has no model.safetensors (or sharded index); expected a policy saved "
                              f"with save_pretrained")
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied parameters (e.g. lm_head.weight = embed_tokens.weight) are stored once
    params = dict(model.named_parameters(remove_duplicate=False))
    tied_ok = {name for name in missing if name in params and any(
        params[name] is params[other] for other in state if other in params)}
    really_missing = [m for m in missing if m not in tied_ok]
    if unexpected or really_missing:
        raise CheckpointError(f"weights in {model_dir} do not match the model: missing {really_missing[:5]}, "
                              f"unexpected {unexpected[:5]}; was the checkpoint written for another model spec?")


def _save_policy(model, tokenizer, out: Path) -> None:
    model.save_pretrained(str(out), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))


def save_final(model, tokenizer, out_dir: str | os.PathLike) -> Path:
    """``out_dir`` = the policy (LoRA merged into plain weights) + tokenizer in save_pretrained form, atomically."""
    out_dir = Path(out_dir)
    base = model
    if _is_peft(model):
        import copy

        base = copy.deepcopy(model).merge_and_unload()

    def build(tmp: Path) -> None:
        _save_policy(base, tokenizer, tmp)

    write_dir(out_dir, build)
    return out_dir


# ----------------------------------------------------------------------------------------------------------------
# checkpoints


def list_checkpoints(out_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints under ``out_dir/checkpoints``, oldest first."""
    root = Path(out_dir) / "checkpoints"
    found = []
    if root.is_dir():
        for child in root.iterdir():
            m = _STEP_RE.match(child.name)
            if m and child.is_dir() and (child / "trainer_state.pt").is_file():
                found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def save_checkpoint(out_dir: str | os.PathLike, step: int, *, model, tokenizer, optimizer, scheduler,
                    trainer_state: dict, rank_rng: dict[int, dict] | None = None, critic=None,
                    critic_optimizer=None, keep: int = 2, move_in: dict[str, Path] | None = None) -> Path:
    """Write ``out_dir/checkpoints/step-<step>/`` atomically and keep the newest ``keep`` checkpoints (0 = all).

    trainer_state: plain data (numbers, strings, lists, dicts, tensors); the RNG states of this process are added.
    rank_rng: RNG states of the other ranks of a data-parallel run, by rank.
    optimizer None: no optimizer.pt. move_in: {name: folder} moved into the checkpoint as ``name/`` before it is
    complete (an FSDP2 run's sharded torch.distributed.checkpoint folder, written by every rank).
    """
    from safetensors.torch import save_model

    target = Path(out_dir) / "checkpoints" / f"step-{step}"
    state = dict(trainer_state)
    state["step"] = int(step)
    state["rng"] = capture_rng()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()

    def build(tmp: Path) -> None:
        _save_policy(model, tokenizer, tmp / "model")
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        for name, folder in (move_in or {}).items():
            shutil.move(str(folder), str(tmp / name))
        for rank, rng in (rank_rng or {}).items():
            torch.save(rng, tmp / f"rng-rank{rank}.pt")
        if critic is not None:
            save_model(critic, str(tmp / "critic.safetensors"))
            if critic_optimizer is not None:
                torch.save(critic_optimizer.state_dict(), tmp / "critic_optimizer.pt")
        torch.save(state, tmp / "trainer_state.pt")  # last: its presence marks a complete directory

    write_dir(target, build)
    if keep and keep > 0:
        for _, old in list_checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: str | os.PathLike, *, model, optimizer=None, scheduler=None, critic=None,
                    critic_optimizer=None, rank: int = 0, restore_rng_state: bool = True) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into the given objects; return the trainer state.

    Everything is validated (read as data) before any object is modified.
    """
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    state = safe_load(path / "trainer_state.pt")
    opt_state = safe_load(path / "optimizer.pt") if optimizer is not None else None
    crit_opt_state = None
    if critic is not None:
        if not (path / "critic.safetensors").is_file():
            raise CheckpointError(f"{path} has no critic.safetensors, but this run trains a critic (the algorithm "
                                  f"needs one); resume with the same algorithm that wrote the checkpoint")
        if critic_optimizer is not None:
            crit_opt_state = safe_load(path / "critic_optimizer.pt")
    rng = state.get("rng")
    if rank > 0:
        rank_file = path / f"rng-rank{rank}.pt"
        rng = safe_load(rank_file) if rank_file.is_file() else None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path / 'trainer_state.pt'} has no 'step'; it was not written by rlvr-zoo's trainer")

    load_model_weights(model, path / "model")
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if critic is not None:
        missing, unexpected = load_model(critic, str(path / "critic.safetensors"), strict=False)
        if missing or unexpected:
            raise CheckpointError(f"critic in {path} does not match: missing {list(missing)[:5]}, "
                                  f"unexpected {list(unexpected)[:5]}")
        if critic_optimizer is not None:
            critic_optimizer.load_state_dict(crit_opt_state)
    if restore_rng_state and rng is not None:
        restore_rng(rng)
    return state
