"""A step's metrics: rollout statistics, the objective's diagnostics, gradient shares, timing and memory.

Every metric in a record was computed this step; one that was not (``kl/ref`` without a reference model, gradient
shares when no gradient reached the log-probs) is absent, not 0. Values are reduced over ranks: rollout statistics
as global sums, the objective's per-token diagnostics as token-weighted means, its losses as the mean over the
step's updates of each mini-batch's loss.
"""
from __future__ import annotations

import math
import resource
from dataclasses import dataclass, field

import numpy as np
import torch

from harness import metric_keys as mk
from harness.training import distributed
from harness.training.sampling import Collected

__all__ = ["RolloutStats", "MetricSums", "UpdateStats", "RunCounters", "BUDGET_KEYS", "REGIONS", "peak_rss_mb",
           "reset_peak_rss"]

REGIONS = ("low_neg", "high_pos", "low_pos", "high_neg", "inside")
OFFPOLICY_PREFIX = "offpolicy/"   # mk.OFFPOLICY_CLIPFRAC and mk.OFFPOLICY_GRADSHARE: the off-policy mini-batches' figures
"""The ratio regions of algorithms.region_masks plus "inside": the keys of ``gradshare/*``."""


@dataclass(frozen=True)
class RolloutStats:
    """The step's sampled responses, summed over ranks (every scored group: kept, dropped and surplus)."""
    responses: float
    reward_sum: float
    reward_sq_sum: float
    correct: float
    length_sum: float
    truncated: float
    empty: float
    kept_groups: float
    dropped_groups: float
    gen_tokens: float
    gen_time: float
    train_seqs: float          # sequences of the kept groups: 0 when dynamic sampling dropped every group
    deadline_cut: float = 0.0  # responses not checked within the reward's batch deadline

    @classmethod
    def gather(cls, collected: Collected) -> "RolloutStats":
        rollouts = [r for g in collected.seen for r in g.rollouts]
        rewards = np.asarray([s for g in collected.seen for s in g.scores], dtype=np.float64)
        lengths = [len(r.response_ids) for r in rollouts]
        sums = distributed.all_reduce_sum({
            "n": len(rewards), "r": rewards.sum(), "r2": np.square(rewards).sum(),
            "correct": float(np.sum([float(c) for g in collected.seen for c in g.correct])),
            "len": float(np.sum(lengths)), "trunc": float(np.sum([float(r.finish_reason == "length")
                                                                   for r in rollouts])),
            "empty": sum(1 for r in rollouts if not r.text.strip()), "kept": collected.kept,
            "dropped": collected.dropped, "gen_tokens": sum(lengths), "gen_time": collected.gen_time,
            "seqs": float(sum(len(g.rollouts) for g in collected.groups)), "deadline": collected.deadline_cut})
        return cls(sums["n"], sums["r"], sums["r2"], sums["correct"], sums["len"], sums["trunc"], sums["empty"],
                   sums["kept"], sums["dropped"], sums["gen_tokens"], sums["gen_time"], sums["seqs"],
                   sums["deadline"])

    def record(self, world_size: int) -> dict:
        n = max(self.responses, 1.0)
        mean = self.reward_sum / n
        return {mk.REWARD_MEAN: mean,
                mk.REWARD_STD: math.sqrt(max(self.reward_sq_sum / n - mean * mean, 0.0) * n / max(n - 1, 1)),
                mk.ACCURACY: self.correct / n, mk.RESPONSE_LENGTH: self.length_sum / n,
                mk.TRUNCATED_FRAC: self.truncated / n, mk.EMPTY_RESPONSES: int(self.empty),
                mk.KEPT_GROUPS: int(self.kept_groups), mk.DROPPED_GROUPS: int(self.dropped_groups),
                mk.ROLLOUT_TOK_S: self.gen_tokens / max(self.gen_time / world_size, 1e-9),
                **({mk.DEADLINE_CUT: int(self.deadline_cut)} if self.deadline_cut else {})}


