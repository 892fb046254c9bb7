"""The one trainer every objective runs on.

One training step (DESIGN.md, "The path of one training step"; docs/trainer.md has the long version):

1. prompts: the next ``prompts_per_step`` rows of the task, in a seeded order that is the same for every algorithm
   given the seed (the comparison harness relies on "same prompts in the same order"); under torchrun rank r takes
   prompts r, r + W, r + 2W, ... of them;
2. rollouts: the engine samples ``responses_per_prompt`` responses per prompt (seeded per step);
3. rewards: the reward function (``rewards.get_reward(cfg.reward)`` or a callable given to :class:`Trainer`), plus
   DAPO's soft overlong punishment when the algorithm asks for it; empty responses score as wrong;
4. dynamic sampling (when the algorithm asks for it): groups whose rewards are all equal are dropped and more
   prompts are drawn, at most ``dynamic_sampling_max_rounds`` rounds; counts are reported; a batch with no group
   left is skipped with a warning;
5. old log-probs (recomputed once, or taken from the training forward itself when the step makes exactly one update
   on exactly on-policy data), reference log-probs (only when kl_coef > 0), critic values (only with a critic);
6. advantages by the algorithm's estimator (GAE with the critic for PPO, KL in the reward when the algorithm says so);
7. ``epochs`` passes over mini-batches of ``minibatch_size`` sequences, each split into micro-batches of
   ``micro_batch_size`` with gradient accumulation; the loss is aggregated with the mini-batch's global token and
   sequence counts (summed over micro-batches and ranks), so the accumulated gradient is the one-big-batch gradient;
   gradient clipping; AdamW (fused kernel); a NaN/inf loss or gradient skips the update and is counted;
8. metrics (JSON lines, progress bar, TensorBoard), callbacks, checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import resource
import signal
import threading
import time
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness import checkpoint as ckpt
from harness import distributed
from harness.metrics_log import MetricsLogger, atomic_write_text, truncate_metrics

__all__ = ["TrainConfig", "TrainResult", "Trainer", "train", "parse_set", "TrainingError"]

_REGIONS = ("low_neg", "high_pos", "low_pos", "high_neg", "inside")


def _f(default, doc: str, **kw):
    """A documented config field."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"doc": doc, **kw})
    return field(default=default, metadata={"doc": doc, **kw})


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says what was wrong and what would be right."""


@dataclass
class TrainConfig:
    """Everything one training run needs. Every field has a documented default; YAML presets, ``from_dict`` and
    ``--set field=value`` fill it; unknown keys are errors that list the valid ones."""

    # --- what is trained ----------------------------------------------------------------------------------------
    algo: str = _f("grpo", "registered objective name (algorithms.names()); `rlvr-zoo list` shows them")
    algo_overrides: dict = _f({}, "fields of the objective to override, passed to algorithms.get(algo, **overrides)"
                                  " (e.g. {beta1: 0.75}); --set algo_overrides.beta1=0.75")
    model: str = _f("smollm2-135m", "model spec: smollm2-135m, tiny-random, a local save_pretrained directory, a "
                                    ".gguf file or a Hugging Face Hub id (harness.models.resolve)")
    dtype: str = _f("bfloat16", "compute dtype: 'bfloat16' runs forwards (rollout and training) under bf16 autocast "
                                "with float32 master weights; 'float32' runs everything in float32")
    lora: dict | None = _f(None, "None: full fine-tuning; or LoRA options {r, alpha, target_modules, dropout, bias} "
                                 "(needs peft)")
    # --- data and reward ----------------------------------------------------------------------------------------
    task: str = _f("arith", "training task: a registered benchmark or procedural task (benchmarks.names())")
    task_params: dict = _f({}, "keyword arguments of benchmarks.load for the task (e.g. {level: 2, n: 1000})")
    split: str = _f("train", "split of the task to train on")
    data_dir: str | None = _f(None, "local benchmark data directory (else $RLVR_ZOO_DATA_DIR, else the Hub)")
    template: str = _f("boxed", "prompt template (benchmarks.template_names()): boxed | r1 | plain")
    reward: str = _f("correctness", "reward function name (rewards.reward_names())")
    reward_params: dict = _f({}, "keyword arguments of rewards.get_reward (correct/incorrect values default to the "
                                 "objective's reward_correct / reward_incorrect when the reward accepts them)")
    shuffle: bool = _f(True, "visit the task's rows in a seeded random order (same for every algorithm given seed); "
                             "False: in file order (e.g. an ascending-difficulty curriculum)")
    # --- rollout ------------------------------------------------------------------------------------------------
    engine: str = _f("hf", "rollout engine: hf | vllm")
    engine_params: dict = _f({}, "keyword arguments of the engine (HF: batch_size, packed_weights; vLLM: "
                                 "enforce_eager, kv_cache_gib, ...); dtype defaults to `dtype`")
    prompts_per_step: int = _f(8, "prompts per training step (the global batch, over all ranks)")
    responses_per_prompt: int = _f(8, "responses sampled per prompt: the group size G (CE-GPPO paper: 8)")
    max_new_tokens: int = _f(256, "maximum response length in tokens; longer responses are truncated")
    temperature: float = _f(1.0, "sampling temperature; the trainer's log-probs use the same temperature")
    top_p: float = _f(1.0, "nucleus sampling threshold (1.0: off)")
    rollout_batch_prompts: int = _f(0, "prompts per engine call, each call seeded from (seed, step, first prompt); "
                                       "0: all of a rank's prompts in one call. 1 makes rollouts independent of the "
                                       "number of ranks (used by the data-parallel equivalence test)")
    dynamic_sampling_max_rounds: int = _f(3, "with dynamic sampling: at most this many rounds of drawing prompts "
                                             "per step (DAPO keeps drawing until the batch is full)")
    old_logprobs: str = _f("auto", "'auto': take old log-probs from the training forward when the step makes exactly "
                                   "one update (epochs=1, one mini-batch), else recompute them once before the "
                                   "update; 'recompute': always recompute; 'rollout': use the engine's log-probs")
    tis_cap: float = _f(0.0, "truncated importance sampling for the engine/trainer mismatch: advantages are "
                             "weighted by min(pi_old/pi_engine, tis_cap) (Yao et al. 2025 use 2); 0 disables")
    # --- optimisation -------------------------------------------------------------------------------------------
    steps: int = _f(100, "training steps (one rollout batch and its updates per step)")
    lr: float = _f(1e-6, "AdamW learning rate of the policy (CE-GPPO paper: 1e-6)")
    warmup_steps: int = _f(0, "linear learning-rate warmup over this many steps, then constant")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    adam_betas: list = _f([0.9, 0.999], "AdamW betas")
    adam_eps: float = _f(1e-8, "AdamW epsilon")
    grad_clip: float = _f(1.0, "clip the global gradient norm to this value; 0 disables clipping")
    critic_lr: float = _f(1e-5, "AdamW learning rate of the critic (only for objectives with a critic)")
    epochs: int = _f(1, "passes (K) over each step's batch")
    minibatch_size: int = _f(0, "sequences per optimiser update (global, over all ranks); 0: the whole batch, "
                                "i.e. one update per epoch")
    micro_batch_size: int = _f(8, "sequences per forward/backward on one rank (gradient accumulation)")
    logprob_chunk_size: int = _f(0, "rows per chunk of the chunked log-softmax; 0: automatic (~128 MiB)")
    length_buckets: bool = _f(False, "with shared_prefix: run a micro-batch's responses in up to 3 groups of "
                                     "similar length, each only as long as its longest response, when that saves "
                                     "more padded positions than an extra model call costs (same results; less "
                                     "memory, but slower on the 2-core CPU for 16 x 64 tokens, see "
                                     "docs/benchmarks.md)")
    shared_prefix: bool = _f(True, "run each distinct prompt of a micro-batch through the model once and let its "
                                   "responses attend to that prompt's keys and values (same log-probs and "
                                   "gradients, less time and memory when responses share a prompt); false: one "
                                   "full forward per sequence")
    seed: int = _f(0, "seed of prompt order, sampling and initialisation of new heads")
    # --- outputs ------------------------------------------------------------------------------------------------
    out_dir: str = _f("runs/train", "output directory: metrics.jsonl, run.json, checkpoints/, final/")
    eval_every: int = _f(0, "run the callbacks every this many steps and after the last one; 0: only after the last")
    save_every: int = _f(0, "write a checkpoint every this many steps; 0: only at the end (and on SIGINT/SIGTERM)")
    keep_checkpoints: int = _f(2, "keep the newest this many checkpoints; 0 keeps all")
    save_final: bool = _f(True, "write out_dir/final (save_pretrained model + tokenizer) at the end")
    tensorboard: bool = _f(True, "also write TensorBoard scalars to out_dir/tensorboard when tensorboard is "
                                 "installed")
    # --- hardware -----------------------------------------------------------------------------------------------
    device: str = _f("auto", "auto | cpu | cuda")
    backend: str = _f("auto", "torch.distributed backend under torchrun: auto (gloo on CPU, NCCL on CUDA) | gloo "
                              "| nccl")
    fsdp: bool = _f(False, "FSDP2 fully_shard instead of DDP: not supported yet (an error); DDP is used under "
                           "torchrun")

    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def describe(cls) -> dict[str, dict]:
        """field -> {"default", "doc", "type"} (for documentation and `--help`)."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out[f.name] = {"default": default, "doc": f.metadata.get("doc", ""), "type": _type_name(hints[f.name])}
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainConfig":
        """Build a config from a mapping; unknown keys raise ValueError listing the valid ones."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(unknown)}; valid fields: "
                             f"{', '.join(cls.field_names())}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(k, hints[k], v) for k, v in data.items()})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def with_overrides(self, assignments: Sequence[str]) -> "TrainConfig":
        """A copy with ``field=value`` strings applied (see :func:`parse_set`)."""
        data = self.to_dict()
        for key, value in parse_set(assignments).items():
            if "." in key:
                head, sub = key.split(".", 1)
                if head not in data or not isinstance(data[head], dict) and data[head] is not None:
                    raise ValueError(f"--set {key}=...: {head!r} is not a mapping field of TrainConfig; mapping "
                                     f"fields: {', '.join(k for k, v in data.items() if isinstance(v, dict))}")
                data[head] = dict(data[head] or {})
                data[head][sub] = value
            else:
                data[key] = value
        return TrainConfig.from_dict(data)

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first out-of-range field; returns self."""
        positive = ("steps", "prompts_per_step", "responses_per_prompt", "max_new_tokens", "epochs",
                    "micro_batch_size", "dynamic_sampling_max_rounds")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "minibatch_size", "logprob_chunk_size", "eval_every", "save_every",
                     "keep_checkpoints", "rollout_batch_prompts"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "critic_lr", "weight_decay", "grad_clip", "tis_cap", "adam_eps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"TrainConfig.{name} must be a finite number >= 0, got {value}")
        if self.dtype not in ("bfloat16", "float32"):
            raise ValueError(f"TrainConfig.dtype must be 'bfloat16' (bf16 autocast) or 'float32', got {self.dtype!r}")
        if self.old_logprobs not in ("auto", "recompute", "rollout"):
            raise ValueError(f"TrainConfig.old_logprobs must be 'auto', 'recompute' or 'rollout', got "
                             f"{self.old_logprobs!r}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"TrainConfig.temperature must be > 0 for RL training (sampling from the policy), got "
                             f"{self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"TrainConfig.top_p must be in (0, 1], got {self.top_p}")
        if len(self.adam_betas) != 2:
            raise ValueError(f"TrainConfig.adam_betas must be two numbers, got {self.adam_betas!r}")
        return self


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _allowed_types(tp) -> tuple:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        return tuple(t for a in typing.get_args(tp) for t in _allowed_types(a))
    if tp is type(None):
        return (type(None),)
    return (origin or tp,)


def _coerce(name: str, tp, value):
    """Check a value against a TrainConfig field type, converting strings and int->float where unambiguous."""
    allowed = _allowed_types(tp)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"TrainConfig.{name} cannot be None; expected {_type_name(tp)}")
    if isinstance(value, str) and str not in allowed:
        import yaml

        text = value.strip()
        if type(None) in allowed and text.lower() in ("none", "null", "~"):
            return None
        try:
            value = _number(text) if (int in allowed or float in allowed) else None
            if value is None:
                value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"TrainConfig.{name}={text!r} is not a valid {_type_name(tp)} ({exc})") from None
    if bool in allowed and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise ValueError(f"TrainConfig.{name} must be {_type_name(tp)}, got the boolean {value!r}")
    if float in allowed and isinstance(value, int):
        return float(value)
    if int in allowed and isinstance(value, float) and value.is_integer():
        return int(value)
    if list in allowed and isinstance(value, tuple):
        return list(value)
    if not isinstance(value, tuple(t for t in allowed if isinstance(t, type))):
        raise ValueError(f"TrainConfig.{name} must be {_type_name(tp)}, got {value!r}")
    return value


