"""Before/after figures of the cuts of issue 28, each measured side by side (alternating, in one invocation) on
SmolLM2-135M in float32:

    python -m tools.perf.perf_cuts --part all --repeats 2 --out results/perf/cuts.json

* ``omp``: one decode-shaped chain of matmuls (32 rows through 60 [576 x 1536] weights), in fresh processes with
  torch's default OpenMP wait policy and with ``OMP_WAIT_POLICY=PASSIVE`` (what ``rlvr-zoo`` sets), 2 threads.
* ``eval``: the demo's greedy evaluation (128 arith level-1 problems, <= 32 new tokens) with the HF engine: 4 calls
  of 32 prompts with the whole prompts prefilled (d59bddb), 1 call of 128, and 1 call of 128 with the shared prompt
  prefix (now); the scores must be equal.
* ``guard``: one AdamW step of all of SmolLM2's parameters under the step guard: copying parameters and optimiser
  state first (d59bddb, forced with the copy path) against the check before the step (now); seconds and the
  memory the guard holds.
* ``deterministic``: one forward + backward of a rollout's 16 sequences with torch's deterministic algorithms on
  (compare's default) and off, and whether the gradients are bit for bit the same.
* ``checkpoint``: a checkpoint (weights, AdamW state, manifest) and final/: zip CRC-32 on and final/ written again
  (d59bddb) against CRC-32 off and final/ linked from the checkpoint (now); the manifest's hashing serial (d59bddb)
  against two files at a time (now).

The host's load average is printed with every figure; on a shared machine read the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OMP_SNIPPET = """
import time, torch
x = torch.randn(32, 576); ws = [torch.randn(1536, 576) for _ in range(60)]
def f():
    for w in ws: torch.nn.functional.linear(x, w)
f(); best = 1e9
for _ in range(5):
    t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
