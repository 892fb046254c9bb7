"""How far a training step is from what this machine can do: measured matmul rates and memory bandwidth, the FLOPs
and bytes of each phase of a step, the floor time per phase beside the measured one (the step timers,
`time/<phase>_s`, harness.timing).

    python -m tools.perf.roofline --run RUN_DIR [--name NAME] [--out results/perf]
    python -m tools.perf.roofline --machine-only

**The machine** (measured here, in this process, with torch's thread count):

* the matrix-product time of one pass through the model's linear layers for M rows (``M`` tokens at once), on
  weights of the model's real shapes and size (one set per layer, so the weights come from memory as in a real
  forward): float32, and bfloat16 (the weights cast once, as CPU autocast caches them). This is the floor of a
  forward over M tokens; at small M (a decode step) it is the time to stream the weights, at large M the matmul
  rate. The best of several repeats (the figure the machine sustains, not the noise of other processes);
* memory bandwidth: a copy of 256 MiB (read + write bytes) and a sum over 256 MiB (read bytes);
* SHA-256 over 256 MiB in memory, and writing 256 MiB to a file with fsync (the checkpoint's disk).

**The step** (from a run folder: run.json's config, metrics.jsonl's records, entropy_probe.json, eval/summary.json):
the exact prompts of each step (the run's seeded prompt order, reproduced), response lengths from the records, and
per phase:

* rollout: the prefill of the distinct prompts (one pass of their tokens) and the decode, whose floor per step is the
  layer pass at the number of rows still generating (every step streams the weights); without the per-row lengths,
  ``responses x mean length`` tokens over ``max_new_tokens`` decode steps when a response was truncated, else over
  the mean length;
* old / reference log-probs: one forward over the batch (the shared-prefix forward: each prompt once);
* update: forward + backward (3x the forward's matmul FLOPs) per epoch, plus AdamW's bytes (read p, g, m, v; write
  p, m, v) per optimiser update at the measured bandwidth;
* eval: the greedy evaluation of the run's final evaluation (eval/summary.json: problems, response tokens), prefill
  and decode as for the rollout, in batches of ``--eval-batch`` prompts;
* probe: one forward over the probe set (entropy_probe.json);
* checkpoint: model + optimiser state written with fsync and hashed (SHA-256), at the measured rates;
* reward, batch, advantages, sync, metrics: no floor (no matmul, little memory traffic); their measured time counts
  fully as overhead.

Attention, norms, activations and the log-softmax are left out of the FLOPs: the floor is the matmuls and the
memory traffic only, so a measured time close to it leaves nothing else to win. Prints a table; with ``--out`` writes
``roofline-<name>.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.cli import passive_openmp_waits

# The machine is measured under the OpenMP wait policy the trainer runs with (`rlvr-zoo` sets OMP_WAIT_POLICY=PASSIVE
# before torch is imported): with spinning waits, a small layer pass on a busy 2-core machine ran 50-100x slower
# (2.9 s for 4 rows against 44 ms for 1, load 5.9), which made every floor meaningless.
passive_openmp_waits()

import torch  # noqa: E402

from harness.timing import PHASES, STEP_KEY, time_key  # noqa: E402

MiB = 1 << 20


# ----------------------------------------------------------------------------------------------------------------
# the model's shapes


@dataclass
class Shapes:
    """The linear layers of a Llama-family model: per layer q, k, v, o, gate, up, down, and the LM head."""
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def from_config(cls, path: str | Path) -> "Shapes":
        cfg = json.loads((Path(path) / "config.json").read_text())
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        return cls(cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                   cfg.get("num_key_value_heads", cfg["num_attention_heads"]), head_dim, cfg["vocab_size"])

    def layer_mats(self) -> list[tuple[int, int]]:
        """(in, out) of one decoder layer's linear layers."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate
        return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]

    @property
    def body_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.layer_mats())

    @property
    def head_params(self) -> int:
        return self.hidden * self.vocab

    @property
    def params(self) -> int:
        """Parameters of the matmuls (the embedding is tied to the LM head: counted once)."""
        return self.body_params + self.head_params

    def forward_flops(self, body_tokens: float, head_tokens: float) -> float:
        """Matmul FLOPs of a forward: every layer over ``body_tokens`` positions, the LM head over ``head_tokens``."""
        return 2.0 * (self.body_params * body_tokens + self.head_params * head_tokens)


