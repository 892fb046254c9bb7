"""What every rollout engine shares: `Sampling`, `Rollout`, the `Engine` interface, prompt encoding and collation.

``generate`` returns ``len(prompts) * n`` rollouts grouped by prompt (the n responses of prompt 0 first).

Log-probs. Each rollout's ``logprobs[t]`` is the log-probability of ``response_ids[t]`` under
``softmax(logits / temperature)`` - the plain-temperature policy distribution the trainer recomputes. With
``temperature == 0`` (greedy) it is ``log_softmax(logits)`` at temperature 1. Top-p caveat: with ``top_p < 1`` tokens
are *sampled* from the nucleus-truncated, renormalised distribution; the HF engine still returns the un-truncated
temperature log-prob (so ``exp(logprob)`` is slightly smaller than the true sampling probability, by the kept mass),
while vLLM returns the truncated, renormalised log-prob (its ``processed_logprobs`` mode). With ``top_p == 1`` (the
default, and every preset) both engines return exactly ``log_softmax(logits / temperature)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

__all__ = ["Sampling", "Rollout", "Engine", "encode_prompts", "eos_token_ids", "collate"]


@dataclass(frozen=True)
class Sampling:
    """Sampling settings for one ``generate`` call.

    n: responses per prompt (GRPO's group size G; the CE-GPPO paper uses 8).
    max_new_tokens: length cap per response; a response that reaches it has finish_reason "length".
    temperature: softmax temperature; 0 means greedy decoding. 1.0 (sample from the policy) is the RLVR default.
    top_p: nucleus sampling threshold; 1.0 disables it (see the module notes on log-probs).
    seed: seed of the sampling RNG; the same seed, prompts and settings give the same responses (HF engine on CPU:
        bit-identical; vLLM: per-request seeded). None draws from the global RNG.
    stop_token_ids: more ids that end a response for this call, besides the engine's end-of-sequence ids (kept in
        ``response_ids``, finish_reason "stop"); ``stop_token_ids_for`` turns stop texts into them.
    """
    n: int = 1
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if int(self.n) < 1:
            raise ValueError(f"Sampling.n must be >= 1 (responses per prompt), got {self.n}")
        if int(self.max_new_tokens) < 1:
            raise ValueError(f"Sampling.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"Sampling.temperature must be a finite number >= 0 (0 = greedy), got {self.temperature}")
        if not (0 < self.top_p <= 1):
            raise ValueError(f"Sampling.top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Rollout:
    """One sampled response.

    prompt_index: index of its prompt in the ``prompts`` list given to ``generate``.
    prompt_ids: the prompt's token ids (no padding).
    response_ids: the generated token ids; when finish_reason is "stop" the last one is the end-of-sequence token.
    text: the decoded response, special tokens (eos) removed.
    logprobs: per response token, its log-prob under softmax(logits / temperature) (module notes), len = len(response_ids).
    finish_reason: "stop" (ended at an end-of-sequence token) or "length" (hit max_new_tokens).
    """
    prompt_index: int
    prompt_ids: list[int]
    response_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: str

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Engine(Protocol):
    """What the trainer uses: ``generate`` and ``sync_weights``."""

    def generate(self, prompts: Sequence[str] | Sequence[Sequence[int]], sampling: Sampling) -> list[Rollout]: ...

    def sync_weights(self, model) -> None: ...


# ----------------------------------------------------------------------------------------------------------------
# shared helpers


def encode_prompts(tokenizer, prompts: Sequence[str] | Sequence[Sequence[int]]) -> list[list[int]]:
    """Token ids of each prompt. Token-id lists pass through. A string that already starts with the tokenizer's BOS
    text (e.g. rendered by a chat template) is encoded without adding special tokens again; other strings get the
    tokenizer's default special tokens. Both engines use this, so they see identical prompt ids."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings (or of token-id lists), not a single string")
    out = []
    bos = getattr(tokenizer, "bos_token", None)
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            add = not (bos and p.startswith(bos))
            ids = tokenizer(p, add_special_tokens=add)["input_ids"]
        else:
            ids = [int(t) for t in p]
        if not ids:
            raise ValueError(f"prompt {i} is empty after tokenisation; every prompt needs at least one token")
        out.append(list(ids))
    return out


_STOP_IDS: dict[tuple[int, tuple[str, ...]], tuple[int, ...]] = {}


def stop_token_ids_for(tokenizer, texts) -> tuple[int, ...]:
    """The ids of every vocabulary token whose text contains one of ``texts`` (``["\\n"]``: each token with a
    newline): a response ends after the first such token. Token-level, so that both engines stop at the same token
    and the trainer scores exactly the tokens sampled. Cached per tokenizer and texts."""
    texts = tuple(sorted({str(t) for t in texts if t}))
    if not texts:
        return ()
    key = (id(tokenizer), texts)
    if key not in _STOP_IDS:
        vocab = range(len(tokenizer))
        pieces = tokenizer.batch_decode([[i] for i in vocab], skip_special_tokens=False,
                                        clean_up_tokenization_spaces=False)
        _STOP_IDS[key] = tuple(i for i, piece in zip(vocab, pieces) if any(t in piece for t in texts))
    return _STOP_IDS[key]


def eos_token_ids(tokenizer, model=None) -> list[int]:
    """End-of-sequence ids: the tokenizer's eos plus the model's generation_config eos (an int or a list)."""
    ids = set()
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen = getattr(model, "generation_config", None) if model is not None else None
    eos = getattr(gen, "eos_token_id", None)
    if eos is not None:
        ids.update(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
    if not ids:
        raise ValueError("the tokenizer defines no eos_token_id; pass stop_token_ids=[...] to the engine")
    return sorted(ids)


def collate(rollouts: Sequence[Rollout], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pack rollouts into one batch: prompts left-padded, responses right-padded, so that every response starts at
    the same column P (the longest prompt).

    Returns input_ids [B, P+R] (long), attention_mask [B, P+R], position_ids [B, P+R] (count of real tokens before
    each token), response_mask [B, R] (1 on response tokens), engine_logprobs [B, R] (float32, 0 at padding),
    prompt_length = P (int tensor). The log-prob of response token j is predicted by the logits at column P+j-1.
    """
    if not rollouts:
        raise ValueError("collate needs at least one rollout")
    B = len(rollouts)
    P = max(len(r.prompt_ids) for r in rollouts)
    R = max(1, max(len(r.response_ids) for r in rollouts))
    input_ids = torch.full((B, P + R), int(pad_token_id), dtype=torch.long)
    attn = torch.zeros((B, P + R), dtype=torch.long)
    resp_mask = torch.zeros((B, R), dtype=torch.float32)
    eng = torch.zeros((B, R), dtype=torch.float32)
    for i, r in enumerate(rollouts):
        p, n = len(r.prompt_ids), len(r.response_ids)
        input_ids[i, P - p:P] = torch.tensor(r.prompt_ids, dtype=torch.long)
        attn[i, P - p:P] = 1
        if n:
            input_ids[i, P:P + n] = torch.tensor(r.response_ids, dtype=torch.long)
            attn[i, P:P + n] = 1
            resp_mask[i, :n] = 1
            eng[i, :n] = torch.tensor(r.logprobs, dtype=torch.float32)
    position_ids = (attn.cumsum(-1) - 1).clamp_min(0)
    return dict(input_ids=input_ids, attention_mask=attn, position_ids=position_ids, response_mask=resp_mask,
                engine_logprobs=eng, prompt_length=torch.tensor(P))