print(best)
"""


def load() -> float:
    return round(os.getloadavg()[0], 2)


def part_omp(repeats: int) -> dict:
    out: dict[str, list] = {"default": [], "PASSIVE": []}
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for _ in range(repeats):
        for name in out:
            e = dict(env) if name == "default" else {**env, "OMP_WAIT_POLICY": "PASSIVE"}
            res = subprocess.run([sys.executable, "-c", OMP_SNIPPET], env=e, capture_output=True, text=True,
                                 check=True)
            out[name].append({"ms": round(1e3 * float(res.stdout.split()[-1]), 1), "load": load()})
    return out


def part_eval(repeats: int) -> dict:
    from harness import models
    from harness.evaluate import EvalConfig, evaluate
    from harness.rollout import make_engine

    model, tok = models.load_policy("smollm2-135m", dtype="float32")
    model.eval()
    variants = {"4x32, whole prompts (d59bddb)": (32, False), "1x128, whole prompts": (128, False),
                "1x128, shared prefix (now)": (128, True)}
    out: dict[str, list] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, (bs, shared) in variants.items():
            engine = make_engine("hf", model, tok, batch_size=max(bs, 64), shared_prefix=shared)
            cfg = EvalConfig(benches=["arith"], k=1, temperature=0.0, top_p=1.0, max_new_tokens=32, limit=128,
                             bench_params={"arith": {"level": 1}}, batch_size=bs)
            t = time.perf_counter()
            s = evaluate(engine, tok, cfg, None, progress=False)
            out[name].append({"s": round(time.perf_counter() - t, 2), "avg@1": s["benches"]["arith"]["avg@1"],
                              "load": load()})
    return out


def _vm_hwm_reset() -> None:
    from harness.training.metrics import reset_peak_rss

    reset_peak_rss()


def _module_at(commit: str, path: str, name: str):
    """The module ``path`` as it was at ``commit`` (its source from git, executed as module ``name``)."""
    import importlib.util

    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)
    return module


def part_guard(repeats: int) -> dict:
    """The step guard of d59bddb (its own source, copy buffers kept between steps) against the current one."""
    import torch

    from harness import models
    from harness.training import guard as guard_mod
    from harness.training.metrics import peak_rss_mb

    old = _module_at(BASELINE, "harness/training/guard.py", "guard_d59bddb")
    model, _ = models.load_policy("smollm2-135m", dtype="float32")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, fused=True)
    gen = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 1e-3
    opt.step()                                              # the state exists, as from the second step on
    guards = {"copy into kept buffers (d59bddb)": old.StepGuard(model),
              "check before the step (now)": guard_mod.StepGuard(model)}
    for g in guards.values():                               # the first step allocates d59bddb's buffers
        g.step([opt])
    out: dict[str, list] = {k: [] for k in guards}
    for _ in range(repeats):
        for name, g in guards.items():
            _vm_hwm_reset()
            base = peak_rss_mb()
            t = time.perf_counter()
            bad = g.step([opt])
            held = sum(b.numel() * b.element_size() for b in getattr(g, "_buffers", {}).values())
            out[name].append({"s": round(time.perf_counter() - t, 3), "bad": bad,
                              "extra_peak_mb": round(peak_rss_mb() - base), "held_between_steps_mb": round(held / 2 ** 20),
                              "load": load()})
    return out


def part_checkpoint(repeats: int) -> dict:
    import torch

    from harness.training import checkpoint_files as ckpt
    from harness import models

    model, tok = models.load_policy("smollm2-135m", dtype="float32")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    real_save, real_manifest = ckpt._torch_save, ckpt.write_manifest

    def old_save(obj, path):           # d59bddb: plain torch.save (zip CRC-32 computed)
        torch.save(obj, path)

    def old_manifest(directory):       # d59bddb: every file hashed in turn
        directory = Path(directory)
        files = {rel: {"bytes": f.stat().st_size, "sha256": ckpt._sha256(f)}
                 for rel, f in ckpt._files_of(directory).items()}
        from harness.io import write_json
        return write_json(directory / ckpt.MANIFEST, {"version": ckpt.MANIFEST_VERSION, "files": files}, indent=1)

    out: dict[str, list] = {"d59bddb": [], "now": []}
    root = Path(tempfile.mkdtemp(prefix="perf-cuts-ckpt-", dir=str(Path.cwd())))
    try:
        for r in range(repeats):
            for name in out:
                ckpt._torch_save, ckpt.write_manifest = (old_save, old_manifest) if name == "d59bddb" else \
                    (real_save, real_manifest)
                d = root / f"{name}-{r}"
                t = time.perf_counter()
                path = ckpt.save_checkpoint(d, 3, model=model, tokenizer=tok, optimizer=opt, scheduler=sched,
                                            trainer_state={"x": 1})
                t1 = time.perf_counter()
                ckpt.save_final(model, tok, d / "final", same_as=None if name == "d59bddb" else path / "model")
                t2 = time.perf_counter()
                assert ckpt.verify_checkpoint(path)
                out[name].append({"checkpoint_s": round(t1 - t, 2), "final_s": round(t2 - t1, 2), "load": load()})
                shutil.rmtree(d)
    finally:
        ckpt._torch_save, ckpt.write_manifest = real_save, real_manifest
        shutil.rmtree(root, ignore_errors=True)
    return out


REPO = Path(__file__).resolve().parents[2]
BASELINE = "d59bddb"

def part_deterministic(repeats: int) -> dict:
    """One forward + backward (shared-prefix forward, log-probs and entropies) of a rollout's 16 sequences (2 arith
    prompts x 8 x <= 32 tokens), with torch.use_deterministic_algorithms on (compare's default) and off."""
    import torch

    from harness.training.batch import collate
    from tools.perf.perf_parts import _trainer

    tr = _trainer("float32", True, 32)
    collected = tr.collector.collect(1)
    batch = collate(collected.groups, collected.spare, tr.pad_id, tr.device)
    rows = torch.arange(batch.num_seqs)

    def forward_backward():
        logp, _, mask = tr.forward.logprobs(tr.model, batch, rows, grad=True, entropy=True)
        (logp * mask).sum().backward()
        grads = torch.cat([p.grad.reshape(-1) for p in tr.model.parameters()]).clone()
        tr.model.zero_grad(set_to_none=True)
        return grads

    forward_backward()
    out: dict[str, list] = {"deterministic": [], "not deterministic": []}
    grads = {}
    for _ in range(repeats):
        for name in out:
            torch.use_deterministic_algorithms(name == "deterministic", warn_only=True)
            t = time.perf_counter()
            grads[name] = forward_backward()
            out[name].append({"s": round(time.perf_counter() - t, 2), "load": load()})
    out["same_gradients"] = bool(torch.equal(grads["deterministic"], grads["not deterministic"]))
    return out


PARTS = {"omp": part_omp, "eval": part_eval, "guard": part_guard, "checkpoint": part_checkpoint,
         "deterministic": part_deterministic}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", default="all", choices=["all", *PARTS])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    from tools.perf.bench_compare import lscpu_model

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": lscpu_model(),
              "command": "python -m tools.perf.perf_cuts " + " ".join(sys.argv[1:] if argv is None else argv),
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    for name in (PARTS if args.part == "all" else [args.part]):
        result[name] = PARTS[name](args.repeats)
        print(name, json.dumps(result[name]), flush=True)
    if args.out is not None:
        from harness.io import write_json

        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
