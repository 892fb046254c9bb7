"""Trainer checkpoints: written atomically, read back as data only.

Layout of ``OUT/checkpoints/step-<N>/``::

    model/              the policy in save_pretrained form (safetensors + config + tokenizer): loadable by
                        transformers, vLLM and ``harness.models.load_policy``; a LoRA run stores its adapter here
    optimizer.pt        AdamW state            (torch.load(..., weights_only=True))
    trainer_state.pt    step, data position, scheduler, RNG states (python, numpy, torch, cuda), counters
    rng-rank<R>.pt      RNG states of rank R > 0 in a data-parallel run
    critic.safetensors  the critic (PPO), when there is one
    critic_optimizer.pt its AdamW state

    manifest.json       size and SHA-256 of every other file in the directory (format-agnostic: whatever a writer
                        puts in the directory, including a torch.distributed.checkpoint layout, is covered)

A checkpoint is written into a temporary sibling directory (``.step-<N>.tmp-<pid>-*``) and renamed into place, so
``step-<N>/`` either exists complete or not at all. An FSDP2 run's ranks first write their shards into the staging
folder :func:`sharded_staging_dir` (``.sharded-step-<N>``), which :func:`save_checkpoint` moves in (``move_in``).
Temporaries and staging folders left by a killed writer (its pid no longer runs; a staging folder names no pid, and
the run lock keeps a second writer out) are removed by :func:`latest_checkpoint` and :func:`save_checkpoint`.

Integrity: :func:`verify_checkpoint` re-hashes every file against ``manifest.json``. :func:`latest_checkpoint`
returns the newest checkpoint that verifies; a newer one that does not (a changed byte, a truncated, missing or extra
file, a missing manifest) is skipped with a warning naming the file, and when no checkpoint verifies it raises
:class:`CheckpointError` listing each bad file. So ``--resume`` falls back to the newest intact checkpoint, and
the next checkpoint written replaces the skipped ones. A checkpoint from before manifests (its trainer_state.pt has
no ``integrity`` entry) is used unverified, with a warning. Loading never unpickles arbitrary objects: tensors come from safetensors files and every
``.pt`` file is read with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
containers; a file that is refused raises :class:`CheckpointError` naming it, and nothing in it runs.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from harness.io import check_dir, read_json, write_dir, write_json
from harness.run_layout import CHECKPOINTS_DIR

__all__ = ["CheckpointError", "safe_load", "capture_rng", "restore_rng", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint", "list_checkpoints", "load_model_weights", "save_final", "write_manifest",
           "verify_checkpoint", "remove_stale_temporaries", "sharded_staging_dir", "MANIFEST"]

_STEP_RE = re.compile(r"^step-(\d+)$")
_TEMP_RE = re.compile(r"^\.(?:(?:step-\d+|final)\.(?:tmp|old)-(?:(\d+)(?=-|$))?|sharded-step-\d+$)")
MANIFEST = "manifest.json"
MODEL_DIR = "model"          # a checkpoint's policy in save_pretrained form
MANIFEST_VERSION = 1


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
    except pickle.UnpicklingError as exc:
        first = _first_line(exc)
        raise CheckpointError(
            f"refused to load {path}: it is not a plain tensor/state file (torch.load with weights_only=True "
            f"rejected it: {first}). Checkpoints are read as data only and nothing in this file was executed. "
            f"Use a checkpoint written by rlvr-zoo, or delete this checkpoint directory and resume from an "
            f"earlier one.") from None
    except (RuntimeError, AttributeError, TypeError, ValueError, EOFError, OSError, IndexError, KeyError) as exc:
        raise CheckpointError(f"could not read {path}: it is damaged or truncated ({_first_line(exc)}); resume "
                              f"from an earlier checkpoint (delete this one)") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------------------------
# integrity: manifest.json with the size and SHA-256 of every file

_VERIFIED: dict[str, tuple] = {}   # directory -> file signature at its last successful verification


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _files_of(directory: Path) -> dict[str, Path]:
    """Every file under ``directory`` (recursively) but the manifest, by POSIX path relative to it."""
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            f = Path(root) / name
            rel = f.relative_to(directory).as_posix()
            if rel != MANIFEST:
                out[rel] = f
    return dict(sorted(out.items()))


def _signature(directory: Path) -> tuple:
    files = _files_of(directory)
    files[MANIFEST] = directory / MANIFEST
    sig = []
    for rel, f in files.items():
        try:
            st = f.stat()
        except OSError:
            return ()
        sig.append((rel, st.st_size, st.st_mtime_ns))
    return tuple(sig)


def write_manifest(directory: str | os.PathLike) -> Path:
    """Write ``directory/manifest.json`` (atomically, fsynced): {"version", "files": {relative path: {"bytes",
    "sha256"}}} for every file below ``directory``. Call it last, once every file of the checkpoint is written.
    The files are hashed two at a time (hashlib releases the GIL): the weights and the optimiser state together."""
    from concurrent.futures import ThreadPoolExecutor

    directory = Path(directory)
    paths = _files_of(directory)
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = dict(zip(paths, pool.map(_sha256, paths.values())))
    files = {rel: {"bytes": f.stat().st_size, "sha256": digests[rel]} for rel, f in paths.items()}
    return write_json(directory / MANIFEST, {"version": MANIFEST_VERSION, "files": files}, indent=1)


def _expects_manifest(directory: Path) -> bool:
    """Whether the checkpoint was written with a manifest (its trainer_state.pt says so)."""
    state = safe_load(directory / "trainer_state.pt")
    return not isinstance(state, dict) or "integrity" in state


def verify_checkpoint(directory: str | os.PathLike) -> bool:
    """Check every file of a checkpoint directory against its ``manifest.json``.

    Returns True when verified, False for a checkpoint written before manifests existed (nothing to verify against).
    Raises :class:`CheckpointError` naming the first file that is missing, truncated, changed (SHA-256 differs) or
    not listed, or a manifest that is missing or unreadable. A verification is remembered until a file's size or
    modification time changes, so checking the same directory twice hashes it once.
    """
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not manifest.is_file():
        if _expects_manifest(directory):
            raise CheckpointError(f"{manifest} is missing, so the files of {directory} cannot be verified")
        return False
    sig = _signature(directory)
    if sig and _VERIFIED.get(str(directory.resolve())) == sig:
        return True
    try:
        listed = read_json(manifest, 2**24)["files"]
        if not isinstance(listed, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest} is damaged ({_first_line(exc)})") from None
    present = _files_of(directory)
    for rel, entry in listed.items():
        f = directory / rel
        if rel not in present:
            raise CheckpointError(f"{f} is missing (listed in {MANIFEST})")
        size, digest = _manifest_entry(manifest, rel, entry)
        if f.is_symlink() or not f.is_file():   # a link or a device could point anywhere, or never end
            raise CheckpointError(f"{f} is not a regular file of the checkpoint")
        actual = f.stat().st_size
        if actual < size:
            raise CheckpointError(f"{f} is truncated: {actual} of {size} bytes")
        if actual != size:
            raise CheckpointError(f"{f} is damaged: it has {actual} bytes, {size} were written")
        if _sha256(f) != digest:
            raise CheckpointError(f"{f} is damaged: its SHA-256 differs from the one written with it")
    extra = sorted(set(present) - set(listed))
    if extra:
        raise CheckpointError(f"{directory / extra[0]} was not part of the checkpoint when it was written")
    _VERIFIED[str(directory.resolve())] = _signature(directory)
    return True


def _manifest_entry(manifest: Path, rel: str, entry) -> tuple[int, str]:
    """(bytes, sha256) of one manifest entry, checked as data: a whole number of bytes >= 0 (not a bool, NaN or
    Infinity) and 64 hexadecimal digits; else CheckpointError naming the entry."""
    size = entry.get("bytes") if isinstance(entry, dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise CheckpointError(f"{manifest} is damaged (bad entry for {rel}: bytes is {size!r}, not a whole number "
                              f">= 0)")
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise CheckpointError(f"{manifest} is damaged (bad entry for {rel}: sha256 is {str(digest)[:80]!r}, not 64 "
                              f"hexadecimal digits)")
    return size, digest


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


def _load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, ...: a damaged file, reported by name
        raise CheckpointError(f"could not read {path}: it is damaged or truncated ({_first_line(exc)})") from None


def load_model_weights(model: torch.nn.Module, model_dir: str | os.PathLike) -> None:
    """Load the safetensors weights of a save_pretrained directory into ``model`` in place.

    Handles single-file and sharded (``*.index.json``) checkpoints, tied weights (saved once) and PEFT adapters.
    """
    model_dir = Path(model_dir)
    if _is_peft(model):
        from peft import set_peft_model_state_dict

        f = model_dir / "adapter_model.safetensors"
        if not f.is_file():
            raise CheckpointError(f"{model_dir} has no adapter_model.safetensors; this run uses LoRA, so its "
                                  f"checkpoints hold the adapter")
        result = set_peft_model_state_dict(model, _load_safetensors(f))
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise CheckpointError(f"adapter in {model_dir} has unexpected keys {unexpected[:5]}")
        return
    single = model_dir / "model.safetensors"
    index = model_dir / "model.safetensors.index.json"
    if single.is_file():
        state = _load_safetensors(single)
    elif index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"could not read {index}: {_first_line(exc)}") from None
        state = {}
        for shard in sorted(set(weight_map.values())):
            state.update(_load_safetensors(model_dir / shard))
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


def save_final(model, tokenizer, out_dir: str | os.PathLike, same_as: str | os.PathLike | None = None) -> Path:
    """``out_dir`` = the policy (LoRA merged into plain weights) + tokenizer in save_pretrained form, atomically.

    ``same_as``: a checkpoint's ``model/`` folder written from these very weights (the last step's checkpoint):
    without LoRA its files are what this would write, so they are hard-linked (copied where a link is refused)
    instead of serialised and written again. The checkpoint's files are never modified, only deleted, so the two
    names of one file stay identical."""
    out_dir = Path(out_dir)
    base = model
    if _is_peft(model):
        import copy

        base = copy.deepcopy(model).merge_and_unload()

    def build(tmp: Path) -> None:
        if same_as is not None and base is model:
            for root, _, names in os.walk(same_as):
                for name in names:
                    src = Path(root) / name
                    dst = tmp / src.relative_to(same_as)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copy2(src, dst)
            return
        _save_policy(base, tokenizer, tmp)

    write_dir(out_dir, build)
    return out_dir


# ----------------------------------------------------------------------------------------------------------------
# checkpoints


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing while it cleans up
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sharded_staging_dir(out_dir: str | os.PathLike, step: int) -> Path:
    """Where the ranks of an FSDP2 run write the shards of checkpoint ``step`` before :func:`save_checkpoint` moves
    the folder in (``move_in``)."""
    return Path(out_dir) / CHECKPOINTS_DIR / f".sharded-step-{int(step)}"


def remove_stale_temporaries(out_dir: str | os.PathLike, keep: tuple[Path, ...] = ()) -> list[Path]:
    """Remove the hidden ``.step-N.tmp-<pid>-*`` / ``.step-N.old-<pid>-`` (and ``.final.*``) directories and the
    ``.sharded-step-N`` staging folders that a writer killed mid-write left in ``out_dir/checkpoints`` and
    ``out_dir``; a directory whose writer process still runs on this machine, and the folders in ``keep`` (a
    checkpoint's staging folder about to be moved in), are left alone. Returns the removed paths."""
    removed, keep = [], {Path(k).resolve() for k in keep}
    for parent in (_checkpoints_dir(out_dir), Path(out_dir)):
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            m = _TEMP_RE.match(child.name)
            if not m or not child.is_dir() or (m.group(1) and _pid_alive(int(m.group(1)))) \
                    or child.resolve() in keep:
                continue
            shutil.rmtree(child, ignore_errors=True)
            if not child.exists():
                removed.append(child)
    return removed


def _checkpoints_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir/checkpoints``, refused (harness.io.UnsafePathError) when it is a symbolic link planted there: the
    checkpoints written, pruned and cleaned up in it would be another folder's."""
    return check_dir(Path(out_dir) / CHECKPOINTS_DIR, out_dir)


def list_checkpoints(out_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoints under ``out_dir/checkpoints``, oldest first: every ``step-<N>`` directory
    with a ``trainer_state.pt`` or a ``manifest.json`` (whether intact is :func:`verify_checkpoint`'s job)."""
    root = _checkpoints_dir(out_dir)
    found = []
    if root.is_dir():
        for child in root.iterdir():
            m = _STEP_RE.match(child.name)
            if m and child.is_dir() and ((child / "trainer_state.pt").is_file() or (child / MANIFEST).is_file()):
                found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(out_dir: str | os.PathLike, *, verify: bool = True) -> Path | None:
    """The newest checkpoint of ``out_dir`` that passes :func:`verify_checkpoint` (None when there is none at all).

    A newer checkpoint that fails is skipped with a warning naming the bad file; when every checkpoint fails,
    :class:`CheckpointError` lists them. ``verify=False``: the newest complete one, unchecked. Stale temporary
    directories of killed writers are removed first.
    """
    remove_stale_temporaries(out_dir)
    found = list_checkpoints(out_dir)
    if not found or not verify:
        return found[-1][1] if found else None
    problems = []
    for _, path in reversed(found):
        try:
            verified = verify_checkpoint(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"checkpoint skipped: {problem}; using the older {path} instead", stacklevel=2)
        if not verified:
            warnings.warn(f"{path} has no {MANIFEST} (written by an older rlvr-zoo): its files are not verified",
                          stacklevel=2)
        return path
    raise CheckpointError(f"no intact checkpoint in {Path(out_dir) / CHECKPOINTS_DIR}: " + "; ".join(problems)
                          + ". Start a new run in another out_dir, or delete the checkpoints to start over here")


def _torch_save(obj, path: Path) -> None:
    """``torch.save`` without the zip records' CRC-32 (the manifest's SHA-256 covers every byte of the file): the
    optimiser state of SmolLM2-135M (1.08 GB) saved in 1.2 s instead of 1.8-4.8 s (docs/benchmarks.md)."""
    from torch import serialization

    previous = serialization.get_crc32_options()
    serialization.set_crc32_options(False)
    try:
        torch.save(obj, path)
    finally:
        serialization.set_crc32_options(previous)


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

    target = _checkpoints_dir(out_dir) / f"step-{step}"
    state = dict(trainer_state)
    state["step"] = int(step)
    state["integrity"] = MANIFEST
    state["rng"] = capture_rng()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()

    def build(tmp: Path) -> None:
        _save_policy(model, tokenizer, tmp / MODEL_DIR)
        if optimizer is not None:
            _torch_save(optimizer.state_dict(), tmp / "optimizer.pt")
        for name, folder in (move_in or {}).items():
            shutil.move(str(folder), str(tmp / name))
        for rank, rng in (rank_rng or {}).items():
            _torch_save(rng, tmp / f"rng-rank{rank}.pt")
        if critic is not None:
            save_model(critic, str(tmp / "critic.safetensors"))
            if critic_optimizer is not None:
                _torch_save(critic_optimizer.state_dict(), tmp / "critic_optimizer.pt")
        _torch_save(state, tmp / "trainer_state.pt")  # its presence marks a complete directory
        write_manifest(tmp)

    remove_stale_temporaries(out_dir, keep=tuple((move_in or {}).values()))
    try:
        write_dir(target, build)
    except Exception as exc:
        if not _out_of_space(exc):
            raise
        previous = list_checkpoints(out_dir)
        kept = f"the newest intact checkpoint, {previous[-1][1].name}, is kept" if previous else "no earlier checkpoint"
        raise CheckpointError(f"no space left on the device of {target.parent} while writing checkpoint step-{step} "
                              f"(nothing of it is left behind; {kept}): free disk space or set save_every higher, "
                              f"then continue with --resume") from None
    found = list_checkpoints(out_dir)
    for old_step, old in found:
        if old_step > step:
            # newer than the step just written: left behind when resume fell back past it (it failed verification)
            warnings.warn(f"removing {old}: this run continued from an earlier checkpoint", stacklevel=2)
            shutil.rmtree(old, ignore_errors=True)
    if keep and keep > 0:
        for _, old in [c for c in found if c[0] <= step][:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _out_of_space(exc: BaseException) -> bool:
    """A full disk or quota, as an OSError or as the message of a writer that wraps it (safetensors' own error)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "os error 28" in text or "No space left on device" in text or "Disk quota exceeded" in text


def load_checkpoint(path: str | os.PathLike, *, model, optimizer=None, scheduler=None, critic=None,
                    critic_optimizer=None, rank: int = 0, restore_rng_state: bool = True) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into the given objects; return the trainer state.

    The directory is first checked against its manifest (:func:`verify_checkpoint`); everything is then read as
    data and validated before any object is modified.
    """
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    verify_checkpoint(path)
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

    load_model_weights(model, path / MODEL_DIR)
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
