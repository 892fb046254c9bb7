"""`Algorithm`: the base dataclass of every objective. Its fields are the hyperparameters and the recipe.

An objective subclasses `Algorithm`, overrides the defaults its paper sets, and implements one method:

    policy_loss(self, x: PolicyInputs) -> Tensor [B, T]      the per-token loss (to be minimised)

Everything around it is shared and lives here: input checks (shapes, NaN/inf), masking of padding, the ratio,
aggregation, the KL loss to the reference policy, the entropy bonus, the value loss (objectives with a critic) and
the diagnostics every objective reports.

Ratio and padding. r = exp(clamp(logp - old_logp, -20, 20)): the clamp keeps loss and gradient finite for any
log-ratio (a token with |log r| > 20 gets a zero gradient through r; gradient-preserving terms use
r / sg(r) = exp(log r - sg(log r)), which is exactly 1 with derivative 1 at any log-ratio and needs no clamp).
Positions where mask == 0 are replaced (with `torch.where`, not a product) before any arithmetic, so whatever
they hold, NaN included, changes neither the loss nor the gradient.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from algorithms import advantages as advantage_estimators
from algorithms import fields
from algorithms.aggregation import AGG_MODES, PROMPT_MEAN, aggregate
from algorithms.kl import KL_ESTIMATORS, kl
from algorithms.regions import region_masks
from algorithms.surrogates import top_tokens

LOG_RATIO_CLAMP = 20.0
"""|log r| is clamped to this before exp (exp(20) ~ 4.9e8): finite loss and gradient for any log-ratio."""


ENTROPY_TOP_Q_DENOMINATORS = ("selected", "trl")
"""Values of Algorithm.entropy_top_q_denominator (see Algorithm.loss)."""


def hp(default, doc: str):
    """A documented hyperparameter field: `lr: float = hp(1e-6, "learning rate (paper X)")` (the one field mechanism
    of every configuration, `algorithms.fields.field`)."""
    return fields.field(default, doc)


@dataclass(frozen=True)
class PolicyInputs:
    """What `policy_loss` receives; every tensor is [B, T] and holds 0 (log-ratio 0, ratio 1) on padding."""
    logp: Tensor          # log pi(y_t) under the current policy, with grad
    old_logp: Tensor      # log pi_old(y_t), the behaviour policy that sampled the tokens
    log_ratio: Tensor     # logp - old_logp, NOT clamped (use it for r / sg(r) = exp(log_ratio - sg(log_ratio)))
    ratio: Tensor         # exp(clamp(log_ratio, -20, 20))
    advantages: Tensor
    mask: Tensor          # bool, True on response tokens
    scores: Tensor | None = None   # [B] outcome reward of each response, when loss() was given it

    @property
    def num_tokens(self) -> Tensor:
        return self.mask.sum()


def _nonfinite(mask: Tensor, **tensors) -> str | None:
    """Check every tensor: same shape as mask (else a ValueError that names it); returns a message naming the first
    one that has a NaN/inf where mask == 1, or None when all are finite there."""
    keep = mask.bool()
    for name, value in tensors.items():
        if value is None:
            continue
        if not isinstance(value, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape {tuple(mask.shape)}, got {type(value).__name__}")
        if value.shape != mask.shape:
            raise ValueError(f"{name} has shape {tuple(value.shape)} but mask has {tuple(mask.shape)}; every "
                             f"per-token tensor must be [B, T] like mask")
        bad = keep & ~torch.isfinite(value.detach())
        if bool(bad.any()):
            b, t = (int(i) for i in torch.nonzero(bad)[0])
            return (f"{name} has {int(bad.sum())} NaN/inf value(s) on response tokens (mask == 1), first at "
                    f"[{b}, {t}] = {float(value[b, t])}; every value where mask == 1 must be finite")
    return None


def _check_tensors(mask: Tensor, **tensors) -> None:
    """Same shape as mask, and finite wherever mask == 1; else a ValueError that names the tensor."""
    message = _nonfinite(mask, **tensors)
    if message is not None:
        raise ValueError(message)


def _nan_loss(like: Tensor) -> Tensor:
    """A NaN scalar connected to ``like``'s graph: the caller's finiteness check sees it and skips the update."""
    return (like * 0).sum() * float("nan")


def _fill(value: Tensor | None, keep: Tensor, fill: float = 0.0) -> Tensor | None:
    if value is None:
        return None
    return torch.where(keep, value, torch.full((), fill, dtype=value.dtype, device=value.device))


def _scores_problem(scores: Tensor | None, mask: Tensor) -> str | None:
    """None when scores is absent or a finite [B] tensor; a NaN/inf message; a wrong shape is a ValueError."""
    if scores is None:
        return None
    if not isinstance(scores, Tensor) or scores.shape != mask.shape[:1]:
        raise ValueError(f"scores must be a tensor of shape [B] = [{mask.shape[0]}] (one reward per response), got "
                         f"{getattr(scores, 'shape', type(scores))}")
    if not bool(torch.isfinite(scores.detach()).all()):
        return "scores has NaN/inf values; every response's reward must be finite"
    return None


def high_entropy_tokens(entropy: Tensor, mask: Tensor, q: float) -> Tensor:
    """Bool [B, T]: the ceil(q * N) response tokens of highest entropy in the batch (ties to the earlier position).

    Wang et al. 2025, "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective Reinforcement Learning
    for LLM Reasoning" (arXiv 2506.01939v2, section 5.1, Eq. (6); the token entropy H_t is its Eq. (1)): only the
    tokens with H_t >= tau_rho, the threshold of the top-rho fraction of the (micro-)batch's tokens (rho = 0.2),
    keep a policy gradient, and the token count that normalises DAPO's objective counts only those tokens:

        J = E[ 1 / (sum_i sum_t 1[H_t^i >= tau_rho]) * sum_i sum_t 1[H_t^i >= tau_rho] * min(r A, clip(r) A) ]

    `Algorithm.entropy_top_q` applies it (`entropy_top_q_denominator`); this function gives the selection.
    """
    return top_tokens(entropy, mask.bool(), high_entropy_count(int(mask.bool().sum()), q))


def high_entropy_count(n_tokens: int, q: float) -> int:
    """How many tokens `high_entropy_tokens` keeps in a batch of ``n_tokens`` response tokens: ceil(q * n_tokens),
    at least one of a non-empty batch. q * n is rounded to 9 decimals first, so that a float error does not add a
    token (0.2 * 15 is 3.0000000000000004 in floating point: 3 tokens, not 4)."""
    if n_tokens <= 0:
        return 0
    return max(1, math.ceil(round(q * n_tokens, 9)))


@dataclass
class Algorithm:
    """Base of every objective. Subclasses override defaults with their paper's values and implement policy_loss."""

    name: ClassVar[str] = ""
    # The paper the objective comes from, shown by `rlvr-zoo list` and algorithms.paper(name).
    paper: ClassVar[str] = ""
    # True when the loss reads each response's outcome reward (loss(scores=...)), e.g. ce-gppo-authors' NLL term.
    needs_scores: ClassVar[bool] = False
    # True when the token selection looks at the whole batch (covariance objectives): then splitting a mini-batch
    # into micro-batches changes which tokens are selected, and the micro-batch identity does not hold.
    batch_dependent: ClassVar[bool] = False

    # --- clipping (Schulman et al. 2017, PPO) -------------------------------------------------------------------
    clip_ratio_low: float = hp(0.2, "eps_low: ratios below 1 - eps_low are clipped (PPO, Schulman et al. 2017)")
    clip_ratio_high: float = hp(0.2, "eps_high: ratios above 1 + eps_high are clipped (PPO; DAPO raises it)")
    # --- advantages ---------------------------------------------------------------------------------------------
    advantage_estimator: str = hp("grpo", "key in algorithms.advantages (names() lists them): gae | grpo | dr-grpo "
                                          "| rloo | reinforce++ | reinforce++-baseline | opo | remax | grpo-passk "
                                          "| gpg | lite-ppo | maxrl | gdpo")
    adv_eps: float = hp(1e-6, "eps in (R - mean) / (std + eps) of the grpo estimator (DeepSeekMath)")
    gamma: float = hp(1.0, "discount of the gae and reinforce++ estimators (1.0: no discount within a response)")
    lam: float = hp(0.95, "GAE lambda (Schulman et al. 2016); used only by the gae estimator")
    passk_k: int = hp(4, "k of the grpo-passk estimator (pass@k training, Chen et al. 2025)")
    # --- aggregation --------------------------------------------------------------------------------------------
    loss_agg_mode: str = hp("token-mean", "token-mean | seq-mean-token-mean | seq-mean-token-sum | "
                                          "seq-mean-token-sum-norm | token-sum | prompt-mean (see "
                                          "algorithms.aggregation)")
    loss_norm_length: int | None = hp(None, "L of seq-mean-token-sum-norm (Dr. GRPO: the generation budget); "
                                            "None uses the padded length T of each batch")
    # --- KL to the reference policy -----------------------------------------------------------------------------
    kl_coef: float = hp(0.0, "beta of the KL penalty to the reference policy; 0 means no reference model is needed")
    kl_estimator: str = hp("k3", "per-token KL estimator: k1 | k2 | k3 | abs (Schulman 2020)")
    kl_in_reward: bool = hp(False, "True: KL is a per-token reward penalty (PPO, Ouyang et al. 2022); "
                                   "False: a loss term kl_coef * aggregate(KL) (GRPO)")
    # --- entropy ------------------------------------------------------------------------------------------------
    entropy_coef: float = hp(0.0, "coefficient of the entropy bonus (loss -= coef * aggregate(entropy))")
    entropy_top_q: float = hp(1.0, "policy gradient only on the top-q fraction of the batch's response tokens by "
                                   "entropy (Wang et al. 2025, 'Beyond the 80/20 rule': 0.2); 1.0: every token")
    entropy_top_q_denominator: str = hp("selected", "token count of the policy term with entropy_top_q < 1: "
                                                    "'selected' counts the selected tokens only (the paper's "
                                                    "Eq. (6), v2, and the authors' code); 'trl' keeps every "
                                                    "response token (TRL's top_entropy_quantile)")
    # --- recipe the trainer reads -------------------------------------------------------------------------------
    needs_critic: bool = hp(False, "True: train a value model and pass values to the gae estimator (PPO)")
    dynamic_sampling: bool = hp(False, "drop groups whose rewards are all equal and sample again until the batch "
                                       "is full (DAPO, Yu et al. 2025)")
    overlong_shaping: bool = hp(False, "soft overlong punishment of responses longer than "
                                       "overlong_max_len - overlong_cache_len (DAPO)")
    overlong_max_len: int = hp(20480, "L_max of DAPO's soft overlong punishment, in tokens (DAPO: 16384 + 4096)")
    overlong_cache_len: int = hp(4096, "L_cache of DAPO's soft overlong punishment: the penalty ramps linearly "
                                       "from 0 to -overlong_penalty over the last L_cache tokens")
    overlong_penalty: float = hp(1.0, "penalty at and beyond L_max (DAPO: 1.0)")
    reward_correct: float = hp(1.0, "reward of a verified-correct response")
    reward_incorrect: float = hp(0.0, "reward of an incorrect response (0 in DeepSeekMath; -1 in DAPO and CE-GPPO)")

    # ---------------------------------------------------------------------------------------------- validation

    def __post_init__(self):
        self.validate()
        if self.entropy_top_q < 1.0:
            self.batch_dependent = True      # the forking-token selection looks at the whole batch too

    def validate(self) -> None:
        """Raise ValueError on a value outside its domain; subclasses extend it (call super().validate())."""
        if self.advantage_estimator not in advantage_estimators.names():
            raise ValueError(f"{self._label()}: unknown advantage_estimator {self.advantage_estimator!r}; valid "
                             f"estimators: {', '.join(advantage_estimators.names())}")
        if self.loss_agg_mode not in AGG_MODES:
            raise ValueError(f"{self._label()}: unknown loss_agg_mode {self.loss_agg_mode!r}; valid modes: "
                             f"{', '.join(AGG_MODES)}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"{self._label()}: unknown kl_estimator {self.kl_estimator!r}; valid estimators: "
                             f"{', '.join(KL_ESTIMATORS)}")
        if self.passk_k < 1:
            raise ValueError(f"{self._label()}: passk_k must be >= 1, got {self.passk_k}")
        if not 0.0 < self.entropy_top_q <= 1.0:
            raise ValueError(f"{self._label()}: entropy_top_q must lie in (0, 1], got {self.entropy_top_q}")
        if self.entropy_top_q_denominator not in ENTROPY_TOP_Q_DENOMINATORS:
            raise ValueError(f"{self._label()}: unknown entropy_top_q_denominator "
                             f"{self.entropy_top_q_denominator!r}; valid: {', '.join(ENTROPY_TOP_Q_DENOMINATORS)}")
        for name in ("clip_ratio_low", "clip_ratio_high", "kl_coef", "entropy_coef", "adv_eps", "overlong_penalty"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self._label()}: {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"{self._label()}: gamma and lam must lie in [0, 1], got gamma={self.gamma}, "
                             f"lam={self.lam}")
        if self.loss_agg_mode == PROMPT_MEAN and (self.needs_critic or self.entropy_top_q < 1.0):
            raise ValueError(f"{self._label()}: loss_agg_mode 'prompt-mean' works with the policy, KL and entropy "
                             f"terms; it is not available with a critic (needs_critic) or with entropy_top_q < 1")
        if self.loss_norm_length is not None and self.loss_norm_length <= 0:
            raise ValueError(f"{self._label()}: loss_norm_length must be a positive number of tokens or None, "
                             f"got {self.loss_norm_length}")
        dual_clip_c = getattr(self, "dual_clip_c", None)          # a field of the objectives with a dual clip
        if dual_clip_c is not None and dual_clip_c <= 1.0:
            raise ValueError(f"{self._label()}: dual_clip_c must be > 1 (or None to turn it off), got {dual_clip_c}")
        if not 0 <= self.overlong_cache_len <= self.overlong_max_len:
            raise ValueError(f"{self._label()}: need 0 <= overlong_cache_len <= overlong_max_len, got "
                             f"{self.overlong_cache_len} and {self.overlong_max_len}")

    def _label(self) -> str:
        return f"algorithm {(self.name or type(self).__name__)!r}"

    @property
    def uses_reference(self) -> bool:
        """Whether a frozen reference policy (ref_logp) is needed: kl_coef > 0."""
        return self.kl_coef > 0

    # ------------------------------------------------------------------------------------------ the objective

    def policy_loss(self, x: PolicyInputs) -> Tensor:
        """Per-token loss [B, T] to minimise (values on padding are ignored). Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement policy_loss(self, x: PolicyInputs) -> "
                                  f"Tensor [B, T] (the per-token loss to minimise)")

    @staticmethod
    def _inputs(logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor,
                scores: Tensor | None = None) -> PolicyInputs:
        """PolicyInputs with padding neutralised (torch.where) and the clamped ratio."""
        keep = mask.bool()
        logp_in = _fill(logp, keep)
        old_in = _fill(old_logp.detach(), keep)
        log_ratio = logp_in - old_in
        return PolicyInputs(logp=logp_in, old_logp=old_in, log_ratio=log_ratio,
                            ratio=torch.exp(log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)),
                            advantages=_fill(advantages.detach(), keep), mask=keep,
                            scores=None if scores is None else scores.detach())

    def region_ratio(self, x: PolicyInputs) -> Tensor:
        """The ratio the objective clips on, for the region diagnostics (GSPO: the sequence ratio)."""
        return x.ratio

    def start_step(self, step: int, total_steps: int, entropy: float | None) -> None:
        """Called by the trainer before the update of step ``step`` (0-based) of ``total_steps``, with the mean
        response-token entropy of the previous step's training forwards (None before the first): an objective whose
        settings follow a schedule over training (`fec`) sets them here. The default does nothing."""

    @property
    def follows_schedule(self) -> bool:
        """Whether the loss depends on what `start_step` was told (the step, the last entropy): then only a trainer
        that calls start_step runs it as meant. False by default."""
        return False

    def schedule_state(self) -> dict:
        """What `start_step` has accumulated and a checkpoint must keep ({} by default)."""
        return {}

    def load_schedule_state(self, state: dict) -> None:
        """Restore `schedule_state` from a checkpoint."""

    def masked_tokens(self, x: PolicyInputs) -> Tensor | None:
        """Bool [B, T]: the response tokens this objective's own mask takes the policy gradient from (M2PO, DPPO-style
        trust regions), reported as `mask/token_frac` and `mask/seq_frac`; None for an objective without one."""
        return None

    def objective_metrics(self, x: PolicyInputs) -> dict[str, float]:
        """Metrics of the objective's own (besides the common diagnostics): {"mask/token_frac": masked share of the
        response tokens, "mask/seq_frac": share of the sequences with a response token whose every token is masked}
        for an objective with a mask (`masked_tokens`), else {}."""
        with torch.no_grad():
            masked = self.masked_tokens(x)
            if masked is None:
                return {}
            masked = masked & x.mask
            rows = x.mask.any(-1)
            whole = rows & (masked | ~x.mask).all(-1)
            return {"mask/token_frac": float(masked.sum() / x.mask.sum().clamp(min=1)),
                    "mask/seq_frac": float(whole.sum() / rows.sum().clamp(min=1))}

    # ------------------------------------------------------------------------------------------ the loss

    def loss(self, *, logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor,
             ref_logp: Tensor | None = None, values: Tensor | None = None, old_values: Tensor | None = None,
             returns: Tensor | None = None, entropy: Tensor | None = None, scores: Tensor | None = None,
             rollout_is_weights: Tensor | None = None, global_tokens=None, global_seqs=None,
             global_policy_tokens=None, group_ids=None, prompt_tokens=None, global_prompts=None,
             on_nonfinite: str = "raise") -> tuple[Tensor, dict[str, float]]:
        """Scalar loss and float metrics.

        logp [B, T] (with grad), old_logp, advantages, mask [B, T]. ref_logp: needed when kl_coef > 0 and
        kl_in_reward is False. entropy [B, T]: reported, and needed (with grad) when entropy_coef > 0.
        values, old_values, returns: only for algorithms with a critic; when given, vf_coef * value_loss is added
        (use that when the critic shares the optimiser step; otherwise call value_loss() yourself, not both).
        scores [B]: each response's outcome reward, for objectives whose loss depends on it (ce-gppo-authors).
        global_tokens / global_seqs: the mini-batch's counts, for micro-batches (see algorithms.aggregation).
        global_policy_tokens: the sum over those micro-batches of `policy_token_count(mask)`, the token count of the
        policy term; needed with global_tokens when entropy_top_q < 1 divides by the selected tokens.
        group_ids [B]: which prompt each response answers, for loss_agg_mode "prompt-mean"; a micro-batch passes
        prompt_tokens [B] and global_prompts instead (algorithms.aggregation.prompt_counts of its mini-batch).
        rollout_is_weights [B, T]: per-token importance weights for the rollout engine / trainer mismatch (e.g.
        algorithms.off_policy.tis_weights), as in verl; they scale the advantages, A_t -> w_t A_t, which for these
        objectives (piecewise linear in A, w_t > 0) equals weighting the per-token loss.
        on_nonfinite: "raise" (a ValueError naming the tensor with a NaN/inf on a response token) or "nan" (a NaN
        loss and no metrics, for a trainer that skips such an update); NaN/inf in scores counts the same.
        With entropy_top_q < 1, entropy [B, T] is needed and only the top-q tokens by entropy keep a policy gradient
        (see `_forking_policy` for the denominators).
        """
        message = _nonfinite(mask, logp=logp, old_logp=old_logp, advantages=advantages, ref_logp=ref_logp,
                             values=values, old_values=old_values, returns=returns, entropy=entropy,
                             rollout_is_weights=rollout_is_weights)
        message = message or _scores_problem(scores, mask)
        if message is not None:
            if on_nonfinite == "nan":
                return _nan_loss(logp), {}
            raise ValueError(message)
        keep = mask.bool()
        if rollout_is_weights is not None:
            advantages = advantages * rollout_is_weights.detach()
        x = self._inputs(logp, old_logp, advantages, mask, scores)

        def agg(per_token: Tensor) -> Tensor:
            return aggregate(per_token, keep, self.loss_agg_mode, global_tokens=global_tokens,
                             global_seqs=global_seqs, norm_length=self.loss_norm_length, group_ids=group_ids,
                             prompt_tokens=prompt_tokens, global_prompts=global_prompts)

        per_token = self.policy_loss(x)
        if not isinstance(per_token, Tensor) or per_token.shape != keep.shape:
            raise ValueError(f"{self._label()}: policy_loss must return the per-token loss as a tensor of shape "
                             f"{tuple(keep.shape)} (like mask), got {getattr(per_token, 'shape', type(per_token))}")
        if self.entropy_top_q < 1.0:
            policy = self._forking_policy(per_token, entropy, keep, global_tokens, global_seqs, global_policy_tokens)
        else:
            policy = agg(per_token)
        zero = policy.new_zeros(())

        kl_loss, kl_ref = zero, None
        if ref_logp is not None:
            kl_ref = kl(x.logp, _fill(ref_logp.detach(), keep), self.kl_estimator)
        if self.kl_coef > 0 and not self.kl_in_reward:
            if kl_ref is None:
                raise ValueError(f"{self._label()} has kl_coef={self.kl_coef} with a KL loss term, so loss() needs "
                                 f"ref_logp [B, T] from the reference policy (or set kl_coef=0)")
            kl_loss = self.kl_coef * agg(kl_ref)

        entropy_loss = zero
        if entropy is not None:
            entropy = _fill(entropy, keep)
        if self.entropy_coef > 0:
            if entropy is None:
                raise ValueError(f"{self._label()} has entropy_coef={self.entropy_coef}, so loss() needs entropy "
                                 f"[B, T] (with grad), e.g. algorithms.entropy_from_logits(logits)")
            entropy_loss = -self.entropy_coef * agg(entropy)

        value_loss, value_metrics = zero, {}
        if values is not None or old_values is not None or returns is not None:
            value_loss, value_metrics = self.value_loss(values=values, old_values=old_values, returns=returns,
                                                        mask=mask, global_tokens=global_tokens,
                                                        global_seqs=global_seqs)

        total = policy + kl_loss + entropy_loss + value_loss
        metrics = self._metrics(x, policy=policy, kl_loss=kl_loss, entropy_loss=entropy_loss, total=total,
                                kl_ref=kl_ref, entropy=entropy)
        metrics.update(self.objective_metrics(x))
        metrics.update(value_metrics)
        return total, metrics

    def _forking_policy(self, per_token: Tensor, entropy: Tensor | None, keep: Tensor, global_tokens, global_seqs,
                        global_policy_tokens) -> Tensor:
        """The policy term with a gradient on the top entropy_top_q tokens by entropy only (`high_entropy_tokens`).

        entropy_top_q_denominator "selected" follows Wang et al. 2025, Eq. (6) (arXiv 2506.01939v2): the selected
        tokens are the aggregation's token set, so every token count counts selected tokens only. token-mean
        divides by their number K (global_policy_tokens when the batch is split); seq-mean-token-mean divides each
        sequence by its own selected count k_i (a sequence with none adds 0) and still by all S sequences; token-sum,
        seq-mean-token-sum and seq-mean-token-sum-norm have no token count and are unchanged. "trl" zeroes the other
        tokens' loss and keeps every count, as TRL's top_entropy_quantile does (and the paper's first version).
        """
        if entropy is None:
            raise ValueError(f"{self._label()} has entropy_top_q={self.entropy_top_q}, so loss() needs entropy "
                             f"[B, T] to choose the high-entropy tokens")
        forking = high_entropy_tokens(_fill(entropy.detach(), keep), keep, self.entropy_top_q)
        if self.entropy_top_q_denominator == "trl":
            return aggregate(torch.where(forking, per_token, torch.zeros_like(per_token)), keep, self.loss_agg_mode,
                             global_tokens=global_tokens, global_seqs=global_seqs, norm_length=self.loss_norm_length)
        if global_tokens is not None and global_policy_tokens is None:
            raise ValueError(f"{self._label()} divides by the selected tokens (entropy_top_q={self.entropy_top_q}), "
                             f"so with global_tokens loss() also needs global_policy_tokens: the sum of "
                             f"algo.policy_token_count(mask) over the same micro-batches and ranks")
        seqs = global_seqs if global_seqs is not None else int(keep.any(-1).sum())
        return aggregate(per_token, forking, self.loss_agg_mode, global_tokens=global_policy_tokens,
                         global_seqs=seqs, norm_length=self.loss_norm_length)

    def policy_token_count(self, mask: Tensor) -> int:
        """The token count of the policy term in a batch with this mask: its N response tokens, or, when
        entropy_top_q < 1 divides by the selected tokens, the high_entropy_count(N, q) tokens it selects. A trainer
        that splits a mini-batch into micro-batches (and ranks) sums it over the pieces, as it sums N, and passes
        the sum to loss() as global_policy_tokens; the pieces' losses then add up to the objective over the union
        of their selections."""
        n = int(mask.bool().sum())
        if self.entropy_top_q < 1.0 and self.entropy_top_q_denominator == "selected":
            return high_entropy_count(n, self.entropy_top_q)
        return n

    def value_loss(self, *, values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
                   global_tokens=None, global_seqs=None) -> tuple[Tensor, dict[str, float]]:
        """The critic's loss; only algorithms with needs_critic=True have one (see `ppo`)."""
        raise ValueError(f"{self._label()} has no critic (needs_critic=False), so it has no value loss; pass no "
                         f"values/old_values/returns, or use an algorithm with a critic such as 'ppo'")

    def critic_loss(self, *, values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, global_tokens=None,
                    global_seqs=None, on_nonfinite: str = "raise") -> tuple[Tensor, dict[str, float]]:
        """`value_loss`, with loss()'s ``on_nonfinite``: "nan" gives a NaN loss and no metrics when values, old_values
        or returns hold a NaN/inf on a response token."""
        if on_nonfinite == "nan" and _nonfinite(mask, values=values, old_values=old_values, returns=returns):
            return _nan_loss(values), {}
        return self.value_loss(values=values, old_values=old_values, returns=returns, mask=mask,
                               global_tokens=global_tokens, global_seqs=global_seqs)

    def regions(self, *, logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor,
                rollout_is_weights: Tensor | None = None) -> dict[str, Tensor]:
        """The region masks of algorithms.region_masks, on the ratio this objective clips (GSPO: its sequence
        ratio) with its clip range: what the trainer needs for gradient shares that match `clipfrac/*`
        (``rollout_is_weights`` as in loss())."""
        if rollout_is_weights is not None:
            advantages = advantages * rollout_is_weights.detach()
        x = self._inputs(logp.detach(), old_logp, advantages, mask)
        return region_masks(self.region_ratio(x), x.advantages, x.mask, self.clip_ratio_low, self.clip_ratio_high)

    # ------------------------------------------------------------------------------------------ advantages

    def advantage_params(self) -> dict:
        """This algorithm's hyperparameters for its advantage estimator (only the ones the estimator accepts)."""
        available = {"eps": self.adv_eps, "gamma": self.gamma, "lam": self.lam, "k": self.passk_k}
        return {k: v for k, v in available.items()
                if k in advantage_estimators.accepted_params(self.advantage_estimator)}

    def compute_advantages(self, *, mask: Tensor, scores: Tensor | None = None, group_ids: Tensor | None = None,
                           values: Tensor | None = None, old_logp: Tensor | None = None,
                           ref_logp: Tensor | None = None, token_rewards: Tensor | None = None,
                           baseline_scores: Tensor | None = None):
        """(advantages [B, T], returns [B, T] | None) with this algorithm's estimator and parameters.

        baseline_scores [B]: the reward of a greedy response to each prompt, for the remax estimator.

        With kl_in_reward and kl_coef > 0, per-token rewards are score-at-the-last-token minus
        kl_coef * KL(old_logp, ref_logp) (needs old_logp and ref_logp).
        """
        if self.kl_in_reward and self.kl_coef > 0 and token_rewards is None:
            if old_logp is None or ref_logp is None or scores is None:
                raise ValueError(f"{self._label()} puts the KL into the reward (kl_in_reward=True, kl_coef="
                                 f"{self.kl_coef}): compute_advantages needs scores, old_logp and ref_logp")
            token_kl = kl(old_logp.detach(), ref_logp.detach(), self.kl_estimator)
            token_rewards = advantage_estimators.token_level_rewards(scores, mask, token_kl, self.kl_coef)
        return advantage_estimators.compute(self.advantage_estimator, mask=mask, scores=scores, group_ids=group_ids,
                                            token_rewards=token_rewards, values=values,
                                            baseline_scores=baseline_scores, **self.advantage_params())

    # ------------------------------------------------------------------------------------------ diagnostics

    def _metrics(self, x: PolicyInputs, *, policy, kl_loss, entropy_loss, total, kl_ref, entropy) -> dict[str, float]:
        with torch.no_grad():
            n = x.mask.sum().clamp(min=1).to(x.ratio.dtype)
            regions = region_masks(self.region_ratio(x), x.advantages, x.mask, self.clip_ratio_low,
                                   self.clip_ratio_high)
            values = {f"clipfrac/{name}": regions[name].sum() / n
                      for name in ("low_neg", "high_pos", "low_pos", "high_neg")}
            values["ratio/mean"] = torch.where(x.mask, x.ratio, 0.0).sum() / n
            # k3 estimate of KL(old || new) from tokens sampled by old: rho - 1 - log rho, rho = new / old
            values["kl/old"] = torch.where(x.mask, kl(x.old_logp, x.logp.detach(), "k3"), 0.0).sum() / n
            if kl_ref is not None:
                values["kl/ref"] = torch.where(x.mask, kl_ref, 0.0).sum() / n
            if entropy is not None:
                values["entropy"] = torch.where(x.mask, entropy, 0.0).sum() / n
            values.update({"loss/policy": policy, "loss/kl": kl_loss, "loss/entropy": entropy_loss,
                           "loss/total": total})
            floats = torch.stack([v.detach().to(torch.float64).reshape(()) for v in values.values()]).tolist()
        return dict(zip(values, floats))

    # ------------------------------------------------------------------------------------------ misc

    def to_dict(self) -> dict:
        """Field name -> value (for run.json)."""
        return {"name": self.name, **dataclasses.asdict(self)}
