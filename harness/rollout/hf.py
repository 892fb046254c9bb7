"""The transformers rollout engine: our own batched sampling loop over the model's KV cache.

Why not ``model.generate``: with ``output_scores`` it returns the *processed* scores (after temperature/top-p
warping, with -inf outside the nucleus), and its stopping/padding bookkeeping hides what we need. The loop here is
short and exact:

1. the prompts (each repeated n times, grouped by prompt) are split into chunks of ``batch_size`` rows;
2. each chunk is left-padded, with position ids counting only real tokens, so padding changes nothing;
3. one prefill forward per distinct prompt (logits of the last position only; the n samples of a prompt then
   share copies of its KV cache), then one forward per new token through the KV cache; when the prompts share a
   prefix of at least ``MIN_SHARED_PREFIX`` tokens (a chat template's system prompt: 27 of the 57 tokens of an
   arith prompt in SmolLM2's template), that prefix is run once and its KV cache copied to every prompt
   (``shared_prefix``, ``HFEngine._prefill``);
4. at each step: ``log_softmax(logits / T)`` of the drawn token is the returned log-prob; the token is drawn from
   softmax(logits / T) (after top-p truncation when top_p < 1) by inverting its cumulative sum at one seeded uniform
   number per row (``torch.Generator``); greedy takes the argmax. The KV cache reserves room for the whole response
   after the prefill, so a decode step writes one position instead of copying the cache;
5. a row stops after its first end-of-sequence token (kept in ``response_ids``); finished rows are dropped from
   the batch and its KV cache so the remaining rows run faster. The chunk ends when every row has stopped or
   ``max_new_tokens`` is reached.

In float32 on a CPU the model's linear layers run, for the length of one call, on copies of their weights packed
into oneDNN's layout (``_PackedLinears``; ``packed_weights``), and a decode step's grouped-query attention is two
batched matmuls (``_decode_attention``).

The engine shares the trainer's model object: ``sync_weights(model)`` only rebinds it (no copy), so rollouts always
use the current weights. ``dtype="bfloat16"`` runs the forwards under CPU bf16 autocast (parameters stay fp32).
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from transformers.cache_utils import DynamicLayer

from .base import Rollout, Sampling, encode_prompts, eos_token_ids


_BLOCK = 1024


def _inverse_cdf_draw(weights: torch.Tensor, generator) -> torch.Tensor:
    """One exact draw per row from the unnormalised, non-negative ``weights`` [B, V]: the token whose cumulative
    weight first exceeds u * total, u ~ U[0, 1), one seeded uniform number per row.

    Two levels, so no [B, V] cumulative sum is built: the row's mass per block of ``_BLOCK`` tokens (summed in
    float64) picks the block, then a cumulative sum inside that one block picks the token. Over a 49k vocabulary on
    a CPU this is several times faster than an exponential race (a random number per vocabulary entry),
    ``torch.multinomial`` or a full-row cumulative sum, and deterministic per seed. A zero-weight token is never
    drawn."""
    B, V = weights.shape
    pad = (-V) % _BLOCK
    if pad:
        weights = torch.nn.functional.pad(weights, (0, pad))
    blocks = weights.view(B, -1, _BLOCK)
    mass = blocks.sum(-1, dtype=torch.float64)                        # [B, nb]
    cum = mass.cumsum(-1)
    u = torch.rand((B, 1), generator=generator, dtype=torch.float64, device=weights.device) * cum[:, -1:]
    b = torch.searchsorted(cum, u, right=True).clamp_max(mass.shape[1] - 1)   # first block whose end passes u
    rest = u - (cum.gather(-1, b) - mass.gather(-1, b))               # how far into that block u falls
    inner = blocks[torch.arange(B, device=weights.device), b.squeeze(-1)].cumsum(-1, dtype=torch.float64)
    # guard the last ulp: the two float64 sums of the same block may differ in their last bit
    rest = torch.minimum(rest, inner[:, -1:] * (1.0 - 1e-12))
    j = torch.searchsorted(inner, rest, right=True).clamp_max(_BLOCK - 1)
    return (b * _BLOCK + j).squeeze(-1)


class _GrowingLayer(DynamicLayer):
    """A KV-cache layer with room reserved for ``capacity`` positions: each decode step writes its key and value into
    the buffer instead of concatenating (``DynamicLayer`` copies the whole cache at every token), and attention reads
    a view of the filled part."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
        super().__init__()
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        b, h, n, d = keys.shape
        self._k = keys.new_empty((b, h, capacity, d))
        self._v = values.new_empty((b, values.shape[1], capacity, values.shape[-1]))
        self._k[:, :, :n] = keys
        self._v[:, :, :n] = values
        self._n = n
        self._view()

    def _view(self):
        self.keys, self.values = self._k[:, :, :self._n], self._v[:, :, :self._n]

    def update(self, key_states, value_states, *args, **kwargs):
        m = key_states.shape[-2]
        if self._n + m > self._k.shape[-2]:   # past the reserved room: grow like a dynamic layer
            grow = max(m, self._k.shape[-2])
            self._k = torch.cat([self._k, self._k.new_empty(self._k.shape[:2] + (grow,) + self._k.shape[3:])], -2)
            self._v = torch.cat([self._v, self._v.new_empty(self._v.shape[:2] + (grow,) + self._v.shape[3:])], -2)
        self._k[:, :, self._n:self._n + m] = key_states
        self._v[:, :, self._n:self._n + m] = value_states
        self._n += m
        self._view()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._n

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._k, self._v = self._k[indices], self._v[indices]
        self._view()