class MetricSums:
    """Per-key sums over micro-batches, reduced over ranks: weighted means (``add_mean``: value x weight and weight)
    and plain sums (``add_sum``)."""

    def __init__(self):
        self.num: dict[str, float] = {}
        self.den: dict[str, float] = {}
        self.sums: dict[str, float] = {}

    def add_mean(self, key: str, weighted_value: float, weight: float) -> None:
        self.num[key] = self.num.get(key, 0.0) + float(weighted_value)
        self.den[key] = self.den.get(key, 0.0) + float(weight)

    def add_sum(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def reduce(self) -> tuple[dict[str, float], dict[str, float]]:
        """(weighted means of the keys with weight > 0, sums), over all ranks."""
        keys = sorted([f"m:{k}" for k in self.num] + [f"s:{k}" for k in self.sums])
        if distributed.is_distributed():   # every rank must reduce the same keys: take the union
            import torch.distributed as tdist

            all_keys = [None] * tdist.get_world_size()
            tdist.all_gather_object(all_keys, keys)
            keys = sorted(set().union(*all_keys))
        flat = {}
        for k in keys:
            name = k[2:]
            if k.startswith("m:"):
                flat["n:" + name], flat["d:" + name] = self.num.get(name, 0.0), self.den.get(name, 0.0)
            else:
                flat["s:" + name] = self.sums.get(name, 0.0)
        red = distributed.all_reduce_sum(flat)
        means = {k[2:]: red["n:" + k[2:]] / red["d:" + k[2:]] for k in keys
                 if k.startswith("m:") and red["d:" + k[2:]] > 0}
        sums = {k[2:]: red["s:" + k[2:]] for k in keys if k.startswith("s:")}
        return means, sums


@dataclass
class UpdateStats:
    """What the optimisation part of a step did, and the diagnostics it collected (MetricSums)."""
    sums: MetricSums = field(default_factory=MetricSums)
    updates: int = 0
    skipped_updates: int = 0
    nonfinite_weight_updates: int = 0   # of the skipped: steps undone because they made a weight NaN/inf
    grad_norms: list[float] = field(default_factory=list)
    train_tokens: int = 0
    extra: dict[str, float] = field(default_factory=dict)   # per-step values recorded as they are

    def add_loss_metrics(self, metrics: dict, tokens: float, weight: float, seqs: float | None = None,
                         off_policy: bool = False) -> None:
        """The objective's metrics of one micro-batch: losses are parts of the mini-batch's sum; a fraction of
        sequences (a key ending in ``seq_frac``) is a mean weighted by ``seqs``; the rest are per-token means,
        weighted by tokens. On an off-policy mini-batch the clip regions are counted again under ``offpolicy/``."""
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                if k.startswith("loss/"):
                    self.sums.add_sum(k, v * weight)
                elif k.endswith("seq_frac") and seqs is not None:
                    self.sums.add_mean(k, v * seqs, seqs)
                else:
                    self.sums.add_mean(k, v * tokens, tokens)
                    if off_policy and k.startswith("clipfrac/"):
                        self.sums.add_mean(OFFPOLICY_PREFIX + k, v * tokens, tokens)

    def add_grad_shares(self, shares: dict[str, float], total: float, off_policy: bool = False) -> None:
        """Shares of the |gradient| on the log-probs by ratio region (algorithms.gradient_shares), weighted by the
        micro-batch's total |gradient|; an off-policy mini-batch's shares are also kept apart."""
        for prefix in ("_gs/", "_gso/") if off_policy else ("_gs/",):
            self.sums.add_sum(prefix + "total", total)
            for r, s in shares.items():
                self.sums.add_sum(f"{prefix}{r}", s * total)

    def record(self) -> dict:
        means, sums = self.sums.reduce()
        rec = {}
        if "mismatch" in means:
            rec[mk.MISMATCH_KL] = means.pop("mismatch")
        rec.update(means)
        for k, v in sums.items():
            if k.startswith("loss/"):
                rec[k] = v / max(self.updates, 1)    # mean over the step's updates of each mini-batch's loss
        for prefix, family in (("_gs/", mk.GRADSHARE), ("_gso/", mk.OFFPOLICY_GRADSHARE)):
            total = sums.get(prefix + "total", 0.0)
            if total > 0:
                rec.update({mk.key(family, region=r): sums.get(prefix + r, 0.0) / total for r in REGIONS})
        rec.update(self.extra)
        rec[mk.GRAD_NORM] = float(np.mean(self.grad_norms)) if self.grad_norms else float("nan")
        rec[mk.UPDATES] = self.updates
        rec[mk.SKIPPED_UPDATES] = self.skipped_updates
        if self.nonfinite_weight_updates:
            rec[mk.NONFINITE_WEIGHTS] = self.nonfinite_weight_updates
        return rec

    def skip_message(self, step: int, scores: torch.Tensor, skipped_steps: int) -> str:
        """Why updates of ``step`` were skipped, naming non-finite rewards (``scores``) when there were any."""
        why = []
        bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
        if bad:
            shown = ", ".join(str(i) for i in bad[:8]) + (" ..." if len(bad) > 8 else "")
            why.append(f"{len(bad)} of {scores.numel()} rewards are NaN or infinite (responses {shown} of the batch; "
                       f"check the reward function), which makes the loss non-finite")
        if self.nonfinite_weight_updates:
            why.append(f"{self.nonfinite_weight_updates} optimiser step(s) would have written NaN/inf into the "
                       f"weights and were undone")
        if not why:
            why.append("non-finite loss or gradient")
        return (f"step {step}: {self.skipped_updates} of {self.updates} update(s) skipped: {'; '.join(why)} "
                f"(skipped_steps={skipped_steps})")


BUDGET_KEYS = ("prompts", "responses", "tokens", "zero_adv_groups", "updates")
"""What a run spent, cumulative, logged every step as ``budget/<key>``: prompts drawn, responses and response tokens
generated, groups whose rewards were all equal (zero advantage for group-relative estimators; the groups dynamic
sampling drops), optimiser updates applied."""


@dataclass
class RunCounters:
    """Counts over the whole run, kept in checkpoints (as top-level keys of the trainer state)."""
    skipped_steps: int = 0       # steps with at least one skipped update
    updates_applied: int = 0
    updates_skipped: int = 0
    empty_batches: int = 0       # steps whose every group dynamic sampling dropped
    budget: dict = field(default_factory=lambda: dict.fromkeys(BUDGET_KEYS, 0))

    def rounds_allowed(self, step: int, cfg) -> int | None:
        """Equal-rollouts budget: the rounds step ``step`` may draw so that the run's responses stay within
        ``step x prompts_per_step x responses_per_prompt`` (what an objective without dynamic sampling has generated
        by the end of this step); at least one, so every step draws. None without the budget."""
        if cfg.budget != "equal-rollouts":
            return None
        per_round = cfg.prompts_per_step * cfg.responses_per_prompt
        return max(1, (step * per_round - self.budget["responses"]) // per_round)

    def add_rollouts(self, collected: Collected, rollout: RolloutStats, responses_per_prompt: int) -> None:
        """Add a step's draws to the budget counters (global over ranks)."""
        zero = distributed.all_reduce_sum({"z": float(sum(1 for g in collected.seen if g.constant))})["z"]
        self.budget["prompts"] += int(rollout.responses) // responses_per_prompt
        self.budget["responses"] += int(rollout.responses)
        self.budget["tokens"] += int(rollout.gen_tokens)
        self.budget["zero_adv_groups"] += int(zero)

    def add_updates(self, stats: UpdateStats) -> None:
        self.updates_applied += stats.updates - stats.skipped_updates
        self.updates_skipped += stats.skipped_updates
        self.skipped_steps += bool(stats.skipped_updates)
        self.budget["updates"] += stats.updates - stats.skipped_updates

    def budget_record(self) -> dict:
        return {mk.key(mk.BUDGET, counter=k): v for k, v in self.budget.items()}

    def state_dict(self) -> dict:
        return {"skipped_steps": self.skipped_steps, "updates_applied": self.updates_applied,
                "updates_skipped": self.updates_skipped, "empty_batches": self.empty_batches,
                "budget": dict(self.budget)}

    def load_state_dict(self, state: dict, step: int) -> None:
        """From a checkpoint's trainer state at ``step``; one written before the update counters counts its steps as
        applied (they cannot be told apart)."""
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.updates_applied = int(state.get("updates_applied", step))
        self.updates_skipped = int(state.get("updates_skipped", 0))
        self.empty_batches = int(state.get("empty_batches", 0))
        self.budget.update({k: int(v) for k, v in (state.get("budget") or {}).items() if k in self.budget})


def reset_peak_rss() -> None:
    """Start a new peak-RSS window, so that a run reports its own peak and not that of an earlier run in the same
    process (``rlvr-zoo compare`` trains several). Linux only (``/proc/self/clear_refs``); elsewhere a no-op."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory since the last ``reset_peak_rss`` (VmHWM), else since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_record(device: torch.device) -> dict:
    """Peak host memory, and peak GPU memory on CUDA."""
    rec = {mk.PEAK_RSS: peak_rss_mb()}
    if device.type == "cuda":
        rec[mk.PEAK_GPU] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return rec
