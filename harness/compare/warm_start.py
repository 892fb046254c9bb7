"""A shared warm start: one training run that every arm of a comparison starts from, rebuilt from its seed.

A preset (or `--set compare.warm_start=...`) names it as a mapping of `TrainConfig` fields laid over the
comparison's own `train:` section, `algo` included:

    compare:
      warm_start: {algo: grpo, steps: 12, seed: 1000}

The run is trained once into the cache (``$RLVR_ZOO_CACHE/warm-starts/<key>/``, the key a hash of its whole
TrainConfig) and reused by every later comparison that names the same one, like the SmolLM2 conversion. The first
comparison pays for it. Its weights' digest (SHA-256 over every tensor's name, dtype, shape and bytes, in name order)
goes into ``OUT/warm_start.json`` with the settings and the machine that built it. That file is what a comparison
keeps instead of the weights: on a machine without the cache (a fresh clone that resumes a committed study), the
warm start is trained again from its seed and its digest must equal the recorded one, so that the arms still to run
start from exactly the model the finished ones did. A different digest (another processor's kernels, another torch)
stops the comparison with a one-line error, unless `compare.warm_start_mismatch: warn` accepts it with a warning.

The comparison's base row is then the warm start (the model RL trained from), evaluated into ``OUT/base/eval/``; the
untouched model of `train.model` is evaluated into ``OUT/base-model/eval/`` and reported beside it.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.io import read_json, write_dir, write_json
from harness.run_layout import WARM_START_FILE

MISMATCH_CHOICES = ("refuse", "warn")
_NOT_SETTABLE = ("out_dir", "model")


class WarmStartError(UserError, ValueError):
    """A warm start that cannot be used (one line)."""


def spec_of(train: dict[str, Any], warm: Any) -> dict[str, Any]:
    """The warm start's TrainConfig fields: the comparison's `train` with `warm` laid over it (checked)."""
    from harness.training import TrainConfig

    if not isinstance(warm, dict) or not warm.get("algo"):
        raise WarmStartError(f"compare.warm_start must be a mapping of TrainConfig fields with an `algo`, e.g. "
                             f"{{algo: grpo, steps: 12, seed: 1000}}; got {warm!r}")
    fixed = sorted(set(warm) & set(_NOT_SETTABLE))
    if fixed:
        raise WarmStartError(f"compare.warm_start may not set {', '.join(fixed)}: it starts from train.model and "
                             f"lives in the cache")
    spec = {k: v for k, v in {**train, **warm}.items() if k not in ("out_dir", "report_to")}
    try:
        cfg = TrainConfig.from_dict({**spec, "out_dir": "unused"})
    except (TypeError, ValueError) as exc:
        raise WarmStartError(f"compare.warm_start: {' '.join(str(exc).split())}") from None
    out = cfg.to_dict()
    out.pop("out_dir", None)
    out.pop("report_to", None)
    return out


def key_of(spec: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the spec's canonical JSON: the cache entry's name."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_digest(model_dir: str | Path) -> str:
    """SHA-256 over every tensor of the model's safetensors files: name, dtype, shape and bytes, in name order."""
    import torch
    from safetensors import safe_open

    tensors = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
    if not tensors:
        raise WarmStartError(f"{model_dir}: no safetensors weights to digest")
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_root() -> Path:
    from harness.models import cache_dir

    return cache_dir() / "warm-starts"


def _machine() -> dict[str, Any]:
    import torch

    return {"processor": platform.processor() or platform.machine(), "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


_HEX64 = set("0123456789abcdef")


def read_record(path: Path) -> dict[str, Any]:
    """A warm-start record (``OUT/warm_start.json`` or the cache's) read as data: a mapping with a text ``key`` and
    a 64-hex-digit ``weights_sha256``; a damaged one is a one-line error naming the file."""
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise WarmStartError(f"{path}: {' '.join(str(exc).split())}; delete it to build the warm start again") from None
    digest = record.get("weights_sha256") if isinstance(record, dict) else None
    if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX64
            and isinstance(record.get("key"), str)):
        raise WarmStartError(f"{path}: not a warm-start record (needs a text `key` and a 64-hex-digit "
                             f"`weights_sha256`); delete it to build the warm start again")
    return record


