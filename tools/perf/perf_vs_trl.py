"""Side-by-side GRPO throughput and memory: rlvr-zoo's trainer against TRL's ``GRPOTrainer`` on the same work.

Both systems run the same GRPO configuration: the same model (``smollm2-135m`` by default), the same rendered prompts
in the same order (``arith`` level-1 train problems through the ``boxed`` template), the same responses per prompt,
maximum new tokens, temperature, top-p, learning rate, one optimiser update per batch (one forward/backward over the
whole batch), no KL term (no reference model), the same reward function (``rewards.get_reward("correctness")``
with GRPO's reward values) and the same compute dtype (float32, or bf16 autocast with float32 master weights).

Each measured run is a fresh subprocess (so that peak resident memory belongs to one system), and the runs
alternate between the systems (A B, then B A, ...) so that drift in machine load hits both. The first
``--warmup`` steps of every run are not measured.

Per system it reports: step time (median, min, max, interquartile range over all measured steps), rollout tokens/s
(generated tokens / time inside generation), training tokens/s (prompt + response tokens of the batch / the rest of
the step: reward, log-probs, backward, optimiser), peak resident memory (``ru_maxrss`` of the run's process), and the
ratios ours / TRL. Figures go to ``results/perf/perf_vs_trl.json`` (atomically) with the machine description.

    .venv/bin/python -m tools.perf.perf_vs_trl --steps 3 --warmup 1 --rounds 1
    .venv/bin/python -m tools.perf.perf_vs_trl --variants ours:float32,trl:float32,ours:bfloat16,trl:bfloat16

A variant is ``system:dtype[:engine]`` with system ``ours`` or ``trl``, dtype ``float32`` or ``bfloat16`` and engine
``hf`` (default) or ``vllm`` (TRL: ``use_vllm=True, vllm_mode="colocate"``; ours: ``engine: vllm``).

TRL is a development-only dependency (``pip install 'rlvr-zoo[compare]'``); it is imported only in the TRL worker.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.io import write_text

__all__ = ["PerfConfig", "build_prompts", "run_trl", "run_ours", "summarize_runs", "ratios", "failure_reason",
           "machine_description", "main"]


@dataclass
class PerfConfig:
    """The GRPO work both systems do (each field is applied identically to both)."""
    model: str = "smollm2-135m"          # model spec (harness.models.resolve)
    prompts_per_step: int = 2            # prompts per step
    responses_per_prompt: int = 8        # group size G: batch = prompts_per_step * G sequences
    max_new_tokens: int = 64             # maximum response length
    temperature: float = 1.0
    top_p: float = 1.0
    lr: float = 1e-6
    dtype: str = "float32"               # float32 | bfloat16 (bf16 autocast, float32 master weights)
    engine: str = "hf"                   # hf | vllm
    steps: int = 3                       # measured steps per run
    warmup: int = 1                      # unmeasured steps at the start of each run
    seed: int = 0
    task: str = "arith"                  # prompts: rows of this task ...
    task_params: dict = field(default_factory=lambda: {"level": 1})
    template: str = "boxed"              # ... rendered with this template
    threads: int = 0                     # torch.set_num_threads (0: leave torch's default)
    micro_batch_size: int = 0            # sequences per forward/backward, both systems (0: the whole batch)
    overhead: bool = True                # ours: measure the overhead ratio after the run (tools.perf.perf_overhead)
    vllm_kv_cache_gib: float = 0.0       # ours with vLLM: KV cache size (0: sized to the work, see vllm_sizing)

    def check(self) -> "PerfConfig":
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"PerfConfig.dtype must be 'float32' or 'bfloat16', got {self.dtype!r}")
        if self.engine not in ("hf", "vllm"):
            raise ValueError(f"PerfConfig.engine must be 'hf' or 'vllm', got {self.engine!r}")
        if self.micro_batch_size < 0:
            raise ValueError(f"PerfConfig.micro_batch_size must be >= 0 (0: the whole batch), got "
                             f"{self.micro_batch_size}")
        for name in ("prompts_per_step", "responses_per_prompt", "max_new_tokens", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"PerfConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.vllm_kv_cache_gib < 0:
            raise ValueError(f"PerfConfig.vllm_kv_cache_gib must be >= 0 (0: sized to the work), got "
                             f"{self.vllm_kv_cache_gib}")
        if self.warmup < 0:
            raise ValueError(f"PerfConfig.warmup must be >= 0, got {self.warmup}")
        return self

    @property
    def total_steps(self) -> int:
        return self.warmup + self.steps


# ------------------------------------------------------------------------------------------------ shared pieces
def build_prompts(cfg: PerfConfig, tokenizer) -> list[dict]:
    """The rows both systems train on, in order: ``{"id", "problem", "answer", "prompt"}`` (``prompt`` rendered)."""
    import benchmarks

    n = cfg.prompts_per_step * cfg.total_steps
    rows = benchmarks.load(cfg.task, split="train", **{"n": n, "seed": cfg.seed, **cfg.task_params})[:n]
    for r in rows:
        r["prompt"] = benchmarks.render_prompt(tokenizer, r["problem"], template=cfg.template)
    return rows


def vllm_sizing(cfg: PerfConfig, tokenizer, rows: list[dict]) -> dict:
    """Engine parameters that size our in-process vLLM engine to the benchmark's work instead of its 1 GiB CPU
    default: ``max_model_len`` = longest prompt + ``max_new_tokens``, and a KV cache of twice what one step's
    sequences can hold at that length (``cfg.vllm_kv_cache_gib`` overrides it). KV bytes per token = layers x 2 (keys
    and values) x KV heads x head size x 2 bytes (bf16)."""
    import json as _json

    from harness import models

    prompt_max = max(len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rows)
    max_len = prompt_max + cfg.max_new_tokens
    if cfg.vllm_kv_cache_gib:
        return {"kv_cache_gib": cfg.vllm_kv_cache_gib, "max_model_len": max_len}
    conf = _json.loads((Path(models.resolve(cfg.model)) / "config.json").read_text())
    heads = int(conf["num_attention_heads"])
    head_dim = int(conf.get("head_dim") or int(conf["hidden_size"]) // heads)
    per_token = int(conf["num_hidden_layers"]) * 2 * int(conf.get("num_key_value_heads") or heads) * head_dim * 2
    need = 2 * cfg.prompts_per_step * cfg.responses_per_prompt * max_len * per_token
    gib = max(1, -(-need // (1 << 24))) / 64   # rounded up to 1/64 GiB
    return {"kv_cache_gib": gib, "max_model_len": max_len}


def _reward_values() -> tuple[float, float]:
    import algorithms

    algo = algorithms.get("grpo")
    return float(getattr(algo, "reward_correct", 1.0)), float(getattr(algo, "reward_incorrect", 0.0))


def _peak_rss_mb() -> float:
    """``ru_maxrss`` of this process (the run's own process: model, optimiser, in-process engine; not its children)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tree_rss_mb(root: int) -> float | None:
    """Current resident memory of ``root`` and all its descendants (MB, summed VmRSS; None off Linux)."""
    try:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                            break
            except OSError:
                continue
        return total / 1024.0
    except OSError:
        return None


class _TreeRssSampler:
    """Samples the summed resident memory of this process and its descendants (the reward checker pool, any
    engine worker process) every ``interval`` seconds in a thread; ``peak_mb`` is the highest sample. Pages shared
    between processes count once per process, so this is an upper bound of the tree's real footprint."""

    def __init__(self, interval: float = 0.25):
        import threading

        self.interval, self.peak_mb = interval, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = _tree_rss_mb(os.getpid())
            if v is not None:
                self.peak_mb = v if self.peak_mb is None else max(self.peak_mb, v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class _GenTimer:
    """Wraps a generation function: wall time and token counts of every call."""

    def __init__(self):
        self.calls: list[dict] = []

    def record(self, seconds: float, gen_tokens: int, prompt_tokens: int) -> None:
        self.calls.append({"gen_s": seconds, "gen_tokens": gen_tokens, "prompt_tokens": prompt_tokens})


def _per_step(step_s: list[float], timer: _GenTimer, cfg: PerfConfig) -> list[dict]:
    if len(timer.calls) != len(step_s):
        raise RuntimeError(f"expected one generation call per step, got {len(timer.calls)} calls for "
                           f"{len(step_s)} steps; the timing attribution would be wrong")
    out = []
    for i, (s, g) in enumerate(zip(step_s, timer.calls)):
        train_tokens = g["gen_tokens"] + g["prompt_tokens"]
        rest = max(s - g["gen_s"], 1e-9)
        out.append({"step": i, "warmup": i < cfg.warmup, "step_s": s, "gen_s": g["gen_s"],
                    "gen_tokens": g["gen_tokens"], "train_tokens": train_tokens,
                    "rollout_tok_s": g["gen_tokens"] / max(g["gen_s"], 1e-9), "train_tok_s": train_tokens / rest})
    return out


# ------------------------------------------------------------------------------------------------ TRL
def run_trl(cfg: PerfConfig) -> dict[str, Any]:
    """``cfg.total_steps`` GRPO steps of TRL's ``GRPOTrainer`` on the shared prompts; per-step figures.

    One step = generate ``prompts_per_step * responses_per_prompt`` completions, score them, one forward/backward
    over the whole batch and one optimiser step (``per_device_train_batch_size`` = batch,
    ``gradient_accumulation_steps=1``, ``steps_per_generation=1``, ``num_iterations=1``), ``beta=0`` (no reference
    model), ``loss_type="grpo"``, constant learning rate, grad-norm clip 1.0.
    """
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback

    from harness import models
    import rewards

    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    path = models.resolve(cfg.model)
    tokenizer = models.load_tokenizer(cfg.model)
    rows = build_prompts(cfg, tokenizer)
    good, bad = _reward_values()
    reward_fn = rewards.get_reward("correctness", correct=good, incorrect=bad)  # what our trainer builds for GRPO

    def correctness(prompts, completions, answer, completion_ids=None, **_):
        ntok = [len(c) for c in completion_ids] if completion_ids is not None else [0] * len(completions)
        return [r.value for r in reward_fn.batch(list(answer), list(completions), ntok)]

    batch = cfg.prompts_per_step * cfg.responses_per_prompt
    mb = cfg.micro_batch_size or batch
    if batch % mb:
        raise ValueError(f"micro_batch_size {mb} must divide the batch ({batch} sequences) for TRL's gradient "
                         f"accumulation; use a divisor of {batch} or 0 (the whole batch)")
    with tempfile.TemporaryDirectory(prefix="perf-trl-") as out_dir:
        # micro-batches: TRL generates per_device_train_batch_size * steps_per_generation = batch sequences at once
        # and accumulates batch / mb forward/backward passes into one optimiser step
        args = trl.GRPOConfig(
            output_dir=out_dir, use_cpu=True, bf16=cfg.dtype == "bfloat16", fp16=False,
            per_device_train_batch_size=mb, gradient_accumulation_steps=batch // mb,
            steps_per_generation=batch // mb,
            num_generations=cfg.responses_per_prompt, num_iterations=1, max_completion_length=cfg.max_new_tokens,
            temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, learning_rate=cfg.lr,
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
            beta=0.0, loss_type="grpo", scale_rewards="group", max_steps=cfg.total_steps, seed=cfg.seed,
            shuffle_dataset=False, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
            dataloader_num_workers=0, remove_unused_columns=False, log_completions=False,
            use_vllm=cfg.engine == "vllm", **({"vllm_mode": "colocate"} if cfg.engine == "vllm" else {}))
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        dataset = Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows])
        trainer = trl.GRPOTrainer(model=model, reward_funcs=[correctness], args=args, train_dataset=dataset,
                                  processing_class=tokenizer)

        timer = _GenTimer()
        inner = trainer._generate_single_turn

        def timed_generate(prompt_ids, *a, **k):
            t = time.perf_counter()
            completion_ids, logprobs = inner(prompt_ids, *a, **k)
            timer.record(time.perf_counter() - t, sum(len(c) for c in completion_ids),
                         sum(len(p) for p in prompt_ids))
            return completion_ids, logprobs

        trainer._generate_single_turn = timed_generate
        step_s: list[float] = []

        class StepClock(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                self.t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                step_s.append(time.perf_counter() - self.t)

        trainer.add_callback(StepClock())
        t0 = time.perf_counter()
        with _TreeRssSampler() as tree:
            trainer.train()
        wall = time.perf_counter() - t0
        rewards_logged = [h.get("reward") for h in trainer.state.log_history if "reward" in h]
    return {"system": "trl", "version": trl.__version__, "config": dataclasses.asdict(cfg), "micro_batch_size": mb,
            "steps": _per_step(step_s, timer, cfg), "wall_s": wall, "peak_rss_mb": _peak_rss_mb(),
            "peak_tree_rss_mb": tree.peak_mb, "reward_mean": rewards_logged}


# ------------------------------------------------------------------------------------------------ ours
def run_ours(cfg: PerfConfig) -> dict[str, Any]:
    """The same work through ``harness.training.Trainer`` (GRPO with ``kl_coef=0``, one update per batch)."""
    import torch

    from harness import models
    from harness.training import TrainConfig, Trainer

    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tokenizer = models.load_tokenizer(cfg.model)
    rows = build_prompts(cfg, tokenizer)
    batch = cfg.prompts_per_step * cfg.responses_per_prompt
    with tempfile.TemporaryDirectory(prefix="perf-ours-") as out_dir:
        tc = TrainConfig.from_dict({
            "algo": "grpo", "algo_overrides": {"kl_coef": 0.0}, "model": cfg.model, "dtype": cfg.dtype,
            "template": cfg.template, "reward": "correctness", "shuffle": False, "engine": cfg.engine,
            "prompts_per_step": cfg.prompts_per_step, "responses_per_prompt": cfg.responses_per_prompt,
            "max_new_tokens": cfg.max_new_tokens, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "steps": cfg.total_steps, "lr": cfg.lr, "warmup_steps": 0, "weight_decay": 0.0, "grad_clip": 1.0,
            "epochs": 1, "minibatch_size": 0, "micro_batch_size": cfg.micro_batch_size or batch, "seed": cfg.seed,
            "out_dir": out_dir, "engine_params": vllm_sizing(cfg, tokenizer, rows) if cfg.engine == "vllm" else {},
            "save_final": False, "tensorboard": False, "save_every": 0})
        trainer = Trainer(tc, dataset=[{k: r[k] for k in ("id", "problem", "answer")} for r in rows],
                          progress=False)
        timer = _GenTimer()
        inner = trainer.engine.generate

        def timed_generate(prompts, sampling, *a, **k):
            t = time.perf_counter()
            out = inner(prompts, sampling, *a, **k)
            timer.record(time.perf_counter() - t, sum(len(r.response_ids) for r in out),
                         sum(len(r.prompt_ids) for r in out))
            timer.calls[-1]["rollouts"] = out   # kept (outside the figures) for the overhead measurement
            return out

        trainer.engine.generate = timed_generate
        t0 = time.perf_counter()
        with _TreeRssSampler() as tree:
            trainer.train()
        wall = time.perf_counter() - t0
        peak = _peak_rss_mb()   # before the overhead measurement, which allocates on its own
        metrics = [json.loads(line) for line in (Path(out_dir) / "metrics.jsonl").read_text().splitlines() if line]
        # a step's time less its checkpoint (the run's last step writes one), which TRL's step timing does not cover
        step_s = [m["time/step_s"] - m.get("time/checkpoint_s", 0.0) for m in metrics if "time/step_s" in m]
        steps = _per_step(step_s, timer, cfg)
        overhead = None
        if cfg.overhead:
            from tools.perf.perf_overhead import StepWork, measure_overhead

            measured = [i for i, st in enumerate(steps) if not st["warmup"]]
            overhead = measure_overhead(
                [step_s[i] for i in measured],
                [StepWork.from_rollouts(timer.calls[i]["rollouts"], cfg.responses_per_prompt) for i in measured],
                model=trainer.model, pad_token_id=trainer.pad_id, temperature=cfg.temperature, top_p=cfg.top_p,
                dtype=cfg.dtype, micro_batch_size=tc.micro_batch_size,
                vllm_llm=trainer.engine.llm if cfg.engine == "vllm" else None, seed=cfg.seed)
            for i, o in zip(measured, overhead):
                steps[i].update({k: v for k, v in o.items() if k != "step_s"})
    return {"system": "ours", "version": "rlvr-zoo", "config": dataclasses.asdict(cfg),
            "micro_batch_size": tc.micro_batch_size, "engine_params": tc.engine_params,
            "engine_effective": _engine_effective(trainer.engine), "steps": steps, "wall_s": wall, "peak_rss_mb": peak,
            "peak_tree_rss_mb": tree.peak_mb, "reward_mean": [m.get("reward/mean") for m in metrics]}


def _engine_effective(engine) -> dict:
    """The HF engine's settings as they applied in the run (defaults resolved), for the record."""
    use_packed = getattr(engine, "_use_packed", None)
    if use_packed is None:
        return {}
    return {"packed_weights": bool(use_packed(next(engine.model.parameters()).device)),
            "batch_size": engine.batch_size}


# ------------------------------------------------------------------------------------------------ driver
def machine_description() -> dict[str, Any]:
    """CPU model, core count, memory and library versions of this machine."""
    import torch
    import transformers

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    try:
        import trl
        trl_version = trl.__version__
    except ImportError:
        trl_version = None
    return {"cpu": cpu, "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "mem_gib": mem_gib,
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "transformers": transformers.__version__, "trl": trl_version, "platform": platform.platform()}


def parse_variant(text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("ours", "trl") or parts[1] not in ("float32", "bfloat16") \
            or (len(parts) == 3 and parts[2] not in ("hf", "vllm")):
        raise ValueError(f"variant {text!r} is not valid; use system:dtype[:engine] with system ours|trl, dtype "
                         f"float32|bfloat16, engine hf|vllm (e.g. ours:bfloat16:vllm)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else "hf"


def _spread(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0]] * 3
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "q1": q[0], "q3": q[2], "n": len(xs)}


def summarize_runs(runs: list[dict]) -> dict[str, dict]:
    """Per variant: step time spread, rollout and training tokens/s (pooled over measured steps), peak RSS."""
    out: dict[str, dict] = {}
    for run in runs:
        out.setdefault(run["variant"], {"runs": []})["runs"].append(run)
    for variant, entry in out.items():
        steps = [s for r in entry["runs"] for s in r["steps"] if not s["warmup"]]
        if not steps:
            raise RuntimeError(f"{variant}: no measured steps (every step was a warm-up step)")
        gen_s = sum(s["gen_s"] for s in steps)
        rest = sum(max(s["step_s"] - s["gen_s"], 1e-9) for s in steps)
        entry.update({
            "step_s": _spread([s["step_s"] for s in steps]),
            "rollout_tok_s": sum(s["gen_tokens"] for s in steps) / max(gen_s, 1e-9),
            "train_tok_s": sum(s["train_tokens"] for s in steps) / rest,
            "gen_tokens_per_step": statistics.mean(s["gen_tokens"] for s in steps),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in entry["runs"]),
        })
        trees = [r.get("peak_tree_rss_mb") for r in entry["runs"]]
        entry["peak_tree_rss_mb"] = max(trees) if trees and all(t is not None for t in trees) else None
        mbs = {r.get("micro_batch_size") for r in entry["runs"]} - {None}
        if mbs:
            entry["micro_batch_size"] = max(mbs)
        with_oh = [s for s in steps if "overhead_ratio" in s]
        if with_oh:
            entry["overhead"] = {
                "ratio": _spread([s["overhead_ratio"] for s in with_oh]),
                "bare_gen_s": statistics.median(s["bare_gen_s"] for s in with_oh),
                "bare_fb_s": statistics.median(s["bare_fb_s"] for s in with_oh),
                "bare_gen_tokens": statistics.median(s["bare_gen_tokens"] for s in with_oh)}
        del entry["runs"]
    return out


