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
    kl-rs       w_t = 1 when every chosen k1/k2/k3 test of log rho passes, per token or per sequence (sum, mean,
                max); verl's rollout_rs modes, chainable within one correction
    outlier-token  w_i = 1[low <= rho_t <= high for every t of i]    1e-4, 100   SkyRL's outlier-token mask
    opsm        w_t = 0 where A_t < 0 and mean_t log(mu / pi_theta) > delta    1e-4   DeepSeek-V3.2's off-policy
                                                                  sequence masking; reads the current logp and A

Corrections joined by '+' multiply their weights (parse_spec gives ("chain", {"steps": ...})). The importance-weight
corrections take normalize=1: their weights are divided by their mean over the batch's tokens (token level) or
sequences (sequence level), verl's rollout_is_batch_normalize; a batch split into pieces passes the whole batch's
mean as weight_mean (normalizer).

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
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.kl import kl

__all__ = ["compute", "describe", "mismatch_kl", "mismatch_kl_tokens", "names", "needs", "normalizer", "normalizes",
           "paper", "parse_spec", "tis_stats", "tis_weights"]


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
    level: str            # "token" or "sequence": what one weight belongs to (the mean that normalize divides by)
    normalizable: bool    # an importance weight (not a 0/1 mask): it accepts normalize=1
    inputs: tuple         # tensors beyond log_rho it reads: "current_log_ratio" (log pi_theta - log mu), "advantages"


_CORRECTIONS: dict[str, _Entry] = {}

NORMALIZE = "normalize"
"""The parameter every importance-weight correction accepts: 1 divides the weights by their batch mean (module
notes), 0 (the default) leaves them."""

CHAIN = "chain"
"""The name parse_spec gives a spec of several corrections joined by '+'; compute multiplies their weights."""


def _register(name: str, summary: str, paper: str, *, level: str = "token", normalizable: bool = False,
              inputs: tuple = ()):
    def decorator(fn):
        _CORRECTIONS[name] = _Entry(fn, summary, paper, level, normalizable, inputs)
        return fn
    return decorator


def names() -> list[str]:
    """Sorted names of the rollout corrections."""
    return sorted(_CORRECTIONS)


def _get(name: str) -> _Entry:
    if name not in _CORRECTIONS:
        raise ValueError(f"unknown rollout correction {name!r}; valid: none, {', '.join(names())} (several joined "
                         f"by '+')")
    return _CORRECTIONS[name]


def paper(name: str) -> str:
    return _get(name).paper


def _params(name: str) -> dict[str, float | None]:
    entry = _get(name)
    signature = inspect.signature(entry.fn)
    params = {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY
              and p.default is not inspect.Parameter.empty}
    if entry.normalizable:
        params[NORMALIZE] = 0.0
    return params


def needs(name: str, params: dict | None = None) -> set[str]:
    """The tensors beyond old_logp / engine_logp / mask that correction ``name`` (or a chain, given its params)
    reads: a subset of {"logp", "advantages"}."""
    if name == "none":
        return set()
    if name == CHAIN:
        return set().union(*(needs(n, p) for n, p in (params or {})["steps"]))
    return {"logp" if i == "current_log_ratio" else i for i in _get(name).inputs}


def describe(name: str) -> dict:
    """{"summary": one line, "paper": the source, "params": {parameter: default}}."""
    entry = _get(name)
    return {"summary": entry.summary, "paper": entry.paper, "params": _params(name)}


_CHAIN_SPLIT = re.compile(r"\+(?=\s*[A-Za-z])")


def parse_spec(spec: str) -> tuple[str, dict]:
    """'name' or 'name:key=value,key=value' -> (name, params); 'none' or '' -> ('none', {}); several corrections
    joined by '+' ('token-tis:cap=2+kl-rs:seq_max_k2=0.01') -> ('chain', {"steps": ((name, params), ...)}), whose
    weights compute() multiplies.

    Unknown names, unknown parameters and non-numbers are ValueErrors that list what is valid.
    """
    text = (spec or "").strip()
    if text.lower() in ("", "none"):
        return "none", {}
    parts = [part.strip() for part in _CHAIN_SPLIT.split(text)]
    if len(parts) > 1:
        steps = tuple(parse_spec(part) for part in parts)
        _check_chain(steps)
        return CHAIN, {"steps": steps}
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