def _number(text: str):
    """int or float from text (YAML alone reads '1e-5' as a string), else None."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def parse_set(assignments: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-5", "algo_overrides.beta1=0.75"]`` -> ``{"lr": "1e-5", "algo_overrides.beta1": 0.75}``.

    Top-level values stay strings (TrainConfig.from_dict converts them with the field's type); values of dotted
    keys (entries of a mapping field) are parsed as YAML scalars so that numbers and booleans keep their types.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in assignments or ():
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected field=value (e.g. --set lr=1e-5 or "
                             f"--set algo_overrides.beta1=0.75)")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"--set {item!r}: the field name is empty")
        head = key.split(".", 1)[0]
        if head not in TrainConfig.field_names():
            raise ValueError(f"--set {item!r}: unknown TrainConfig field {head!r}; valid fields: "
                             f"{', '.join(TrainConfig.field_names())}")
        if "." in key:
            number = _number(value.strip())
            out[key] = number if number is not None else yaml.safe_load(value)
        else:
            out[key] = value
    return out


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


# ---------------------------------------------------------------------------------------------------------------
# prompt order


class PromptSampler:
    """A seeded stream of row indices: a permutation per pass over the data (or file order), with a position that a
    checkpoint stores so that a resumed run continues with exactly the next prompt."""

    def __init__(self, n_rows: int, seed: int, shuffle: bool = True):
        if n_rows < 1:
            raise TrainingError("the training task has no rows; check task, split and task_params")
        self.n_rows, self.seed, self.shuffle = n_rows, seed, shuffle
        self.epoch, self.pos = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n_rows)
        return np.random.default_rng([self.seed, self.epoch, 0x5EED]).permutation(self.n_rows)

    def draw(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if self.pos >= self.n_rows:
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._make_order()
            take = min(k - len(out), self.n_rows - self.pos)
            out.extend(int(i) for i in self._order[self.pos:self.pos + take])
            self.pos += take
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "n_rows": self.n_rows}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n_rows"]) != self.n_rows:
            raise TrainingError(f"the checkpoint was written for a task with {state['n_rows']} rows, this one has "
                                f"{self.n_rows}; resume with the same task, split and task_params")
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._make_order()


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0]) & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------------------------
# rewards


@dataclass
class _Scored:
    value: float
    correct: bool
    reason: str = ""


class _RewardAdapter:
    """Scores rollouts with reward functions from ``rewards`` (by name) or a user callable, and adds DAPO's soft
    overlong punishment when the objective asks for it. Correctness (for ``accuracy``) comes from the correctness
    part of a named reward (value == its ``correct`` value); for other rewards, a reward > 0 counts as correct."""

    def __init__(self, cfg: TrainConfig, algo, reward_fn=None):
        self.algo = algo
        self.custom = reward_fn
        self.parts: list = []
        self.overlong = None
        names = []
        if reward_fn is None:
            import rewards

            names = [n.strip() for n in cfg.reward.split("+")]
            params = dict(cfg.reward_params)
            per_part = len(names) > 1
            if per_part:
                unknown = set(params) - set(names)
                if unknown:
                    raise ValueError(f"reward_params for the sum {cfg.reward!r} are per part ({names}); got "
                                     f"{sorted(unknown)}")
            for name in names:
                p = dict(params.get(name) or {}) if per_part else dict(params)
                if name == "correctness":  # the objective's reward values unless the user set them
                    p.setdefault("correct", float(algo.reward_correct))
                    p.setdefault("incorrect", float(algo.reward_incorrect))
                self.parts.append(rewards.get_reward(name, **p))
        if getattr(algo, "overlong_shaping", False) and "overlong" not in names:
            import rewards

            self.overlong = rewards.get_reward("overlong", max_len=int(algo.overlong_max_len),
                                               cache_len=int(algo.overlong_cache_len),
                                               penalty=float(algo.overlong_penalty))

    def warmup(self) -> None:
        if self.parts:
            import rewards

            if hasattr(rewards, "warmup"):
                rewards.warmup()

    def score(self, golds: list[str], rollouts: list) -> list[_Scored]:
        texts = [r.text for r in rollouts]
        lengths = [len(r.response_ids) for r in rollouts]
        if self.custom is not None:
            raw = self.custom.batch(golds, texts, lengths) if hasattr(self.custom, "batch") else \
                self.custom(golds, rollouts)
            raw = list(raw)
            if len(raw) != len(rollouts):
                raise TrainingError(f"the reward function returned {len(raw)} values for {len(rollouts)} responses; "
                                    f"it must return one per response")
            values = [float(getattr(x, "value", x)) for x in raw]
            out = [_Scored(v, v > 0, str(getattr(x, "reason", ""))) for v, x in zip(values, raw)]
        else:
            values = [0.0] * len(texts)
            correct: list = [None] * len(texts)
            reasons = [""] * len(texts)
            for part in self.parts:
                for i, r in enumerate(part.batch(golds, texts, lengths)):
                    values[i] += float(r.value)
                    if getattr(part, "name", "") == "correctness":
                        correct[i] = float(r.value) == float(part.correct)
                        reasons[i] = r.reason
            out = [_Scored(v, bool(c) if c is not None else v > 0, why)
                   for v, c, why in zip(values, correct, reasons)]
        incorrect = float(getattr(self.algo, "reward_incorrect", 0.0))
        for i, text in enumerate(texts):
            if not text.strip():  # an empty response is wrong, whatever the reward function says
                out[i] = _Scored(min(out[i].value, incorrect), False, "empty_response")
        if self.overlong is not None:
            for i, p in enumerate(self.overlong.batch(golds, texts, lengths)):
                out[i] = _Scored(out[i].value + float(p.value), out[i].correct, out[i].reason)
        return out


# ---------------------------------------------------------------------------------------------------------------
# the trainer


class _Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Trainer:
    """The shared rollout + optimisation loop.

    ``Trainer(cfg)`` builds everything from the config. For programmatic use and tests:

    * ``dataset``: a list of rows ``{"id", "problem", "answer"}`` to train on instead of ``cfg.task``; a row with a
      ``"prompt"`` string is given to the engine as is (no template);
    * ``reward_fn``: instead of ``cfg.reward``, an object with ``batch(golds, responses, num_tokens)`` (like
      ``rewards.RewardFn``) or a callable ``fn(golds, rollouts) -> list[float]`` that sees the rollouts (token ids
      included); for a plain callable a response counts as correct (accuracy) when its reward is > 0;
    * ``algorithm``: an ``algorithms.Algorithm`` instance instead of ``algorithms.get(cfg.algo, **algo_overrides)``;
    * ``engine``: an already started rollout engine to use instead of building one from ``cfg.engine`` (so that a
      comparison pays vLLM's start-up once, not once per run); its weights are replaced by this run's policy right
      away and the trainer does not close it.

    Attributes after construction: ``model`` (the plain policy), ``tokenizer``, ``engine`` (synced to the current
    weights), ``cfg``, ``algo``, ``step`` (completed steps), ``dist`` (rank/world).
    """

    def __init__(self, cfg: TrainConfig, *, dataset: list[dict] | None = None, reward_fn=None, algorithm=None,
                 engine=None, resume: bool = False, callbacks: Sequence[Callable] = (), progress: bool = True):
        import algorithms
        from harness import models
        from harness.rollout import make_engine

        # from_dict re-checks every value against its field type (a YAML "1e-5" is a string, for instance)
        self.cfg = cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
        self.callbacks = list(callbacks)
        self.progress = progress
        self.out_dir = Path(cfg.out_dir)
        if cfg.fsdp:
            raise TrainingError("fsdp=True is not supported by the trainer yet (checkpoints and the rollout engine "
                                "need full weights gathered from FSDP2 shards); use fsdp=False, which trains with "
                                "DDP under torchrun")
        self.dist = distributed.init(cfg.device, cfg.backend)
        self.device = torch.device(self.dist.device)
        if self.dist.enabled and cfg.prompts_per_step % self.dist.world_size:
            raise TrainingError(f"prompts_per_step={cfg.prompts_per_step} must be a multiple of the number of ranks "
                                f"({self.dist.world_size}) so that every rank gets whole groups")
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % (2 ** 32))
        import random

        random.seed(cfg.seed)

        _reset_peak_rss()
        self.algo = algorithm if algorithm is not None else algorithms.get(cfg.algo, **cfg.algo_overrides)
        if self.algo.loss_agg_mode == "seq-mean-token-sum-norm" and self.algo.loss_norm_length is None:
            # Dr. GRPO divides by the generation budget, a constant: with the padded length of each micro-batch
            # instead, micro-batches would not add up to the one-big-batch gradient.
            self.algo.loss_norm_length = cfg.max_new_tokens
        if getattr(self.algo, "batch_dependent", False) and cfg.micro_batch_size < cfg.prompts_per_step * \
                cfg.responses_per_prompt:
            warnings.warn(f"objective {self.algo.name!r} selects tokens over the whole batch; micro-batches of "
                          f"{cfg.micro_batch_size} sequences make its selection per micro-batch", stacklevel=2)
        # models
        self.model, self.tokenizer = models.load_policy(cfg.model, dtype="float32", lora=cfg.lora, device=self.device)
        self.model.train()
        self._disable_dropout(self.model)
        self.ref_model = None
        if self.algo.uses_reference:
            self.ref_model = models.load_reference(cfg.model, dtype="float32", device=self.device)
        self.critic = None
        if getattr(self.algo, "needs_critic", False):
            with torch.random.fork_rng():
                torch.manual_seed(cfg.seed + 1)
                self.critic = models.load_critic(cfg.model, dtype="float32", device=self.device)
            self.critic.train()
            self._disable_dropout(self.critic)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
            self.tokenizer.eos_token_id
        # engine
        if engine is None:
            engine_kw = {"dtype": cfg.dtype, **cfg.engine_params}
            self.engine = make_engine(cfg.engine, self.model, self.tokenizer, **engine_kw)
        else:  # a shared engine (e.g. one vLLM instance for all runs of a comparison) holds another run's weights
            self.engine = engine
            self.engine.sync_weights(self.model)
        # data
        if dataset is None:
            import benchmarks

            dataset = benchmarks.load(cfg.task, split=cfg.split, data_dir=cfg.data_dir, **cfg.task_params)
        self.rows = list(dataset)
        for i, row in enumerate(self.rows[:1]):
            if "answer" not in row or not ("problem" in row or isinstance(row.get("prompt"), str)):
                raise TrainingError(f"dataset row {i} has keys {sorted(row)}; rows need 'answer' and 'problem' "
                                    f"(or a ready 'prompt' text)")
        self.sampler = PromptSampler(len(self.rows), cfg.seed, cfg.shuffle)
        self._prompt_cache: dict[int, str] = {}
        self.rewarder = _RewardAdapter(cfg, self.algo, reward_fn)
        self.rewarder.warmup()
        # optimisation
        self.train_model = distributed.wrap_model(self.model, self.dist, fsdp=cfg.fsdp)
        self.train_critic = distributed.wrap_model(self.critic, self.dist) if self.critic is not None else None
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = _adamw(params, lr=cfg.lr, betas=tuple(cfg.adam_betas), eps=cfg.adam_eps,
                                weight_decay=cfg.weight_decay)
        warm = cfg.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warm) if warm > 0 else 1.0)
        self.critic_optimizer = None
        if self.critic is not None:
            self.critic_optimizer = _adamw(list(self.critic.parameters()), lr=cfg.critic_lr,
                                           betas=tuple(cfg.adam_betas), eps=cfg.adam_eps,
                                           weight_decay=cfg.weight_decay)
        self.step = 0
        self.skipped_steps = 0
        self.empty_batches = 0
        self._stop_signal: int | None = None
        self.resumed_from = None
        if resume:
            self._resume()
        elif self.dist.is_main:
            if ckpt.latest_checkpoint(self.out_dir) is not None:
                raise TrainingError(f"{self.out_dir} already holds a run with checkpoints; pass resume=True "
                                    f"(--resume) to continue it, or choose another out_dir")
            if (self.out_dir / "metrics.jsonl").exists():  # a run that died before its first checkpoint
                warnings.warn(f"{self.out_dir}/metrics.jsonl from an earlier run without checkpoints is replaced",
                              stacklevel=2)
                truncate_metrics(self.out_dir / "metrics.jsonl", 0)

    # -------------------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _disable_dropout(model) -> None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.cfg.dtype == "bfloat16")

    def _prompt(self, index: int) -> str:
        if index not in self._prompt_cache:
            row = self.rows[index]
            if isinstance(row.get("prompt"), str):  # a ready prompt text (programmatic datasets) is used as is
                self._prompt_cache[index] = row["prompt"]
            else:
                from benchmarks import render_prompt

                self._prompt_cache[index] = render_prompt(self.tokenizer, row["problem"], self.cfg.template)
        return self._prompt_cache[index]

    @property
    def chunk_size(self) -> int | None:
        return self.cfg.logprob_chunk_size or None

    # -------------------------------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        path = ckpt.latest_checkpoint(self.out_dir)
        if path is None:
            raise TrainingError(f"resume requested but {self.out_dir / 'checkpoints'} holds no complete checkpoint; "
                                f"run without --resume to start a new run")
        state = ckpt.load_checkpoint(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                                     critic=self.critic, critic_optimizer=self.critic_optimizer,
                                     rank=self.dist.rank)
        self.step = int(state["step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.empty_batches = int(state.get("empty_batches", 0))
        self.sampler.load_state_dict(state["sampler"])
        self.engine.sync_weights(self.model)
        self.resumed_from = str(path)
        saved_cfg = state.get("config_json")
        if saved_cfg:
            old = json.loads(saved_cfg)
            ignore = {"steps", "out_dir", "eval_every", "save_every", "keep_checkpoints", "tensorboard", "save_final"}
            diff = sorted(k for k in old if k not in ignore and old.get(k) != self.cfg.to_dict().get(k))
            if diff and self.dist.is_main:
                warnings.warn(f"resuming {path} with a different config for: {', '.join(diff)}", stacklevel=2)
        if self.dist.is_main:
            truncate_metrics(self.out_dir / "metrics.jsonl", self.step)

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (all ranks must call it; rank 0 writes)."""
        rank_rng = None
        if self.dist.enabled:
            import torch.distributed as tdist

            states = [None] * self.dist.world_size
            tdist.all_gather_object(states, ckpt.capture_rng())
            rank_rng = {r: s for r, s in enumerate(states) if r > 0}
        path = None
        if self.dist.is_main:
            state = {"sampler": self.sampler.state_dict(), "skipped_steps": self.skipped_steps,
                     "empty_batches": self.empty_batches, "config_json": json.dumps(self.cfg.to_dict())}
            path = ckpt.save_checkpoint(self.out_dir, self.step, model=self.model, tokenizer=self.tokenizer,
                                        optimizer=self.optimizer, scheduler=self.scheduler, trainer_state=state,
                                        rank_rng=rank_rng, critic=self.critic,
                                        critic_optimizer=self.critic_optimizer, keep=self.cfg.keep_checkpoints)
        distributed.barrier()
        return path

    # -------------------------------------------------------------------------------------------------- rollouts
    def _generate(self, indices: list[int], step: int, round_: int, offset: int) -> list:
        """Rollouts for the given row indices, grouped by prompt; seeded by (seed, step, round, global position)."""
        from harness.rollout import Sampling

        cfg = self.cfg
        per_call = cfg.rollout_batch_prompts or max(1, len(indices))
        out = []
        for start in range(0, len(indices), per_call):
            chunk = indices[start:start + per_call]
            # offset: position of indices[0] in the step's global prompt list (identical across world sizes when
            # rollout_batch_prompts == 1)
            global_pos = offset + start * (self.dist.world_size if cfg.rollout_batch_prompts else 1)
            sampling = Sampling(n=cfg.responses_per_prompt, max_new_tokens=cfg.max_new_tokens,
                                temperature=cfg.temperature, top_p=cfg.top_p,
                                seed=_seed_for(cfg.seed, step, round_, global_pos))
            out.extend(self.engine.generate([self._prompt(i) for i in chunk], sampling))
        return out

    def _collect(self, step: int) -> tuple[list[dict], dict]:
        """This rank's groups for the step (after dynamic sampling) and rollout statistics."""
        cfg, W, rank = self.cfg, self.dist.world_size, self.dist.rank
        target = cfg.prompts_per_step // W
        dynamic = bool(getattr(self.algo, "dynamic_sampling", False))
        kept: list[dict] = []
        spare: dict | None = None
        stats = {"gen_tokens": 0, "gen_time": 0.0, "kept": 0, "dropped": 0, "rounds": 0, "all_rewards": [],
                 "all_correct": [], "lengths": [], "truncated": [], "empty": 0}
        for round_ in range(cfg.dynamic_sampling_max_rounds if dynamic else 1):
            global_idx = self.sampler.draw(cfg.prompts_per_step)
            need = target - len(kept)
            if need > 0:
                mine = global_idx[rank::W]
                t0 = time.perf_counter()
                rollouts = self._generate(mine, step, round_, rank)
                stats["gen_time"] += time.perf_counter() - t0
                G = cfg.responses_per_prompt
                golds = [str(self.rows[i]["answer"]) for i in mine for _ in range(G)]
                scored = self.rewarder.score(golds, rollouts)
                stats["rounds"] += 1
                for g, row_idx in enumerate(mine):
                    group = rollouts[g * G:(g + 1) * G]
                    sc = scored[g * G:(g + 1) * G]
                    stats["gen_tokens"] += sum(len(r.response_ids) for r in group)
                    stats["all_rewards"] += [s.value for s in sc]
                    stats["all_correct"] += [float(s.correct) for s in sc]
                    stats["lengths"] += [len(r.response_ids) for r in group]
                    stats["truncated"] += [float(r.finish_reason == "length") for r in group]
                    stats["empty"] += sum(1 for r in group if not r.text.strip())
                    item = {"row": row_idx, "rollouts": group, "scores": [s.value for s in sc],
                            "uid": round_ * cfg.prompts_per_step + g}
                    values = item["scores"]
                    if dynamic and max(values) - min(values) == 0:
                        stats["dropped"] += 1
                        spare = spare or item
                        continue
                    if len(kept) < target:
                        kept.append(item)
                        stats["kept"] += 1
            if not dynamic:
                break
            short = distributed.all_reduce_max({"short": float(len(kept) < target)})["short"]
            if short == 0:
                break
        stats["spare"] = spare
        return kept, stats

    # -------------------------------------------------------------------------------------------------- forward
    def _forward(self, module, batch: dict, rows, *, grad: bool, entropy: bool, critic: bool = False):
        """Per-token log-probs (and entropies) [b, r] of the response tokens of ``rows``, or critic values."""
        from algorithms import logprobs_and_entropy_from_logits, logprobs_from_logits

        P = int(batch["prompt_length"])
        pm = batch["attention_mask"][rows, :P]
        rm = batch["response_mask"][rows]
        p_len = int(pm.sum(-1).max())
        r_len = max(1, int(rm.sum(-1).max()))
        cols = slice(P - p_len, P + r_len)
        ids = batch["input_ids"][rows, cols]
        attn = batch["attention_mask"][rows, cols]
        pos = (attn.cumsum(-1) - 1).clamp_min(0)
        labels = ids[:, p_len:]
        mask = rm[:, :r_len].bool()
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx:
            with self._autocast():
                if critic:
                    values = module(input_ids=ids, attention_mask=attn, position_ids=pos)
                    return values[:, p_len - 1:p_len - 1 + r_len].float(), mask
                parts = None
                if self.cfg.shared_prefix:
                    parts = shared_prefix_forward(module, ids, attn, pos, p_len, r_len,
                                                  lengths=rm.sum(-1).long() if self.cfg.length_buckets else None)
                if parts is None:
                    # the last token predicts nothing we score: leave it out, so the model returns exactly the
                    # r_len positions that predict the labels, as one contiguous [b, r_len, V] tensor (slicing a
                    # longer one made the log-prob and entropy code copy the whole full-vocabulary tensor, and its
                    # backward allocate a zero-padded one)
                    out = module(input_ids=ids[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, :-1],
                                 use_cache=False, logits_to_keep=r_len)
                    parts = [(None, r_len, out.logits)]
                    del out
            labels = labels.masked_fill(~mask, -100)
            want_ent_grad = grad and getattr(self.algo, "entropy_coef", 0.0) > 0
            lps, ents, order = [], [], []
            for rows_k, r_k, logits in parts:
                if self.cfg.temperature != 1.0:
                    logits = logits / self.cfg.temperature
                lab = labels if rows_k is None else labels[rows_k, :r_k]
                if entropy:   # one softmax pass for both; the entropy keeps its gradient only when the loss uses it
                    lp, en = logprobs_and_entropy_from_logits(logits, lab, chunk_size=self.chunk_size)
                    ents.append(en if want_ent_grad else en.detach())
                else:
                    lp = logprobs_from_logits(logits, lab, chunk_size=self.chunk_size)
                lps.append(lp)
                order.append(rows_k)
            if len(parts) == 1 and order[0] is None:
                logp, ent = lps[0], (ents[0] if entropy else None)
            else:   # rows were run in length buckets: pad each to r_len and put the rows back in their order
                inverse = torch.argsort(torch.cat(order))

                def merge(ts):
                    return torch.cat([torch.nn.functional.pad(t, (0, r_len - t.shape[1])) for t in ts])[inverse]
                logp, ent = merge(lps), (merge(ents) if entropy else None)
        return logp, ent, mask

    def _per_token_all(self, module, batch, critic: bool = False) -> torch.Tensor:
        """No-grad per-token log-probs (or values) of the whole local batch, [N, R] (0 on padding)."""
        N, R = batch["response_mask"].shape
        out = torch.zeros(N, R, dtype=torch.float32, device=self.device)
        mb = self.cfg.micro_batch_size
        for s in range(0, N, mb):
            rows = torch.arange(s, min(s + mb, N), device=self.device)
            if critic:
                vals, mask = self._forward(module, batch, rows, grad=False, entropy=False, critic=True)
                out[rows, :vals.shape[1]] = torch.where(mask, vals, 0.0)
            else:
                logp, _, mask = self._forward(module, batch, rows, grad=False, entropy=False)
                out[rows, :logp.shape[1]] = torch.where(mask, logp.float(), 0.0)
        return out

    # -------------------------------------------------------------------------------------------------- one step
    def train_step(self) -> dict:
        """Run one training step; return its metrics record."""
        from harness.rollout import collate, mismatch_kl, tis_weights

        cfg, algo, W = self.cfg, self.algo, self.dist.world_size
        step = self.step + 1
        t_step = time.perf_counter()
        groups, st = self._collect(step)
        rec: dict[str, Any] = {"step": step}

        # ---- rollout statistics (global)
        rewards_arr = np.asarray(st["all_rewards"], dtype=np.float64)
        sums = distributed.all_reduce_sum({
            "n": len(rewards_arr), "r": rewards_arr.sum(), "r2": np.square(rewards_arr).sum(),
            "correct": float(np.sum(st["all_correct"])), "len": float(np.sum(st["lengths"])),
            "trunc": float(np.sum(st["truncated"])), "empty": st["empty"], "kept": st["kept"],
            "dropped": st["dropped"], "gen_tokens": st["gen_tokens"], "gen_time": st["gen_time"],
            "seqs": float(sum(len(g["rollouts"]) for g in groups))})
        n = max(sums["n"], 1.0)
        mean = sums["r"] / n
        rec["reward/mean"] = mean
        rec["reward/std"] = math.sqrt(max(sums["r2"] / n - mean * mean, 0.0) * n / max(n - 1, 1))
        rec["accuracy"] = sums["correct"] / n
        rec["response_length/mean"] = sums["len"] / n
        rec["truncated_frac"] = sums["trunc"] / n
        rec["empty_responses"] = int(sums["empty"])
        rec["filter/kept_groups"] = int(sums["kept"])
        rec["filter/dropped_groups"] = int(sums["dropped"])
        rec["throughput/rollout_tok_s"] = sums["gen_tokens"] / max(sums["gen_time"] / W, 1e-9)

        if sums["seqs"] == 0:
            self.empty_batches += 1
            if self.dist.is_main:
                self._log_msg(f"step {step}: every group was filtered out (all rewards equal in each group) after "
                              f"{cfg.dynamic_sampling_max_rounds} sampling rounds; no update this step")
            warnings.warn(f"step {step}: all groups filtered by dynamic sampling after "
                          f"{cfg.dynamic_sampling_max_rounds} rounds; continuing without an update", stacklevel=2)
            self._scheduler_step()
            self.step = step
            rec.update({"skipped_steps": self.skipped_steps, "filter/empty_batches": self.empty_batches,
                        "lr": self.scheduler.get_last_lr()[0], "time/step_s": time.perf_counter() - t_step,
                        "memory/peak_rss_mb": _peak_rss_mb()})
            return rec

        # ---- batch tensors (a rank with no group keeps one dropped group as a zero-weight dummy for DDP)
        dummy = not groups
        use = groups if groups else [st["spare"]]
        rollouts = [r for g in use for r in g["rollouts"]]
        batch = {k: v.to(self.device) for k, v in collate(rollouts, self.pad_id).items()}
        mask_all = batch["response_mask"].bool()
        if dummy:
            mask_all = torch.zeros_like(mask_all)
        scores = torch.tensor([s for g in use for s in g["scores"]], dtype=torch.float32, device=self.device)
        group_ids = torch.tensor([g["uid"] for g in use for _ in g["rollouts"]], dtype=torch.long, device=self.device)
        N, R = mask_all.shape
        engine_logp = batch["engine_logprobs"]

        # ---- old / reference log-probs and values
        n_mb = max(1, math.ceil(sums["seqs"] / cfg.minibatch_size)) if cfg.minibatch_size else 1
        single_update = cfg.epochs == 1 and n_mb == 1
        if cfg.old_logprobs == "rollout":
            old_source = "rollout"
        elif cfg.old_logprobs == "auto" and single_update and not (algo.kl_in_reward and algo.kl_coef > 0):
            old_source = "forward"
        else:
            old_source = "recompute"
        t_train = time.perf_counter()
        train_tokens = 0
        old_logp = None
        if old_source == "recompute":
            self.model.eval()
            old_logp = self._per_token_all(self.model, batch)
            self.model.train()
            train_tokens += int(batch["attention_mask"].sum())
        elif old_source == "rollout":
            old_logp = engine_logp
        ref_logp = None
        if self.ref_model is not None:
            ref_logp = self._per_token_all(self.ref_model, batch)
            train_tokens += int(batch["attention_mask"].sum())
        old_values = None
        if self.critic is not None:
            old_values = self._per_token_all(self.critic, batch, critic=True)

        # ---- advantages
        adv, returns = algo.compute_advantages(mask=mask_all, scores=scores, group_ids=group_ids, values=old_values,
                                               old_logp=old_logp, ref_logp=ref_logp)
        adv = adv.detach().float()

        # ---- mismatch between engine and trainer log-probs (reported every step)
        mism = None
        tis_w = None
        if old_logp is not None and old_source == "recompute":
            mism = mismatch_kl(engine_logp, old_logp, mask_all)
            if cfg.tis_cap > 0:
                tis_w = tis_weights(old_logp, engine_logp, mask_all, cap=cfg.tis_cap)

        # ---- K epochs over mini-batches of micro-batches
        acc = _Acc()
        nonfinite_updates = 0
        updates = 0
        grad_norms = []
        for epoch in range(cfg.epochs):
            perm = np.random.default_rng([cfg.seed, step, epoch, self.dist.rank, 0xB47C]).permutation(N) \
                if (cfg.epochs > 1 or n_mb > 1) else np.arange(N)
            for mb_rows in np.array_split(perm, n_mb):
                mb_weight = 0.0 if len(mb_rows) == 0 or dummy else 1.0
                mb_rows = mb_rows if len(mb_rows) else perm[:1]  # an empty share still joins the gradient sync
                rows_t = torch.as_tensor(mb_rows, device=self.device)
                mmask = mask_all[rows_t] if mb_weight else torch.zeros_like(mask_all[rows_t])
                counts = distributed.all_reduce_sum({"tokens": float(mmask.sum()),
                                                     "seqs": float(mmask.any(-1).sum())})
                micro = [mb_rows[s:s + cfg.micro_batch_size] for s in range(0, len(mb_rows), cfg.micro_batch_size)]
                bad = 0.0
                for mi, mrows in enumerate(micro):
                    last = mi == len(micro) - 1
                    r_t = torch.as_tensor(mrows, device=self.device)
                    sync = contextlib.ExitStack()
                    if not last:
                        for m in (self.train_model, self.train_critic):
                            if m is not None and hasattr(m, "no_sync"):
                                sync.enter_context(m.no_sync())
                    with sync:
                        logp, ent, fmask = self._forward(self.train_model, batch, r_t, grad=True, entropy=True)
                        T = logp.shape[1]
                        fmask = fmask & mask_all[r_t, :T]
                        logp.retain_grad()
                        logp_in = logp.float()
                        if mism is None and epoch == 0 and updates == 0:
                            # before the first update the policy is the one that sampled: measure the mismatch on
                            # this forward (the whole batch in "forward" mode, the first mini-batch otherwise)
                            acc.add_weighted("mismatch", _masked_sum_k3(engine_logp[r_t, :T], logp_in.detach(),
                                                                        fmask), float(fmask.sum()))
                        if old_source == "forward":
                            old = logp_in.detach()
                            if cfg.tis_cap > 0:
                                w = tis_weights(old, engine_logp[r_t, :T], fmask, cap=cfg.tis_cap)
                            else:
                                w = None
                        else:
                            old = old_logp[r_t, :T]
                            w = tis_w[r_t, :T] if tis_w is not None else None
                        a = adv[r_t, :T]
                        if w is not None:
                            a = a * w
                            acc.add_weighted("tis/mean_weight", float((w * fmask).sum()), float(fmask.sum()))
                            acc.add_weighted("tis/truncated_frac",
                                             float(((w >= cfg.tis_cap) & fmask).sum()), float(fmask.sum()))
                        kw = dict(logp=logp_in, old_logp=old, advantages=a, mask=fmask.float(),
                                  global_tokens=counts["tokens"], global_seqs=counts["seqs"])
                        if ref_logp is not None and not algo.kl_in_reward:
                            kw["ref_logp"] = ref_logp[r_t, :T]
                        if ent is not None:
                            kw["entropy"] = ent
                        kw["scores"] = scores[r_t].to(logp_in.dtype)   # objectives that read the outcome reward
                        finite_in = all(bool(torch.isfinite(torch.where(fmask, t.detach().float(), 0.0)).all())
                                        for t in (logp_in, old, a))
                        if finite_in:
                            loss, m = algo.loss(**kw)
                        else:
                            loss, m = (logp_in * 0).sum(), {}
                        if ref_logp is not None and algo.kl_in_reward:
                            from algorithms import kl as kl_fn
                            kref = kl_fn(logp_in.detach(), ref_logp[r_t, :T], algo.kl_estimator)
                            m["kl/ref"] = float((kref * fmask).sum() / fmask.sum().clamp(min=1))
                        total = loss * mb_weight
                        if self.critic is not None:
                            vals, _ = self._forward(self.train_critic, batch, r_t, grad=True, entropy=False,
                                                    critic=True)
                            if bool(torch.isfinite(torch.where(fmask, vals.detach(), 0.0)).all()):
                                vloss, vm = algo.value_loss(values=vals, old_values=old_values[r_t, :T],
                                                            returns=returns[r_t, :T], mask=fmask.float(),
                                                            global_tokens=counts["tokens"],
                                                            global_seqs=counts["seqs"])
                                m.update(vm)
                            else:
                                vloss, bad = (vals * 0).sum(), 1.0
                            total = total + vloss * mb_weight
                        if not bool(torch.isfinite(total.detach())) or not finite_in:
                            bad = 1.0
                        (total * W).backward()
                    ntok = float(fmask.sum()) * mb_weight
                    for k, v in m.items():
                        if isinstance(v, (int, float)) and math.isfinite(v):
                            if k.startswith("loss/"):  # micro-batch losses are parts of the mini-batch's sum
                                acc.add_weighted(k, v * mb_weight, 0.0)
                            else:                      # per-token means: weight by tokens
                                acc.add_weighted(k, v * ntok, ntok)
                    if logp.grad is not None and ntok > 0:
                        self._grad_shares(acc, logp, old, a, fmask)
                    train_tokens += int(batch["attention_mask"][r_t].sum())
                # ---- the update
                bad = distributed.all_reduce_max({"bad": bad})["bad"]
                norm = self._clip(self.model, cfg.grad_clip)
                cnorm = self._clip(self.critic, cfg.grad_clip) if self.critic is not None else 0.0
                updates += 1
                if bad or not math.isfinite(norm) or not math.isfinite(cnorm):
                    nonfinite_updates += 1
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.critic_optimizer is not None:
                        self.critic_optimizer.zero_grad(set_to_none=True)
                    continue
                grad_norms.append(norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.critic_optimizer is not None:
                    self.critic_optimizer.step()
                    self.critic_optimizer.zero_grad(set_to_none=True)
        if nonfinite_updates:
            self.skipped_steps += 1
            if self.dist.is_main:
                self._log_msg(f"step {step}: non-finite loss or gradient in {nonfinite_updates} of {updates} "
                              f"update(s); skipped them (skipped_steps={self.skipped_steps})")
        self._scheduler_step()
        self.engine.sync_weights(self.model)
        train_time = time.perf_counter() - t_train

        # ---- metrics
        if mism is not None:
            acc.add_weighted("mismatch", mism * float(mask_all.sum()), float(mask_all.sum()))
        tok_sums = distributed.all_reduce_sum({"train_tokens": float(train_tokens), "train_time": train_time})
        agg = acc.reduce()
        for k, v in agg.items():
            if k == "mismatch":
                rec["rollout/logprob_mismatch_kl"] = v
            elif k.startswith("loss/"):
                rec[k] = v / max(updates, 1)  # mean over the step's updates of each mini-batch's loss
            elif not k.startswith("_gs/"):
                rec[k] = v
        gs_total = agg.get("_gs/total", 0.0)
        for r in _REGIONS:
            rec[f"gradshare/{r}"] = (agg.get(f"_gs/{r}", 0.0) / gs_total) if gs_total > 0 else 0.0
        for r in _REGIONS[:4]:
            rec.setdefault(f"clipfrac/{r}", 0.0)
        rec.setdefault("kl/ref", 0.0)
        rec.setdefault("kl/old", 0.0)
        rec.setdefault("rollout/logprob_mismatch_kl", 0.0)
        rec["grad_norm"] = float(np.mean(grad_norms)) if grad_norms else float("nan")
        rec["lr"] = self.scheduler.get_last_lr()[0]
        rec["updates"] = updates
        rec["skipped_steps"] = self.skipped_steps
        rec["skipped_updates"] = nonfinite_updates
        rec["filter/empty_batches"] = self.empty_batches
        rec["old_logprobs"] = old_source
        rec["throughput/train_tok_s"] = tok_sums["train_tokens"] / max(tok_sums["train_time"] / W, 1e-9)
        rec["time/step_s"] = time.perf_counter() - t_step
        rec["memory/peak_rss_mb"] = _peak_rss_mb()
        if self.device.type == "cuda":
            rec["memory/peak_gpu_mb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        self.step = step
        return rec

    def _grad_shares(self, acc, logp, old, adv, mask) -> None:
        from algorithms import gradient_shares

        with torch.no_grad():
            g = logp.grad.float()
            # the regions on the ratio this objective clips (GSPO: its sequence ratio), matching clipfrac/*
            regions = self.algo.regions(logp=logp.detach().float(), old_logp=old, advantages=adv, mask=mask)
            total = float(torch.where(mask, g.abs(), 0.0).sum())
            if total <= 0:
                return
            shares = gradient_shares(g, regions, mask)
            acc.add_weighted("_gs/total", total, 0.0)
            for r, s in shares.items():
                acc.add_weighted(f"_gs/{r}", s * total, 0.0)

    def _scheduler_step(self) -> None:
        """One learning-rate schedule step per training step, also when the update was skipped."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()

    @staticmethod
    def _clip(model, max_norm: float) -> float:
        params = [p for p in model.parameters() if p.grad is not None]
        if not params:
            return 0.0
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
        return float(norm)

    def _log_msg(self, message: str) -> None:
        logger = getattr(self, "_logger", None)
        if logger is not None:
            logger.write(message)
        else:
            print(message, flush=True)

    # -------------------------------------------------------------------------------------------------- the loop
    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def handler(signum, frame):
            if self._stop_signal is not None:  # second signal: stop at once
                signal.signal(signum, previous.get(signum, signal.SIG_DFL))
                raise KeyboardInterrupt
            self._stop_signal = signum
            self._log_msg(f"received signal {signum}: finishing the current step, writing a checkpoint and exiting "
                          f"(send it again to stop at once)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def _write_run_json(self, status: str, wall: float) -> None:
        if not self.dist.is_main:
            return
        info = {"status": status, "step": self.step, "steps": self.cfg.steps, "wall_time_s": wall,
                "skipped_steps": self.skipped_steps, "world_size": self.dist.world_size,
                "resumed_from": self.resumed_from, "config": self.cfg.to_dict(),
                "algorithm": self.algo.to_dict() if hasattr(self.algo, "to_dict") else str(self.algo)}
        atomic_write_text(self.out_dir / "run.json", json.dumps(info, indent=1, default=str) + "\n")

    def train(self) -> TrainResult:
        """Run until cfg.steps; returns a TrainResult (status "interrupted" after SIGINT/SIGTERM)."""
        cfg = self.cfg
        start = time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._logger = MetricsLogger(self.out_dir, cfg.steps, initial_step=self.step, enabled=self.dist.is_main,
                                     progress=self.progress, tensorboard=cfg.tensorboard,
                                     desc=f"train {self.algo.name}")
        previous = self._install_signals()
        status = "running"
        self._write_run_json(status, 0.0)
        try:
            while self.step < cfg.steps:
                rec = self.train_step()
                last = self.step == cfg.steps
                if self.callbacks and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
                    if self.dist.is_main:
                        for cb in self.callbacks:
                            extra = cb(self.step, self)
                            if extra:
                                rec.update(extra)
                    distributed.barrier()
                self._logger.log(rec)
                stop = distributed.all_reduce_max({"stop": float(self._stop_signal or 0)})["stop"]
                if (cfg.save_every and self.step % cfg.save_every == 0) or last or stop:
                    self.save()
                if stop:
                    raise _Interrupted(int(stop))
            status = "completed"
            final = None
            if cfg.save_final and self.dist.is_main:
                final = str(ckpt.save_final(self.model, self.tokenizer, self.out_dir / "final"))
            distributed.barrier()
            return TrainResult(str(self.out_dir), final, str(self.out_dir / "metrics.jsonl"),
                               time.perf_counter() - start, status, self.step, self.skipped_steps)
        except _Interrupted as exc:
            status = "interrupted"
            self._log_msg(f"stopped by signal {exc.signum} after step {self.step}; checkpoint written to "
                          f"{self.out_dir / 'checkpoints'}; continue with resume=True (--resume)")
            return TrainResult(str(self.out_dir), None, str(self.out_dir / "metrics.jsonl"),
                               time.perf_counter() - start, status, self.step, self.skipped_steps, exc.signum)
        except BaseException:
            status = "failed"
            raise
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)
            self._write_run_json(status, time.perf_counter() - start)
            self._logger.close()


class _Acc:
    """Weighted sums of metrics (value * weight, weight), reduced over ranks into weighted means."""

    def __init__(self):
        self.num: dict[str, float] = {}
        self.den: dict[str, float] = {}

    def add_weighted(self, key: str, weighted_value: float, weight: float) -> None:
        self.num[key] = self.num.get(key, 0.0) + float(weighted_value)
        self.den[key] = self.den.get(key, 0.0) + float(weight)

    def reduce(self) -> dict[str, float]:
        keys = sorted(self.num)
        if distributed.is_distributed():  # every rank must reduce the same keys: take the union
            import torch.distributed as tdist

            all_keys = [None] * tdist.get_world_size()
            tdist.all_gather_object(all_keys, keys)
            keys = sorted(set().union(*all_keys))
        flat = {}
        for k in keys:
            flat["n:" + k] = self.num.get(k, 0.0)
            flat["d:" + k] = self.den.get(k, 0.0)
        red = distributed.all_reduce_sum(flat)
        out = {}
        for k in keys:
            num, den = red["n:" + k], red["d:" + k]
            if k.startswith(("_gs/", "loss/")):
                out[k] = num          # raw sums (normalised by the caller)
            elif den > 0:
                out[k] = num / den
        return out


def shared_prefix_forward(module, ids: torch.Tensor, attn: torch.Tensor, pos: torch.Tensor, p_len: int, r_len: int,
                          lengths: torch.Tensor | None = None):
    """Logits that predict the response tokens ``ids[:, p_len:]``, computing each distinct prompt once: a list of
    ``(rows, r, logits [len(rows), r, V])`` parts covering every row once (``rows`` None: all rows in order, r =
    r_len); ``None`` when nothing is shared (every row has its own prompt), when the prompt is a single token, or when
    the model cannot take a KV cache in training (gradient checkpointing turns the cache off).

    ``ids``/``attn``/``pos`` [b, p_len + r_len] hold left-padded prompts then right-padded responses. The prompts
    without their last token go through the model once per distinct prompt (with the cache on); the cache rows are
    then indexed out to the b sequences (an index, so the gradients of the b copies sum into the one prompt pass)
    and the last prompt token plus the responses go through the model on top of it. The result equals the plain
    full forward up to float rounding: the same keys, values, positions and mask, in a different order of work.

    ``lengths`` [b] (response tokens per row): when given, rows are sorted by length and cut into at most
    ``_MAX_BUCKETS`` buckets where that saves padded positions worth more than an extra model call
    (``length_buckets``), each bucket run only up to its longest response.
    """
    b = ids.shape[0]
    if p_len < 2 or b < 2 or getattr(module, "is_gradient_checkpointing", False):
        return None
    key = torch.cat([ids[:, :p_len], attn[:, :p_len]], dim=1)
    uniq, inverse = torch.unique(key, dim=0, return_inverse=True)
    U = uniq.shape[0]
    if U == b:
        return None
    rows = torch.arange(b, device=ids.device)
    first = torch.full((U,), b, dtype=torch.long, device=ids.device).scatter_reduce(0, inverse, rows, "amin")
    pre = module(input_ids=ids[first, :p_len - 1], attention_mask=attn[first, :p_len - 1],
                 position_ids=pos[first, :p_len - 1], use_cache=True, logits_to_keep=1)
    cache = getattr(pre, "past_key_values", None)
    if cache is None or not hasattr(cache, "batch_select_indices") or not hasattr(cache, "layers"):
        return None
    buckets = [(None, r_len)] if lengths is None else _length_buckets(lengths.tolist(), r_len)
    parts = []
    for bucket_rows, r in buckets:
        if bucket_rows is None:    # the only bucket: every row, up to r_len
            sel, c = None, cache
            c.batch_select_indices(inverse)
            r_ids, r_attn, r_pos = ids, attn, pos
        else:                      # a cache object of its own; its tensors are indexed copies, the prompt pass shared
            sel = torch.as_tensor(bucket_rows, dtype=torch.long, device=ids.device)
            c = copy.copy(cache)
            c.layers = [copy.copy(layer) for layer in cache.layers]
            c.batch_select_indices(inverse[sel])
            r_ids, r_attn, r_pos = ids[sel], attn[sel], pos[sel]
        end = p_len - 1 + r
        out = module(input_ids=r_ids[:, p_len - 1:end], attention_mask=r_attn[:, :end],
                     position_ids=r_pos[:, p_len - 1:end], past_key_values=c, use_cache=True, logits_to_keep=r)
        parts.append((sel, r, out.logits))
    return parts


_MAX_BUCKETS = 3
_BUCKET_CALL_COST = 32   # an extra model call, in padded positions' worth of work (forward + backward)


def _length_buckets(lengths: list[int], r_len: int) -> list[tuple[list[int] | None, int]]:
    """Rows grouped by response length: ``[(rows, longest), ...]`` minimising padded positions plus
    ``_BUCKET_CALL_COST`` per bucket (dynamic programme over the rows sorted by length, at most ``_MAX_BUCKETS``);
    ``[(None, r_len)]`` when one bucket is best."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    L = [max(1, int(lengths[i])) for i in order]
    n = len(L)
    if n < 2 or n > 512 or L[0] == L[-1]:
        return [(None, r_len)]
    INF = float("inf")
    # best[k][j]: cost of the first j sorted rows in k buckets; cut[k][j]: where the last of them starts
    best = [[INF] * (n + 1) for _ in range(_MAX_BUCKETS + 1)]
    cut = [[0] * (n + 1) for _ in range(_MAX_BUCKETS + 1)]
    best[0][0] = 0.0
    starts = [0] + [i for i in range(1, n) if L[i] != L[i - 1]]   # a bucket starts where the length changes
    ends = [i for i in range(1, n + 1) if i == n or L[i] != L[i - 1]]
    for k in range(1, _MAX_BUCKETS + 1):
        for j in ends:
            for i in starts:
                if i >= j or best[k - 1][i] == INF:
                    continue
                c = best[k - 1][i] + (j - i) * L[j - 1] + _BUCKET_CALL_COST
                if c < best[k][j]:
                    best[k][j], cut[k][j] = c, i
    k = min(range(1, _MAX_BUCKETS + 1), key=lambda kk: best[kk][n])
    if k == 1:
        return [(None, r_len)]
    out, j = [], n
    for kk in range(k, 0, -1):
        i = cut[kk][j]
        out.append(([order[t] for t in range(i, j)], L[j - 1]))
        j = i
    return out[::-1]


def _adamw(params: list, **kw) -> torch.optim.AdamW:
    """AdamW with the fused kernel (several times faster on CPU, also available on CUDA) when the parameters allow
    it, else the default implementation."""
    if params and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64) and
                      p.device.type in ("cpu", "cuda") for p in params):
        try:
            return torch.optim.AdamW(params, fused=True, **kw)
        except (RuntimeError, ValueError, TypeError):
            pass
    return torch.optim.AdamW(params, **kw)


def _masked_sum_k3(engine_logp, trainer_logp, mask) -> float:
    log_rho = torch.where(mask, trainer_logp.double() - engine_logp.double(), 0.0)
    return float(torch.where(mask, torch.exp(log_rho) - 1 - log_rho, 0.0).sum())


def _reset_peak_rss() -> None:
    """Start a new peak-RSS window, so that a run reports its own peak and not that of an earlier run in the same
    process (``rlvr-zoo compare`` trains several). Linux only (``/proc/self/clear_refs``); elsewhere a no-op."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """Peak resident memory since the last ``_reset_peak_rss`` (VmHWM), else since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(cfg: TrainConfig, resume: bool = False, callbacks: Sequence[Callable] = (), progress: bool = True,
          **trainer_kw) -> TrainResult:
    """Train ``cfg.algo`` on ``cfg.task`` (see :class:`Trainer`); returns where everything was written.

    callbacks: each ``cb(step, trainer) -> dict | None`` runs every ``cfg.eval_every`` steps and after the last step,
    on the main rank, with ``trainer.engine`` synced to the current weights; the dict is merged into that step's
    metrics record. trainer_kw: ``dataset``, ``reward_fn``, ``algorithm``, ``engine`` (see Trainer).
    """
    trainer = Trainer(cfg, resume=resume, callbacks=callbacks, progress=progress, **trainer_kw)
    try:
        return trainer.train()
    finally:
        distributed.shutdown()
