"""The optimisation part of a step: ``epochs`` passes over mini-batches of ``minibatch_size`` sequences, each split
into micro-batches of ``micro_batch_size`` with gradient accumulation, then gradient clipping and the optimiser step.

The loss of a micro-batch is aggregated with its mini-batch's global token and sequence counts (summed over
micro-batches and ranks), so the accumulated gradient is the one-big-batch gradient. A non-finite loss or gradient
norm skips that update (the gradients are dropped) and is counted.

`OldLogprobs` is where pi_old comes from, chosen once per step: the training forward itself ("forward": exactly one
update on exactly on-policy data), one no-grad pass before the update ("recompute"), or the engine's log-probs
("rollout"). The engine/trainer mismatch KL and the TIS weights (algorithms.off_policy) are computed from it.

Before each step the objective hears the step and the previous step's mean entropy (Algorithm.start_step): an
objective with a schedule over training (fec) moves its settings there; its state is part of `Updater.state_dict`.
The rollout correction gets the current log-probs and the advantages when it reads them (opsm); one that normalises
its weights (normalize=1) divides by their mean over the step's batch, all ranks, computed before the update from
pi_old, which must then be known before the update (old_logprobs 'recompute' or 'rollout'). With loss_agg_mode
prompt-mean every micro-batch gets its rows' prompt token counts over the mini-batch and the mini-batch's number of
prompts (algorithms.aggregation.prompt_counts; a prompt's responses stay on one rank).

With TrainConfig.entropy_target set, the objective's entropy coefficient is Skywork-OR1's adaptive one
(algorithms.entropy_control): the step's loss uses the controller's coefficient c_k (logged as ``entropy/coef``),
and the controller then moves with e_k, the step's mean response-token entropy of the training forwards (over all
micro-batches, epochs and ranks, token-weighted). Its state is part of `Updater.state_dict` (the checkpoint).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from algorithms import off_policy
from algorithms.aggregation import PROMPT_MEAN, prompt_counts
from algorithms.entropy_control import AdaptiveEntropyCoefficient
from harness import metric_keys as mk
from harness.training import distributed
from harness.errors import UserError
from harness.training.batch import RolloutBatch
from harness.training.forward import Forward
from harness.training.guard import StepGuard
from harness.training.metrics import UpdateStats

__all__ = ["OldLogprobs", "Updater", "adamw", "old_logprob_source"]


def old_logprob_source(setting: str, recipe, single_update: bool) -> str:
    """The source of pi_old, ``"rollout"``, ``"forward"`` or ``"recompute"``, for TrainConfig.old_logprobs =
    ``setting`` (module notes) and the objective's `Recipe`. The training forward cannot serve when the KL is in the
    reward: the advantages need pi_old before the update."""
    if setting == "rollout":
        return "rollout"
    if setting == "auto" and single_update and not recipe.kl_reward_penalty:
        return "forward"
    return "recompute"


@dataclass
class OldLogprobs:
    """pi_old of the step's tokens (module notes). ``full`` [N, R]: known before the update (recompute, rollout);
    ``mismatch``: the mean mismatch KL over the batch when pi_old was recomputed, else None (then it is measured on
    the first mini-batch's training forward, before any update)."""
    source: str
    engine: torch.Tensor
    full: torch.Tensor | None = None
    mismatch: float | None = None

    @classmethod
    def prepare(cls, source: str, forward: Forward, model, batch: RolloutBatch) -> "OldLogprobs":
        """Recompute pi_old once when the source asks for it."""
        if source == "recompute":
            model.eval()
            full = forward.all_logprobs(model, batch)
            model.train()
            return cls(source, batch.engine_logprobs, full,
                       off_policy.mismatch_kl(batch.engine_logprobs, full, batch.mask))
        if source == "rollout":
            return cls(source, batch.engine_logprobs, batch.engine_logprobs)
        return cls(source, batch.engine_logprobs)

    def rows(self, rows, logp: torch.Tensor) -> torch.Tensor:
        """pi_old of ``rows`` [b, T] (T = the training forward's length; ``logp`` is that forward's output)."""
        if self.full is None:
            return logp.detach()
        return self.full[rows, :logp.shape[1]]


def adamw(params: list, **kw) -> torch.optim.AdamW:
    """AdamW with the fused kernel (several times faster on CPU, also available on CUDA) when the parameters allow
    it, else the default implementation."""
    if params and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64) and
                      p.device.type in ("cpu", "cuda") for p in params):
        try:
            return torch.optim.AdamW(params, fused=True, **kw)
        except (RuntimeError, ValueError, TypeError):
            pass
    return torch.optim.AdamW(params, **kw)


