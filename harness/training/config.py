"""`TrainConfig`: every field of a training run, documented, and the `--set field=value` parser (`parse_set`,
`apply_sets`); fields, their help text and the coercion of text to a field's type are the project's one field
mechanism, `algorithms.fields`. `Recipe`: what the objective's recipe asks of the trainer, read in one place."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

from algorithms import fields

__all__ = ["TrainConfig", "TrainingError", "Recipe", "parse_set", "apply_sets", "build_algorithm", "check_fsdp"]

_f = fields.field

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
    template: str = _f("boxed", "prompt template (benchmarks.template_names()): boxed | r1 | plain | qa | complete")
    reward: str = _f("correctness", "reward spec: a reward function name or a '+'-joined sum of them "
                                    "(rewards.reward_names()), built by rewards.training_reward")
    reward_params: dict = _f({}, "keyword arguments of the reward function (of a sum: one mapping per part name); "
                                 "correctness's correct/incorrect default to the objective's reward_correct / "
                                 "reward_incorrect")
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
    budget: str = _f("none", "'none': dynamic sampling draws up to dynamic_sampling_max_rounds rounds a step; "
                             "'equal-rollouts' (compare's default): a round is drawn only while the run's responses "
                             "stay within step x prompts_per_step x responses_per_prompt, what an objective without "
                             "dynamic sampling generates by that step")
    deterministic: bool = _f(False, "torch.use_deterministic_algorithms for the run (compare's default: true): an "
                                    "op with a run-to-run varying kernel takes its deterministic one, or warns when "
                                    "it has none. The built-in models are bit-for-bit repeatable either way (same "
                                    "machine, same thread count); this guards models and caches the zoo has not "
                                    "checked (docs/harness.md, 'Repeatable runs')")
    old_logprobs: str = _f("auto", "'auto': take old log-probs from the training forward when the step makes exactly "
                                   "one update (epochs=1, one mini-batch), else recompute them once before the "
                                   "update; 'recompute': always recompute; 'rollout': use the engine's log-probs")
    tis_cap: float = _f(0.0, "truncated importance sampling for the engine/trainer mismatch: the loss gets token "
                             "weights min(pi_old/pi_engine, tis_cap) as rollout_is_weights (Yao et al. 2025 use 2); "
                             "0 disables")
    rollout_correction: str = _f("none", "correction of the engine/trainer mismatch, chosen apart from the objective: "
                                         "none, token-tis, seq-tis, token-mis, seq-mis, icepop, geo-rs, kl-rs, "
                                         "outlier-token or opsm, optionally with parameters "
                                         "('icepop:alpha=0.5,beta=5'), several joined by '+' "
                                         "('token-tis:normalize=1+kl-rs:seq_max_k2=0.5'); rlvr-zoo list shows each "
                                         "with its source and defaults (algorithms.off_policy)")
    entropy_target: float | None = _f(None, "adaptive entropy coefficient (Skywork-OR1, arXiv 2505.22312; "
                                            "algorithms.entropy_control): each step the objective's entropy_coef is "
                                            "alpha while the last step's mean response-token entropy was below this "
                                            "target (else 0), alpha moving by entropy_coef_delta per step within "
                                            "[0, entropy_coef_max]; the authors use 0.2. None: off (the objective's "
                                            "fixed entropy_coef applies)")
    entropy_coef_delta: float = _f(1e-4, "step of the adaptive entropy coefficient per training step (Skywork-OR1's "
                                         "scripts: 1e-4)")
    entropy_coef_max: float = _f(0.005, "upper bound of the adaptive entropy coefficient (Skywork-OR1's scripts: "
                                        "0.005)")
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
    entropy_probe_prompts: int = _f(16, "held-out prompts of the task's test split whose responses, sampled once "
                                        "from the initial model, are teacher-forced every eval_every steps, after "
                                        "the last step and at step 0 to log entropy/probe, an entropy the rollouts' "
                                        "length cannot move (harness.training.probe); 0: off. A run given its own "
                                        "dataset (Trainer(dataset=...)) is probed only with probe_rows=...")
    # --- outputs ------------------------------------------------------------------------------------------------
    out_dir: str = _f("runs/train", "output directory: metrics.jsonl, run.json, checkpoints/, final/")
    eval_every: int = _f(0, "run the callbacks every this many steps and after the last one; 0: only after the last")
    save_every: int = _f(0, "write a checkpoint every this many steps; 0: only at the end (and on SIGINT/SIGTERM)")
    keep_checkpoints: int = _f(2, "keep the newest this many checkpoints; 0 keeps all")
    save_final: bool = _f(True, "write out_dir/final (save_pretrained model + tokenizer) at the end")
    tensorboard: bool = _f(True, "also write TensorBoard scalars to out_dir/tensorboard when tensorboard is "
                                 "installed")
    report_to: list = _f(["tensorboard"], "trackers that get the config and every metrics.jsonl record: "
                                          "tensorboard | wandb | mlflow (harness.training.trackers; docs/harness.md)")
    # --- hardware -----------------------------------------------------------------------------------------------
    device: str = _f("auto", "auto | cpu | cuda")
    backend: str = _f("auto", "torch.distributed backend under torchrun: auto (gloo on CPU, NCCL on CUDA) | gloo "
                              "| nccl")
    fsdp: bool = _f(False, "under torchrun, shard policy, critic, reference and optimiser state with FSDP2 instead "
                           "of DDP replicas (docs/scale-out.md); no effect on one process")

    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return fields.names(cls)

    @classmethod
    def describe(cls) -> dict[str, dict]:
        """field -> {"default", "doc", "type"} (for documentation and `--set help=1`)."""
        return fields.describe(cls)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainConfig":
        """Build a config from a mapping, each value coerced to its field's type (`algorithms.fields.coerce`);
        unknown keys raise ValueError listing the valid ones."""
        return cls(**fields.from_mapping(cls, data, "TrainConfig"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def with_overrides(self, assignments: Sequence[str]) -> "TrainConfig":
        """A copy with ``field=value`` strings applied (see :func:`apply_sets`)."""
        return TrainConfig.from_dict(apply_sets(self.to_dict(), assignments))

    def changed_training_fields(self, saved: dict) -> list[str]:
        """Fields of a saved config (a checkpoint's) that differ from this one, leaving out those a resumed run may
        change: steps, out_dir, eval_every, save_every, keep_checkpoints, tensorboard, report_to, save_final."""
        ignore = {"steps", "out_dir", "eval_every", "save_every", "keep_checkpoints", "tensorboard", "report_to",
                  "save_final"}
        now = self.to_dict()
        return sorted(k for k in saved if k not in ignore and saved.get(k) != now.get(k))

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first out-of-range field; returns self."""
        from harness.training.trackers import check as check_trackers

        check_trackers(self.report_to, probe_stores=True)   # an unusable MLflow store stops here
        positive = ("steps", "prompts_per_step", "responses_per_prompt", "max_new_tokens", "epochs",
                    "micro_batch_size", "dynamic_sampling_max_rounds")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "minibatch_size", "logprob_chunk_size", "eval_every", "save_every",
                     "keep_checkpoints", "rollout_batch_prompts", "entropy_probe_prompts"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "critic_lr", "weight_decay", "grad_clip", "tis_cap", "adam_eps", "entropy_coef_delta",
                     "entropy_coef_max"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"TrainConfig.{name} must be a finite number >= 0, got {value}")
        if self.budget not in ("none", "equal-rollouts"):
            raise ValueError(f"TrainConfig.budget must be 'none' or 'equal-rollouts', got {self.budget!r}")
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
        if self.entropy_target is not None and not (math.isfinite(self.entropy_target) and self.entropy_target >= 0):
            raise ValueError(f"TrainConfig.entropy_target must be None (off) or a finite number >= 0, got "
                             f"{self.entropy_target}")
        self._validate_rollout_correction()
        return self

    def _validate_rollout_correction(self) -> None:
        from algorithms import off_policy

        try:
            name, _ = off_policy.parse_spec(self.rollout_correction)
        except ValueError as err:
            raise ValueError(f"TrainConfig.rollout_correction: {err}") from None
        if name != "none" and self.tis_cap > 0:
            raise ValueError(f"TrainConfig: tis_cap={self.tis_cap} and rollout_correction={self.rollout_correction!r} "
                             f"both correct the engine/trainer mismatch; set one (tis_cap=2 is "
                             f"rollout_correction='token-tis')")


