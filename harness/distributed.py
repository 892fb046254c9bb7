"""Data parallelism for the trainer on torch.distributed.

The same training script runs as one process or under ``torchrun --nproc_per_node=N``. torchrun sets the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; when they are
present :func:`init` joins the process group (gloo on CPU, NCCL on CUDA) and every rank

* samples the same prompts (the same seeded stream) and takes its own share of them (prompt ``i`` of a step goes to
  rank ``i % world_size``), so groups of responses never straddle ranks;
* generates, scores and computes advantages for its share;
* normalises its loss by counts summed over all ranks (:func:`all_reduce_sum`), so that the sum of the ranks'
  gradients is the gradient of one big batch;
* synchronises gradients through ``DistributedDataParallel`` (or FSDP2 ``fully_shard`` on CUDA when asked).

Nothing here knows about models or objectives: it is process-group plumbing and reductions of plain numbers.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init", "shutdown", "is_distributed", "all_reduce_sum", "all_reduce_max", "broadcast_object",
           "barrier", "wrap_model", "unwrap"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on the rank that writes metrics, checkpoints and the progress bar."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} is not an integer; torchrun sets it to one") from exc


def init(device: str = "auto", backend: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the torchrun process group when the environment says so; otherwise describe a single process.

    ``device``: "auto" (CUDA when available, else CPU), "cpu" or "cuda". ``backend``: "auto" (NCCL on CUDA, gloo on
    CPU), "gloo" or "nccl".
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device={device!r}: expected 'auto', 'cpu' or 'cuda'")
    if backend not in ("auto", "gloo", "nccl"):
        raise ValueError(f"backend={backend!r}: expected 'auto', 'gloo' or 'nccl'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch.cuda.is_available() is False; use device='cpu' or 'auto'")
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        dev = f"cuda:{torch.cuda.current_device()}" if device == "cuda" else "cpu"
        return DistInfo(0, 1, 0, dev, None)
    if backend == "auto":
        backend = "nccl" if device == "cuda" else "gloo"
    if backend == "nccl" and device != "cuda":
        raise ValueError("backend='nccl' needs CUDA devices; use backend='gloo' (or 'auto') on CPU")
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = f"cuda:{local_rank}"
    else:
        dev = "cpu"
    if not dist.is_initialized():
        global _OWNED
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
        _OWNED = True
    return DistInfo(rank, world_size, local_rank, dev, backend)


_OWNED = False  # True when init() created the default process group (vLLM may create its own in-process one)


def shutdown() -> None:
    """Leave the process group that :func:`init` joined (a no-op for a single process, and for a group that someone
    else, e.g. an in-process vLLM engine, created)."""
    global _OWNED
    if _OWNED and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _OWNED = False


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _reduce(values: dict[str, float], op) -> dict[str, float]:
    if not values or not is_distributed():
        return dict(values)
    keys = sorted(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def all_reduce_sum(values: dict[str, float]) -> dict[str, float]:
    """Sum each named number over all ranks (identity for one process). Every rank must pass the same keys."""
    return _reduce(values, dist.ReduceOp.SUM if dist.is_available() else None)


def all_reduce_max(values: dict[str, float]) -> dict[str, float]:
    """Maximum of each named number over all ranks (identity for one process)."""
    return _reduce(values, dist.ReduceOp.MAX if dist.is_available() else None)


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s Python object on every rank (identity for one process). Only for trusted in-job values."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def wrap_model(model: torch.nn.Module, info: DistInfo, fsdp: bool = False) -> torch.nn.Module:
    """The module the trainer runs its forward/backward through.

    One process: the model itself. Several: ``DistributedDataParallel`` (gloo or NCCL), or with ``fsdp=True`` on
    CUDA, FSDP2 ``fully_shard`` applied to each decoder layer and to the whole model (parameters become DTensors;
    the trainer gathers full weights for checkpoints and the rollout engine).
    """
    if not info.enabled:
        return model
    if fsdp:
        if not info.device.startswith("cuda"):
            raise ValueError("fsdp=True needs CUDA devices; on CPU the trainer uses DDP (set fsdp=False)")
        from torch.distributed.fsdp import fully_shard  # torch >= 2.6

        layers = getattr(getattr(model, "model", model), "layers", None)
        if layers is not None:
            for layer in layers:
                fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    device_ids = [info.local_rank] if info.device.startswith("cuda") else None
    return DDP(model, device_ids=device_ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper (FSDP2 modules are not wrapped)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, torch.nn.Module) else model