def _check_chain(steps) -> None:
    names_ = [n for n, _ in steps]
    if "none" in names_ or CHAIN in names_ or len(set(names_)) != len(names_):
        raise ValueError(f"a chain of rollout corrections names each correction once and no 'none', got "
                         f"{' + '.join(names_)}")
    if sum(1 for _, p in steps if p.get(NORMALIZE)) > 1:
        raise ValueError("at most one correction of a chain may set normalize=1 (its weights are the chain's "
                         "importance weights)")


def _check_params(name: str, params: dict) -> None:
    for key, value in params.items():
        if key == NORMALIZE:
            if value not in (0.0, 1.0):
                raise ValueError(f"rollout correction {name!r}: normalize must be 0 or 1, got {value}")
            continue
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"rollout correction {name!r}: {key} must be a finite number > 0, got {value}")
    for low, high in (("alpha", "beta"), ("low", "high")):
        if params.get(low) is not None and params.get(high) is not None and params[low] > params[high]:
            raise ValueError(f"rollout correction {name!r}: need {low} <= {high}, got {params[low]} and "
                             f"{params[high]}")
    check = getattr(_get(name).fn, "check", None)
    if check is not None:
        check(name, params)


def _log_rho(old_logp: Tensor, engine_logp: Tensor, on: Tensor) -> Tensor:
    return torch.where(on, (old_logp.detach() - engine_logp.detach()).double(), 0.0)


def _step(name: str, params: dict, log_rho: Tensor, on: Tensor, extra: dict, weight_mean) -> tuple[Tensor, Tensor]:
    """The weights and truncated flags of one correction; normalize=1 divides by weight_mean, or by the mean over
    this batch when it is None."""
    entry = _get(name)
    params = dict(params)
    normalize = bool(params.pop(NORMALIZE, 0.0))
    inputs = {key: extra[key] for key in entry.inputs}
    weights, truncated = entry.fn(log_rho, on, **params, **inputs)
    weights = torch.where(on, weights, 0.0)
    if normalize:
        if weight_mean is None:
            total, count = _weight_sum(weights, on, entry.level)
            weight_mean = total / count if count > 0 else 0.0
        if weight_mean > 1e-8:   # verl's guard: an all-zero batch is left as it is
            weights = weights / weight_mean
    return weights, truncated


def _weight_sum(weights: Tensor, on: Tensor, level: str) -> tuple[float, float]:
    """(sum, count) of the weights over the response tokens (token level) or over the sequences with a response
    token (sequence level: each sequence's weight once)."""
    if level == "sequence":
        rows = on.any(-1)
        per_seq = torch.where(on, weights, 0.0).sum(-1) / on.sum(-1).clamp(min=1)
        return float(per_seq[rows].sum()), float(rows.sum())
    return float(torch.where(on, weights, 0.0).sum()), float(on.sum())


def _validated(name: str, params: dict) -> list[tuple[str, dict]]:
    """The steps of a correction or chain, each with its parameters checked."""
    steps = list(params["steps"]) if name == CHAIN else [(name, params)]
    if name == CHAIN:
        unknown = sorted(set(params) - {"steps"})
        if unknown:
            raise ValueError(f"a chain of rollout corrections takes only steps, got {unknown}")
        _check_chain(steps)
    for step_name, step_params in steps:
        valid = _params(step_name)
        unknown = sorted(set(step_params) - set(valid))
        if unknown:
            raise ValueError(f"rollout correction {step_name!r} got unknown parameter(s) {unknown}; it accepts: "
                             f"{', '.join(valid)}")
        _check_params(step_name, {**valid, **step_params})
    return steps