def apply_sets(data: dict, assignments: Sequence[str]) -> dict[str, Any]:
    """``data`` (some or all TrainConfig fields) with ``--set field=value`` strings applied, each value coerced to
    its field's type; ``field.key=value`` sets one entry of a mapping field (`algorithms.fields.apply_assignments`)."""
    return fields.apply_assignments(TrainConfig, data, assignments, "TrainConfig")


def parse_set(assignments: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-5", "algo_overrides.beta1=0.75"]`` -> ``{"lr": "1e-5", "algo_overrides.beta1": 0.75}``
    (`algorithms.fields.parse_assignments`); an unknown field is a ValueError listing the valid ones."""
    return fields.parse_assignments(TrainConfig, assignments, "TrainConfig")


@dataclass(frozen=True)
class Recipe:
    """What an objective's recipe asks of the trainer, read from its plain fields in one place (`Recipe.of`); the
    fields stay on the objective with their papers' defaults (`algorithms.Algorithm`), the trainer reads them here.
    """
    uses_reference: bool                 # kl_coef > 0: a frozen reference policy gives ref_logp
    kl_reward_penalty: bool              # the KL is a per-token reward penalty (PPO), not a loss term
    needs_critic: bool                   # a value model is trained and gives the gae estimator its values
    greedy_baseline: bool                # the estimator needs one greedy response's reward per prompt (ReMax)
    dynamic_sampling: bool               # groups whose rewards are all equal are dropped and sampled again (DAPO)
    reward_correct: float                # correctness reward of a verified-correct response
    reward_incorrect: float              # ... and of an incorrect one
    overlong: dict | None                # {max_len, cache_len, penalty} of DAPO's soft overlong punishment, or None

    @classmethod
    def of(cls, algo) -> "Recipe":
        from algorithms import advantages

        overlong = {"max_len": algo.overlong_max_len, "cache_len": algo.overlong_cache_len,
                    "penalty": algo.overlong_penalty} if algo.overlong_shaping else None
        return cls(uses_reference=algo.uses_reference, kl_reward_penalty=algo.kl_in_reward and algo.kl_coef > 0,
                   needs_critic=algo.needs_critic,
                   greedy_baseline=advantages.needs_baseline_scores(algo.advantage_estimator),
                   dynamic_sampling=algo.dynamic_sampling, reward_correct=algo.reward_correct,
                   reward_incorrect=algo.reward_incorrect, overlong=overlong)


def build_algorithm(cfg: TrainConfig, algorithm=None):
    """The objective of a run: ``algorithm`` when given, else ``algorithms.get(cfg.algo, generation_budget=
    cfg.max_new_tokens, **cfg.algo_overrides)``; refuses one that cannot aggregate and warns when micro-batches split
    a batch-wide token selection."""
    import warnings

    import algorithms

    algo = algorithm if algorithm is not None else \
        algorithms.get(cfg.algo, generation_budget=cfg.max_new_tokens, **cfg.algo_overrides)
    if algo.loss_agg_mode == "seq-mean-token-sum-norm" and algo.loss_norm_length is None:
        raise TrainingError(f"objective {algo.name!r} aggregates with seq-mean-token-sum-norm but has no "
                            f"loss_norm_length; build it with algorithms.get(name, generation_budget="
                            f"{cfg.max_new_tokens}) or set loss_norm_length")
    if algo.batch_dependent and cfg.micro_batch_size < cfg.prompts_per_step * cfg.responses_per_prompt:
        warnings.warn(f"objective {algo.name!r} selects tokens over the whole batch; micro-batches of "
                      f"{cfg.micro_batch_size} sequences make its selection per micro-batch", stacklevel=3)
    return algo


def check_fsdp(cfg: TrainConfig, algo) -> None:
    """Under FSDP2 every forward and backward is a collective, so every rank must make the same model calls: refuse
    what would make them differ (call it when FSDP2 is on)."""
    why = None
    if Recipe.of(algo).dynamic_sampling:
        why = f"objective {algo.name!r} uses dynamic sampling, which leaves ranks with different batch sizes"
    elif cfg.length_buckets:
        why = "length_buckets splits each rank's micro-batches by its own lengths; set length_buckets=false"
    elif cfg.lora is not None:
        why = "LoRA adapters are not sharded yet; train LoRA with fsdp=false (DDP)"
    if why:
        raise TrainingError(f"fsdp=true cannot run here: {why}")
