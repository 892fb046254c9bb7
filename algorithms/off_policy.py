"""Off-policy corrections for the gap between the rollout engine and the trainer.

The engine (vLLM, bf16 kernels, a KV cache) samples from a distribution pi_e that differs slightly from the trainer's
pi_old, although both hold the same weights. Two quantities describe and correct that gap, per response token y_t:

    mismatch KL    KL(pi_e || pi_old) ~ k3 = rho - 1 - log rho,  rho = pi_old(y_t) / pi_e(y_t)
                   (Schulman 2020's k3, unbiased and >= 0 on tokens sampled from pi_e; `algorithms.kl` with the
                   engine as "policy" and the trainer as "reference")
    token TIS      w_t = min(pi_old(y_t) / pi_e(y_t), C)   (truncated importance sampling, Yao et al. 2025, "Your
                   efficient RL framework secretly brings you off-policy RL training"; C = 2 there)

The TIS weights are handed to `Algorithm.loss(rollout_is_weights=w)` (verl's name for the same argument).

Rollout corrections: a registry of the corrections peers ship, TrainConfig.rollout_correction picks one (`tis_cap`
above is the older spelling of token TIS, kept with its `tis/*` metrics). With mu = pi_e and rho_t = pi_old(y_t) / mu(y_t) (per token,
exp(old_logp - engine_logp)) and rho_i = prod_t rho_t (per sequence, computed in log space), each correction gives a
detached weight w_t >= 0 by which the trainer multiplies the token's advantage (so w_t = 0 masks the token: no
gradient, the token stays in the aggregation's denominator). It is a choice separate from the objective and works
with any of them.

    token-tis   w_t = min(rho_t, C)                      C = 2    Yao et al. 2025 (as tis_weights above)
    seq-tis     w_t = min(rho_i, C) for all t of i       C = 2    Liu, Li et al. 2025, "When Speed Kills Stability:
                                                                  Demystifying RL Collapse from the
                                                                  Training-Inference Mismatch" (sequence-level TIS)
    token-mis   w_t = rho_t 1[rho_t <= C]                C = 2    the same report: masked importance sampling, a token
                                                                  whose weight would be truncated is dropped instead
    seq-mis     w_t = rho_i 1[rho_i <= C]                C = 2    the same, per sequence
    icepop      w_t = rho_t 1[alpha <= rho_t <= beta]    0.5, 5   Ling Team 2025, "Every Step Evolves: Scaling RL for
                                                                  Trillion-Scale Thinking Model" (Ring-1T, IcePop,
                                                                  arXiv 2510.18855): two-sided token mask
    geo-rs      w_t = 1[lo <= exp(mean_t log rho_t) <= hi]  0.999, 1.001   geometric-mean sequence rejection (the
                                                                  same mismatch report, part 3; verl's `seq_mean_k1`
                                                                  rejection, preset decoupled_geo_rs)

Every correction reports what it did, as fractions of the response tokens and of the sequences:
`rollout_corr/masked_token_frac` and `rollout_corr/masked_seq_frac` (weight 0), `rollout_corr/truncated_token_frac`
(TIS: weight capped at C) and `rollout_corr/mean_weight`. Sequences are never split across micro-batches, so the
sequence-level weights computed on a micro-batch equal those of the whole batch.

    names(); paper(name); describe(name) -> {"summary", "paper", "params": {name: default}}
    parse_spec("icepop:alpha=0.4,beta=4") -> ("icepop", {"alpha": 0.4, "beta": 4.0})
    weights, metrics = compute("token-tis", old_logp=..., engine_logp=..., mask=..., cap=2.0)
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.kl import kl

__all__ = ["compute", "describe", "mismatch_kl", "mismatch_kl_tokens", "names", "paper", "parse_spec", "tis_stats",
           "tis_weights"]


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


# ------------------------------------------------------------------------------------------ rollout corrections

LOG_CLAMP = 20.0
"""|log rho| is clamped to this before exp, as the objectives' ratio (exp(20) ~ 4.9e8)."""


@dataclass(frozen=True)
class _Entry:
    fn: object
    summary: str
    paper: str


_CORRECTIONS: dict[str, _Entry] = {}


def _register(name: str, summary: str, paper: str):
    def decorator(fn):
        _CORRECTIONS[name] = _Entry(fn, summary, paper)
        return fn
    return decorator


def names() -> list[str]:
    """Sorted names of the rollout corrections."""
    return sorted(_CORRECTIONS)


def _get(name: str) -> _Entry:
    if name not in _CORRECTIONS:
        raise ValueError(f"unknown rollout correction {name!r}; valid: none, {', '.join(names())}")
    return _CORRECTIONS[name]


def paper(name: str) -> str:
    return _get(name).paper