def build(spec: dict[str, Any], progress: bool = True, echo=print) -> tuple[Path, str]:
    """The cached warm start of ``spec`` (trained now when the cache has none): (its final model dir, digest)."""
    entry = cache_root() / key_of(spec)
    record = entry / WARM_START_FILE
    if record.is_file() and (entry / "run" / "final").is_dir():
        return entry / "run" / "final", read_record(record)["weights_sha256"]
    from harness.training import TrainConfig, train

    echo(f"[compare] warm start {key_of(spec)}: training {spec['algo']} for {spec['steps']} steps from "
         f"{spec['model']} (seed {spec['seed']}); cached for later comparisons")
    start = time.time()

    def fill(tmp: str) -> None:
        result = train(TrainConfig(**spec, out_dir=str(Path(tmp) / "run")), progress=progress)
        if result.status != "completed" or not result.final_model_dir:
            raise WarmStartError(f"the warm start stopped after step {result.steps_done} ({result.status}); run the "
                                 f"same command again to train it anew")
        digest = weights_digest(result.final_model_dir)
        write_json(Path(tmp) / WARM_START_FILE, {"spec": spec, "key": key_of(spec), "weights_sha256": digest,
                                                   "train_wall_time_s": time.time() - start, **_machine()})

    write_dir(entry, fill, keep_existing=True, mode=0o755)
    return entry / "run" / "final", read_record(record)["weights_sha256"]


def ensure(out: Path, train: dict[str, Any], options: dict[str, Any], progress: bool = True,
           echo=print) -> tuple[str, dict[str, Any]]:
    """The model directory every arm starts from, after checking it against ``out``'s recorded warm start (see the
    module notes); writes ``OUT/warm_start.json`` the first time. Returns (model dir, the record)."""
    spec = spec_of(train, options["warm_start"])
    mismatch = options.get("warm_start_mismatch") or "refuse"
    if mismatch not in MISMATCH_CHOICES:
        raise WarmStartError(f"compare.warm_start_mismatch must be one of {', '.join(MISMATCH_CHOICES)}, got "
                             f"{mismatch!r}")
    recorded_path = out / WARM_START_FILE
    recorded = read_record(recorded_path) if recorded_path.exists() else None
    if recorded is not None and recorded.get("key") != key_of(spec):
        raise WarmStartError(f"{recorded_path} records another warm start (key {recorded.get('key')}, this one "
                             f"{key_of(spec)}); use another --out, or the same warm_start settings to resume")
    model_dir, digest = build(spec, progress=progress, echo=echo)
    if recorded is not None and recorded.get("weights_sha256") != digest:
        what = (f"the warm start rebuilt here has weights {digest[:12]}, but {recorded_path} records "
                f"{str(recorded.get('weights_sha256'))[:12]} (built with torch {recorded.get('torch')} on "
                f"{recorded.get('processor')}, kernels {recorded.get('cpu_capability')}; here: torch "
                f"{_machine()['torch']}, kernels {_machine()['cpu_capability']})")
        if mismatch == "refuse":
            raise WarmStartError(f"{what}: the arms still to run would start from another model than the finished "
                                 f"ones; use the recorded machine's kernels (ATEN_CPU_CAPABILITY) or set "
                                 f"compare.warm_start_mismatch=warn to accept it")
        import warnings

        warnings.warn(f"{what}; continuing because compare.warm_start_mismatch is warn", stacklevel=2)
    if recorded is None:
        cache_record = read_record(model_dir.parent.parent / WARM_START_FILE)
        recorded = {**cache_record, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(recorded_path, recorded)
    return str(model_dir), recorded


def label(record: dict[str, Any]) -> str:
    """How the warm start is named in the leaderboard's base row."""
    spec = record.get("spec") or {}
    return f"warm start: {spec.get('algo')} {spec.get('steps')} steps from {spec.get('model')}"
