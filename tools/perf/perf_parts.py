"""Before/after figures for single optimisations of one GRPO step: the rollout and the training forward/backward,
each timed alone on the work of ``tools/perf/perf_vs_trl.py`` (SmolLM2-135M, 2 arith prompts x 8 responses x 64
new tokens, fp32 unless ``--dtype bfloat16``).

    .venv/bin/python -m tools.perf.perf_parts --part gen --repeats 3
    .venv/bin/python -m tools.perf.perf_parts --part train --shared-prefix off --repeats 4
    .venv/bin/python -m tools.perf.perf_parts --part kernels --repeats 7
    PYTHONPATH=/tmp/old .venv/bin/python tools/perf/perf_parts.py --part gen    # an older checkout, see below

``--part gen``: ``trainer.engine.generate`` of the step's prompts (HF engine), seconds and tokens per call.
``--part train``: one forward + backward + optimiser step of the 16 sequences of one rollout (the same rollout for
every repeat; the first repeat is a warm-up and not counted), seconds per repeat and the process's peak RSS.
``--part kernels``: the single operations behind three changes, each against what it replaced, alternating in one
process (milliseconds per call, per repeat; the host's speed drifts by tens of percent over minutes here, far more
than the difference between two whole-step processes run a minute apart, so the kernels are compared paired):
``linear`` – one decode step's matrix products over all of SmolLM2's real weights for 16 rows, ``F.linear`` against
the oneDNN-packed weights of the HF engine; ``attention`` – one decode position's grouped-query attention over a
124-position KV cache (16 rows, 9 query / 3 KV heads), PyTorch SDPA against ``_decode_attention``; ``logits`` – the
trainer's log-prob + entropy forward over 883 response positions x 49152 logits, the two-pass formula
(``logsumexp``, then ``exp(x - lse) * x``; key "previous") against the one the trainer uses
(``logprobs_and_entropy_from_logits``; key "current").

Each invocation is one process, so peak RSS belongs to that configuration alone. To compare against an earlier
commit, check it out elsewhere (``git worktree add /tmp/old <commit>``) and run this file with ``PYTHONPATH=/tmp/old``
(the older tree's modules are imported instead of this one's; options it does not know are not passed). Prints one
JSON line.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time


def _trainer(dtype: str, shared_prefix: bool | None, max_new_tokens: int, length_buckets: bool | None = None):
    from tools.perf.perf_vs_trl import PerfConfig, build_prompts
    from harness import models
    from harness.training import TrainConfig, Trainer

    cfg = PerfConfig(model="smollm2-135m", prompts_per_step=2, responses_per_prompt=8, max_new_tokens=max_new_tokens)
    rows = build_prompts(cfg, models.load_tokenizer(cfg.model))
    params = {"algo": "grpo", "algo_overrides": {"kl_coef": 0.0}, "model": cfg.model, "dtype": dtype,
              "template": cfg.template, "reward": "correctness", "shuffle": False, "engine": "hf",
              "prompts_per_step": 2, "responses_per_prompt": 8, "max_new_tokens": max_new_tokens, "steps": 10,
              "lr": 1e-6, "micro_batch_size": 16, "out_dir": tempfile.mkdtemp(prefix="perf-parts-"),
              "save_final": False, "tensorboard": False}
    if shared_prefix is not None:
        params["shared_prefix"] = shared_prefix
    if length_buckets is not None:
        params["length_buckets"] = length_buckets
    return Trainer(TrainConfig.from_dict(params), dataset=[{k: r[k] for k in ("id", "problem", "answer")}
                                                            for r in rows], progress=False)


def kernels(repeats: int) -> dict:
    """``--part kernels`` (see the module docstring): {name: {variant: [ms per call, one per repeat]}, ...}."""
    import torch
    import torch.nn.functional as F

    from algorithms.logits import logprobs_and_entropy_from_logits
    from harness import models
    from harness.rollout.hf import _decode_attention, _PackedLinears

    model, _ = models.load_policy("smollm2-135m")
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    rows = 16
    xs = {m.in_features: torch.randn(rows, 1, m.in_features) for m in linears}
    B, H, KV, n, D = rows, 9, 3, 124, 64
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(B, H, 1, D, generator=g), torch.randn(B, KV, n, D, generator=g), \
        torch.randn(B, KV, n, D, generator=g)
    mask = torch.ones(B, 1, 1, n, dtype=torch.bool)
    mask[:4, ..., :7] = False
    logits = torch.randn(883, 49152, generator=g) * 3
    labels = torch.randint(0, 49152, (883,), generator=g)

    def plain_linears():
        for m in linears:
            F.linear(xs[m.in_features], m.weight)

    def packed_linears():
        for m in linears:
            m(xs[m.in_features])

    def two_pass_logits():
        lse = torch.logsumexp(logits, -1)
        mean_x = (torch.exp(logits - lse[:, None]) * logits).sum(-1)
        return logits.gather(-1, labels[:, None]).squeeze(-1) - lse, lse - mean_x

    cases = {
        "linear": {"F.linear": (plain_linears, 1), "oneDNN packed": (packed_linears, 1)},
        "attention": {"sdpa": (lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True), 50),
                      "_decode_attention": (lambda: _decode_attention(q, k, v, mask, None), 50)},
        "logits": {"previous": (two_pass_logits, 1),
                   "current": (lambda: logprobs_and_entropy_from_logits(logits, labels), 1)},
    }
    out: dict = {"part": "kernels", "torch_threads": torch.get_num_threads()}
    with torch.no_grad(), _PackedLinears(model, rows=rows):
        for name, variants in cases.items():
            res = {label: [] for label in variants}
            for _ in range(repeats):
                for label, (fn, calls) in variants.items():
                    fn()   # warm-up
                    t = time.perf_counter()
                    for _ in range(calls):
                        fn()
                    res[label].append(round((time.perf_counter() - t) / calls * 1000, 3))
            out[name] = {label: {"ms": ms, "median_ms": statistics.median(ms)} for label, ms in res.items()}
            first, second = list(res)
            out[name]["median_ratio"] = statistics.median(b / a for a, b in zip(res[first], res[second]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["gen", "train", "kernels"], required=True)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--shared-prefix", choices=["on", "off", "default"], default="default",
                   help="train part: the trainer's shared_prefix setting (default: leave the trainer's default)")
    p.add_argument("--length-buckets", choices=["on", "off", "default"], default="default",
                   help="train part: the trainer's length_buckets setting (default: leave the trainer's default)")
    p.add_argument("--no-stop", action="store_true",
                   help="gen part: no end-of-sequence token, every row runs to max_new_tokens (the same work whatever "
                        "the sampler draws: use it to compare engines or commits)")
    p.add_argument("--packed-weights", choices=["on", "off", "default"], default="default",
                   help="gen part: the HF engine's packed_weights setting (oneDNN-packed float32 weights)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=64)
    a = p.parse_args(argv)
    import torch

    from harness.rollout import Sampling, collate

    if a.part == "kernels":
        print(json.dumps(kernels(a.repeats)), flush=True)
        return 0
    shared = None if a.shared_prefix == "default" else a.shared_prefix == "on"
    buckets = None if a.length_buckets == "default" else a.length_buckets == "on"
    tr = _trainer(a.dtype, shared, a.max_new_tokens, buckets)
    old_tree = not hasattr(tr, "collector")   # a tree from before harness/training (see the module notes)
    prompts = [tr._prompt(0), tr._prompt(1)] if old_tree else [tr.collector.prompt(0), tr.collector.prompt(1)]
    sampling = Sampling(n=8, max_new_tokens=a.max_new_tokens, seed=3)
    out = {"part": a.part, "dtype": a.dtype, "torch_threads": torch.get_num_threads()}
    if a.part == "gen":
        if a.no_stop:
            tr.engine.stop_token_ids = [-1]
        if a.packed_weights != "default":
            tr.engine.packed_weights = a.packed_weights == "on"
        out["packed_weights"] = getattr(tr.engine, "packed_weights", None)
        tr.engine.generate(prompts, Sampling(n=2, max_new_tokens=4, seed=0))   # warm-up
        secs, toks = [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            rs = tr.engine.generate(prompts, sampling)
            secs.append(time.perf_counter() - t)
            toks.append(sum(len(r.response_ids) for r in rs))
        out.update(seconds=secs, tokens=toks, median_s=statistics.median(secs))
    else:
        rs = tr.engine.generate(prompts, sampling)
        if old_tree:
            batch, run = collate(rs, tr.pad_id), tr._forward
        else:
            from harness.training.batch import RolloutBatch

            batch, run = RolloutBatch.from_rollouts(rs, tr.pad_id, tr.device), tr.forward.logprobs
        rows = torch.arange(len(rs))
        tr.model.train()
        secs = []
        for _ in range(a.repeats + 1):
            t = time.perf_counter()
            logp, _, mask = run(tr.model, batch, rows, grad=True, entropy=True)
            (logp * mask).sum().backward()
            tr.optimizer.step()
            tr.optimizer.zero_grad(set_to_none=True)
            secs.append(time.perf_counter() - t)
        out.update(shared_prefix=getattr(tr.cfg, "shared_prefix", None),
                   length_buckets=getattr(tr.cfg, "length_buckets", None), seconds=secs[1:],
                   median_s=statistics.median(secs[1:]), response_tokens=int(batch["response_mask"].sum()),
                   sequence_tokens=int(batch["attention_mask"].sum()))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