def _params(name: str) -> dict[str, float]:
    signature = inspect.signature(_get(name).fn)
    return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY
            and p.default is not inspect.Parameter.empty}


def describe(name: str) -> dict:
    """{"summary": one line, "paper": the source, "params": {parameter: default}}."""
    entry = _get(name)
    return {"summary": entry.summary, "paper": entry.paper, "params": _params(name)}


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    """'name' or 'name:key=value,key=value' -> (name, params); 'none' or '' -> ('none', {}).

    Unknown names, unknown parameters and non-numbers are ValueErrors that list what is valid.
    """
    text = (spec or "").strip()
    if text.lower() in ("", "none"):
        return "none", {}
    name, _, rest = text.partition(":")
    name = name.strip()
    valid = _params(name)
    params: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in valid:
            raise ValueError(f"rollout correction {name!r}: expected key=value with key one of "
                             f"{', '.join(valid) or '(none)'}, got {item!r}")
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"rollout correction {name!r}: {key} must be a number, got {value.strip()!r}") from None
    _check_params(name, {**valid, **params})
    return name, params


def _check_params(name: str, params: dict[str, float]) -> None:
    for key, value in params.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"rollout correction {name!r}: {key} must be a finite number > 0, got {value}")
    for low, high in (("alpha", "beta"), ("low", "high")):
        if low in params and high in params and params[low] > params[high]:
            raise ValueError(f"rollout correction {name!r}: need {low} <= {high}, got {params[low]} and "
                             f"{params[high]}")


def compute(name: str, *, old_logp: Tensor, engine_logp: Tensor, mask: Tensor,
            **params) -> tuple[Tensor | None, dict[str, float]]:
    """(weights [B, T] detached with 0 on padding, metrics) of correction `name`; ('none': (None, {}))."""
    if name == "none":
        if params:
            raise ValueError(f"rollout correction 'none' takes no parameters, got {sorted(params)}")
        return None, {}
    entry = _get(name)
    unknown = sorted(set(params) - set(_params(name)))
    if unknown:
        raise ValueError(f"rollout correction {name!r} got unknown parameter(s) {unknown}; it accepts: "
                         f"{', '.join(_params(name))}")
    _check_params(name, {**_params(name), **params})
    if old_logp.shape != engine_logp.shape or old_logp.shape != mask.shape:
        raise ValueError(f"shapes differ: old_logp {tuple(old_logp.shape)}, engine_logp {tuple(engine_logp.shape)}, "
                         f"mask {tuple(mask.shape)}; all three must be [B, T]")
    on = mask.bool()
    log_rho = torch.where(on, (old_logp.detach() - engine_logp.detach()).double(), 0.0)
    weights, truncated = entry.fn(log_rho, on, **params)
    weights = torch.where(on, weights, 0.0)
    return weights.to(old_logp.dtype), _metrics(weights, truncated, on)


def _metrics(weights: Tensor, truncated: Tensor, on: Tensor) -> dict[str, float]:
    tokens = on.sum().clamp(min=1)
    rows = on.any(-1)
    masked = on & (weights == 0)
    masked_seq = rows & (masked | ~on).all(-1)
    values = {"rollout_corr/masked_token_frac": masked.sum() / tokens,
              "rollout_corr/masked_seq_frac": masked_seq.sum() / rows.sum().clamp(min=1),
              "rollout_corr/truncated_token_frac": (truncated & on).sum() / tokens,
              "rollout_corr/mean_weight": torch.where(on, weights, 0.0).sum() / tokens}
    return {k: float(v) for k, v in values.items()}


def _rho(log_rho: Tensor) -> Tensor:
    return torch.exp(log_rho.clamp(-LOG_CLAMP, LOG_CLAMP))


def _seq_log_rho(log_rho: Tensor, on: Tensor) -> Tensor:
    """log rho_i = sum_t log rho_t, [B, 1]."""
    return torch.where(on, log_rho, 0.0).sum(-1, keepdim=True)


@_register("token-tis", "w_t = min(rho_t, cap): truncated per-token importance weight",
           'Yao et al. 2025, "Your Efficient RL Framework Secretly Brings You Off-Policy RL Training" (blog, '
           'fengyao.notion.site/off-policy-rl; cap 2)')