def clip_grad_norm(model, max_norm: float) -> float:
    """Clip the global gradient norm to ``max_norm`` (0: no clipping); returns the norm before clipping. Under FSDP2
    the norm is taken over all ranks' gradient shards (harness.training.distributed.clip_grad_norm)."""
    return distributed.clip_grad_norm(model.parameters(), max_norm)


@dataclass
class StepData:
    """What the update trains on: the batch, advantages [N, R], returns (critic), pi_old, pi_ref, old values."""
    batch: RolloutBatch
    advantages: torch.Tensor
    returns: torch.Tensor | None
    old: OldLogprobs
    ref_logp: torch.Tensor | None
    old_values: torch.Tensor | None


class Updater:
    """Runs the updates of one step (module notes)."""

    def __init__(self, cfg, algo, forward: Forward, dist, *, policy, model, optimizer, critic=None,
                 train_critic=None, critic_optimizer=None):
        self.cfg, self.algo, self.forward, self.dist = cfg, algo, forward, dist
        self.policy, self.model, self.optimizer = policy, model, optimizer
        self.critic, self.train_critic, self.critic_optimizer = critic, train_critic, critic_optimizer
        self.guard = StepGuard(model, critic)
        self.correction = off_policy.parse_spec(cfg.rollout_correction)    # (name, params); ("none", {}) when off
        self.correction_needs = off_policy.needs(*self.correction)          # {"logp", "advantages"} it reads
        self.weight_mean: float | None = None     # the batch mean a normalising correction divides by, per step
        self.last_entropy: float | None = None    # the previous step's mean entropy, for start_step
        self.entropy_control = None
        if cfg.entropy_target is not None:
            if algo.entropy_coef > 0:
                raise UserError(f"entropy_target={cfg.entropy_target} sets the entropy coefficient adaptively, but "
                                f"the objective also has a fixed entropy_coef={algo.entropy_coef}; set one of them")
            self.entropy_control = AdaptiveEntropyCoefficient(cfg.entropy_target, cfg.entropy_coef_delta,
                                                              max_coef=cfg.entropy_coef_max)

    def state_dict(self) -> dict:
        """What a checkpoint's trainer state needs to continue the updates exactly (the adaptive entropy
        controller, an objective's schedule); empty when there is nothing to keep."""
        state = {"entropy_control": self.entropy_control.state_dict()} if self.entropy_control else {}
        if self.algo.follows_schedule:
            state["objective_schedule"] = {**self.algo.schedule_state(), "last_entropy": self.last_entropy}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict` from a checkpoint's trainer state (other keys are ignored)."""
        if self.algo.follows_schedule and state.get("objective_schedule"):
            saved = dict(state["objective_schedule"])
            self.last_entropy = saved.pop("last_entropy", None)
            self.algo.load_schedule_state(saved)
        if self.entropy_control is not None and state.get("entropy_control"):
            saved = dict(state["entropy_control"])
            # the step size, bounds and target come from this run's config; alpha and the on/off state carry over
            self.entropy_control.value = min(max(float(saved["value"]), self.entropy_control.min_coef),
                                             self.entropy_control.max_coef)
            self.entropy_control.enabled = bool(saved["enabled"])

    def run(self, step: int, data: StepData, n_minibatches: int) -> UpdateStats:
        self.algo.start_step(step - 1, self.cfg.steps, self.last_entropy)
        if self.entropy_control is None:
            stats = self._run(step, data, n_minibatches)
        else:
            fixed, coef = self.algo.entropy_coef, self.entropy_control.coef
            self.algo.entropy_coef = coef   # the forward keeps the entropy's gradient exactly when coef > 0
            try:
                stats = self._run(step, data, n_minibatches)
            finally:
                self.algo.entropy_coef = fixed
            stats.extra[mk.ENTROPY_COEF] = coef
        if self.entropy_control is not None or self.algo.follows_schedule:
            ent = distributed.all_reduce_sum({"num": stats.sums.num.get("entropy", 0.0),
                                              "den": stats.sums.den.get("entropy", 0.0)})
            if ent["den"] > 0:
                self.last_entropy = ent["num"] / ent["den"]
                if self.entropy_control is not None:
                    self.entropy_control.update(self.last_entropy)
        return stats

    def _run(self, step: int, data: StepData, n_minibatches: int) -> UpdateStats:
        cfg, N = self.cfg, data.batch.num_seqs
        stats = UpdateStats()
        self.weight_mean = self._correction_mean(data)
        for epoch in range(cfg.epochs):
            perm = np.random.default_rng([cfg.seed, step, epoch, self.dist.rank, 0xB47C]).permutation(N) \
                if (cfg.epochs > 1 or n_minibatches > 1) else np.arange(N)
            for mb_rows in np.array_split(perm, n_minibatches):
                bad = self._minibatch(data, mb_rows, perm, stats, first=epoch == 0 and stats.updates == 0)
                self._apply(bad, stats)
        if data.old.mismatch is not None:
            n = float(data.batch.mask.sum())
            stats.sums.add_mean("mismatch", data.old.mismatch * n, n)
        return stats

    def _minibatch(self, data: StepData, mb_rows, perm, stats: UpdateStats, first: bool) -> float:
        """Forward and backward of one mini-batch, micro-batch by micro-batch; returns 1.0 when a loss was not
        finite."""
        batch = data.batch
        weight = 0.0 if len(mb_rows) == 0 or batch.dummy else 1.0
        mb_rows = mb_rows if len(mb_rows) else perm[:1]   # an empty share still joins the gradient sync
        rows_t = torch.as_tensor(mb_rows, device=batch.mask.device)
        mmask = batch.mask[rows_t] if weight else torch.zeros_like(batch.mask[rows_t])
        size = self.cfg.micro_batch_size
        micro = [mb_rows[s:s + size] for s in range(0, len(mb_rows), size)]
        # the policy term's token count is summed over the micro-batches as each selects (entropy_top_q)
        policy_tokens = sum(self.algo.policy_token_count(mmask[s:s + size]) for s in range(0, len(mb_rows), size))
        counts = distributed.all_reduce_sum({"tokens": float(mmask.sum()), "seqs": float(mmask.any(-1).sum()),
                                             "policy_tokens": float(policy_tokens)})
        if self.algo.loss_agg_mode == PROMPT_MEAN:
            # each row's prompt token count over this rank's share of the mini-batch (a prompt stays on one rank),
            # and the mini-batch's prompts over all ranks
            row_tokens, prompts = prompt_counts(mmask, batch.group_ids[rows_t])
            counts["prompt_tokens"] = torch.zeros(batch.mask.shape[0], dtype=row_tokens.dtype,
                                                  device=row_tokens.device).index_copy_(0, rows_t, row_tokens)
            counts["prompts"] = distributed.all_reduce_sum({"p": float(prompts)})["p"]
        bad = 0.0
        for mi, mrows in enumerate(micro):
            sync = contextlib.ExitStack()
            if mi < len(micro) - 1:   # accumulate locally; the last micro-batch's backward syncs the gradients
                for m in (self.policy, self.train_critic):
                    if m is not None and hasattr(m, "no_sync"):
                        sync.enter_context(m.no_sync())
            with sync:
                if not self._micro(data, torch.as_tensor(mrows, device=batch.mask.device), counts, weight, stats,
                                   measure_mismatch=first and data.old.mismatch is None, after_update=not first):
                    bad = 1.0
        return bad

    def _micro(self, data: StepData, rows, counts: dict, weight: float, stats: UpdateStats,
               measure_mismatch: bool, after_update: bool = False) -> bool:
        """Loss and backward of one micro-batch; False when the loss was not finite. ``after_update``: the step has
        already updated the policy, so its region figures are also counted apart (``offpolicy/*``)."""
        algo, batch = self.algo, data.batch
        logp, ent, fmask = self.forward.logprobs(self.policy, batch, rows, grad=True, entropy=True,
                                                 entropy_grad=algo.entropy_coef > 0)
        T = logp.shape[1]
        fmask = fmask & batch.mask[rows, :T]
        logp.retain_grad()
        logp_in = logp.float()
        engine = data.old.engine[rows, :T]
        if measure_mismatch:   # the policy is still the one that sampled
            stats.sums.add_mean("mismatch", float(off_policy.mismatch_kl_tokens(engine, logp_in, fmask).sum()),
                                float(fmask.sum()))
        old = data.old.rows(rows, logp_in)
        w = off_policy.tis_weights(old, engine, fmask, cap=self.cfg.tis_cap) if self.cfg.tis_cap > 0 else None
        if w is not None:
            for k, (num, den) in off_policy.tis_stats(w, fmask, self.cfg.tis_cap).items():
                stats.sums.add_mean(k, num, den)
        adv = data.advantages[rows, :T]
        if w is None and self.correction[0] != "none":
            w = self._rollout_correction(old, engine, fmask, stats, logp_in, adv)
        prompts = {} if "prompts" not in counts else {"prompt_tokens": counts["prompt_tokens"][rows],
                                                      "global_prompts": counts["prompts"]}
        loss, m = algo.loss(logp=logp_in, old_logp=old, advantages=adv, mask=fmask.float(),
                            ref_logp=data.ref_logp[rows, :T] if data.ref_logp is not None else None, entropy=ent,
                            scores=batch.scores[rows].to(logp_in.dtype), rollout_is_weights=w,
                            global_tokens=counts["tokens"], global_seqs=counts["seqs"],
                            global_policy_tokens=counts["policy_tokens"], on_nonfinite="nan", **prompts)
        total = loss * weight
        if self.critic is not None:
            vals, _ = self.forward.values(self.train_critic, batch, rows, grad=True)
            vloss, vm = algo.critic_loss(values=vals, old_values=data.old_values[rows, :T],
                                         returns=data.returns[rows, :T], mask=fmask.float(),
                                         global_tokens=counts["tokens"], global_seqs=counts["seqs"],
                                         on_nonfinite="nan")
            m.update(vm)
            total = total + vloss * weight
        finite = bool(torch.isfinite(total.detach()))
        (total * self.dist.world_size).backward()
        ntok = float(fmask.sum()) * weight
        stats.add_loss_metrics(m, ntok, weight, seqs=float(fmask.any(-1).sum()) * weight,
                               off_policy=after_update)
        if logp.grad is not None and ntok > 0:
            self._grad_shares(stats, logp, old, adv, w, fmask, after_update)
        stats.train_tokens += int(batch.attention_mask[rows].sum())
        return finite

    def _correction_mean(self, data: StepData) -> float | None:
        """The step's batch mean of a normalising correction's weights over all ranks (off_policy.normalizer), or
        None when the correction does not normalise."""
        name, params = self.correction
        if not off_policy.normalizes(name, params):
            return None
        if data.old.full is None:
            raise UserError(f"rollout_correction={self.cfg.rollout_correction!r} normalises its weights by their mean "
                            f"over the step's batch, which needs pi_old before the update; set "
                            f"old_logprobs=recompute (or rollout)")
        mask = torch.zeros_like(data.batch.mask) if data.batch.dummy else data.batch.mask
        total, count = off_policy.normalizer(name, old_logp=data.old.full, engine_logp=data.old.engine, mask=mask,
                                             **params)
        sums = distributed.all_reduce_sum({"sum": total, "count": count})
        return sums["sum"] / sums["count"] if sums["count"] > 0 else None

    def _rollout_correction(self, old, engine, mask, stats: UpdateStats, logp, adv) -> torch.Tensor:
        """The weights of TrainConfig.rollout_correction; its masked / truncated fractions go to the step's metrics
        (token fractions weighted by tokens, sequence fractions by sequences, so micro-batches and ranks add up)."""
        name, params = self.correction
        reads = {"logp": logp.detach(), "advantages": adv}
        w, metrics = off_policy.compute(name, old_logp=old, engine_logp=engine, mask=mask,
                                        weight_mean=self.weight_mean,
                                        **{k: v for k, v in reads.items() if k in self.correction_needs}, **params)
        tokens, seqs = float(mask.sum()), float(mask.any(-1).sum())
        for k, v in metrics.items():
            den = seqs if k.endswith("seq_frac") else tokens
            stats.sums.add_mean(k, v * den, den)
        return w

    def _grad_shares(self, stats: UpdateStats, logp, old, adv, w, mask, after_update: bool = False) -> None:
        from algorithms import gradient_shares

        with torch.no_grad():
            g = logp.grad.float()
            # the regions on the ratio this objective clips (GSPO: its sequence ratio), matching clipfrac/*
            regions = self.algo.regions(logp=logp.detach().float(), old_logp=old, advantages=adv, mask=mask,
                                        rollout_is_weights=w)
            total = float(torch.where(mask, g.abs(), 0.0).sum())
            if total > 0:
                stats.add_grad_shares(gradient_shares(g, regions, mask), total, after_update)

    def _apply(self, bad: float, stats: UpdateStats) -> None:
        """Clip and step (policy and critic), or drop the gradients when a loss or a norm was not finite."""
        bad = distributed.all_reduce_max({"bad": bad})["bad"]
        norm = clip_grad_norm(self.model, self.cfg.grad_clip)
        cnorm = clip_grad_norm(self.critic, self.cfg.grad_clip) if self.critic is not None else 0.0
        stats.updates += 1
        optimizers = [o for o in (self.optimizer, self.critic_optimizer) if o is not None]
        if bad or not math.isfinite(norm) or not math.isfinite(cnorm):
            stats.skipped_updates += 1
        elif self.guard.step(optimizers):   # the step wrote NaN/inf into the weights: undone (harness.training.guard)
            stats.skipped_updates += 1
            stats.nonfinite_weight_updates += 1
        else:
            stats.grad_norms.append(norm)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
