"""The one trainer every objective runs on: build, the loop, checkpoints and signals.

`Trainer.train_step` reads in the order of one step (docs/trainer.md, "The data path of one step"):
rollout and reward with dynamic sampling (`sampling`) -> the `RolloutBatch` (`batch`) -> old log-probs
(`update.OldLogprobs`), reference log-probs and critic values (`forward`) -> advantages (the objective's
estimator) -> epochs x mini-batches x micro-batches of loss, backward and optimiser steps (`update`) -> the metrics
record (`metrics`); then callbacks, the JSON lines log and checkpoints (`Trainer.train`).
"""
from __future__ import annotations

import json
import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from harness.training import checkpoint_files as ckpt
from harness.training import distributed, model_card
from harness import metric_keys as mk
from harness.io import write_text
from harness.training.logger import MetricsLogger, record_line, restore_record, truncate_metrics
from harness.run_layout import CHECKPOINTS_DIR, FINAL_DIR, METRICS_FILE, RUN_INFO_FILE
from harness.training.batch import collate
from harness.training.checkpointing import Checkpoints
from harness.training.config import Recipe, TrainConfig, TrainingError, build_algorithm, check_fsdp
from harness.training.forward import Forward, disable_dropout
from harness.training.metrics import RolloutStats, RunCounters, memory_record, reset_peak_rss
from harness.training.probe import EntropyProbe
from harness.training.sampling import GroupCollector, PromptSampler, RolloutScorer, seed_everything
from harness.training.signals import Interrupted, StopSignals
from harness.timing import RUN_PHASES, PhaseTimer, time_key
from harness.training.update import OldLogprobs, StepData, Updater, adamw, old_logprob_source

__all__ = ["Trainer", "TrainResult", "train"]


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    out_dir: str
    final_model_dir: str | None
    metrics_path: str
    wall_time_s: float
    status: str = "completed"          # completed | interrupted
    steps_done: int = 0
    skipped_steps: int = 0
    signal: int | None = None          # the signal that interrupted the run


