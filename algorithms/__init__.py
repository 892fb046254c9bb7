"""rlvr-zoo objectives: a registry of interchangeable policy-optimisation losses and the pure tensor functions
they share (advantage estimators, loss aggregation, KL estimators, chunked log-probs and entropy, clip regions).

    import algorithms
    algorithms.names()
    algorithms.paper("sapo")                  # the paper an objective comes from
    algo = algorithms.get("ce-gppo", beta1=0.5, beta2=1.0)
    loss, metrics = algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=mask)

See docs/algorithms.md for the formulas and how to register your own objective.
"""
from algorithms import advantages
from algorithms.aggregation import AGG_MODES, aggregate, count_tokens_and_seqs
from algorithms.base import LOG_RATIO_CLAMP, Algorithm, PolicyInputs, high_entropy_tokens, hp
from algorithms.entropy_control import AdaptiveEntropyCoefficient
from algorithms.kl import KL_ESTIMATORS, kl
from algorithms.logits import entropy_from_logits, logprobs_and_entropy_from_logits, logprobs_from_logits
from algorithms.regions import REGIONS, gradient_shares, region_masks
from algorithms.registry import describe, get, get_class, names, paper, register, summary, unregister
from algorithms import objectives  # noqa: F401  (registers the built-in objectives)

BUILTIN = tuple(names())
"""Names of the objectives that ship with rlvr-zoo (user objectives registered later are not in it)."""

__all__ = ["AGG_MODES", "BUILTIN", "KL_ESTIMATORS", "LOG_RATIO_CLAMP", "REGIONS", "AdaptiveEntropyCoefficient",
           "Algorithm", "PolicyInputs", "advantages", "aggregate", "count_tokens_and_seqs", "describe",
           "entropy_from_logits", "get", "get_class", "gradient_shares", "high_entropy_tokens", "hp", "kl",
           "logprobs_and_entropy_from_logits", "logprobs_from_logits", "names", "paper", "region_masks", "register",
           "summary", "unregister"]
