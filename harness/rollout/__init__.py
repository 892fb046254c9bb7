"""Rollout engines behind one interface (the shared types in `base`, the engines in `hf` and `vllm_engine`).

```python
from harness.rollout import Sampling, make_engine
engine = make_engine("hf", model, tokenizer)             # or "vllm"
rollouts = engine.generate(prompts, Sampling(n=8, max_new_tokens=256, temperature=1.0, seed=0))
engine.sync_weights(model)                               # after every optimiser step
```
"""
from __future__ import annotations

from harness.rollout.base import (Engine, Rollout, Sampling, collate, encode_prompts, eos_token_ids,
                                  stop_token_ids_for)

__all__ = ["Sampling", "Rollout", "Engine", "make_engine", "engine_names", "encode_prompts", "eos_token_ids",
           "stop_token_ids_for", "collate"]


def engine_names() -> list[str]:
    return ["hf", "vllm"]


def make_engine(kind: str, model, tokenizer, **kw) -> Engine:
    """Build a rollout engine: ``"hf"`` (transformers, in the trainer's process, shares the model) or ``"vllm"``
    (vLLM offline ``LLM`` in-process; weights pushed with ``sync_weights``). ``kw`` go to the engine's constructor
    (HFEngine: dtype, batch_size, stop_token_ids; VLLMEngine: dtype, enforce_eager, kv_cache_gib, max_model_len, ...).
    """
    if kind == "hf":
        from harness.rollout.hf import HFEngine
        return HFEngine(model, tokenizer, **kw)
    if kind == "vllm":
        from harness.rollout.vllm_engine import VLLMEngine
        return VLLMEngine(model, tokenizer, **kw)
    raise ValueError(f"unknown rollout engine {kind!r}; valid engines: {engine_names()}")