def _extra(on: Tensor, engine_logp: Tensor, logp: Tensor | None, advantages: Tensor | None,
           steps: list) -> dict:
    wanted = set().union(*(_get(n).inputs for n, _ in steps))
    extra = {}
    if "current_log_ratio" in wanted:
        if logp is None:
            raise ValueError(f"rollout correction(s) {', '.join(n for n, _ in steps)} read the current policy: "
                             f"compute() needs logp [B, T]")
        extra["current_log_ratio"] = torch.where(on, (logp.detach() - engine_logp.detach()).double(), 0.0)
    if "advantages" in wanted:
        if advantages is None:
            raise ValueError(f"rollout correction(s) {', '.join(n for n, _ in steps)} read the advantages: "
                             f"compute() needs advantages [B, T]")
        extra["advantages"] = torch.where(on, advantages.detach().double(), 0.0)
    return extra


def normalizes(name: str, params: dict) -> bool:
    """Whether the correction (or one step of the chain) sets normalize=1."""
    if name == "none":
        return False
    steps = list(params["steps"]) if name == CHAIN else [(name, params)]
    return any(p.get(NORMALIZE) for _, p in steps)


def normalizer(name: str, *, old_logp: Tensor, engine_logp: Tensor, mask: Tensor,
               **params) -> tuple[float, float] | None:
    """(sum, count) of the weights of the correction that sets normalize=1 (alone or in a chain), over this batch;
    None when none normalizes. A trainer that splits the batch sums these over its pieces and ranks and passes
    sum / count to compute() as weight_mean, so every piece divides by the same batch mean."""
    if name == "none":
        return None
    steps = _validated(name, params)
    on = mask.bool()
    for step_name, step_params in steps:
        if step_params.get(NORMALIZE):
            entry = _get(step_name)
            if entry.inputs:
                raise ValueError(f"rollout correction {step_name!r} cannot normalize")
            plain = {k: v for k, v in step_params.items() if k != NORMALIZE}
            weights, _ = entry.fn(_log_rho(old_logp, engine_logp, on), on, **plain)
            return _weight_sum(torch.where(on, weights, 0.0), on, entry.level)
    return None


def compute(name: str, *, old_logp: Tensor, engine_logp: Tensor, mask: Tensor, logp: Tensor | None = None,
            advantages: Tensor | None = None, weight_mean: float | None = None,
            **params) -> tuple[Tensor | None, dict[str, float]]:
    """(weights [B, T] detached with 0 on padding, metrics) of correction `name` or of a chain (parse_spec);
    ('none': (None, {})).

    logp [B, T]: the current policy's log-probs, for corrections that read it (opsm); advantages [B, T]: likewise.
    weight_mean: the batch mean that normalize=1 divides by (see normalizer); None uses this batch's own mean.
    """
    if name == "none":
        if params:
            raise ValueError(f"rollout correction 'none' takes no parameters, got {sorted(params)}")
        return None, {}
    steps = _validated(name, params)
    for label, t in (("engine_logp", engine_logp), ("mask", mask), ("logp", logp), ("advantages", advantages)):
        if t is not None and t.shape != old_logp.shape:
            raise ValueError(f"shapes differ: old_logp {tuple(old_logp.shape)}, {label} {tuple(t.shape)}; all must "
                             f"be [B, T]")
    on = mask.bool()
    log_rho = _log_rho(old_logp, engine_logp, on)
    extra = _extra(on, engine_logp, logp, advantages, steps)
    weights = torch.where(on, torch.ones_like(log_rho), 0.0)
    truncated = torch.zeros_like(on)
    for step_name, step_params in steps:
        w, t = _step(step_name, step_params, log_rho, on, extra, weight_mean)
        weights, truncated = weights * w, truncated | t
    weights = torch.where(on, weights, 0.0)
    # a token that a later step of a chain masks counts as masked, not as truncated
    return weights.to(old_logp.dtype), _metrics(weights, truncated & (weights != 0), on)


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
           'fengyao.notion.site/off-policy-rl; cap 2)', normalizable=True)
def token_tis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_t = min(rho_t, C). Stated unnumbered in Yao et al.'s blog post (the truncated importance ratio
    min(pi_learner / pi_sampler, C)) and in verl's rollout-correction formulations doc (Y. Li, `token_is`)."""
    rho = _rho(log_rho)
    return rho.clamp(max=cap), rho > cap