def _reserve(cache, extra: int) -> None:
    """Give every plain dynamic layer of ``cache`` room for ``extra`` more positions (see ``_GrowingLayer``)."""
    layers = getattr(cache, "layers", None)
    if not layers:
        return
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel():
            layers[i] = _GrowingLayer(layer.keys, layer.values, layer.keys.shape[-2] + extra)


MIN_SHARED_PREFIX = 16
"""The shortest common prefix of a call's prompts that the prefill runs once for all of them (HFEngine._prefill)."""


def _common_prefix(prompts: list[list[int]]) -> int:
    """Length of the longest token prefix every prompt shares."""
    first, n = prompts[0], min(len(p) for p in prompts)
    for i in range(n):
        t = first[i]
        if any(p[i] != t for p in prompts):
            return i
    return n


_GQA_SDPA = "rlvr_zoo_sdpa_gqa"


def _sdpa_gqa_forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, is_causal=None,
                      **kwargs):
    """transformers' ``sdpa`` attention, except that grouped-query attention with a padding mask on a CPU passes
    ``enable_gqa=True`` to ``scaled_dot_product_attention`` instead of first copying the keys and values out to every
    query head (transformers copies them whenever a mask is given, since CUDA's fast kernels cannot take both). Same
    result; a decode step's attention is about 4x faster for SmolLM2 (3 KV heads, 9 query heads). Every other case
    goes to transformers' own function."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if (attention_mask is None or groups <= 1 or query.device.type != "cpu" or key.shape[-1] != value.shape[-1]
            or kwargs.get("position_bias") is not None or kwargs.get("cache") is not None
            or kwargs.get("output_attentions", False)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    if query.shape[-2] == 1 and dropout == 0.0:
        return _decode_attention(query, key, value, attention_mask, scaling), None
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           dropout_p=dropout, scale=scaling, is_causal=False,
                                                           enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def _decode_attention(query, key, value, attention_mask, scaling):
    """Attention of one new position per row: query [B, H, 1, D], key/value [B, KV, n, D], mask [B, 1, 1, n]
    (bool: True = attend, or additive float) -> [B, 1, H, D]. The H/KV query heads of a group are stacked as rows
    of one [G, D] x [D, n] product, so the keys and values are read once per group; two batched matmuls and a softmax,
    about a third faster than CPU SDPA's flash kernel for a single query position."""
    B, H, _, D = query.shape
    KV = key.shape[1]
    q = query.reshape(B, KV, H // KV, D)
    scores = torch.matmul(q, key.transpose(-1, -2))                       # [B, KV, G, n]
    scores.mul_(D ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, float("-inf"))
        else:
            scores.add_(attention_mask)
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs.to(value.dtype), value)                      # [B, KV, G, D]
    return out.reshape(B, 1, H, D)


