"""Performance figures of the shared backbone on this machine.

Prints and writes to ``results/perf/backbone-<host>-<UTC time>.json``:

- rollout tokens/s: HF engine in fp32, HF engine under bf16 autocast, vLLM in bf16 (start-up and weight-sync times
  too), same prompts (arith task in the chat template) and sampling settings;
- training tokens/s: forward + backward of the policy on those rollouts with chunked log-probs
  (``algorithms.logprobs_from_logits``), fp32 and bf16 autocast;
- a few GRPO steps through ``harness.training.train`` (each in a fresh subprocess so peak RSS is its own): step
  time and peak RSS in fp32 and bf16, per engine.

Usage::

    python -m tools.perf.perf_backbone                       # smollm2-135m, 64 responses x 64 tokens
    python -m tools.perf.perf_backbone --model tiny-random --no-vllm --train-steps 0   # quick smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from harness.io import write_text

ROOT = Path(__file__).resolve().parents[2]


def machine() -> dict:
    import torch
    import transformers

    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info = {"host": socket.gethostname(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "ram_gib": round(mem_gib, 1), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_avg_at_start": os.getloadavg()}
    try:
        import vllm
        info["vllm"] = vllm.__version__
    except ImportError:
        info["vllm"] = None
    return info


def prompts_for(tokenizer, count: int) -> list[str]:
    """The first `count` test problems of the offline arith task in the boxed template."""
    import benchmarks

    rows = benchmarks.load("arith", split="test", limit=count)
    return [benchmarks.render_prompt(tokenizer, r["problem"], template="boxed") for r in rows]


def time_rollout(engine, prompts, sampling, repeats: int) -> dict:
    engine.generate(prompts[:1], type(sampling)(n=1, max_new_tokens=4, temperature=sampling.temperature, seed=0))
    best = None
    for _ in range(repeats):
        t = time.perf_counter()
        rs = engine.generate(prompts, sampling)
        dt = time.perf_counter() - t
        tokens = sum(len(r.response_ids) for r in rs)
        rec = {"seconds": round(dt, 3), "tokens": tokens, "tok_s": round(tokens / dt, 1),
               "responses": len(rs), "stopped_frac": round(sum(r.finish_reason == "stop" for r in rs) / len(rs), 3)}
        if best is None or rec["tok_s"] > best["tok_s"]:
            best = rec
    return best, rs


def time_training(model, tokenizer, rollouts, autocast_bf16: bool, micro: int, repeats: int) -> dict:
    import torch
    import algorithms
    from harness.rollout import collate

    batch = collate(rollouts, tokenizer.pad_token_id)
    P = int(batch["prompt_length"])
    B, T = batch["input_ids"].shape
    model.train()
    best = None
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        t = time.perf_counter()
        for s in range(0, B, micro):
            sl = slice(s, s + micro)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
                logits = model(input_ids=batch["input_ids"][sl], attention_mask=batch["attention_mask"][sl],
                               position_ids=batch["position_ids"][sl]).logits
            logp = algorithms.logprobs_from_logits(logits[:, P - 1:-1], batch["input_ids"][sl, P:])
            mask = batch["response_mask"][sl]
            loss = -(logp * mask).sum() / batch["response_mask"].sum()
            loss.backward()
        dt = time.perf_counter() - t
        rec = {"seconds": round(dt, 3), "sequences": B, "tokens": B * T,
               "response_tokens": int(batch["response_mask"].sum()), "tok_s": round(B * T / dt, 1),
               "response_tok_s": round(float(batch["response_mask"].sum()) / dt, 1), "micro_batch": micro}
        if best is None or rec["tok_s"] > best["tok_s"]:
            best = rec
    model.zero_grad(set_to_none=True)
    return best


_TRAIN_CHILD = r"""
import json, time
from harness.training import TrainConfig, train
cfg = TrainConfig(algo="grpo", model={model!r}, task="arith", steps={steps}, prompts_per_step={prompts},
                  responses_per_prompt={n}, max_new_tokens={tokens}, dtype={dtype!r}, engine={engine!r},
                  task_params={{"level": 2, "n": 512}}, out_dir={out!r}, save_final=False, tensorboard=False,
                  micro_batch_size={micro})
