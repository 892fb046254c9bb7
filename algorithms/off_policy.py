"""Off-policy corrections for the gap between the rollout engine and the trainer.

The engine (vLLM, bf16 kernels, a KV cache) samples from a distribution pi_e that differs slightly from the trainer's
pi_old, although both hold the same weights. Two quantities describe and correct that gap, per response token y_t:

    mismatch KL    KL(pi_e || pi_old) ~ k3 = rho - 1 - log rho,  rho = pi_old(y_t) / pi_e(y_t)
                   (Schulman 2020's k3, unbiased and >= 0 on tokens sampled from pi_e; `algorithms.kl` with the
                   engine as "policy" and the trainer as "reference")
    token TIS      w_t = min(pi_old(y_t) / pi_e(y_t), C)   (truncated importance sampling, Yao et al. 2025, "Your
                   efficient RL framework secretly brings you off-policy RL training"; C = 2 there)

The TIS weights are handed to `Algorithm.loss(rollout_is_weights=w)` (verl's name for the same argument).
"""
from __future__ import annotations

import torch
from torch import Tensor

from algorithms.kl import kl

__all__ = ["mismatch_kl", "mismatch_kl_tokens", "tis_weights", "tis_stats"]


def _check_shapes(mask: Tensor, **tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if any(s != tuple(mask.shape) for s in shapes.values()):
        listed = ", ".join(f"{name} {s}" for name, s in shapes.items())
        raise ValueError(f"shapes differ: {listed}, mask {tuple(mask.shape)}; all must be [B, T] on the response "
                         f"tokens")


def mismatch_kl_tokens(engine_logp: Tensor, trainer_logp: Tensor, mask: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(engine || trainer) [B, T] in float64, 0 where mask is 0 (detached)."""
    _check_shapes(mask, engine=engine_logp, trainer=trainer_logp)
    per_token = kl(engine_logp.detach().double(), trainer_logp.detach().double(), "k3")
    return torch.where(mask.bool(), per_token, 0.0)


def mismatch_kl(engine_logp: Tensor, trainer_logp: Tensor, mask: Tensor) -> float:
    """Mean per-token KL(engine || trainer) on the sampled tokens (k3; module notes); 0.0 when the mask is empty.
    Reported every step as ``rollout/logprob_mismatch_kl``: ~0 for the HF engine in fp32, larger for bf16 / vLLM."""
    per_token = mismatch_kl_tokens(engine_logp, trainer_logp, mask)
    denom = mask.to(torch.float64).sum()
    return float(per_token.sum() / denom) if denom > 0 else 0.0


def tis_weights(trainer_logp_old: Tensor, engine_logp: Tensor, mask: Tensor, cap: float = 2.0) -> Tensor:
    """Truncated importance-sampling weights min(exp(trainer_logp_old - engine_logp), cap) [B, T], float32, detached,
    0 where mask is 0 (module notes; Yao et al. 2025)."""
    if cap <= 0:
        raise ValueError(f"TIS cap must be > 0, got {cap}")
    _check_shapes(mask, trainer=trainer_logp_old, engine=engine_logp)
    on = mask.bool()
    log_w = torch.where(on, (trainer_logp_old.detach() - engine_logp.detach()).float(), 0.0)
    return torch.where(on, torch.exp(log_w).clamp(max=cap), 0.0)


def tis_stats(weights: Tensor, mask: Tensor, cap: float) -> dict[str, tuple[float, float]]:
    """``{"tis/mean_weight": (sum of w, tokens), "tis/truncated_frac": (tokens with w at the cap, tokens)}`` over the
    tokens where mask is 1: numerators and denominators, so that micro-batches and ranks can be summed."""
    on = mask.bool()
    n = float(on.sum())
    return {"tis/mean_weight": (float((weights * on).sum()), n),
            "tis/truncated_frac": (float(((weights >= cap) & on).sum()), n)}