@_register("seq-tis", "w_i = min(prod_t rho_t, cap) on every token of the sequence",
           'Liu, Li et al. 2025, "When Speed Kills Stability: Demystifying RL Collapse from the Training-Inference '
           'Mismatch" (blog, richardli.xyz/rl-collapse; sequence-level TIS, cap 2 as verl\'s preset)',
           level="sequence", normalizable=True)
def seq_tis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_i = min(prod_t rho_t, C). Stated unnumbered in verl's rollout-correction formulations doc (Y. Li, `seq_is`:
    w_seq = min(prod_t rho_t, tau))."""
    rho = _rho(_seq_log_rho(log_rho, on)).expand_as(log_rho)
    return rho.clamp(max=cap), rho > cap


@_register("token-mis", "w_t = rho_t if rho_t <= cap else 0: tokens with too large a weight are dropped",
           'Liu, Li et al. 2025, "When Speed Kills Stability" (blog, richardli.xyz/rl-collapse; masked importance '
           'sampling, token level)', normalizable=True)
def token_mis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_t = rho_t 1[rho_t <= C]. Stated unnumbered in verl's rollout-correction formulations doc (Y. Li): token IS
    (section 3.3.1) with the token-level rejection mask A_token = {t : C_lower <= rho_t <= C_upper} (section 3.4), the
    combination "Token IS + Token RS" of section 3.6; there the mask also has a lower bound (default 1/C), here it has
    none."""
    rho = _rho(log_rho)
    return torch.where(rho <= cap, rho, 0.0), torch.zeros_like(on)


@_register("seq-mis", "w_i = prod_t rho_t if it is <= cap else 0: sequences with too large a weight are dropped",
           'Liu, Li et al. 2025, "When Speed Kills Stability" (blog, richardli.xyz/rl-collapse; masked importance '
           'sampling, sequence level)', level="sequence", normalizable=True)
def seq_mis(log_rho: Tensor, on: Tensor, *, cap: float = 2.0):
    """w_i = rho_i 1[rho_i <= C]. Stated unnumbered in verl's rollout-correction formulations doc (Y. Li, preset
    `seq_is_rs`, alias `seq_mis`: the sequence IS weight of section 3.3.2 times the sequence acceptance mask of
    section 3.4, which there also has a lower bound 1/tau; here it has none)."""
    rho = _rho(_seq_log_rho(log_rho, on)).expand_as(log_rho)
    return torch.where(rho <= cap, rho, 0.0), torch.zeros_like(on)


@_register("icepop", "w_t = rho_t if alpha <= rho_t <= beta else 0: two-sided token mask",
           'Ling Team 2025, "Every Step Evolves: Scaling RL for Trillion-Scale Thinking Model" (Ring-1T, IcePop; '
           'arXiv 2510.18855; alpha 0.5, beta 5)', normalizable=True)
def icepop(log_rho: Tensor, on: Tensor, *, alpha: float = 0.5, beta: float = 5.0):
    """w_t = M(rho_t; alpha, beta) = rho_t inside [alpha, beta], 0 outside. Ling Team 2025 (Ring-1T, arXiv
    2510.18855v2, section 2.3.2): the IcePop objective, which multiplies each token's clipped GRPO term by
    M(pi_train(y_t; theta_old) / pi_infer(y_t; theta_old)), is Eq. (1), the mask M(k) Eq. (2), its gradient Eq. (3);
    alpha = 0.5, beta = 5 in section 2.3.4. The IcePop blog post (ringtech.notion.site/icepop) states the same
    unnumbered."""
    rho = _rho(log_rho)
    return torch.where((rho >= alpha) & (rho <= beta), rho, 0.0), torch.zeros_like(on)


@_register("geo-rs", "w_i = 1 if low <= exp(mean_t log rho_t) <= high else 0: geometric-mean sequence rejection",
           'Liu, Li et al. 2025, "When Speed Kills Stability", part 3 (blog, richardli.xyz/rl-collapse-3; verl\'s '
           'decoupled_geo_rs: bounds 0.999 and 1.001)', level="sequence")
