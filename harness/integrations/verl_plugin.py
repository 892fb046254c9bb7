"""Every zoo objective as a verl policy loss (`zoo-<name>`), and the zoo's outcome advantage estimators as verl
advantage estimators (`zoo-<estimator>`).

verl (0.9.x) imports this module in every process that imports `verl`, through the `verl.plugins` entry-point group
that `rlvr-zoo` declares (verl/__init__.py loads that group unless VERL_USE_EXTERNAL_PLUGINS=none; it swallows a
plugin's import error at debug level, so a missing `zoo-*` loss mode means this module did not import).
`VERL_USE_EXTERNAL_MODULES=harness.integrations.verl_plugin` does the same without installed metadata. Then:

    actor_rollout_ref.actor.policy_loss.loss_mode=zoo-ce-gppo
    actor_rollout_ref.actor.policy_loss._target_=harness.integrations.verl_plugin.ZooPolicyLossConfig
    +actor_rollout_ref.actor.policy_loss.hparams.beta1=0.75          # the objective's own hyperparameters
    algorithm.adv_estimator=zoo-grpo                                 # optional: the zoo's estimator

`verl_overrides(name, **hparams)` lists the overrides that reproduce the objective's whole recipe in verl (clip
range, dual clip, aggregation, KL, entropy, estimator).

How a call maps (verl's `PolicyLossFn`: old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config,
rollout_is_weights -> (loss, metrics)):

    weights         A_t -> w_t A_t with verl's rollout-correction weights w (when given), as Algorithm.loss does
                    (equal to weighting the per-token loss, as verl's own losses do, for objectives piecewise
                    linear in A)
    per-token loss  l_t = objective.policy_loss(x) with the zoo's padding handling and ratio (algorithms.base)
    aggregated      verl's own agg_loss(l, response_mask, loss_agg_mode, **config.global_batch_info)

so the loss is normalised over verl's global batch exactly as verl's built-in losses are (dp_size scaling included).
verl owns the knobs it has: eps_low / eps_high are actor.clip_ratio_low / clip_ratio_high, the dual-clip constant c
is actor.clip_ratio_c (for objectives with a dual clip; `hparams.dual_clip_c` overrides it, null turns it off), the
aggregation is actor.loss_agg_mode, and the KL and entropy terms are added by verl (use_kl_loss, kl_loss_coef,
entropy_coeff) outside the policy loss. `hparams` holds the objective's other fields (beta1, beta2, ...); a verl-owned
field there is an error naming the verl key to set instead.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import algorithms
from algorithms import advantages as zoo_advantages

import verl
from verl.trainer.ppo import core_algos
from verl.workers.config import PolicyLossConfig

SUPPORTED_VERL = "0.9"
"""The verl minor line this plugin was written and tested against (its PolicyLossFn and config classes)."""

if not verl.__version__.startswith(SUPPORTED_VERL + "."):
    warnings.warn(f"rlvr-zoo's verl plugin supports verl {SUPPORTED_VERL}.x, found verl {verl.__version__}; "
                  f"the zoo-* policy losses are registered but may not match this verl's interfaces", stacklevel=1)

PREFIX = "zoo-"

VERL_OWNED = {
    "clip_ratio_low": "actor_rollout_ref.actor.clip_ratio_low",
    "clip_ratio_high": "actor_rollout_ref.actor.clip_ratio_high",
    "loss_agg_mode": "actor_rollout_ref.actor.loss_agg_mode",
    "loss_norm_length": "actor_rollout_ref.actor.loss_scale_factor",
    "kl_coef": "actor_rollout_ref.actor.kl_loss_coef (or algorithm.kl_ctrl.kl_coef with use_kl_in_reward)",
    "kl_estimator": "actor_rollout_ref.actor.kl_loss_type",
    "kl_in_reward": "algorithm.use_kl_in_reward",
    "entropy_coef": "actor_rollout_ref.actor.entropy_coeff",
    "advantage_estimator": "algorithm.adv_estimator",
    "gamma": "algorithm.gamma",
    "lam": "algorithm.lam",
}
"""Objective fields that verl configures itself -> the verl key to set instead of `hparams.<field>`."""

# the zoo's KL estimators under verl's kl_penalty names (verl/trainer/ppo/core_algos.py: kl_penalty)
_KL_NAMES = {"k1": "kl", "k2": "mse", "k3": "low_var_kl", "abs": "abs"}


def zoo_name(loss_mode: str) -> str:
    """'zoo-ce-gppo' -> 'ce-gppo' (ValueError for a loss mode that is not the plugin's)."""
    if not isinstance(loss_mode, str) or not loss_mode.startswith(PREFIX):
        raise ValueError(f"loss mode {loss_mode!r} is not a zoo objective; zoo loss modes are {PREFIX}<name> with "
                         f"<name> one of {', '.join(algorithms.names())}")
    return loss_mode[len(PREFIX):]


NOT_IN_VERL = {
    "entropy_top_q": "it keeps the gradient of the batch's highest-entropy tokens, and verl passes a policy loss no "
                     "per-token entropy",
    "entropy_top_q_denominator": "it belongs to entropy_top_q, which verl cannot run",
}
"""Objective fields the plugin cannot honour inside verl -> why (refused rather than silently ignored)."""


def _check_schedule(name: str, algo: algorithms.Algorithm) -> algorithms.Algorithm:
    """The objective, unless its loss follows the training step (start_step), which verl does not pass to a policy
    loss: then a ValueError saying how to fix its settings."""
    if algo.follows_schedule:
        raise ValueError(f"{PREFIX}{name} with these settings follows the training step (e.g. fec's schedule), which "
                         f"verl does not pass to a policy loss; set policy_loss.hparams to a fixed setting (fec: "
                         f"schedule=static with weight_high / weight_low), or train with `rlvr-zoo train`")
    return algo


def _check_hparams(name: str, hparams: dict) -> None:
    unsupported = sorted(set(hparams) & set(NOT_IN_VERL))
    if unsupported:
        raise ValueError(f"policy_loss.hparams sets {', '.join(unsupported)} for {PREFIX}{name}, which the verl "
                         f"plugin cannot apply: " + "; ".join(f"{k}: {NOT_IN_VERL[k]}" for k in unsupported)
                         + ". Leave it out, or train with `rlvr-zoo train`, which supports it")
    owned = sorted(set(hparams) & set(VERL_OWNED))
    if owned:
        raise ValueError(f"policy_loss.hparams sets {', '.join(owned)} for {PREFIX}{name}, which verl configures "
                         f"itself: set " + "; ".join(VERL_OWNED[k] for k in owned) + " instead")


@dataclass
class ZooPolicyLossConfig(PolicyLossConfig):
    """verl's PolicyLossConfig plus `hparams`, the zoo objective's own hyperparameters (verl's dataclass rejects
    unknown keys, so select this one with `policy_loss._target_`). Checked when verl builds its config: an unknown
    field, a wrong type or a value outside its domain is a ValueError naming it."""

    hparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.loss_mode, str) and self.loss_mode.startswith(PREFIX):
            name = zoo_name(self.loss_mode)
            hparams = dict(self.hparams or {})
            _check_hparams(name, hparams)
            _check_schedule(name, algorithms.get(name, **hparams))