def token_tis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_t = min(rho_t, C). Stated unnumbered in Yao et al.'s blog post (fengyao.notion.site/off-policy-rl, read in a
    copy of its text: the truncated importance ratio min(pi_learner / pi_sampler, C)) and in verl's rollout-correction
    formulations doc (Y. Li, `token_is`)."""
    rho = _rho(log_rho)
    return rho.clamp(max=cap), rho > cap


@_register("seq-tis", "w_i = min(prod_t rho_t, cap) on every token of the sequence",
           'Liu, Li et al. 2025, "When Speed Kills Stability: Demystifying RL Collapse from the Training-Inference '
           'Mismatch" (blog, richardli.xyz/rl-collapse; sequence-level TIS, cap 2 as verl\'s preset)')
def seq_tis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_i = min(prod_t rho_t, C). Stated unnumbered in verl's rollout-correction formulations doc (Y. Li, `seq_is`:
    w_seq = min(prod_t rho_t, tau)); the When-Speed-Kills-Stability blog itself was available only in its opening."""
    rho = _rho(_seq_log_rho(log_rho, on)).expand_as(log_rho)
    return rho.clamp(max=cap), rho > cap


@_register("token-mis", "w_t = rho_t if rho_t <= cap else 0: tokens with too large a weight are dropped",
           'Liu, Li et al. 2025, "When Speed Kills Stability" (blog, richardli.xyz/rl-collapse; masked importance '
           'sampling, token level)')
def token_mis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_t = rho_t 1[rho_t <= C]. Stated unnumbered in verl's rollout-correction formulations doc (Y. Li): token IS
    (section 3.3.1) with the token-level rejection mask A_token = {t : C_lower <= rho_t <= C_upper} (section 3.4), the
    combination "Token IS + Token RS" of section 3.6; there the mask also has a lower bound (default 1/C), here it has
    none. The When-Speed-Kills-Stability blog post and its parts 1-2 were available only in their openings."""
    rho = _rho(log_rho)
    return torch.where(rho <= cap, rho, 0.0), torch.zeros_like(on)


@_register("seq-mis", "w_i = prod_t rho_t if it is <= cap else 0: sequences with too large a weight are dropped",
           'Liu, Li et al. 2025, "When Speed Kills Stability" (blog, richardli.xyz/rl-collapse; masked importance '
           'sampling, sequence level)')
def seq_mis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_i = rho_i 1[rho_i <= C]. Stated unnumbered in verl's rollout-correction formulations doc (Y. Li, preset
    `seq_is_rs`, alias `seq_mis`: the sequence IS weight of section 3.3.2 times the sequence acceptance mask of
    section 3.4, which there also has a lower bound 1/tau; here it has none)."""
    rho = _rho(_seq_log_rho(log_rho, on)).expand_as(log_rho)
    return torch.where(rho <= cap, rho, 0.0), torch.zeros_like(on)


@_register("icepop", "w_t = rho_t if alpha <= rho_t <= beta else 0: two-sided token mask",
           'Ling Team 2025, "Every Step Evolves: Scaling RL for Trillion-Scale Thinking Model" (Ring-1T, IcePop; '
           'arXiv 2510.18855; alpha 0.5, beta 5)')
def icepop(log_rho: Tensor, on: Tensor, *, alpha: float = 0.5, beta: float = 5.0):
    """w_t = M(rho_t; alpha, beta) = rho_t inside [alpha, beta], 0 outside. Ling Team 2025 (Ring-1T, arXiv
    2510.18855v2, section 2.3.2): the IcePop objective, which multiplies each token's clipped GRPO term by
    M(pi_train(y_t; theta_old) / pi_infer(y_t; theta_old)), is Eq. (1), the mask M(k) Eq. (2), its gradient Eq. (3);
    alpha = 0.5, beta = 5 in section 2.3.4. Read in a text extraction of the v2 PDF. The IcePop blog post
    (ringtech.notion.site/icepop) states the same unnumbered."""
    rho = _rho(log_rho)
    return torch.where((rho >= alpha) & (rho <= beta), rho, 0.0), torch.zeros_like(on)


@_register("geo-rs", "w_i = 1 if low <= exp(mean_t log rho_t) <= high else 0: geometric-mean sequence rejection",
           'Liu, Li et al. 2025, "When Speed Kills Stability", part 3 (blog, richardli.xyz/rl-collapse-3; verl\'s '
           'decoupled_geo_rs: bounds 0.999 and 1.001)')
def geo_rs(log_rho: Tensor, on: Tensor, *, low: float = 0.999, high: float = 1.001):
    """w_i = 1[lo <= exp(mean_t log rho_t) <= hi]. Stated unnumbered in verl's rollout-correction formulations doc
    (Y. Li, `geo_rs`: the geometric acceptance set of section 3.3.3, plus the per-token veto of section 3.5 that the
    zoo does not have); part 3 of the blog series was not available."""
    n = on.sum(-1, keepdim=True).clamp(min=1)
    geo = torch.exp((_seq_log_rho(log_rho, on) / n).clamp(-LOG_CLAMP, LOG_CLAMP)).expand_as(log_rho)
    keep = (geo >= low) & (geo <= high)
    return keep.to(log_rho.dtype), torch.zeros_like(on)