def ratios(summary: dict[str, dict]) -> dict[str, dict[str, float]]:
    """ours / TRL for each (dtype, engine) present for both systems, and best-of-each (lowest median step time)."""
    out = {}
    keys = {v.split(":", 1)[1] for v in summary}
    for k in sorted(keys):
        a, b = summary.get(f"ours:{k}"), summary.get(f"trl:{k}")
        if a and b:
            out[k] = {"step_time": a["step_s"]["median"] / b["step_s"]["median"],
                      "rollout_tok_s": a["rollout_tok_s"] / b["rollout_tok_s"],
                      "train_tok_s": a["train_tok_s"] / b["train_tok_s"],
                      "peak_rss": a["peak_rss_mb"] / b["peak_rss_mb"]}
    best = {}
    for system in ("ours", "trl"):
        cands = {v: s for v, s in summary.items() if v.startswith(system + ":")}
        if cands:
            best[system] = min(cands, key=lambda v: cands[v]["step_s"]["median"])
    if len(best) == 2:
        a, b = summary[best["ours"]], summary[best["trl"]]
        out["best"] = {"ours": best["ours"], "trl": best["trl"],
                       "step_time": a["step_s"]["median"] / b["step_s"]["median"],
                       "peak_rss": a["peak_rss_mb"] / b["peak_rss_mb"]}
    return out


