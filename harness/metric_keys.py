"""The keys of a training run's `metrics.jsonl` records, each with its meaning, in one place.

Writers (`harness.training`, the evaluation callback of `harness.evaluate`) and readers (the leaderboard, its curves,
the progress bar, the model card) take the names from here. The objectives write theirs from `algorithms`, which
imports nothing of the harness; they are listed here as well, and tests/test_metric_keys.py checks that every key a
training step logs is an entry of `METRICS` and that docs/trainer.md's table is `markdown_table()`.

A family of keys is one entry whose key holds a ``{placeholder}`` (``clipfrac/{region}``, ``time/{phase}_s``);
`key` spells one member of it and `entry_of` finds the entry a logged key belongs to. A new key is one `_metric`
line here (its meaning is the documentation), then the writer uses the name.
"""
from __future__ import annotations

import re

__all__ = ["METRICS", "key", "entry_of", "markdown_table"]

METRICS: dict[str, str] = {}
"""key or family pattern -> its meaning (one line), in the order of docs/trainer.md's table"""


def _metric(name: str, meaning: str) -> str:
    METRICS[name] = meaning
    return name


def key(family: str, **names: object) -> str:
    """One key of a family: ``key(CLIPFRAC, region="low_neg")`` is ``"clipfrac/low_neg"``."""
    return family.format(**names)


def _pattern(entry: str) -> re.Pattern:
    parts = re.split(r"\{[a-z_]+\}", entry)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


def entry_of(logged: str) -> str | None:
    """The `METRICS` entry a logged key is (itself, or the family whose pattern it fills); None for an unknown key."""
    if logged in METRICS:
        return logged
    return next((e for e in METRICS if "{" in e and _pattern(e).match(logged)), None)


def markdown_table() -> str:
    """`METRICS` as the Markdown table of docs/trainer.md (a ``|`` in a meaning escaped for the table)."""
    rows = ["| `" + name + "` | " + meaning.replace("|", "\\|") + " |" for name, meaning in METRICS.items()]
    return "\n".join(["| key | meaning |", "|---|---|", *rows]) + "\n"


# --- the step and its rollouts (harness.training.metrics.RolloutStats) --------------------------------------------
STEP = _metric("step", "the training step of the record; step 0 is the initial model (its `entropy/probe` only)")
REWARD_MEAN = _metric("reward/mean", "mean reward of the step's scored responses (kept, dropped and surplus groups)")
REWARD_STD = _metric("reward/std", "standard deviation of those rewards")
ACCURACY = _metric("accuracy", "fraction of those responses the reward counted as correct")
RESPONSE_LENGTH = _metric("response_length/mean", "mean response length in tokens")
TRUNCATED_FRAC = _metric("truncated_frac", "fraction of responses cut at `max_new_tokens`")
EMPTY_RESPONSES = _metric("empty_responses", "responses with no text (scored by the empty-response rule)")
DEADLINE_CUT = _metric("reward/deadline_cut", "responses the answer checker did not check within the reward's batch "
                       "deadline (rewards.cost.batch_deadline): scored as incorrect, reason `timeout: batch deadline`; "
                       "present only when non-zero")
KEPT_GROUPS = _metric("filter/kept_groups", "groups trained on this step")
DROPPED_GROUPS = _metric("filter/dropped_groups", "groups dynamic sampling dropped (all rewards equal)")
EMPTY_BATCHES = _metric("filter/empty_batches", "steps so far whose every group dynamic sampling dropped (cumulative)")
ROLLOUT_TOK_S = _metric("throughput/rollout_tok_s", "generated tokens per second of generation")
TRAIN_TOK_S = _metric("throughput/train_tok_s", "prompt and response tokens through training forwards (old and "
                      "reference log-prob passes included) per second of the update phase")
MISMATCH_KL = _metric("rollout/logprob_mismatch_kl", "k3 estimate of KL(engine || trainer) of the sampled tokens: the "
                      "rollout engine's log-probs against the trainer's")
# --- the objective's diagnostics (algorithms.Algorithm.loss; token-weighted means over the step's micro-batches) ----
ENTROPY = _metric("entropy", "mean per-token entropy of the policy on the trained response tokens")
KL_OLD = _metric("kl/old", "k3 estimate of KL(old || new) on response tokens")
KL_REF = _metric("kl/ref", "KL to the reference policy by the objective's `kl_estimator` (objectives with a "
                 "reference model)")
RATIO_MEAN = _metric("ratio/mean", "mean importance ratio r = pi / pi_old on response tokens")
CLIPFRAC = _metric("clipfrac/{region}", "fraction of response tokens in a ratio region: `low_neg` (r < 1 - eps_low, "
                   "A < 0), `high_pos` (r > 1 + eps_high, A > 0), `low_pos`, `high_neg`")
LOSS = _metric("loss/{part}", "the objective's loss terms (`policy`, `kl`, `entropy`, `total`; PPO's `value`): each "
               "mini-batch's loss, averaged over the step's updates")
