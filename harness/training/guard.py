"""Finite weights after every optimiser step: the step is undone when it leaves a parameter NaN or infinite.

A finite loss and a finite gradient norm do not make the step safe: a non-finite optimiser state (for example one
read from a damaged checkpoint), an overflow in low precision or an absurd learning rate can still write NaN or inf
into the weights, and every later step (and checkpoint) would carry them. ``StepGuard.step(optimizers)`` therefore

1. copies the trainable parameters and the optimisers' state tensors into buffers kept between steps,
2. runs ``optimizer.step()`` for each optimiser,
3. checks every trainable parameter for NaN/inf (each rank its own shards under FSDP2), and when one is not finite
   (on any rank) copies the parameters and optimiser state back, bit for bit, and reports the step as skipped.

Cost: one extra copy of the trainable parameters and of the optimiser state (AdamW: about 3x the trainable
parameters' memory in all; with LoRA only the adapter), and one copy pass per step.
"""
from __future__ import annotations

import torch

from harness.training import distributed

__all__ = ["StepGuard", "nonfinite_count"]


def _local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a tensor: the local shard of an FSDP2 DTensor (same storage), else the tensor."""
    return t.to_local() if hasattr(t, "to_local") else t


def nonfinite_count(tensors) -> int:
    """How many values of ``tensors`` (this rank's shards) are NaN or infinite."""
    total = 0
    for t in tensors:
        t = _local(t)
        if t.is_floating_point() or t.is_complex():
            total += int((~torch.isfinite(t)).sum())
    return total


class StepGuard:
    """Snapshot, step, check, restore (module notes) for the parameters of ``models``."""

    def __init__(self, *models):
        self.params = [p for m in models if m is not None for p in m.parameters() if p.requires_grad]
        self._buffers: dict[int, torch.Tensor] = {}

    def _state_tensors(self, optimizers) -> list[torch.Tensor]:
        out = list(self.params)
        for opt in optimizers:
            for state in opt.state.values():
                out += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return out

    def _copy(self, tensors, to_buffers: bool) -> None:
        with torch.no_grad():
            for whole in tensors:
                t = _local(whole)
                buf = self._buffers.get(id(whole))
                if to_buffers:
                    if buf is None or buf.shape != t.shape or buf.dtype != t.dtype or buf.device != t.device:
                        buf = self._buffers[id(whole)] = torch.empty_like(t)
                    buf.copy_(t)
                elif buf is not None:
                    t.copy_(buf)

    def step(self, optimizers) -> int:
        """Run the optimisers' steps; returns 0, or the number of non-finite parameter values the step produced,
        in which case parameters and optimiser state are back to what they were before it."""
        # state created by the first step (AdamW's exp_avg ...) has no snapshot: restoring leaves it as created,
        # and an optimiser without state before its first step restarts from zero state on a restore
        before = self._state_tensors(optimizers)
        fresh = [opt for opt in optimizers if not opt.state]
        self._copy(before, to_buffers=True)
        for opt in optimizers:
            opt.step()
        bad = nonfinite_count(self.params)
        bad = int(distributed.all_reduce_max({"bad": float(bad)})["bad"])
        if bad:
            self._copy(before, to_buffers=False)
            for opt in fresh:
                opt.state.clear()
        return bad
