"""Data parallelism for the trainer on torch.distributed.

The same training script runs as one process or under ``torchrun --nproc_per_node=N``. torchrun sets the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; when they are
present :func:`init` joins the process group (gloo on CPU, NCCL on CUDA) and every rank

* samples the same prompts (the same seeded stream) and takes its own share of them (prompt ``i`` of a step goes to
  rank ``i % world_size``), so groups of responses never straddle ranks;
* generates, scores and computes advantages for its share;
* normalises its loss by counts summed over all ranks (:func:`all_reduce_sum`), so that the sum of the ranks'
  gradients is the gradient of one big batch;
* synchronises gradients through ``DistributedDataParallel``, or with ``fsdp=True`` shards parameters, gradients and
  optimiser state with FSDP2 (:func:`shard_model`): per decoder layer plus the root, gloo on CPU, NCCL on CUDA.

FSDP2 helpers: :func:`clip_grad_norm` (the global norm over sharded DTensor gradients), :func:`full_state_dict`
(full tensors gathered from the shards, for the rollout engine and ``save_pretrained``), :func:`save_sharded` /
:func:`load_sharded` (``torch.distributed.checkpoint``: each rank writes its shards, and a checkpoint loads at any
world size, a single process included) and :func:`local_numel` (elements this rank holds, for memory accounting).

Nothing here knows about objectives: it is process-group plumbing, sharding and reductions of plain numbers.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init", "shutdown", "is_distributed", "all_reduce_sum", "all_reduce_max", "broadcast_object",
           "barrier", "wrap_model", "unwrap", "shard_model", "is_sharded", "decoder_layers", "clip_grad_norm",
           "full_state_dict", "save_sharded", "load_sharded", "local_numel"]


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


def wrap_model(model: torch.nn.Module, info: DistInfo, fsdp: bool = False,
               param_dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The module the trainer runs its forward/backward through.

    One process: the model itself. Several: ``DistributedDataParallel`` (gloo or NCCL), or with ``fsdp=True`` the
    model sharded in place by :func:`shard_model` (FSDP2; parameters become DTensors, no wrapper).
    """
    if not info.enabled:
        return model
    if fsdp:
        return shard_model(model, info, param_dtype=param_dtype)
    from torch.nn.parallel import DistributedDataParallel as DDP

    device_ids = [info.local_rank] if info.device.startswith("cuda") else None
    return DDP(model, device_ids=device_ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper (FSDP2 modules are not wrapped)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, torch.nn.Module) else model


# ----------------------------------------------------------------------------------------------------------------
# FSDP2


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of ``model``: the longest ``nn.ModuleList`` named ``layers``/``h``/``blocks`` anywhere
    in it (``model.model.layers`` of a causal LM, ``backbone.layers`` of the critic, the same under a PEFT wrapper);
    [] when there is none."""
    best: list[torch.nn.Module] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h", "blocks"):
            if len(module) > len(best):
                best = list(module)
    return best


def shard_model(model: torch.nn.Module, info: DistInfo, param_dtype: torch.dtype | None = None) -> torch.nn.Module:
    """Shard ``model`` in place with FSDP2 ``fully_shard``: each decoder layer is its own unit (its parameters are
    all-gathered just before its forward and freed after it), then the root takes what is left (embeddings, final
    norm, LM or value head). Every parameter becomes a DTensor sharded on dim 0 over the ranks; gradients are
    reduce-scattered (averaged, as DDP does) and an optimiser built afterwards holds only its shard of the state.

    ``param_dtype`` (e.g. torch.bfloat16 on CUDA): a MixedPrecisionPolicy that runs forward/backward in that dtype
    with float32 gradient reduction, the float32 shards staying the master weights. None keeps float32 throughout.
    Frozen modules (the reference model) are sharded the same way and only ever run forward.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if not dist.is_initialized():
        raise ValueError("FSDP2 needs a process group: run under torchrun (harness.training.distributed.init joins it)")
    kwargs = {}
    if param_dtype is not None:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for layer in decoder_layers(model):
        fully_shard(layer, **kwargs)
    fully_shard(model, **kwargs)
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    """True when ``model`` has FSDP2-sharded (DTensor) parameters."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def clip_grad_norm(parameters, max_norm: float) -> float:
    """Clip the gradients of ``parameters`` to a global L2 norm of ``max_norm`` (<= 0: no clipping) and return the
    norm before clipping. Works for plain tensors (one process, DDP, where gradients are already identical on every
    rank) and for FSDP2's sharded DTensor gradients, whose norm is reduced over the shards of all ranks
    (sqrt(sum over ranks of each shard's squared norm)), so every rank scales by the same factor."""
    from torch.distributed.tensor import DTensor

    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    total = torch.nn.utils.get_total_norm([p.grad for p in params], norm_type=2.0, foreach=None)
    if isinstance(total, DTensor):
        total = total.full_tensor()
    if max_norm > 0:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return float(total)


def full_state_dict(model: torch.nn.Module, cpu: bool = False) -> dict[str, torch.Tensor]:
    """The model's state dict with full (unsharded) tensors, on every rank: a collective, every rank must call it.
    For a model that is not sharded it is the plain state dict. ``cpu=True`` copies the tensors to the CPU."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if not is_sharded(model):
        state = unwrap(model).state_dict()
    else:
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=False))
    return {k: (v.detach().cpu() if cpu else v.detach()) for k, v in state.items()}


def _dcp_state(modules: dict, optimizers: dict) -> dict:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state = {f"model.{key}": get_model_state_dict(unwrap(module)) for key, module in modules.items()}
    for key, (module, optimizer) in optimizers.items():
        state[f"optim.{key}"] = get_optimizer_state_dict(unwrap(module), optimizer)
    return state


def save_sharded(path, modules: dict, optimizers: dict | None = None) -> None:
    """Write ``modules`` ({name: module}) and ``optimizers`` ({name: (module, optimizer)}) to the directory ``path``
    with ``torch.distributed.checkpoint``: a collective; each rank writes the shards it holds (one ``__<rank>_0.distcp``
    file per rank) and rank 0 the ``.metadata`` index. Sharded and plain modules alike; the saved layout does not
    depend on the world size that loads it."""
    import torch.distributed.checkpoint as dcp

    dcp.save(_dcp_state(modules, optimizers or {}), checkpoint_id=str(path))


def load_sharded(path, modules: dict, optimizers: dict | None = None) -> None:
    """Load what :func:`save_sharded` wrote into freshly built ``modules`` / ``optimizers`` (same names), at any world
    size: DCP reads each rank's slice of every tensor (resharding), a single process reads the full tensors."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    optimizers = optimizers or {}
    state = _dcp_state(modules, optimizers)
    dcp.load(state, checkpoint_id=str(path))
    for key, module in modules.items():
        set_model_state_dict(unwrap(module), state[f"model.{key}"])
    for key, (module, optimizer) in optimizers.items():
        set_optimizer_state_dict(unwrap(module), optimizer, state[f"optim.{key}"])


def local_numel(tensors) -> int:
    """Number of elements this rank holds for ``tensors`` (parameters or optimiser-state tensors): a DTensor counts
    its local shard only."""
    total = 0
    for t in tensors:
        if t is None or not isinstance(t, torch.Tensor):
            continue
        local = t.to_local() if hasattr(t, "to_local") else t
        total += local.numel()
    return total