def geo_rs(log_rho: Tensor, on: Tensor, *, low: float = 0.999, high: float = 1.001):
    """w_i = 1[lo <= exp(mean_t log rho_t) <= hi]. Stated unnumbered in verl's rollout-correction formulations doc
    (Y. Li, `geo_rs`: the geometric acceptance set of section 3.3.3, plus the per-token veto of section 3.5 that the
    zoo does not have)."""
    n = on.sum(-1, keepdim=True).clamp(min=1)
    geo = torch.exp((_seq_log_rho(log_rho, on) / n).clamp(-LOG_CLAMP, LOG_CLAMP)).expand_as(log_rho)
    keep = (geo >= low) & (geo <= high)
    return keep.to(log_rho.dtype), torch.zeros_like(on)


# The KL-estimator rejection family: per token, with log rho_t = log pi_old - log mu (Schulman 2020's estimators of
# KL(mu || pi_old) on tokens sampled from mu), k1 = -log rho, k2 = (log rho)^2 / 2, k3 = rho - 1 - log rho; a
# statistic is taken per token or per sequence (sum, mean or max over its tokens) and compared with a threshold.
KL_RS_OPTIONS = ("token_k1", "token_k2", "token_k3", "seq_sum_k1", "seq_sum_k2", "seq_sum_k3", "seq_mean_k1",
                 "seq_mean_k2", "seq_mean_k3", "seq_max_k2", "seq_max_k3")


def _kl_stat(option: str, log_rho: Tensor, on: Tensor) -> Tensor:
    """The statistic of one option on every token [B, T] (a sequence statistic repeated on its tokens)."""
    lr = log_rho.clamp(-LOG_CLAMP, LOG_CLAMP)
    level, _, estimator = option.rpartition("_")
    per_token = {"k1": -lr, "k2": 0.5 * lr.square(), "k3": torch.exp(lr) - 1.0 - lr}[estimator]
    per_token = torch.where(on, per_token, 0.0)
    if level == "token":
        return per_token
    if level == "seq_sum":
        stat = per_token.sum(-1, keepdim=True)
    elif level == "seq_mean":
        stat = per_token.sum(-1, keepdim=True) / on.sum(-1, keepdim=True).clamp(min=1)
    else:   # seq_max (k2 and k3 are >= 0, so 0 stands for a sequence without tokens)
        stat = torch.where(on, per_token, 0.0).max(-1, keepdim=True).values
    return stat.expand_as(log_rho)


def _check_kl_rs(name: str, params: dict) -> None:
    for option in (o for o in KL_RS_OPTIONS if o.endswith("k1")):
        low, high = params.get(option + "_low"), params.get(option)
        if low is not None and high is None:
            raise ValueError(f"rollout correction {name!r}: {option}_low needs {option} (the upper bound) too")
        if low is not None and low > high:
            raise ValueError(f"rollout correction {name!r}: need {option}_low <= {option}, got {low} and {high}")
    if not any(params.get(o) is not None for o in KL_RS_OPTIONS):
        raise ValueError(f"rollout correction {name!r} needs at least one threshold, e.g. 'kl-rs:seq_max_k2=0.5'; "
                         f"options: {', '.join(KL_RS_OPTIONS)} (k1 options also take <option>_low)")


@_register("kl-rs", "reject tokens or sequences by a k1/k2/k3 statistic of log rho: per token, or per sequence as "
           "its sum, mean or max; several options at once must all pass",
           "verl's rollout_rs (trainer/ppo/rollout_corr_helper.py, compute_rollout_rejection_mask); the estimators: "
           'Schulman 2020, "Approximating KL Divergence" (blog)', level="sequence")
