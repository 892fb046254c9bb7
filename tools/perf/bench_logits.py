"""Peak extra memory and time of log-probs + entropy (forward and backward): chunked vs a plain full log_softmax.

Methods: full (logits.float().log_softmax), chunked (logprobs_from_logits + entropy_from_logits), combined
(logprobs_and_entropy_from_logits).

    python -m tools.perf.bench_logits --rows 2048 --vocab 49152 --dtype bfloat16 [--device cpu|cuda]

Each method runs in a fresh subprocess (CPU: peak resident memory from getrusage; CUDA: torch's peak allocated
memory), measured from just after the logits exist to the end of the backward pass, so the logits themselves and
nothing else of the benchmark are counted. Prints one line per method.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _peak_bytes(device: str) -> int:
    import torch
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _run_one(method: str, rows: int, vocab: int, dtype: str, device: str, chunk_size: int | None) -> dict:
    import torch

    import algorithms

    g = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(rows, vocab, generator=g, device=device).to(getattr(torch, dtype)).requires_grad_(True)
    labels = torch.randint(0, vocab, (rows,), generator=g, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _peak_bytes(device) if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if method == "chunked":
        logp = algorithms.logprobs_from_logits(logits, labels, chunk_size=chunk_size)
        entropy = algorithms.entropy_from_logits(logits, chunk_size=chunk_size)
    elif method == "combined":
        logp, entropy = algorithms.logprobs_and_entropy_from_logits(logits, labels, chunk_size=chunk_size)
    else:
        full = logits.float().log_softmax(-1)
        logp = full.gather(-1, labels[:, None]).squeeze(-1)
        entropy = -(full.exp() * full).sum(-1)
    (logp.sum() + entropy.sum()).backward()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    extra = _peak_bytes(device) - (0 if device == "cuda" else before)
    if device == "cuda":
        extra -= logits.numel() * logits.element_size()   # the logits existed before the reset
    return {"method": method, "rows": rows, "vocab": vocab, "dtype": dtype, "device": device,
            "logits_mib": round(logits.numel() * logits.element_size() / 2**20, 1),
            "peak_extra_mib": round(extra / 2**20, 1), "seconds": round(seconds, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048, help="B*T rows (default 2048)")
    parser.add_argument("--vocab", type=int, default=49152, help="vocabulary size (default 49152, SmolLM2)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: automatic)")
    parser.add_argument("--_one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        print(json.dumps(_run_one(args._one, args.rows, args.vocab, args.dtype, args.device, args.chunk_size)))
        return 0
    for method in ("full", "chunked", "combined"):
        cmd = [sys.executable, "-m", "tools.perf.bench_logits", "--rows", str(args.rows), "--vocab", str(args.vocab),
               "--dtype", args.dtype, "--device", args.device, "--_one", method]
        if args.chunk_size:
            cmd += ["--chunk-size", str(args.chunk_size)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