def _gqa_attention_config(model):
    """The config whose ``_attn_implementation`` the engine switches to ``_GQA_SDPA`` during a ``generate`` call
    (registering the function on first use), or None when the model does not use ``sdpa``."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return None
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if _GQA_SDPA not in AttentionInterface._global_mapping:
        AttentionInterface.register(_GQA_SDPA, _sdpa_gqa_forward)
        AttentionMaskInterface.register(_GQA_SDPA, sdpa_mask)
    return config


def _packing_available() -> bool:
    """Whether this torch build has oneDNN's packed-weight linear (``torch.ops.mkldnn._linear_pointwise``; CPU
    builds with oneDNN), checked once on a tiny problem against ``F.linear``."""
    global _PACK_OK
    if _PACK_OK is None:
        try:
            w, x = torch.randn(8, 4), torch.randn(2, 4)
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 2)
            _PACK_OK = bool(torch.backends.mkldnn.is_available() and torch.allclose(
                torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], ""),
                torch.nn.functional.linear(x, w), atol=1e-5))
        except (AttributeError, RuntimeError, NotImplementedError):
            _PACK_OK = False
    return _PACK_OK


_PACK_OK: bool | None = None


class _PackedLinears:
    """For one ``generate`` call: every float32 ``nn.Linear`` on the CPU runs on a copy of its weight reordered into
    oneDNN's blocked layout for a batch of ``rows`` rows (``torch.ops.mkldnn._reorder_linear_weight`` +
    ``_linear_pointwise``, what ``torch.compile``'s CPU weight freezing uses). A decode step multiplies a handful of
    rows by every weight matrix; the plain GEMM for so few rows runs well below the memory bandwidth, and the packed
    layout was measured 10-30% faster per decode step on SmolLM2-135M here (tools/perf/perf_parts.py). Same float32
    arithmetic; the sums are accumulated in another order, so results differ from ``F.linear`` by float32 rounding.

    The packed copies (as large as the weights) are made when the context is entered and dropped when it exits:
    each ``generate`` call packs the current weights (~0.2 s for 135M parameters), so rollouts always use the weights
    the trainer has, and the memory is free again for the training pass. Inputs of other dtypes (autocast) take the
    plain weights."""

    def __init__(self, model, rows: int):
        self.modules = [m for m in model.modules()
                        if type(m) is torch.nn.Linear and m.weight.dtype == torch.float32
                        and m.weight.device.type == "cpu" and m.weight.dim() == 2]
        self.rows = rows

    def __enter__(self):
        for m in self.modules:
            weight = m.weight.detach()
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, self.rows)
            m.forward = self._forward(weight, packed, m.bias)
        return self

    def __exit__(self, *exc):
        for m in self.modules:
            m.__dict__.pop("forward", None)
        return False

    @staticmethod
    def _forward(weight, packed, bias):
        linear, pointwise = torch.nn.functional.linear, torch.ops.mkldnn._linear_pointwise
        bias = None if bias is None else bias.detach()

        def forward(x):
            if x.dtype == torch.float32 and x.dim() >= 2 and x.shape[-1] == weight.shape[1]:
                return pointwise(x, packed, bias, "none", [], "")
            return linear(x, weight, bias)

        return forward


class HFEngine:
    """Rollouts with a transformers causal LM.

    model: a transformers causal LM (or a PEFT model around one); used in eval mode under ``torch.no_grad``; its
        training mode is restored afterwards.
    tokenizer: its tokenizer (for encoding string prompts, decoding responses and the eos/pad ids).
    dtype: ``"float32"`` (exact) or ``"bfloat16"`` (forwards under bf16 autocast; faster on CPUs with bf16 support).
    batch_size: rows (prompt x sample) per forward batch; bounds memory (KV cache ~ rows x length).
    stop_token_ids: end-of-sequence ids; default: the tokenizer's eos plus the generation config's eos.
    progress: show a tqdm bar over chunks.
    packed_weights: float32 rollouts on weights packed into oneDNN's layout for the batch (see ``_PackedLinears``);
        None (default) turns it on where it applies: float32 on a CPU with a torch build that has oneDNN.
    shared_prefix: run the common prefix of a chunk's prompts (a chat template's system prompt) through the model
        once (``_prefill``); the same logits up to float rounding.
    """

    def __init__(self, model, tokenizer, *, dtype: str = "float32", batch_size: int = 64,
                 stop_token_ids: Sequence[int] | None = None, progress: bool = False,
                 packed_weights: bool | None = None, shared_prefix: bool = True):
        from ..models import parse_dtype

        self.model = model
        self.tokenizer = tokenizer
        self.autocast_dtype = parse_dtype(dtype)
        if self.autocast_dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"HFEngine dtype must be float32, bfloat16 or float16, got {dtype!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.stop_token_ids = list(stop_token_ids) if stop_token_ids is not None else eos_token_ids(tokenizer, model)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_token_ids[0]
        self.pad_token_id = int(pad)
        self.progress = progress
        if packed_weights and not _packing_available():
            raise ValueError("packed_weights=True needs a torch build with oneDNN's packed linear (a CPU build with "
                             "mkldnn); this torch has none: leave packed_weights unset (None) or False")
        self.packed_weights = packed_weights
        self.shared_prefix = bool(shared_prefix)

    def sync_weights(self, model) -> None:
        """Use ``model`` (the trainer's current policy) for the next rollouts. No copy: the engine shares it."""
        self.model = model

    # ------------------------------------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str] | Sequence[Sequence[int]], sampling: Sampling) -> list[Rollout]:
        """``len(prompts) * sampling.n`` rollouts, grouped by prompt (all n responses of prompt 0 first)."""
        prompt_ids = encode_prompts(self.tokenizer, prompts)
        rows = [(i, ids) for i, ids in enumerate(prompt_ids) for _ in range(sampling.n)]
        device = next(self.model.parameters()).device
        generator = None
        if sampling.seed is not None:   # the generator lives where the sampling happens (the model's device)
            generator = torch.Generator(device=device).manual_seed(int(sampling.seed))
        chunks = [rows[s:s + self.batch_size] for s in range(0, len(rows), self.batch_size)]
        if self.progress:
            from tqdm.auto import tqdm
            chunks = tqdm(chunks, desc="rollout", unit="chunk", leave=False)
        was_training = self.model.training
        self.model.eval()
        out: list[Rollout] = []
        gqa_config = _gqa_attention_config(self.model)
        if gqa_config is not None:
            gqa_config._attn_implementation = _GQA_SDPA
        packed = contextlib.nullcontext()
        if self._use_packed(device) and chunks:
            packed = _PackedLinears(self.model, rows=min(self.batch_size, len(rows)))
        try:
            # one autocast region for the whole call: autocast caches the bf16 copies of the weights inside a
            # region, so they are cast once instead of at every decode step
            with self._autocast(device), packed:
                for chunk in chunks:
                    out.extend(self._generate_chunk(chunk, sampling, generator, device))
        finally:
            self.model.train(was_training)
            if gqa_config is not None:
                gqa_config._attn_implementation = "sdpa"
        return out

    def _use_packed(self, device) -> bool:
        if self.packed_weights is False or device.type != "cpu" or self.autocast_dtype != torch.float32:
            return False
        return _packing_available()

    def _autocast(self, device):
        enabled = self.autocast_dtype != torch.float32
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype, enabled=enabled)

    def _next_token(self, logits: torch.Tensor, sampling: Sampling, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(token [B], logprob [B]) from last-position logits [B, V] (float32), always computed in float32."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self._sample(logits.float(), sampling, generator)

    def _sample(self, logits, sampling, generator):
        # only the chosen token's log-prob is needed: log p = x - logsumexp(x), never a full log-softmax tensor
        x = logits if sampling.greedy or sampling.temperature == 1.0 else logits / sampling.temperature
        if sampling.greedy:
            tok = x.argmax(dim=-1)
            lse = torch.logsumexp(x, dim=-1)
        else:
            top = x.amax(dim=-1, keepdim=True)
            weights = torch.sub(x, top).exp_()                 # softmax up to its normaliser, one [B, V] buffer
            total = weights.sum(dim=-1, keepdim=True)
            lse = (top + total.log()).squeeze(-1)
            if sampling.top_p < 1.0:
                probs = weights / total
                sorted_p, order = probs.sort(dim=-1, descending=True)
                # keep the smallest prefix whose mass reaches top_p (a token is kept if the mass before it is < top_p)
                keep_sorted = (sorted_p.cumsum(-1) - sorted_p) < sampling.top_p
                keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
                weights = weights * keep
            tok = _inverse_cdf_draw(weights, generator)
        return tok, x.gather(-1, tok[:, None]).squeeze(-1) - lse

    def _prefill(self, prompts: list[list[int]], device):
        """The prefill of distinct prompts: (model output with the KV cache and the last position's logits, the
        attention mask [U, n] and position ids [U, n] of the cache's n positions).

        Prompts are left-padded, with positions counting only their own tokens. With ``shared_prefix`` and a common
        prefix of at least ``MIN_SHARED_PREFIX`` tokens (a chat template's system prompt), that prefix goes through
        the model once: its keys and values are copied to every prompt, whose remaining tokens (left-padded after
        the prefix) then attend to it. Same positions and attention as one prefill of the whole prompts, so the same
        logits up to float rounding, for a fraction of the prefill's work."""
        model, U = self.model, len(prompts)
        shared = _common_prefix(prompts) if self.shared_prefix and U > 1 else 0
        shared = min(shared, min(len(p) for p in prompts) - 1)   # every prompt keeps a token for its logits
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        past, head = None, None
        if shared:
            ids = torch.tensor([prompts[0][:shared]], dtype=torch.long, device=device)
            past = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                         position_ids=torch.arange(shared, device=device)[None], use_cache=True,
                         logits_to_keep=1).past_key_values
            past.batch_select_indices(torch.zeros(U, dtype=torch.long, device=device))
            head = torch.ones((U, shared), dtype=torch.long)
        rest = [p[shared:] for p in prompts]
        L = max(len(ids) for ids in rest)
        input_ids = torch.full((U, L), self.pad_token_id, dtype=torch.long)
        attn = torch.zeros((U, L), dtype=torch.long)
        for r, ids in enumerate(rest):
            input_ids[r, L - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attn[r, L - len(ids):] = 1
        pos = (shared + attn.cumsum(-1) - 1).clamp_min(0)
        if head is not None:
            attn = torch.cat([head, attn], dim=1)
            pos = torch.cat([torch.arange(shared).expand(U, shared), pos], dim=1)
        input_ids, attn, pos = input_ids.to(device), attn.to(device), pos.to(device)
        out = model(input_ids=input_ids, attention_mask=attn, position_ids=pos[:, shared:], past_key_values=past,
                    use_cache=True, logits_to_keep=1)
        return out, attn, pos

    @torch.no_grad()
    def _generate_chunk(self, chunk, sampling: Sampling, generator, device) -> list[Rollout]:
        model = self.model
        B = len(chunk)
        # the n samples of a prompt share its prefill: run each distinct prompt once, then copy its KV cache rows
        uniq: dict[int, int] = {}
        for pi, _ in chunk:
            uniq.setdefault(pi, len(uniq))
        uniq_ids = [None] * len(uniq)
        for pi, ids in chunk:
            uniq_ids[uniq[pi]] = ids
        row_to_u = torch.tensor([uniq[pi] for pi, _ in chunk], dtype=torch.long, device=device)
        U = len(uniq_ids)
        stop = torch.tensor(sorted({*self.stop_token_ids, *sampling.stop_token_ids}), dtype=torch.long, device=device)
        out, attn, pos = self._prefill(uniq_ids, device)
        cache = out.past_key_values
        logits = out.logits[:, -1, :].float()
        if U != B:
            cache.batch_select_indices(row_to_u)
            logits, attn, pos = logits[row_to_u], attn[row_to_u], pos[row_to_u]
        _reserve(cache, sampling.max_new_tokens)
        next_pos = pos[:, -1] + 1

        tokens = [[] for _ in range(B)]
        logprobs = [[] for _ in range(B)]
        reasons = ["length"] * B
        alive = torch.arange(B, device=device)  # original row index of each row still in the batch
        for step in range(sampling.max_new_tokens):
            tok, lp = self._next_token(logits, sampling, generator)
            tok_l, lp_l, alive_l = tok.tolist(), lp.tolist(), alive.tolist()
            for j, row in enumerate(alive_l):
                tokens[row].append(tok_l[j])
                logprobs[row].append(lp_l[j])
            finished = torch.isin(tok, stop)
            for j in finished.nonzero().flatten().tolist():
                reasons[alive_l[j]] = "stop"
            if step == sampling.max_new_tokens - 1:
                break
            keep = ~finished
            if not keep.any():
                break
            if not keep.all():  # drop finished rows from the batch and the KV cache
                idx = keep.nonzero().flatten()
                alive, tok, next_pos, attn = alive[idx], tok[idx], next_pos[idx], attn[idx]
                cache.batch_select_indices(idx)
            attn = torch.cat([attn, attn.new_ones((attn.shape[0], 1))], dim=1)
            out = model(input_ids=tok[:, None], attention_mask=attn, position_ids=next_pos[:, None],
                        past_key_values=cache, use_cache=True)
            logits = out.logits[:, -1, :].float()
            next_pos = next_pos + 1

        result = []
        for r, (pi, ids) in enumerate(chunk):
            text = self.tokenizer.decode(tokens[r], skip_special_tokens=True)
            result.append(Rollout(prompt_index=pi, prompt_ids=list(ids), response_ids=tokens[r], text=text,
                                  logprobs=logprobs[r], finish_reason=reasons[r]))
        return result