def kl_rs(log_rho: Tensor, on: Tensor, *, token_k1: float | None = None, token_k1_low: float | None = None,
          token_k2: float | None = None, token_k3: float | None = None, seq_sum_k1: float | None = None,
          seq_sum_k1_low: float | None = None, seq_sum_k2: float | None = None, seq_sum_k3: float | None = None,
          seq_mean_k1: float | None = None, seq_mean_k1_low: float | None = None, seq_mean_k2: float | None = None,
          seq_mean_k3: float | None = None, seq_max_k2: float | None = None, seq_max_k3: float | None = None):
    """w = 1 when every chosen option passes, else 0. k2 / k3 options: keep when the statistic is <= the threshold.
    k1 options: keep when exp(statistic) lies in [<option>_low, <option>] (default low: 1 / upper), i.e. when
    mu / pi_old (per token) or its product or geometric mean over the sequence lies in that band.

    Stated unnumbered in verl's rollout-correction formulations (the rejection modes token_k*, seq_sum_k*,
    seq_mean_k*, seq_max_k*, chainable by comma); the estimators k1, k2, k3 are Schulman's blog's, unnumbered.
    """
    thresholds = {"token_k1": (token_k1_low, token_k1), "token_k2": token_k2, "token_k3": token_k3,
                  "seq_sum_k1": (seq_sum_k1_low, seq_sum_k1), "seq_sum_k2": seq_sum_k2, "seq_sum_k3": seq_sum_k3,
                  "seq_mean_k1": (seq_mean_k1_low, seq_mean_k1), "seq_mean_k2": seq_mean_k2,
                  "seq_mean_k3": seq_mean_k3, "seq_max_k2": seq_max_k2, "seq_max_k3": seq_max_k3}
    keep = torch.ones_like(on)
    for option, bound in thresholds.items():
        if option.endswith("k1"):
            low, high = bound
            if high is None:
                continue
            low = 1.0 / high if low is None else low
            stat = _kl_stat(option, log_rho, on)
            keep = keep & (stat >= math.log(low)) & (stat <= math.log(high))
        elif bound is not None:
            keep = keep & (_kl_stat(option, log_rho, on) <= bound)
    return keep.to(log_rho.dtype), torch.zeros_like(on)


kl_rs.check = _check_kl_rs


@_register("outlier-token", "w_i = 0 for a sequence with any token whose rho_t lies outside [low, high]",
           "SkyRL's outlier_token_is_threshold_low / _high (skyrl_train/utils/off_policy_correction_utils.py, "
           "compute_outlier_token_mask; docs: 1e-4 and 100)", level="sequence")
def outlier_token(log_rho: Tensor, on: Tensor, *, low: float = 1e-4, high: float = 100.0):
    """w_i = 1[low <= rho_t <= high for every token t of i]: one outlier token rejects its whole sequence.
    Stated unnumbered in SkyRL's off-policy correction docs (the mask M over the tokens' pi_old / mu)."""
    rho = _rho(log_rho)
    outlier = on & ((rho > high) | (rho < low))
    keep = ~outlier.any(-1, keepdim=True)
    return keep.expand_as(log_rho).to(log_rho.dtype), torch.zeros_like(on)


@_register("opsm", "w_t = 0 when A_t < 0 and the sequence's mean log(mu / pi_theta) exceeds delta (off-policy "
           "sequence masking)",
           'DeepSeek-AI 2025, "DeepSeek-V3.2" (arXiv 2512.02556), off-policy sequence masking; slime\'s '
           "compute_opsm_mask (opsm_delta 1e-4)", level="sequence", inputs=("current_log_ratio", "advantages"))
def opsm(log_rho: Tensor, on: Tensor, *, delta: float = 1e-4, current_log_ratio: Tensor, advantages: Tensor):
    """M_t = 0 if A_t < 0 and (1/|o_i|) sum_t log(mu(o_t) / pi_theta(o_t)) > delta, else 1: a response the policy
    has already moved away from (it became less likely under pi_theta than under the sampler mu) gets no negative
    update. DeepSeek-V3.2 (arXiv 2512.02556): the mask M_{i,t} of its GRPO objective, Eq. (9). pi_theta is the
    current policy (logp, detached), so the mask is recomputed at every update; mu is the engine that sampled the
    tokens."""
    n = on.sum(-1, keepdim=True).clamp(min=1)
    seq_kl = torch.where(on, -current_log_ratio, 0.0).sum(-1, keepdim=True) / n
    masked = (advantages < 0) & (seq_kl > delta)
    return torch.where(masked, 0.0, 1.0).to(log_rho.dtype), torch.zeros_like(on)