MASK = _metric("mask/{stat}", "objectives that mask tokens (m2po, prime-dppo, ipo): `token_frac`, the masked share "
               "of response tokens; `seq_frac`, the share of sequences whose every response token is masked")
FEC = _metric("fec/{stat}", "flexible entropy control's schedule: `weight_high`, `weight_low` (the schedule's weights "
              "this step), `eps_high_mean`, `eps_low_mean` (mean probability-dependent clip bounds)")
VALUE_CLIPFRAC = _metric("value/clipfrac", "fraction of tokens whose clipped value loss was the larger (PPO)")
ROLLOUT_CORR = _metric("rollout_corr/{stat}", "the rollout correction's token and sequence masking and weights "
                       "(`rollout_correction`; algorithms.off_policy)")
TIS = _metric("tis/{stat}", "truncated importance sampling of `tis_cap`: `mean_weight`, `truncated_frac`")
# --- the update (harness.training.metrics.UpdateStats, harness.training.update) -----------------------------------
GRADSHARE = _metric("gradshare/{region}", "share of sum |dL/dlogp| from each ratio region (the four of `clipfrac` and "
                    "`inside`); absent when no gradient reached the log-probs")
OFFPOLICY_CLIPFRAC = _metric("offpolicy/clipfrac/{region}", "`clipfrac/{region}` over the step's off-policy "
                             "mini-batches only (those after its first update, where the policy has moved from the one "
                             "that sampled); absent on a step with a single update")
OFFPOLICY_GRADSHARE = _metric("offpolicy/gradshare/{region}", "`gradshare/{region}` over the step's off-policy "
                              "mini-batches only; absent on a step with a single update")
GRAD_NORM = _metric("grad_norm", "global gradient norm before clipping, mean over the step's updates")
UPDATES = _metric("updates", "optimiser updates this step")
SKIPPED_UPDATES = _metric("skipped_updates", "updates skipped this step (non-finite loss, gradient or weights)")
NONFINITE_WEIGHTS = _metric("skipped_updates/nonfinite_weights", "of those, steps undone because they made a weight "
                            "NaN or infinite")
SKIPPED_STEPS = _metric("skipped_steps", "steps so far with at least one skipped update (cumulative)")
ENTROPY_COEF = _metric("entropy/coef", "the step's adaptive entropy coefficient (with `entropy_target`)")
LR = _metric("lr", "the policy's learning rate after this step's schedule step")
OLD_LOGPROBS = _metric("old_logprobs", "where pi_old came from: forward | recompute | rollout")
# --- the run (harness.training.trainer, harness.training.probe, harness.evaluate) ---------------------------------
BUDGET = _metric("budget/{counter}", "what the run has spent so far (cumulative, checkpointed): `prompts`, "
                 "`responses`, `tokens` (response tokens), `zero_adv_groups` (all rewards equal), `updates` (applied)")
TIME_PHASES = (
    "rollout",        # the engine's generate calls: the step's responses (and ReMax's greedy baselines)
    "reward",         # scoring the responses (the answer checker or the user's reward)
    "batch",          # rollout statistics, collating the groups into one padded tensor batch
    "old_logprobs",   # a no-grad forward for pi_old, when it is recomputed before the update
    "ref_logprobs",   # the reference model's forward (KL), when the objective has one
    "values",         # the critic's forward (PPO), before the update
    "advantages",     # the objective's advantage estimator
    "update",         # epochs x mini-batches x micro-batches: forward, loss, backward, clipping, optimiser steps
    "sync",           # pushing the new weights into the rollout engine, the learning-rate schedule
    "metrics",        # reducing and assembling the step's metrics record
    "eval",           # the callbacks: held-out evaluation (the curve, and the final evaluation at the last step)
    "probe",          # entropy/probe: the teacher-forced probe set
    "checkpoint",     # writing the checkpoint (files, fsync, manifest)
)
"""the phases of a training step, in the order of the step (harness.timing times them)"""
TIME = _metric("time/{phase}_s", "wall seconds of a phase of the step (harness.timing): `rollout`, `reward`, "
               "`batch`, `old_logprobs`, `ref_logprobs`, `values`, `advantages`, `update`, `sync`, `metrics`, `eval`, "
               "`probe`, `checkpoint`, each in every step record (0.0 without work); `time/step_s` is the whole step "
               "(rollout to checkpoint), which they add up to; the step-0 record has `time/probe_s`")
STEP_TIME = key(TIME, phase="step")
PEAK_RSS = _metric("memory/peak_rss_mb", "peak resident memory of the process since the run started (MiB)")
PEAK_GPU = _metric("memory/peak_gpu_mb", "peak allocated GPU memory (MiB; on CUDA)")
ENTROPY_PROBE = _metric("entropy/probe", "mean entropy on the run's fixed teacher-forced probe set "
                        "(harness.training.probe); at evaluation steps, after the last step and at step 0")
EVAL_BENCH = _metric("eval/{bench}/avg@{k}", "held-out avg@k of a benchmark, measured by the evaluation callback")
EVAL_ACCURACY = _metric("eval/accuracy", "mean over benchmarks of that held-out avg@k")