def failure_reason(text: str) -> str:
    """The line of a failed run's output that says why: the last ``SomeError: ...`` line, else the last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        head = ln.split(":", 1)[0]
        if ":" in ln and " " not in head and head.rsplit(".", 1)[-1].endswith(("Error", "Exception", "Interrupt")):
            return ln
    return lines[-1] if lines else "no output"


def _table(summary: dict[str, dict], rat: dict, failed: dict[str, dict] | None = None) -> str:
    lines = ["| variant | step s (median) | step s (min-max) | rollout tok/s | train tok/s | peak RSS MB "
             "| peak RSS MB, with child processes | overhead ratio (bare gen s + bare fwd/bwd s) |",
             "|---|---|---|---|---|---|---|---|"]
    for v, s in summary.items():
        st = s["step_s"]
        tree = f"{s['peak_tree_rss_mb']:.0f}" if s.get("peak_tree_rss_mb") is not None else "-"
        oh = s.get("overhead")
        oh_text = (f"{oh['ratio']['median']:.2f} ({oh['bare_gen_s']:.2f} + {oh['bare_fb_s']:.2f})" if oh else "-")
        name = v + (f" (micro-batch {s['micro_batch_size']})" if s.get("micro_batch_size") else "")
        lines.append(f"| {name} | {st['median']:.2f} | {st['min']:.2f}-{st['max']:.2f} | {s['rollout_tok_s']:.1f} | "
                     f"{s['train_tok_s']:.1f} | {s['peak_rss_mb']:.0f} | {tree} | {oh_text} |")
    for v, why in (failed or {}).items():
        lines.append(f"| {v} | failed: {why['reason'][:300]} | | | | | | |")
    for k, r in rat.items():
        if k == "best":
            lines.append(f"\nbest settings: {r['ours']} / {r['trl']}: step time x{r['step_time']:.2f}, "
                         f"peak RSS x{r['peak_rss']:.2f}")
        else:
            lines.append(f"\nours/TRL at {k}: step time x{r['step_time']:.2f}, rollout tok/s x{r['rollout_tok_s']:.2f},"
                         f" train tok/s x{r['train_tok_s']:.2f}, peak RSS x{r['peak_rss']:.2f}")
    return "\n".join(lines)


def _worker(system: str, cfg: PerfConfig, result_path: str) -> None:
    res = run_trl(cfg) if system == "trl" else run_ours(cfg)
    write_text(result_path, json.dumps(res))


def _run_subprocess(system: str, cfg: PerfConfig, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="perf-") as d:
        result = os.path.join(d, "result.json")
        cmd = [sys.executable, "-m", "tools.perf.perf_vs_trl", "--worker", system, "--config",
               json.dumps(dataclasses.asdict(cfg)), "--result", result]
        # the run's output goes to a file (a pipe could fill up); on timeout the child is killed by subprocess.run
        log_path = os.path.join(d, "run.log")
        # both systems' OpenMP threads sleep while they wait, as under `rlvr-zoo` (harness.cli.passive_openmp_waits)
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], timeout=timeout, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        proc.stdout = Path(log_path).read_text(errors="replace")
        if proc.returncode != 0 or not os.path.exists(result):
            raise RuntimeError(f"{system} run failed (exit {proc.returncode}); its output ends with:\n"
                               f"{proc.stdout[-4000:]}")
        return json.loads(Path(result).read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.perf.perf_vs_trl", description=__doc__.split("\n\n")[0])
    defaults = PerfConfig()
    p.add_argument("--variants", default="ours:float32,trl:float32",
                   help="comma-separated system:dtype[:engine] (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=1, help="runs per variant, alternating order (default 1)")
    p.add_argument("--model", default=defaults.model)
    p.add_argument("--prompts", type=int, default=defaults.prompts_per_step, help="prompts per step")
    p.add_argument("--responses", type=int, default=defaults.responses_per_prompt, help="responses per prompt")
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    p.add_argument("--temperature", type=float, default=defaults.temperature)
    p.add_argument("--top-p", type=float, default=defaults.top_p)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--steps", type=int, default=defaults.steps, help="measured steps per run")
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="unmeasured steps per run")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, default=0, help="torch threads in each run (0: torch's default)")
    p.add_argument("--micro-batch-size", type=int, default=defaults.micro_batch_size,
                   help="sequences per forward/backward for both systems (ours: micro_batch_size; TRL: "
                        "per_device_train_batch_size with gradient accumulation); same gradient as the whole batch; "
                        "0: the whole batch in one forward/backward (default %(default)s)")
    p.add_argument("--no-overhead", dest="overhead", action="store_false",
                   help="skip the overhead ratio of our runs (bare generate + bare forward/backward after the steps)")
    p.add_argument("--vllm-kv-cache-gib", type=float, default=defaults.vllm_kv_cache_gib,
                   help="our vLLM engine's KV cache in GiB (0: twice what one step's sequences need at the longest "
                        "prompt + max new tokens; the engine's own CPU default is 1 GiB)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run")
    p.add_argument("--out", default="results/perf/perf_vs_trl.json")
    p.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        _worker(a.worker, PerfConfig(**json.loads(a.config)).check(), a.result)
        return 0
    variants = [parse_variant(v.strip()) for v in a.variants.split(",") if v.strip()]
    base = PerfConfig(model=a.model, prompts_per_step=a.prompts, responses_per_prompt=a.responses,
                      max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_p=a.top_p, lr=a.lr,
                      steps=a.steps, warmup=a.warmup, seed=a.seed, threads=a.threads,
                      micro_batch_size=a.micro_batch_size, overhead=a.overhead,
                      vllm_kv_cache_gib=a.vllm_kv_cache_gib).check()
    shown = {k: v for k, v in dataclasses.asdict(base).items() if k not in ("dtype", "engine")}
    print(f"variants: {', '.join(':'.join(v) for v in variants)}; settings: {shown}", flush=True)
    runs = []
    from tqdm import tqdm

    order_runs = []
    for r in range(a.rounds):
        order_runs.extend(variants if r % 2 == 0 else list(reversed(variants)))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m tools.perf.perf_vs_trl " + " ".join(argv if argv is not None else sys.argv[1:])

    def write(report: dict) -> None:
        write_text(out, json.dumps(report, indent=2))

    failed: dict[str, dict] = {}
    for system, dtype, engine in tqdm(order_runs, desc="perf_vs_trl runs", unit="run"):
        cfg = dataclasses.replace(base, dtype=dtype, engine=engine)
        variant = f"{system}:{dtype}:{engine}"
        try:
            res = _run_subprocess(system, cfg, a.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            # a variant that cannot run here (e.g. a vLLM mode on this CPU) is recorded with its reason; the others go on
            text = f"timed out after {a.timeout:.0f} s" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
            failed[variant] = {"reason": failure_reason(text), "log_tail": text[-4000:]}
            tqdm.write(f"{variant}: FAILED: {failed[variant]['reason']}")
            write({"command": command, "config": dataclasses.asdict(base), "status": "partial", "runs": runs,
                   "failed": failed})
            continue
        res["variant"] = variant
        runs.append(res)
        tqdm.write(f"{res['variant']}: steps {[round(s['step_s'], 2) for s in res['steps']]} s, "
                   f"peak RSS {res['peak_rss_mb']:.0f} MB")
        # partial results after every run, so an interrupted comparison keeps what it measured
        write({"command": command, "config": dataclasses.asdict(base), "status": "partial", "runs": runs,
               "failed": failed})
    summary = summarize_runs(runs) if runs else {}
    rat = ratios(summary)
    write({"command": command, "config": dataclasses.asdict(base), "status": "complete",
           "machine": machine_description(), "summary": summary, "ratios": rat, "runs": runs, "failed": failed,
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "load_average": os.getloadavg(),
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(_table(summary, rat, failed))
    print(f"\nwritten: {out}")
    return 1 if failed and not runs else 0


if __name__ == "__main__":
    sys.exit(main())