class Trainer:
    """The shared rollout + optimisation loop.

    ``Trainer(cfg)`` builds everything from the config. For programmatic use and tests:

    * ``dataset``: a list of rows ``{"id", "problem", "answer"}`` to train on instead of ``cfg.task``; a row with a
      ``"prompt"`` string is given to the engine as is (no template);
    * ``reward_fn``: instead of ``cfg.reward``, an object with ``batch(golds, responses, num_tokens)`` (like
      ``rewards.RewardFn``) or a callable ``fn(golds, rollouts) -> list[float]`` that sees the rollouts (token ids
      included); for a plain callable a response counts as correct (accuracy) when its reward is > 0;
    * ``algorithm``: an ``algorithms.Algorithm`` instance instead of
      ``algorithms.get(cfg.algo, generation_budget=cfg.max_new_tokens, **algo_overrides)``;
    * ``engine``: an already started rollout engine to use instead of building one from ``cfg.engine`` (so that a
      comparison pays vLLM's start-up once, not once per run); its weights are replaced by this run's policy right
      away and the trainer does not close it;
    * ``probe_rows``: rows (like ``dataset``'s) of the entropy probe instead of the task's test split
      (``harness.training.probe``); a run given ``dataset`` is probed only with them.

    Attributes: ``model`` (the plain policy), ``tokenizer``, ``engine`` (synced to the current weights), ``cfg``,
    ``algo``, ``step`` (completed steps), ``dist``, ``forward``, ``collector``, ``sampler``.
    """

    def __init__(self, cfg: TrainConfig, *, dataset: list[dict] | None = None, reward_fn=None, algorithm=None,
                 engine=None, resume: bool = False, callbacks: Sequence[Callable] = (), progress: bool = True,
                 probe_rows: list[dict] | None = None):
        # from_dict re-checks every value against its field type (a YAML "1e-5" is a string, for instance)
        self.cfg = cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
        self.callbacks, self.progress, self.out_dir = list(callbacks), progress, Path(cfg.out_dir)
        self.dist = distributed.init(cfg.device, cfg.backend)
        self.fsdp = cfg.fsdp and self.dist.enabled
        self.device = torch.device(self.dist.device)
        if self.dist.enabled and cfg.prompts_per_step % self.dist.world_size:
            raise TrainingError(f"prompts_per_step={cfg.prompts_per_step} must be a multiple of the number of ranks "
                                f"({self.dist.world_size}) so that every rank gets whole groups")
        seed_everything(cfg.seed)
        reset_peak_rss()
        self.run_timer = run_timer = PhaseTimer(RUN_PHASES)   # what the run spends outside its steps (run.json)
        self.algo = build_algorithm(cfg, algorithm)
        self.recipe = Recipe.of(self.algo)
        if self.fsdp:
            check_fsdp(cfg, self.algo)
        with run_timer.phase("load"):
            self._build_models()
        with run_timer.phase("engine"):
            self._build_engine(engine)
        with run_timer.phase("data"):
            self._build_data(dataset, reward_fn)
            self._build_optimisation()
        self.step, self.counters = 0, RunCounters()
        self.signals = StopSignals(self._log_msg)
        self._logger: MetricsLogger | None = None
        self.resumed_from: str | None = None
        if resume:
            with run_timer.phase("resume"):
                self._resume()
        elif self.dist.is_main:
            self.checkpoints.check_new_run()
        with run_timer.phase("probe_set"):
            self.probe = EntropyProbe.for_run(self, dataset_given=dataset is not None, probe_rows=probe_rows,
                                              resume_digest=getattr(self, "_probe_digest", None))

    def _build_models(self) -> None:
        from harness import models

        cfg = self.cfg
        torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)
        self.model, self.tokenizer = models.load_policy(cfg.model, dtype="float32", lora=cfg.lora, device=self.device)
        self.model.train()
        disable_dropout(self.model)
        self.ref_model = None
        if self.recipe.uses_reference:
            self.ref_model = models.load_reference(cfg.model, dtype="float32", device=self.device)
        self.critic = None
        if self.recipe.needs_critic:
            with torch.random.fork_rng():
                torch.manual_seed(cfg.seed + 1)
                self.critic = models.load_critic(cfg.model, dtype="float32", device=self.device)
            self.critic.train()
            disable_dropout(self.critic)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
            self.tokenizer.eos_token_id
        # the shared-prefix forward steps aside per micro-batch on data that differ between ranks: off under FSDP2
        self.forward = Forward(temperature=cfg.temperature, shared_prefix=cfg.shared_prefix and not self.fsdp,
                               length_buckets=cfg.length_buckets, chunk_size=cfg.logprob_chunk_size or None,
                               bf16=cfg.dtype == "bfloat16", device_type=self.device.type,
                               micro_batch_size=cfg.micro_batch_size)

    def _build_engine(self, engine) -> None:
        from harness.rollout import make_engine

        # under FSDP2 the engine (and save_pretrained) use an unsharded copy refreshed after every update: generating
        # on the sharded policy would need every rank to make the same forward calls
        self.rollout_model = self.model
        if self.fsdp:
            import copy

            self.rollout_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.engine = engine if engine is not None else make_engine(
            self.cfg.engine, self.rollout_model, self.tokenizer, **{"dtype": self.cfg.dtype, **self.cfg.engine_params})
        if engine is not None:   # a shared engine (one vLLM for all runs of a comparison) holds another run's weights
            self.engine.sync_weights(self.rollout_model)

    def _sync_engine(self) -> None:
        """Push the current policy into the rollout engine (under FSDP2 a collective: every rank gathers)."""
        if self.fsdp:
            with torch.no_grad():
                self.rollout_model.load_state_dict(distributed.full_state_dict(self.model))
        self.engine.sync_weights(self.rollout_model)

    def _build_data(self, dataset, reward_fn) -> None:
        import rewards

        cfg, recipe = self.cfg, self.recipe
        answer_options = {}
        if dataset is None:
            import benchmarks

            dataset = benchmarks.load(cfg.task, split=cfg.split, data_dir=cfg.data_dir, **cfg.task_params)
            answer_options = benchmarks.answer_options(cfg.task)   # arith: only numbers written out are answers
        self.rows = list(dataset)
        if cfg.template == "complete" and not all(isinstance(r.get("answer_prefix"), str) for r in self.rows[:1]):
            raise TrainingError("template 'complete' needs rows with an answer_prefix (the start of the answer the "
                                "model completes; arith rows have one); use template 'qa' for this task")
        for i, row in enumerate(self.rows[:1]):
            if "answer" not in row or not ("problem" in row or isinstance(row.get("prompt"), str)):
                raise TrainingError(f"dataset row {i} has keys {sorted(row)}; rows need 'answer' and 'problem' "
                                    f"(or a ready 'prompt' text)")
        self.sampler = PromptSampler(len(self.rows), cfg.seed, cfg.shuffle)
        reward = rewards.training_reward(None if reward_fn is not None else cfg.reward,
                                         cfg.reward_params if reward_fn is None else None,
                                         correct=recipe.reward_correct, incorrect=recipe.reward_incorrect,
                                         overlong=recipe.overlong, answer_options=answer_options)
        reward.warmup()
        self.collector = GroupCollector(cfg, self.engine, self.rows, self.tokenizer, RolloutScorer(reward, reward_fn),
                                        self.sampler, self.dist, dynamic=recipe.dynamic_sampling,
                                        greedy_baseline=recipe.greedy_baseline)

    def _build_optimisation(self) -> None:
        cfg = self.cfg
        param_dtype = torch.bfloat16 if self.fsdp and cfg.dtype == "bfloat16" and self.device.type == "cuda" else None
        self.train_model = distributed.wrap_model(self.model, self.dist, fsdp=self.fsdp, param_dtype=param_dtype)
        self.train_critic = distributed.wrap_model(self.critic, self.dist, fsdp=self.fsdp, param_dtype=param_dtype) \
            if self.critic is not None else None
        if self.fsdp and self.ref_model is not None:
            distributed.shard_model(self.ref_model, self.dist, param_dtype=param_dtype)
        opt_kw = dict(betas=tuple(cfg.adam_betas), eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
        self.optimizer = adamw([p for p in self.model.parameters() if p.requires_grad], lr=cfg.lr, **opt_kw)
        warm = cfg.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warm) if warm > 0 else 1.0)
        self.critic_optimizer = None
        if self.critic is not None:
            self.critic_optimizer = adamw(list(self.critic.parameters()), lr=cfg.critic_lr, **opt_kw)
        self.updater = Updater(cfg, self.algo, self.forward, self.dist, policy=self.train_model, model=self.model,
                               optimizer=self.optimizer, critic=self.critic, train_critic=self.train_critic,
                               critic_optimizer=self.critic_optimizer)
        self.checkpoints = Checkpoints(self.out_dir, self.dist, fsdp=self.fsdp, model=self.model,
                                       rollout_model=self.rollout_model, tokenizer=self.tokenizer,
                                       optimizer=self.optimizer, scheduler=self.scheduler, critic=self.critic,
                                       critic_optimizer=self.critic_optimizer, keep=cfg.keep_checkpoints)

    def train_step(self) -> dict:
        """Run one training step (module notes); return its metrics record. Its phases are timed by
        ``self.timer`` (harness.timing), which `_after_step` continues and closes."""
        cfg, algo, forward = self.cfg, self.algo, self.forward
        step, timer = self.step + 1, PhaseTimer()
        self.timer = timer
        # rollout and reward (with dynamic sampling)
        collected = self.collector.collect(step, max_rounds=self.counters.rounds_allowed(step, cfg), timer=timer)
        with timer.phase("batch"):
            rollout = RolloutStats.gather(collected)
            rec = {mk.STEP: step, **rollout.record(self.dist.world_size)}
            self.counters.add_rollouts(collected, rollout, cfg.responses_per_prompt)
        if rollout.train_seqs == 0:
            return self._empty_step(step, rec, collected.rounds)
        with timer.phase("batch"):
            batch = collate(collected.groups, collected.spare, self.pad_id, self.device)
            n_mb = max(1, math.ceil(rollout.train_seqs / cfg.minibatch_size)) if cfg.minibatch_size else 1
        t_train = time.perf_counter()
        # old and reference log-probs, critic values
        source = old_logprob_source(cfg.old_logprobs, self.recipe, single_update=cfg.epochs == 1 and n_mb == 1)
        with timer.phase("old_logprobs") if source == "recompute" else nullcontext():
            old = OldLogprobs.prepare(source, forward, self.model, batch)
        ref_logp = old_values = None
        if self.ref_model is not None:
            with timer.phase("ref_logprobs"):
                ref_logp = forward.all_logprobs(self.ref_model, batch)
        if self.critic is not None:
            with timer.phase("values"):
                old_values = forward.all_values(self.critic, batch)
        # advantages
        with timer.phase("advantages"):
            adv, returns = algo.compute_advantages(mask=batch.mask, scores=batch.scores, group_ids=batch.group_ids,
                                                   values=old_values, old_logp=old.full, ref_logp=ref_logp,
                                                   baseline_scores=batch.baseline_scores)
        # loss, backward and optimiser steps
        with timer.phase("update"):
            stats = self.updater.run(step, StepData(batch, adv.detach().float(), returns, old, ref_logp,
                                                    old_values), n_mb)
        stats.train_tokens += int(batch.attention_mask.sum()) * ((source == "recompute") + (ref_logp is not None))
        self.counters.add_updates(stats)
        if stats.skipped_updates and self.dist.is_main:
            self._log_msg(stats.skip_message(step, batch.scores, self.counters.skipped_steps))
        with timer.phase("sync"):
            self._scheduler_step()
            self._sync_engine()
        with timer.phase("metrics"):
            tok = distributed.all_reduce_sum({"train_tokens": float(stats.train_tokens),
                                              "train_time": time.perf_counter() - t_train})
            rec.update(stats.record())
            rec.update(self.counters.budget_record())
            rec.update({mk.LR: self.scheduler.get_last_lr()[0], mk.SKIPPED_STEPS: self.counters.skipped_steps,
                        mk.EMPTY_BATCHES: self.counters.empty_batches, mk.OLD_LOGPROBS: source,
                        mk.TRAIN_TOK_S: tok["train_tokens"] / max(tok["train_time"] / self.dist.world_size, 1e-9),
                        **memory_record(self.device)})
        self.step = step
        return rec

    def _empty_step(self, step: int, rec: dict, rounds: int) -> dict:
        """A step whose groups dynamic sampling dropped, every one (after ``rounds`` rounds): no update, said so,
        the run goes on."""
        self.counters.empty_batches += 1
        if self.dist.is_main:
            self._log_msg(f"step {step}: every group was filtered out (all rewards equal in each group) after "
                          f"{rounds} sampling rounds; no update this step")
        warnings.warn(f"step {step}: all groups filtered by dynamic sampling after {rounds} rounds; continuing "
                      f"without an update", stacklevel=3)
        with self.timer.phase("sync"):
            self._scheduler_step()
        self.step = step
        with self.timer.phase("metrics"):
            rec.update(self.counters.budget_record())
            rec.update({mk.SKIPPED_STEPS: self.counters.skipped_steps, mk.EMPTY_BATCHES: self.counters.empty_batches,
                        mk.LR: self.scheduler.get_last_lr()[0], **memory_record(self.device)})
        return rec

    def _scheduler_step(self) -> None:
        """One learning-rate schedule step per training step, also when the update was skipped."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()

    def _log_msg(self, message: str) -> None:
        if self._logger is not None:
            self._logger.write(message)
        else:
            print(message, flush=True)

    def _resume(self) -> None:
        path, state = self.checkpoints.load_latest()
        self.step = int(state["step"])
        self.counters.load_state_dict(state, self.step)
        self.sampler.load_state_dict(state["sampler"])
        self.updater.load_state_dict(state)
        self._probe_digest = state.get("entropy_probe")
        self._sync_engine()
        self.resumed_from = str(path)
        diff = self.cfg.changed_training_fields(json.loads(state.get("config_json") or "{}"))
        if diff and self.dist.is_main:
            warnings.warn(f"resuming {path} with a different config for: {', '.join(diff)}", stacklevel=2)
        if self.dist.is_main:
            truncate_metrics(self.out_dir / METRICS_FILE, self.step)
            restore_record(self.out_dir / METRICS_FILE, self.step, state.get("metrics_record"))

    def save(self, record: dict | None = None) -> Path | None:
        """Write a checkpoint of the current step (all ranks must call it; rank 0 writes); ``record``: the step's
        metrics record, kept in the checkpoint (see `_after_step`)."""
        state = {"sampler": self.sampler.state_dict(), **self.counters.state_dict(),
                 "entropy_probe": self.probe and self.probe.digest,
                 "config_json": json.dumps(self.cfg.to_dict()), **self.updater.state_dict()}
        if record is not None:
            state["metrics_record"] = record_line(record)
        return self.checkpoints.save(self.step, state)

    def _write_run_json(self, status: str, wall: float) -> None:
        if not self.dist.is_main:
            return
        info = {"status": status, "step": self.step, "steps": self.cfg.steps, "wall_time_s": wall,
                "skipped_steps": self.counters.skipped_steps, "world_size": self.dist.world_size,
                "resumed_from": self.resumed_from, "config": self.cfg.to_dict(), "algorithm": self.algo.to_dict(),
                "timing": self.run_timer.seconds()}
        write_text(self.out_dir / RUN_INFO_FILE, json.dumps(info, indent=1, default=str) + "\n")

    def _after_step(self, rec: dict) -> int:
        """Callbacks, the checkpoint and the metrics record after a step; the signal that asks to stop, else 0.

        The checkpoint is written before the record is logged, so that the record holds its time; the checkpoint
        keeps the record (less that time), and a run resumed from it logs the record when a crash lost it."""
        cfg, last, timer = self.cfg, self.step == self.cfg.steps, self.timer
        if self.callbacks and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
            with timer.phase("eval"):
                if self.dist.is_main:
                    for cb in self.callbacks:
                        rec.update(cb(self.step, self) or {})
                distributed.barrier()
        if self.probe is not None and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
            with timer.phase("probe"):
                rec.update(self.probe.record(self))
        stop = distributed.all_reduce_max({"stop": float(self.signals.received or 0)})["stop"]
        if (cfg.save_every and self.step % cfg.save_every == 0) or last or stop:
            with timer.phase("checkpoint"):
                saved = {k: v for k, v in {**rec, **timer.record()}.items() if k != time_key("checkpoint")}
                self._checkpoint_at = (self.step, self.save(record=saved))
        rec.update(timer.record())
        self._logger.log(rec)
        return int(stop)

    def train(self) -> TrainResult:
        """Run until cfg.steps; returns a TrainResult (status "interrupted" after SIGINT/SIGTERM)."""
        cfg, start = self.cfg, time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._logger = MetricsLogger(self.out_dir, cfg.steps, initial_step=self.step, enabled=self.dist.is_main,
                                     progress=self.progress, tensorboard=cfg.tensorboard,
                                     report_to=cfg.report_to, config=cfg.to_dict(),
                                     desc=f"train {self.algo.name}")
        status, metrics_path = "running", str(self.out_dir / METRICS_FILE)
        self._write_run_json(status, 0.0)
        run_timer = self.run_timer
        if self.probe is not None and self.step == 0:   # the initial model
            t0 = time.perf_counter()
            with run_timer.phase("probe"):
                rec = {mk.STEP: 0, **self.probe.record(self)}
            self._logger.log({**rec, time_key("probe"): time.perf_counter() - t0})
        try:
            with self.signals, run_timer.phase("steps"):
                while self.step < cfg.steps:
                    stop = self._after_step(self.train_step())
                    if stop:
                        raise Interrupted(stop)
            if self.counters.updates_skipped and not self.counters.updates_applied:
                raise TrainingError(
                    f"no update succeeded: all {self.counters.updates_skipped} update(s) of the run's {self.step} step(s) "
                    f"were skipped (non-finite rewards, loss, gradient or weights; the log says which, "
                    f"step by step), so the model is still the initial one; fix the cause (the reward function, "
                    f"lr, a damaged checkpoint) and start again")
            status, final = "completed", None
            if cfg.save_final and self.dist.is_main:
                with run_timer.phase("final"):
                    step, path = getattr(self, "_checkpoint_at", (None, None))
                    same = path / ckpt.MODEL_DIR if path is not None and step == self.step else None
                    final = str(ckpt.save_final(self.rollout_model, self.tokenizer, self.out_dir / FINAL_DIR,
                                                same_as=same))
                    model_card.write(final, cfg.to_dict(), self.step, time.perf_counter() - start)
            distributed.barrier()
            return TrainResult(str(self.out_dir), final, metrics_path, time.perf_counter() - start, status,
                               self.step, self.counters.skipped_steps)
        except Interrupted as exc:
            status, signum = "interrupted", exc.args[0]
            self._log_msg(f"stopped by signal {signum} after step {self.step}; checkpoint written to "
                          f"{self.out_dir / CHECKPOINTS_DIR}; continue with resume=True (--resume)")
            return TrainResult(str(self.out_dir), None, metrics_path, time.perf_counter() - start, status,
                               self.step, self.counters.skipped_steps, signum)
        except BaseException:
            status = "failed"
            raise
        finally:
            self._write_run_json(status, time.perf_counter() - start)
            self._logger.close()


def train(cfg: TrainConfig, resume: bool = False, callbacks: Sequence[Callable] = (), progress: bool = True,
          **trainer_kw) -> TrainResult:
    """Train ``cfg.algo`` on ``cfg.task`` (see :class:`Trainer`); returns where everything was written.

    callbacks: each ``cb(step, trainer) -> dict | None`` runs every ``cfg.eval_every`` steps and after the last step,
    on the main rank, with ``trainer.engine`` synced to the current weights; the dict is merged into that step's
    metrics record. trainer_kw: ``dataset``, ``reward_fn``, ``algorithm``, ``engine``, ``probe_rows`` (see
    Trainer).
    """
    trainer = Trainer(cfg, resume=resume, callbacks=callbacks, progress=progress, **trainer_kw)
    try:
        return trainer.train()
    finally:
        distributed.shutdown()
