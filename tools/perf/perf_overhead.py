"""The overhead ratio of a training step: our step time over the time of the bare work the step cannot avoid.

For one training step that generated responses for prompts ``p_1..p_P`` (``n`` each, longest response ``L``
tokens) and trained on the resulting ``B = P * n`` sequences:

    bare generate          the engine's own generation of the same requests, with nothing else around it:
                           * HF engine: transformers' ``model.generate`` on the ``B`` rows (each prompt repeated
                             ``n`` times, left-padded), sampling with the step's temperature and top-p (top-k off),
                             ``max_new_tokens = min_new_tokens = L``, so it runs at least the decode steps the step
                             ran (``B * L`` tokens, every row to full length: an upper bound on the tokens sampled);
                           * vLLM engine: the same ``vllm.LLM`` instance's ``generate`` of the same ``P`` requests
                             with ``n`` samples, ``max_tokens = min_tokens = L``;
    bare forward/backward  one forward of the same padded batch (prompts left-padded, responses right-padded:
                           ``harness.rollout.collate``) under the step's dtype (bf16 autocast or fp32), loss = the sum
                           of the response tokens' log-probs (a plain full-vocabulary ``log_softmax``), one backward,
                           gradients dropped; no optimiser, no reward, no metrics. It runs in micro-batches of the
                           same size as the trainer's forward/backward (``micro_batch_size``), so both do the same
                           matrix shapes.

    overhead ratio = step time / (bare generate + bare forward/backward)

A ratio of 1.0 means the step does nothing but the two unavoidable pieces; the reward, advantages, the optimiser
step, weight sync and bookkeeping all count as overhead (the optimiser step is small but real). The ratio is computed
per measured step, right after the run's steps, in the same process and with the same thread and dtype settings;
``tools.perf.perf_vs_trl`` reports the median over steps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

__all__ = ["StepWork", "bare_generate_hf", "bare_generate_vllm", "bare_forward_backward", "measure_overhead"]


@dataclass
class StepWork:
    """What one training step generated: its distinct prompts (token ids, in request order), samples per prompt,
    and the rollouts (``harness.rollout.Rollout``) it trained on."""
    prompt_ids: list[list[int]]
    n: int
    rollouts: list = field(repr=False)

    @classmethod
    def from_rollouts(cls, rollouts: Sequence, n: int) -> "StepWork":
        if not rollouts:
            raise ValueError("StepWork needs the step's rollouts; got none")
        prompts: dict[int, list[int]] = {}
        for r in rollouts:
            prompts.setdefault(r.prompt_index, list(r.prompt_ids))
        return cls(prompt_ids=[prompts[i] for i in sorted(prompts)], n=int(n), rollouts=list(rollouts))

    @property
    def longest(self) -> int:
        """Length of the longest response of the step (at least 1)."""
        return max(1, max(len(r.response_ids) for r in self.rollouts))


def _autocast(dtype: str):
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16")


def bare_generate_hf(model, work: StepWork, *, pad_token_id: int, temperature: float, top_p: float,
                     dtype: str, seed: int = 0) -> dict[str, Any]:
    """transformers ``model.generate`` of ``work``'s requests, every row forced to ``work.longest`` new tokens.

    Returns ``{"seconds", "tokens"}``: wall time of the ``generate`` call and the number of new tokens it produced.
    """
    L = work.longest
    rows = [ids for ids in work.prompt_ids for _ in range(work.n)]
    P = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), P), int(pad_token_id), dtype=torch.long)
    attn = torch.zeros((len(rows), P), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, P - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attn[i, P - len(ids):] = 1
    device = next(model.parameters()).device
    kw: dict[str, Any] = {"max_new_tokens": L, "min_new_tokens": L, "pad_token_id": int(pad_token_id)}
    if temperature > 0:
        kw.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        kw.update(do_sample=False)
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    try:
        with _autocast(dtype), torch.no_grad():
            t = time.perf_counter()
            out = model.generate(input_ids=input_ids.to(device), attention_mask=attn.to(device), **kw)
            seconds = time.perf_counter() - t
    finally:
        model.train(was_training)
    return {"seconds": seconds, "tokens": int((out.shape[1] - P) * out.shape[0])}


def bare_generate_vllm(llm, work: StepWork, *, temperature: float, top_p: float, seed: int = 0) -> dict[str, Any]:
    """The vLLM engine's own ``generate`` of ``work``'s requests (one request per prompt with ``n`` samples),
    every sample forced to ``work.longest`` tokens. Returns ``{"seconds", "tokens"}``."""
    import vllm

    L = work.longest
    params = [vllm.SamplingParams(n=work.n, temperature=float(temperature), top_p=float(top_p), max_tokens=L,
                                  min_tokens=L, seed=seed + i * work.n, detokenize=False)
              for i in range(len(work.prompt_ids))]
    requests = [{"prompt_token_ids": ids} for ids in work.prompt_ids]
    t = time.perf_counter()
    outs = llm.generate(requests, params, use_tqdm=False)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "tokens": sum(len(c.token_ids) for o in outs for c in o.outputs)}


def bare_forward_backward(model, work: StepWork, *, pad_token_id: int, dtype: str,
                          micro_batch_size: int | None = None) -> dict[str, Any]:
    """Forward + backward of ``work``'s padded batch with loss = sum of response-token log-probs; no optimiser.

    Returns ``{"seconds", "tokens", "loss"}`` (tokens: real prompt + response tokens of the batch). The gradients
    it leaves are dropped (``param.grad = None``) before it returns.
    """
    from harness.rollout import collate

    batch = collate(work.rollouts, pad_token_id)
    B = batch["input_ids"].shape[0]
    mb = int(micro_batch_size or B)
    if mb < 1:
        raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
    P = int(batch["prompt_length"])
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    total = 0.0
    try:
        for p in model.parameters():
            p.grad = None
        t = time.perf_counter()
        for s in range(0, B, mb):
            ids = batch["input_ids"][s:s + mb].to(device)
            attn = batch["attention_mask"][s:s + mb].to(device)
            pos = batch["position_ids"][s:s + mb].to(device)
            mask = batch["response_mask"][s:s + mb].to(device)
            with _autocast(dtype):
                logits = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False).logits
            logp = torch.log_softmax(logits[:, P - 1:-1].float(), dim=-1)
            tok = logp.gather(-1, ids[:, P:, None]).squeeze(-1)
            loss = (tok * mask).sum()
            loss.backward()
            total += float(loss.detach())
        seconds = time.perf_counter() - t
    finally:
        for p in model.parameters():
            p.grad = None
        model.train(was_training)
    return {"seconds": seconds, "tokens": int(batch["attention_mask"].sum()), "loss": total}


def measure_overhead(step_seconds: Sequence[float], works: Sequence[StepWork], *, model, pad_token_id: int,
                     temperature: float, top_p: float, dtype: str, micro_batch_size: int | None = None,
                     vllm_llm=None, seed: int = 0) -> list[dict[str, Any]]:
    """Per step: ``{"step_s", "bare_gen_s", "bare_gen_tokens", "bare_gen_expected_tokens", "bare_fb_s",
    "bare_fb_tokens", "overhead_ratio"}``. ``vllm_llm``: a ``vllm.LLM`` to time instead of ``model.generate``."""
    if len(step_seconds) != len(works):
        raise ValueError(f"one step time per StepWork is needed; got {len(step_seconds)} times for "
                         f"{len(works)} steps")
    out = []
    for i, (step_s, work) in enumerate(zip(step_seconds, works)):
        if vllm_llm is not None:
            gen = bare_generate_vllm(vllm_llm, work, temperature=temperature, top_p=top_p, seed=seed + i)
        else:
            gen = bare_generate_hf(model, work, pad_token_id=pad_token_id, temperature=temperature, top_p=top_p,
                                   dtype=dtype, seed=seed + i)
        fb = bare_forward_backward(model, work, pad_token_id=pad_token_id, dtype=dtype,
                                   micro_batch_size=micro_batch_size)
        bare = gen["seconds"] + fb["seconds"]
        out.append({"step_s": float(step_s), "bare_gen_s": gen["seconds"], "bare_gen_tokens": gen["tokens"],
                    "bare_gen_expected_tokens": len(work.prompt_ids) * work.n * work.longest,
                    "bare_fb_s": fb["seconds"], "bare_fb_tokens": fb["tokens"],
                    "overhead_ratio": float(step_s) / max(bare, 1e-9)})
    return out