t = time.perf_counter()
res = train(cfg, progress=False)
print(json.dumps({{"wall_s": time.perf_counter() - t, "metrics_path": str(res.metrics_path)}}))
"""


def time_grpo(model_spec, dtype, engine, steps, prompts, n, tokens, micro) -> dict:
    out = tempfile.mkdtemp(prefix=f"perf-grpo-{dtype}-{engine}-")
    code = _TRAIN_CHILD.format(model=model_spec, steps=steps, prompts=prompts, n=n, tokens=tokens,
                               dtype=dtype, engine=engine, out=out, micro=micro)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    recs = [json.loads(line) for line in open(summary["metrics_path"])]
    keys = ["time/step_s", "memory/peak_rss_mb", "throughput/rollout_tok_s", "throughput/train_tok_s",
            "rollout/logprob_mismatch_kl", "response_length/mean"]
    per_step = [{k: r.get(k) for k in keys} for r in recs]
    steady = per_step[1:] or per_step   # the first step pays warm-up (vLLM: also in run start-up)
    mean = {k: round(sum(s[k] for s in steady if s[k] is not None) / max(1, sum(s[k] is not None for s in steady)), 4)
            for k in keys}
    mean["memory/peak_rss_mb"] = max(s["memory/peak_rss_mb"] or 0 for s in per_step)
    return {"steps": per_step, "mean_after_first": mean, "run_wall_s": round(summary["wall_s"], 1),
            "config": dict(prompts_per_step=prompts, responses_per_prompt=n, max_new_tokens=tokens,
                           micro_batch_size=micro)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=8, help="responses per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats per figure (best is kept)")
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--no-vllm", action="store_true")
    ap.add_argument("--vllm-eager", action="store_true", help="also time vLLM with enforce_eager=True")
    ap.add_argument("--train-steps", type=int, default=3, help="GRPO steps per trainer run (0: skip)")
    ap.add_argument("--train-engines", default="hf", help="comma list of engines for the trainer runs")
    ap.add_argument("--train-prompts", type=int, default=4, help="prompts per GRPO step (x --n responses)")
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args(argv)

    import torch
    from harness import models
    from algorithms.off_policy import mismatch_kl
    from harness.rollout import Sampling, make_engine, collate

    result = {"command": " ".join(["python -m tools.perf.perf_backbone"] + (argv or sys.argv[1:])),
              "machine": machine(), "model": args.model,
              "sampling": dict(prompts=args.prompts, n=args.n, max_new_tokens=args.max_new_tokens, temperature=1.0)}
    print(json.dumps(result["machine"], indent=1))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"backbone-{args.model}-{stamp}.json"

    def save(final: bool = False) -> None:
        result["complete"] = final
        result["updated_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_text(path, json.dumps(result, indent=1))

    model, tok = models.load_policy(args.model)
    prompts = prompts_for(tok, args.prompts)
    sampling = Sampling(n=args.n, max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0)
    roll = result["rollout"] = {}

    for name, dtype in (("hf_fp32", "float32"), ("hf_bf16_autocast", "bfloat16")):
        rec, rs = time_rollout(make_engine("hf", model, tok, dtype=dtype), prompts, sampling, args.repeats)
        roll[name] = rec
        print(f"rollout {name:18s} {rec['tok_s']:8.1f} tok/s  ({rec['tokens']} tokens in {rec['seconds']} s)")
        if name == "hf_fp32":
            hf_rollouts = rs
        save()

    if not args.no_vllm:
        variants = [("vllm_bf16", False)] + ([("vllm_bf16_eager", True)] if args.vllm_eager else [])
        for name, eager in variants:
            t = time.perf_counter()
            eng = make_engine("vllm", model, tok, dtype="bfloat16", enforce_eager=eager)
            startup = time.perf_counter() - t
            rec, rs = time_rollout(eng, prompts, sampling, args.repeats)
            t = time.perf_counter()
            eng.sync_weights(model)
            rec["sync_weights_s"] = round(time.perf_counter() - t, 3)
            rec["startup_s"] = round(startup, 1)
            b = collate(rs, tok.pad_token_id)
            P = int(b["prompt_length"])
            with torch.no_grad():
                lg = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                           position_ids=b["position_ids"]).logits[:, P - 1:-1].float()
            trn = torch.log_softmax(lg, -1).gather(-1, b["input_ids"][:, P:, None]).squeeze(-1)
            rec["mismatch_kl_vs_fp32_trainer"] = mismatch_kl(b["engine_logprobs"], trn, b["response_mask"])
            roll[name] = rec
            save()
            print(f"rollout {name:18s} {rec['tok_s']:8.1f} tok/s  (start-up {rec['startup_s']} s, sync "
                  f"{rec['sync_weights_s']} s, mismatch KL {rec['mismatch_kl_vs_fp32_trainer']:.2e})")
            del eng

    trn = result["training"] = {}
    for name, bf16 in (("fp32", False), ("bf16_autocast", True)):
        rec = time_training(model, tok, hf_rollouts, bf16, args.micro_batch, args.repeats)
        trn[name] = rec
        save()
        print(f"train   {name:18s} {rec['tok_s']:8.1f} tok/s  ({rec['sequences']} x {rec['tokens'] // rec['sequences']}"
              f" tokens, fwd+bwd in {rec['seconds']} s)")
    result["peak_rss_mb_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    if args.train_steps > 0:
        try:
            import harness.training  # noqa: F401
            have_trainer = True
        except ImportError as exc:
            print(f"(harness.training not importable: {exc}; skipping GRPO steps)")
            have_trainer = False
        if have_trainer:
            grpo = result["grpo_steps"] = {}
            for engine in [e for e in args.train_engines.split(",") if e]:
                for dtype in ("float32", "bfloat16"):
                    key = f"{engine}_{dtype}"
                    rec = time_grpo(args.model, dtype, engine, args.train_steps, args.train_prompts, args.n,
                                    args.max_new_tokens, args.micro_batch)
                    grpo[key] = rec
                    save()
                    if "error" in rec:
                        print(f"grpo    {key:18s} failed: {rec['error']}")
                    else:
                        m = rec["mean_after_first"]
                        print(f"grpo    {key:18s} step {m['time/step_s']:.1f} s, peak RSS {m['memory/peak_rss_mb']:.0f} MB"
                              f", rollout {m['throughput/rollout_tok_s']:.0f} tok/s, train "
                              f"{m['throughput/train_tok_s']:.0f} tok/s")

    save(final=True)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
