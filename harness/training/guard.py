"""Finite weights after every optimiser step: a step that would leave a parameter NaN or infinite is not applied.

A finite loss and a finite gradient norm do not make the step safe: a non-finite optimiser state (for example one
read from a damaged checkpoint), an overflow in low precision or an absurd learning rate can still write NaN or inf
into the weights, and every later step (and checkpoint) would carry them. ``StepGuard.step(optimizers)`` makes sure
no such step lands, in one of two ways:

* **Checked before the step** (AdamW, the trainer's optimiser, on plain tensors): one pass of min/max reductions over
  the parameters, gradients and both moment buffers proves the step finite before it runs. With every input finite,
  ``v >= 0``, float32 or bfloat16 values, ``eps`` a normal float32 number and M = max(|g|, |m|), AdamW's update
  (decoupled weight decay, lerp of the first moment, the second moment, the bias corrections, ``eps``) satisfies,
  up to a few roundings,

      |m'| <= M,  v' <= max(v, g^2),  |p'| <= |p| |1 - lr wd| + (lr / (1 - beta1^t)) M / eps,

  so when v_max, M^2 and that bound, each with a margin of 16x, stay below the parameter dtype's largest value, no
  value of the step can overflow: it runs with no copy at all. Cost: four reductions over the trained values, no
  memory. When the proof does not go through (a non-finite input, a huge gradient or learning rate), that step
  takes the second way.
* **Copy and restore** (any other optimiser, FSDP2 shards, and the steps the check cannot clear): the trainable
  parameters and the optimisers' state are copied, the step runs, and when a parameter is not finite (on any rank)
  the copies are put back, bit for bit. Cost: one extra copy of the trainable parameters and the optimiser state
  (AdamW: about 3x the trainable parameters' memory; with LoRA only the adapter's), held only during that step.

Either way the parameters are checked after the step. A step that the check cleared and that still wrote a non-finite
value (which the bound above rules out) stops the run with a TrainingError instead of training on.
"""
from __future__ import annotations

import math

import torch

from harness.training import distributed

__all__ = ["StepGuard", "nonfinite_count", "proven_finite"]

MARGIN = 16.0
"""How far below the dtype's largest value the bounds of a step must stay for the check to clear it."""


def _local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a tensor: the local shard of an FSDP2 DTensor (same storage), else the tensor."""
    return t.to_local() if hasattr(t, "to_local") else t


def nonfinite_count(tensors) -> int:
    """How many values of ``tensors`` (this rank's shards) are NaN or infinite. A tensor whose sum is finite has
    none (NaN and inf absorb every addition), so only a tensor with a non-finite sum is counted element by element
    (``isfinite`` over a whole tensor costs about ten times its sum on a CPU)."""
    total = 0
    for t in tensors:
        t = _local(t)
        if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t.sum())):
            total += int((~torch.isfinite(t)).sum())
    return total


def _abs_max(t: torch.Tensor) -> float:
    """max |t| as a Python float (NaN when t holds a NaN, inf when an inf); 0 for an empty tensor."""
    if not t.numel():
        return 0.0
    lo, hi = torch.aminmax(t.detach())
    lo, hi = float(lo), float(hi)
    return math.nan if math.isnan(lo) or math.isnan(hi) else max(abs(lo), abs(hi))


def proven_finite(opt) -> bool:
    """Whether the next ``opt.step()`` cannot write a non-finite parameter value (module notes). False when ``opt``
    is not an AdamW this proof covers (AMSGrad, capturable or differentiable steps, sharded tensors) or when a bound
    does not hold; the caller then guards the step by copying."""
    if type(opt) is not torch.optim.AdamW:
        return False
    for group in opt.param_groups:
        if group.get("amsgrad") or group.get("capturable") or group.get("differentiable"):
            return False
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        # eps a normal float32 number: a step divides by at least eps in float32 (or bfloat16, same exponent range)
        if not all(map(math.isfinite, (lr, eps, wd, beta1, beta2))) or eps < torch.finfo(torch.float32).tiny \
                or not 0 <= beta1 < 1 or not 0 <= beta2 < 1:
            return False
        for p in group["params"]:
            if p.grad is None:
                continue
            # float16's range cannot hold eps = 1e-8 in the unfused implementations: copied instead
            if hasattr(p, "to_local") or p.grad.dtype != p.dtype or p.dtype not in (torch.float32, torch.bfloat16):
                return False
            state = opt.state.get(p, {})
            step = float(state["step"]) + 1 if "step" in state else 1.0
            m = _abs_max(state["exp_avg"]) if "exp_avg" in state else 0.0
            v = state.get("exp_avg_sq")
            v_lo, v_hi = (float(x) for x in torch.aminmax(v)) if v is not None and v.numel() else (0.0, 0.0)
            g, w = _abs_max(p.grad), _abs_max(p)
            big = torch.finfo(p.dtype).max / MARGIN
            if not all(map(math.isfinite, (m, v_lo, v_hi, g, w))) or v_lo < 0:
                return False
            M = max(m, g)
            bias1 = 1.0 - beta1 ** step
            if bias1 <= 0 or M * M >= big or v_hi >= big:
                return False
            if w * abs(1.0 - lr * wd) + (abs(lr) / bias1) * M / eps >= big:
                return False
    return True


class StepGuard:
    """Check before the step, or copy, step, check and restore (module notes), for the parameters of ``models``."""

    def __init__(self, *models):
        self.params = [p for m in models if m is not None for p in m.parameters() if p.requires_grad]

    def _state_tensors(self, optimizers) -> list[torch.Tensor]:
        out = list(self.params)
        for opt in optimizers:
            for state in opt.state.values():
                out += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return out

    def step(self, optimizers) -> int:
        """Run the optimisers' steps; returns 0, or the number of non-finite parameter values the step produced,
        in which case parameters and optimiser state are as they were before it."""
        with torch.no_grad():
            proven = all(proven_finite(opt) for opt in optimizers)
        proven = distributed.all_reduce_max({"copy": float(not proven)})["copy"] == 0
        if proven:
            for opt in optimizers:
                opt.step()
            bad = int(distributed.all_reduce_max({"bad": float(nonfinite_count(self.params))})["bad"])
            if bad:
                from harness.training.config import TrainingError

                raise TrainingError(f"an optimiser step wrote {bad} non-finite parameter value(s) although its inputs "
                                    f"were checked finite and bounded before it (harness.training.guard); the weights "
                                    f"are damaged, so the run stops here: resume from the last checkpoint")
            return 0
        return self._copy_step(optimizers)

    def _copy_step(self, optimizers) -> int:
        # state created by the first step (AdamW's exp_avg ...) has no copy: restoring leaves it as created, and an
        # optimiser without state before its first step restarts from zero state on a restore
        before = self._state_tensors(optimizers)
        fresh = [opt for opt in optimizers if not opt.state]
        with torch.no_grad():
            copies = [_local(t).clone() for t in before]
        for opt in optimizers:
            opt.step()
        bad = int(distributed.all_reduce_max({"bad": float(nonfinite_count(self.params))})["bad"])
        if bad:
            with torch.no_grad():
                for t, c in zip(before, copies):
                    _local(t).copy_(c)
            for opt in fresh:
                opt.state.clear()
        return bad