# ----------------------------------------------------------------------------------------------------------------
# the machine


def _best(fn, repeats: int, min_time: float = 0.2) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` timed batches of at least ``min_time`` each."""
    fn()
    best = math.inf
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 >= min_time:
                break
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def layer_pass_seconds(shapes: Shapes, rows: list[int], dtype: torch.dtype, repeats: int = 3) -> dict[int, float]:
    """{M: best seconds of one pass through every linear layer (and the LM head) for M rows} (module notes)."""
    gen = torch.Generator().manual_seed(0)
    weights = [[(torch.randn(o, i, generator=gen) * 0.02).to(dtype) for i, o in shapes.layer_mats()]
               for _ in range(shapes.layers)]
    head = (torch.randn(shapes.vocab, shapes.hidden, generator=gen) * 0.02).to(dtype)
    out = {}
    with torch.no_grad():
        for m in rows:
            x = torch.randn(m, shapes.hidden, generator=gen).to(dtype)
            a = torch.randn(m, shapes.intermediate, generator=gen).to(dtype)

            def one_pass():
                for layer in weights:
                    for w in layer:
                        torch.nn.functional.linear(a if w.shape[1] == shapes.intermediate else x, w)
                torch.nn.functional.linear(x, head)

            out[m] = _best(one_pass, repeats)
    return out


def bandwidth(repeats: int = 5) -> dict[str, float]:
    """GB/s of a 256 MiB copy (read + write) and of a 256 MiB sum (read)."""
    a = torch.randn(64 * MiB)
    b = torch.empty_like(a)
    b.copy_(a)
    copy = _best(lambda: b.copy_(a), repeats)
    read = _best(lambda: a.sum(), repeats)
    return {"copy_gb_s": 2 * a.numel() * 4 / copy / 1e9, "read_gb_s": a.numel() * 4 / read / 1e9}


def io_rates(directory: str | None = None) -> dict[str, float]:
    """MB/s of SHA-256 over 256 MiB in memory and of writing 256 MiB to a file with fsync (in ``directory``)."""
    block = os.urandom(256 * MiB)
    t0 = time.perf_counter()
    hashlib.sha256(block).hexdigest()
    sha = 256 / (time.perf_counter() - t0)
    with tempfile.NamedTemporaryFile(dir=directory) as fh:
        t0 = time.perf_counter()
        fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
        write = 256 / (time.perf_counter() - t0)
    return {"sha256_mb_s": sha, "fsync_write_mb_s": write}


def measure_machine(shapes: Shapes, rows: list[int]) -> dict:
    from tools.perf.perf_vs_trl import machine_description

    passes = {name: {str(m): s for m, s in layer_pass_seconds(shapes, rows, dt).items()}
              for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    rates = {name: {m: shapes.forward_flops(int(m), int(m)) / s / 1e9 for m, s in p.items()}
             for name, p in passes.items()}
    return {"machine": machine_description(), "load_average": os.getloadavg(), "layer_pass_s": passes,
            "matmul_gflop_s": rates, **bandwidth(), **io_rates()}


# ----------------------------------------------------------------------------------------------------------------
# the step


def _pass_time(machine: dict, dtype: str, m: float) -> float:
    """Seconds of one layer pass at ``m`` rows, interpolated linearly between the measured row counts (the pass is
    ~constant below the bandwidth knee and ~linear above it)."""
    table = sorted((int(k), v) for k, v in machine["layer_pass_s"][dtype].items())
    m = max(m, 1.0)
    if m <= table[0][0]:
        return table[0][1]
    for (m0, t0), (m1, t1) in zip(table, table[1:]):
        if m <= m1:
            return t0 + (t1 - t0) * (m - m0) / (m1 - m0)
    m1, t1 = table[-1]
    return t1 * m / m1


def _forward_floor(machine: dict, shapes: Shapes, dtype: str, body_tokens: float, head_tokens: float) -> float:
    """Floor seconds of a forward over ``body_tokens`` positions with the LM head on ``head_tokens``, at the
    measured rate for that many rows (the head's share scaled by its FLOPs)."""
    full = _pass_time(machine, dtype, body_tokens)
    body_share = shapes.body_params / shapes.params
    head_full = _pass_time(machine, dtype, max(head_tokens, 1.0))
    return full * body_share + head_full * (1 - body_share) * (head_tokens > 0)


def _generation(machine, shapes, dtype, prompt_lens: list[int], rows: int, tokens: float, steps: int) -> dict:
    """Floor of generating ``tokens`` tokens for ``rows`` rows in ``steps`` decode steps after a prefill of the
    distinct prompts (``prompt_lens``)."""
    prefill = _forward_floor(machine, shapes, dtype, sum(prompt_lens), len(prompt_lens))
    per_step_rows = tokens / max(steps, 1)
    decode = steps * _pass_time(machine, dtype, per_step_rows)
    flops = shapes.forward_flops(sum(prompt_lens), len(prompt_lens)) + shapes.forward_flops(tokens, tokens)
    weight_bytes = shapes.params * (2 if dtype == "bfloat16" else 4)
    return {"flops": flops, "bytes": steps * weight_bytes, "floor_s": prefill + decode,
            "detail": f"prefill {sum(prompt_lens)} tokens of {len(prompt_lens)} prompts; {tokens:.0f} tokens in "
                      f"{steps} decode steps (~{per_step_rows:.0f} rows)"}


def step_prompts(cfg: dict, tokenizer) -> list[list[int]]:
    """The token lengths of the prompts of each step (the trainer's seeded order, without dynamic sampling)."""
    import benchmarks
    from harness.training.sampling import PromptSampler, prompt_text

    rows = benchmarks.load(cfg["task"], split=cfg.get("split", "train"), data_dir=cfg.get("data_dir"),
                           **(cfg.get("task_params") or {}))
    sampler = PromptSampler(len(rows), cfg["seed"], cfg.get("shuffle", True))
    lengths = []
    for _ in range(cfg["steps"]):
        idx = sampler.draw(cfg["prompts_per_step"])
        lengths.append([len(tokenizer(prompt_text(rows[i], tokenizer, cfg["template"]), add_special_tokens=False)
                             ["input_ids"]) for i in idx])
    return lengths


def step_floors(run_dir: Path, machine: dict, eval_batch: int) -> dict:
    """Per step and phase: FLOPs, bytes, floor seconds and measured seconds (module notes)."""
    from harness import models
    from harness.run_layout import EVAL_DIR, METRICS_FILE, RUN_INFO_FILE, SUMMARY_FILE

    info = json.loads((run_dir / RUN_INFO_FILE).read_text())
    cfg = info["config"]
    path = models.resolve(cfg["model"])
    shapes, tok = Shapes.from_config(path), models.load_tokenizer(path)
    dtype = cfg["dtype"]
    records = [json.loads(x) for x in (run_dir / METRICS_FILE).read_text().splitlines() if x.strip()]
    steps = [r for r in records if r.get("step", 0) > 0]
    prompts = step_prompts(cfg, tok)
    G, mnt = cfg["responses_per_prompt"], cfg["max_new_tokens"]
    n_updates_per_epoch = max(1, math.ceil(cfg["prompts_per_step"] * G / cfg["minibatch_size"])) \
        if cfg["minibatch_size"] else 1
    probe_path = run_dir / "entropy_probe.json"
    probe = json.loads(probe_path.read_text()) if probe_path.exists() else None
    summary_path = run_dir / EVAL_DIR / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    bw = machine["copy_gb_s"] * 1e9
    out = []
    for rec in steps:
        plens = prompts[rec["step"] - 1]
        mean_len = rec["response_length/mean"]
        responses = len(plens) * G
        gen_tokens = responses * mean_len
        decode_steps = mnt if rec.get("truncated_frac", 0) > 0 else max(1, math.ceil(mean_len))
        phases = {"rollout": _generation(machine, shapes, dtype, plens, responses, gen_tokens, decode_steps)}
        body = sum(plens) + gen_tokens          # shared-prefix forward: each prompt once, then its responses
        fwd = {"flops": shapes.forward_flops(body, gen_tokens), "bytes": 0.0,
               "floor_s": _forward_floor(machine, shapes, dtype, body, gen_tokens)}
        if rec.get("time/old_logprobs_s", 0) > 0:
            phases["old_logprobs"] = dict(fwd, detail="one forward over the batch")
        if rec.get("time/ref_logprobs_s", 0) > 0:
            phases["ref_logprobs"] = dict(fwd, detail="one forward over the batch")
        updates = cfg["epochs"] * n_updates_per_epoch
        adam_bytes = updates * 7 * 4 * shapes.params
        phases["update"] = {"flops": 3 * cfg["epochs"] * fwd["flops"], "bytes": adam_bytes,
                            "floor_s": 3 * cfg["epochs"] * fwd["floor_s"] + adam_bytes / bw,
                            "detail": f"{cfg['epochs']} epoch(s) of forward + backward, {updates} AdamW update(s)"}
        if rec.get("time/probe_s", 0) > 0 and probe:
            pl = [len(p) for p in probe["prompt_ids"]]
            rl = sum(len(r) for r in probe["response_ids"])
            phases["probe"] = {"flops": shapes.forward_flops(sum(pl) + rl, rl), "bytes": 0.0,
                               "floor_s": _forward_floor(machine, shapes, dtype, sum(pl) + rl, rl),
                               "detail": f"{len(pl)} probe sequences, {rl} response tokens"}
        if rec.get("time/eval_s", 0) > 0 and summary and rec["step"] == cfg["steps"]:
            phases["eval"] = _eval_floor(machine, shapes, dtype, summary, tok, eval_batch)
        if rec.get("time/checkpoint_s", 0) > 0:
            size = shapes.params * 4 * 3   # weights + AdamW's two moments, float32
            phases["checkpoint"] = {"flops": 0.0, "bytes": size,
                                    "floor_s": size / (machine["fsync_write_mb_s"] * MiB) +
                                    size / (machine["sha256_mb_s"] * MiB),
                                    "detail": f"{size / 2 ** 30:.2f} GiB written with fsync and hashed"}
        for name, ph in phases.items():
            ph["measured_s"] = rec.get(time_key(name), 0.0)
        measured = {p: rec.get(time_key(p), 0.0) for p in PHASES}
        out.append({"step": rec["step"], "step_s": rec.get(STEP_KEY), "phases": phases, "measured": measured,
                    "floor_s": sum(ph["floor_s"] for ph in phases.values())})
    return {"run": str(run_dir), "config": {k: cfg.get(k) for k in (
        "model", "dtype", "engine", "engine_params", "task", "task_params", "steps", "prompts_per_step",
        "responses_per_prompt", "max_new_tokens", "minibatch_size", "micro_batch_size", "epochs", "algo")},
        "shapes": shapes.__dict__, "steps": out}


def _eval_floor(machine, shapes, dtype, summary: dict, tok, eval_batch: int) -> dict:
    """Floor of the greedy evaluation in ``summary`` (prompt lengths of its problems, its mean response length)."""
    import benchmarks

    from harness.evaluate import EvalConfig

    cfg = EvalConfig.from_dict(summary["config"])
    total = {"flops": 0.0, "bytes": 0.0, "floor_s": 0.0}
    parts = []
    for bench, scores in summary["benches"].items():
        limit, mnt, params = cfg.for_bench(bench)
        rows = benchmarks.load(bench, split=cfg.split, data_dir=cfg.data_dir, limit=limit, **params)
        lens = [len(tok(benchmarks.render_prompt(tok, r["problem"], cfg.template), add_special_tokens=False)
                    ["input_ids"]) for r in rows]
        mean = scores["response_tokens_mean"]
        steps = mnt if scores.get("truncated_frac", 0) > 0 else max(1, math.ceil(mean))
        for lo in range(0, len(lens), eval_batch):
            chunk = lens[lo:lo + eval_batch]
            g = _generation(machine, shapes, dtype, chunk, len(chunk) * cfg.k, len(chunk) * cfg.k * mean, steps)
            for k in total:
                total[k] += g[k]
        parts.append(f"{bench}: {len(lens)} problems x {cfg.k}, {mean:.1f} tokens each, batches of {eval_batch}")
    return {**total, "detail": "; ".join(parts) + " (the train_eval curve's problems are left out)"}


# ----------------------------------------------------------------------------------------------------------------
# report


def report_md(machine: dict, step: dict | None, name: str, command: str) -> str:
    m = machine["machine"]
    lines = [f"# Roofline: {name}", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, torch {m['torch']} with {m['torch_threads']} threads; load "
             f"average {', '.join(f'{x:.2f}' for x in machine['load_average'])} when measured; "
             f"{machine['date']}.", "", f"Command: `{command}`", "",
             "| rows M | float32 layer pass ms | float32 GFLOP/s | bfloat16 layer pass ms | bfloat16 GFLOP/s |",
             "|---|---|---|---|---|"]
    for m_rows in machine["layer_pass_s"]["float32"]:
        lines.append(f"| {m_rows} | {1e3 * machine['layer_pass_s']['float32'][m_rows]:.1f} | "
                     f"{machine['matmul_gflop_s']['float32'][m_rows]:.0f} | "
                     f"{1e3 * machine['layer_pass_s']['bfloat16'][m_rows]:.1f} | "
                     f"{machine['matmul_gflop_s']['bfloat16'][m_rows]:.0f} |")
    lines += ["", f"Memory: copy {machine['copy_gb_s']:.1f} GB/s (read + write), read {machine['read_gb_s']:.1f} GB/s; "
              f"SHA-256 {machine['sha256_mb_s']:.0f} MB/s; file write with fsync {machine['fsync_write_mb_s']:.0f} MB/s.",
              ""]
    if step is None:
        return "\n".join(lines) + "\n"
    c = step["config"]
    lines += [f"Run: `{step['run']}` ({c['algo']}, {c['model']}, {c['dtype']}, engine {c['engine']}, "
              f"{c['prompts_per_step']} x {c['responses_per_prompt']} responses, <= {c['max_new_tokens']} tokens, "
              f"mini-batch {c['minibatch_size']}, {c['epochs']} epoch(s))", "",
              "| step | phase | GFLOP | MB | floor s | measured s | measured / floor | what |", "|---|---|---|---|---|---|---|---|"]
    for s in step["steps"]:
        for name, ph in s["phases"].items():
            ratio = ph["measured_s"] / ph["floor_s"] if ph["floor_s"] > 0 else math.inf
            lines.append(f"| {s['step']} | {name} | {ph['flops'] / 1e9:.0f} | {ph['bytes'] / 1e6:.0f} | "
                         f"{ph['floor_s']:.2f} | {ph['measured_s']:.2f} | {ratio:.2f} | {ph.get('detail', '')} |")
        modelled = set(s["phases"])
        rest = sum(v for k, v in s["measured"].items() if k not in modelled)
        others = ", ".join(f"{k} {v:.2f}" for k, v in s["measured"].items() if k not in modelled and v >= 0.005)
        lines.append(f"| {s['step']} | (no floor) | | | 0 | {rest:.2f} | | {others} |")
        lines.append(f"| {s['step']} | **step** | | | **{s['floor_s']:.2f}** | **{s['step_s']:.2f}** | "
                     f"**{s['step_s'] / s['floor_s']:.2f}** | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import sys

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=None, help="a training run folder (metrics.jsonl with time/* keys)")
    p.add_argument("--name", default=None, help="report name (default: the run folder's name)")
    p.add_argument("--rows", default="1,4,16,32,64,128,256,512,1024,2048",
                   help="row counts M of the measured layer passes")
    p.add_argument("--eval-batch", type=int, default=32, help="prompts per engine call of the evaluation")
    p.add_argument("--machine-only", action="store_true", help="measure the machine only")
    p.add_argument("--machine", type=Path, default=None, help="reuse the machine figures of an earlier report (JSON)")
    p.add_argument("--out", type=Path, default=None, help="write roofline-<name>.json/.md into this folder")
    args = p.parse_args(argv)
    if args.machine is not None:
        machine = json.loads(args.machine.read_text())["machine"]
    else:
        from harness import models

        shapes = Shapes.from_config(models.resolve(json.loads((args.run / "run.json").read_text())["config"]["model"])
                                    if args.run else models.resolve("smollm2-135m"))
        machine = measure_machine(shapes, [int(x) for x in args.rows.split(",")])
        machine["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    step = None if args.machine_only or args.run is None else step_floors(args.run, machine, args.eval_batch)
    name = args.name or (args.run.name if args.run else "machine")
    command = "python -m tools.perf.roofline " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report_md(machine, step, name, command)
    print(text)
    if args.out is not None:
        from harness.io import write_json, write_text

        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / f"roofline-{name}.json", {"name": name, "command": command, "machine": machine,
                                                         "step": step})
        write_text(args.out / f"roofline-{name}.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