def _field(config, key: str, default=None):
    if config is None:
        return default
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None else value


def objective(name: str, config=None) -> algorithms.Algorithm:
    """The zoo objective `name` configured from verl's actor config (an ActorConfig or a DictConfig).

    eps_low / eps_high: clip_ratio_low / clip_ratio_high (falling back on clip_ratio); dual clip c: clip_ratio_c
    for objectives that have one, unless policy_loss.hparams sets dual_clip_c; the rest of policy_loss.hparams is
    passed to algorithms.get.
    """
    policy_cfg = _field(config, "policy_loss", {})
    hparams = dict(_field(policy_cfg, "hparams", {}) or {})
    _check_hparams(name, hparams)
    clip = _field(config, "clip_ratio", 0.2)
    overrides = {"clip_ratio_low": _field(config, "clip_ratio_low", clip),
                 "clip_ratio_high": _field(config, "clip_ratio_high", clip)}
    fields = {f.name for f in dataclasses.fields(algorithms.get_class(name))}
    if "dual_clip_c" in fields and "dual_clip_c" not in hparams:
        overrides["dual_clip_c"] = _field(config, "clip_ratio_c", 3.0)
    return _check_schedule(name, algorithms.get(name, **hparams, **overrides))


def policy_loss_fn(name: str):
    """verl's PolicyLossFn for the zoo objective `name` (registered as zoo-<name>)."""
    algorithms.get_class(name)

    def zoo_policy_loss(old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor,
                        response_mask: torch.Tensor, loss_agg_mode: str = "token-mean", config=None,
                        rollout_is_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        algo = objective(name, config)
        keep = response_mask.bool()
        if rollout_is_weights is not None:   # as Algorithm.loss does: A_t -> w_t A_t
            advantages = advantages * torch.where(keep, rollout_is_weights.detach(), 0.0)
        x = algo._inputs(log_prob, old_log_prob, advantages, keep)
        per_token = algo.policy_loss(x)
        batch_info = dict(_field(config, "global_batch_info", {}) or {})
        loss = core_algos.agg_loss(loss_mat=per_token, loss_mask=response_mask, loss_agg_mode=loss_agg_mode,
                                   **batch_info)
        with torch.no_grad():
            n = keep.sum().clamp(min=1)
            regions = algo.regions(logp=log_prob.detach(), old_logp=old_log_prob, advantages=advantages, mask=keep)
            fractions = {key: float(regions[key].sum() / n) for key in ("low_neg", "high_pos", "low_pos", "high_neg")}
            metrics = {"actor/pg_clipfrac": fractions["low_neg"] + fractions["high_pos"],
                       "actor/pg_clipfrac_lower": fractions["low_neg"],
                       "actor/ppo_kl": float(torch.where(keep, -x.log_ratio, 0.0).sum() / n)}
            metrics.update({f"actor/zoo/clipfrac/{key}": value for key, value in fractions.items()})
        return loss, metrics

    zoo_policy_loss.__name__ = f"zoo_policy_loss_{name.replace('-', '_')}"
    zoo_policy_loss.__doc__ = f"verl policy loss {PREFIX}{name}: the per-token loss of rlvr-zoo's {name!r}."
    return zoo_policy_loss


# estimators verl cannot call through its generic path: verl passes values only to its own "gae" (and a greedy
# baseline only to its own "remax": estimators that need baseline_scores are not registered either)
_CRITIC_ESTIMATORS = {"gae"}


def verl_objectives() -> list[str]:
    """The objectives registered with verl: all but those whose loss reads each response's reward (needs_scores,
    e.g. ce-gppo-authors), which verl's PolicyLossFn does not receive."""
    return [n for n in algorithms.names() if not algorithms.get_class(n).needs_scores]


def _group_ids(index, device) -> torch.Tensor:
    """verl's per-response prompt uids (a numpy array of strings) as integer group ids."""
    _, inverse = np.unique(np.asarray(index).astype(str), return_inverse=True)
    return torch.as_tensor(inverse.reshape(-1), dtype=torch.long, device=device)


def advantage_fn(estimator: str):
    """verl's advantage-estimator function for the zoo estimator `estimator` (registered as zoo-<estimator>).

    verl calls it with token_level_rewards [B, T], response_mask [B, T], index (prompt uids), config (the
    algorithm config: gamma and lam are read from it when the estimator takes them) and returns (advantages,
    returns); an outcome estimator's returns are its advantages, as in verl's own grpo.
    """
    accepted = zoo_advantages.accepted_params(estimator)

    def zoo_advantage(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index=None, config=None,
                      **_unused) -> tuple[torch.Tensor, torch.Tensor]:
        params = {key: _field(config, key) for key in ("gamma", "lam") if key in accepted
                  and _field(config, key) is not None}
        group_ids = None if index is None else _group_ids(index, token_level_rewards.device)
        with torch.no_grad():
            adv, returns = zoo_advantages.compute(estimator, mask=response_mask.bool(), group_ids=group_ids,
                                                  token_rewards=token_level_rewards, **params)
        return adv, adv if returns is None else returns

    zoo_advantage.__name__ = f"zoo_advantage_{estimator.replace('-', '_').replace('+', 'p')}"
    zoo_advantage.rlvr_zoo_estimator = estimator
    return zoo_advantage


def register_all() -> dict[str, list[str]]:
    """Register every objective of algorithms.names() and every outcome estimator; returns the verl names.

    Idempotent: verl refuses a *different* function under a taken estimator name, so an estimator this plugin
    registered before (e.g. by the module imported once by verl's entry point and once more as __main__) is dropped
    first.
    """
    losses = []
    for name in verl_objectives():
        core_algos.register_policy_loss(PREFIX + name)(policy_loss_fn(name))
        losses.append(PREFIX + name)
    estimators = []
    for estimator in zoo_advantages.names():
        if estimator in _CRITIC_ESTIMATORS or zoo_advantages.needs_baseline_scores(estimator):
            continue
        key = PREFIX + estimator
        previous = core_algos.ADV_ESTIMATOR_REGISTRY.get(key)
        if getattr(previous, "rlvr_zoo_estimator", None) == estimator:
            del core_algos.ADV_ESTIMATOR_REGISTRY[key]
        core_algos.register_adv_est(key)(advantage_fn(estimator))
        estimators.append(key)
    return {"policy_losses": losses, "adv_estimators": estimators}


REGISTERED = register_all()


def verl_overrides(name: str, **hparams) -> list[str]:
    """Hydra overrides for verl's ppo_trainer that reproduce zoo objective `name` (with `hparams`) as a recipe.

    The policy loss with its hyperparameters, the clip range and dual clip, the aggregation, the KL term (as a loss
    or in the reward), the entropy bonus and the advantage estimator (verl's gae for a critic objective, else the
    zoo's). Not mapped, because they are verl recipe or reward settings rather than actor settings: dynamic sampling
    and overlong shaping (DAPO) and the reward values of correct and incorrect answers.
    """
    _check_hparams(name, hparams)
    algo = _check_schedule(name, algorithms.get(name, **hparams))
    actor = "actor_rollout_ref.actor"
    out = [f"{actor}.policy_loss._target_={__name__}.ZooPolicyLossConfig",
           f"{actor}.policy_loss.loss_mode={PREFIX}{name}"]
    out += [f"+{actor}.policy_loss.hparams.{key}={_hydra_value(value)}" for key, value in sorted(hparams.items())]
    out += [f"{actor}.clip_ratio_low={algo.clip_ratio_low}", f"{actor}.clip_ratio_high={algo.clip_ratio_high}"]
    dual_clip_c = getattr(algo, "dual_clip_c", None)
    if dual_clip_c is not None:
        out.append(f"{actor}.clip_ratio_c={dual_clip_c}")
    elif hasattr(algo, "dual_clip_c") and "dual_clip_c" not in hparams:
        out.append(f"+{actor}.policy_loss.hparams.dual_clip_c=null")
    out.append(f"{actor}.loss_agg_mode={algo.loss_agg_mode}")
    if algo.loss_norm_length is not None:
        out.append(f"{actor}.loss_scale_factor={algo.loss_norm_length}")
    kl_type = _KL_NAMES[algo.kl_estimator]
    use_kl_loss = algo.kl_coef > 0 and not algo.kl_in_reward
    out.append(f"{actor}.use_kl_loss={use_kl_loss}")
    if use_kl_loss:
        out += [f"{actor}.kl_loss_coef={algo.kl_coef}", f"{actor}.kl_loss_type={kl_type}"]
    use_kl_in_reward = algo.kl_coef > 0 and algo.kl_in_reward
    out.append(f"algorithm.use_kl_in_reward={use_kl_in_reward}")
    if use_kl_in_reward:
        out += [f"algorithm.kl_ctrl.kl_coef={algo.kl_coef}", f"algorithm.kl_penalty={kl_type}"]
    out.append(f"{actor}.entropy_coeff={algo.entropy_coef}")
    estimator = algo.advantage_estimator
    out.append(f"algorithm.adv_estimator={estimator if estimator in _CRITIC_ESTIMATORS else PREFIX + estimator}")
    out += [f"algorithm.gamma={algo.gamma}", f"algorithm.lam={algo.lam}"]
    return out


def _hydra_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def main(argv: list[str] | None = None) -> None:
    """`python -m harness.integrations.verl_plugin ce-gppo beta1=0.75`: print verl_overrides, one per line."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m harness.integrations.verl_plugin OBJECTIVE [FIELD=VALUE ...]\n"
              f"objectives: {', '.join(algorithms.names())}")
        return
    hparams = {}
    for item in args[1:]:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected FIELD=VALUE, got {item!r}")
        hparams[key] = value
    try:
        print("\n".join(verl_overrides(args[0], **hparams)))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
