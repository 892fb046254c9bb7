"""Per-token log-probs, entropies and critic values of a batch's response tokens.

`Forward.logprobs` un-pads the rows it is given to their longest prompt and response, runs the model under the
run's autocast and returns log pi(y_t) at the sampling temperature (and the entropies, in the same softmax pass).
Two ways of saving work give the same results up to float rounding:

* shared prefix (`shared_prefix_forward`): each distinct prompt of a micro-batch goes through the model once and
  its responses attend to that prompt's keys and values;
* length buckets (`_length_buckets`): a micro-batch's responses run in up to 3 groups of similar length, each only
  as long as its longest response.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch

from harness.training.batch import RolloutBatch

__all__ = ["Forward", "disable_dropout", "shared_prefix_forward"]


def disable_dropout(model) -> None:
    """Dropout off (p = 0) in every layer: RL log-probs must be those of the policy that samples."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


@dataclass(frozen=True)
class Forward:
    """How the trainer runs its models: temperature of the log-probs, shared prefix, length buckets, the chunk size
    of the log-softmax (None: automatic), bf16 autocast on ``device_type``, and the micro-batch size of no-grad
    passes over a whole batch."""
    temperature: float = 1.0
    shared_prefix: bool = True
    length_buckets: bool = False
    chunk_size: int | None = None
    bf16: bool = False
    device_type: str = "cpu"
    micro_batch_size: int = 8

    def autocast(self):
        return torch.autocast(device_type=self.device_type, dtype=torch.bfloat16, enabled=self.bf16)

    @staticmethod
    def _unpad(batch: RolloutBatch, rows):
        """ids, attn, pos of ``rows`` cut to their longest prompt (p_len) and response (r_len), and the response
        mask [b, r_len]."""
        P = batch.prompt_length
        pm = batch.attention_mask[rows, :P]
        rm = batch.response_mask[rows]
        p_len = int(pm.sum(-1).max())
        r_len = max(1, int(rm.sum(-1).max()))
        cols = slice(P - p_len, P + r_len)
        ids = batch.input_ids[rows, cols]
        attn = batch.attention_mask[rows, cols]
        pos = (attn.cumsum(-1) - 1).clamp_min(0)
        return ids, attn, pos, p_len, r_len, rm

    def values(self, critic, batch: RolloutBatch, rows, *, grad: bool):
        """Critic values [b, r] of the response tokens of ``rows`` and their mask."""
        ids, attn, pos, p_len, r_len, rm = self._unpad(batch, rows)
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx, self.autocast():
            values = critic(input_ids=ids, attention_mask=attn, position_ids=pos)
            return values[:, p_len - 1:p_len - 1 + r_len].float(), rm[:, :r_len].bool()

    def logprobs(self, module, batch: RolloutBatch, rows, *, grad: bool, entropy: bool, entropy_grad: bool = False):
        """Per-token log-probs and entropies (None unless ``entropy``) [b, r] of the response tokens of ``rows``, and
        their mask; the entropies keep their gradient only with ``entropy_grad`` (an entropy term in the loss)."""
        ids, attn, pos, p_len, r_len, rm = self._unpad(batch, rows)
        mask = rm[:, :r_len].bool()
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx:
            with self.autocast():
                parts = None
                if self.shared_prefix:
                    parts = shared_prefix_forward(module, ids, attn, pos, p_len, r_len,
                                                  lengths=rm.sum(-1).long() if self.length_buckets else None)
                if parts is None:
                    # the last token predicts nothing we score: leave it out, so that the model returns exactly the
                    # r_len positions that predict the labels, as one contiguous [b, r_len, V] tensor (slicing a
                    # longer one makes the log-prob and entropy code copy the whole full-vocabulary tensor, and its
                    # backward allocate a zero-padded one)
                    out = module(input_ids=ids[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, :-1],
                                 use_cache=False, logits_to_keep=r_len)
                    parts = [(None, r_len, out.logits)]
                    del out
            labels = ids[:, p_len:].masked_fill(~mask, -100)
            logp, ent = self._from_logits(parts, labels, r_len, entropy, grad and entropy_grad)
        return logp, ent, mask

    def _from_logits(self, parts, labels, r_len: int, entropy: bool, entropy_grad: bool):
        """Log-probs (and entropies) of each part's rows, put back in row order and padded to r_len."""
        from algorithms import logprobs_and_entropy_from_logits, logprobs_from_logits

        lps, ents, order = [], [], []
        for rows_k, r_k, logits in parts:
            if self.temperature != 1.0:
                logits = logits / self.temperature
            lab = labels if rows_k is None else labels[rows_k, :r_k]
            if entropy:   # one softmax pass for both
                lp, en = logprobs_and_entropy_from_logits(logits, lab, chunk_size=self.chunk_size)
                ents.append(en if entropy_grad else en.detach())
            else:
                lp = logprobs_from_logits(logits, lab, chunk_size=self.chunk_size)
            lps.append(lp)
            order.append(rows_k)
        if len(parts) == 1 and order[0] is None:
            return lps[0], (ents[0] if entropy else None)
        inverse = torch.argsort(torch.cat(order))   # rows ran in length buckets: restore their order

        def merge(ts):
            return torch.cat([torch.nn.functional.pad(t, (0, r_len - t.shape[1])) for t in ts])[inverse]
        return merge(lps), (merge(ents) if entropy else None)

    def all_logprobs(self, module, batch: RolloutBatch) -> torch.Tensor:
        """No-grad per-token log-probs of the whole batch, [N, R] float32, 0 on padding."""
        def run(rows):
            logp, _, mask = self.logprobs(module, batch, rows, grad=False, entropy=False)
            return logp, mask
        return self._all(batch, run)

    def all_values(self, critic, batch: RolloutBatch) -> torch.Tensor:
        """No-grad critic values of the whole batch, [N, R] float32, 0 on padding."""
        return self._all(batch, lambda rows: self.values(critic, batch, rows, grad=False))

    def _all(self, batch: RolloutBatch, run) -> torch.Tensor:
        N, R = batch.response_mask.shape
        device = batch.response_mask.device
        out = torch.zeros(N, R, dtype=torch.float32, device=device)
        for s in range(0, N, self.micro_batch_size):
            rows = torch.arange(s, min(s + self.micro_batch_size, N), device=device)
            vals, mask = run(rows)
            out[rows, :vals.shape[1]] = torch.where(mask, vals.float(), 0.0)
        return out


def shared_prefix_forward(module, ids: torch.Tensor, attn: torch.Tensor, pos: torch.Tensor, p_len: int, r_len: int,
                          lengths: torch.Tensor | None = None):
    """Logits that predict the response tokens ``ids[:, p_len:]``, computing each distinct prompt once: a list of
    ``(rows, r, logits [len(rows), r, V])`` parts covering every row once (``rows`` None: all rows in order, r =
    r_len); ``None`` when nothing is shared (every row has its own prompt), when the prompt is a single token, or when
    the model cannot take a KV cache in training (gradient checkpointing turns the cache off).

    ``ids``/``attn``/``pos`` [b, p_len + r_len] hold left-padded prompts then right-padded responses. The prompts
    without their last token go through the model once per distinct prompt (with the cache on); the cache rows are
    then indexed out to the b sequences (an index, so the gradients of the b copies sum into the one prompt pass)
    and the last prompt token plus the responses go through the model on top of it. The result equals the plain
    full forward up to float rounding: the same keys, values, positions and mask, in a different order of work.

    ``lengths`` [b] (response tokens per row): when given, rows are sorted by length and cut into at most
    ``_MAX_BUCKETS`` buckets where that saves padded positions worth more than an extra model call
    (``length_buckets``), each bucket run only up to its longest response.
    """
    b = ids.shape[0]
    if p_len < 2 or b < 2 or getattr(module, "is_gradient_checkpointing", False):
        return None
    key = torch.cat([ids[:, :p_len], attn[:, :p_len]], dim=1)
    uniq, inverse = torch.unique(key, dim=0, return_inverse=True)
    U = uniq.shape[0]
    if U == b:
        return None
    rows = torch.arange(b, device=ids.device)
    first = torch.full((U,), b, dtype=torch.long, device=ids.device).scatter_reduce(0, inverse, rows, "amin")
    pre = module(input_ids=ids[first, :p_len - 1], attention_mask=attn[first, :p_len - 1],
                 position_ids=pos[first, :p_len - 1], use_cache=True, logits_to_keep=1)
    cache = getattr(pre, "past_key_values", None)
    if cache is None or not hasattr(cache, "batch_select_indices") or not hasattr(cache, "layers"):
        return None
    buckets = [(None, r_len)] if lengths is None else _length_buckets(lengths.tolist(), r_len)
    parts = []
    for bucket_rows, r in buckets:
        if bucket_rows is None:    # the only bucket: every row, up to r_len
            sel, c = None, cache
            _select_rows(c, inverse)
            r_ids, r_attn, r_pos = ids, attn, pos
        else:                      # a cache object of its own; its tensors are indexed copies, the prompt pass shared
            sel = torch.as_tensor(bucket_rows, dtype=torch.long, device=ids.device)
            c = copy.copy(cache)
            c.layers = [copy.copy(layer) for layer in cache.layers]
            _select_rows(c, inverse[sel])
            r_ids, r_attn, r_pos = ids[sel], attn[sel], pos[sel]
        end = p_len - 1 + r
        out = module(input_ids=r_ids[:, p_len - 1:end], attention_mask=r_attn[:, :end],
                     position_ids=r_pos[:, p_len - 1:end], past_key_values=c, use_cache=True, logits_to_keep=r)
        parts.append((sel, r, out.logits))
    return parts


def _plain_layer(layer, plain_select) -> bool:
    """A cache layer whose row selection is ``plain_select`` (transformers' ``DynamicLayer.batch_select_indices``:
    it indexes ``keys`` and ``values`` and nothing else, unlike a subclass that keeps more per-row state)."""
    return (plain_select is not None and getattr(type(layer), "batch_select_indices", None) is plain_select
            and isinstance(getattr(layer, "keys", None), torch.Tensor)
            and isinstance(getattr(layer, "values", None), torch.Tensor))


def _select_rows(cache, index: torch.Tensor) -> None:
    """Replace every cache layer's rows by its rows ``index`` (with repeats: one copy of a prompt's keys and values
    per response).

    ``index_select``, not the ``tensor[index]`` of transformers' ``batch_select_indices``: the backward of an
    indexing with repeated rows is an accumulating ``index_put_``, which on CPU adds the copies' gradients in
    parallel in an order that changes from run to run (the same training step gave different weights in the last
    bits, and runs drifted apart within a few steps); the backward of ``index_select`` is ``index_add_``, which adds
    them in index order, the same every run and at any thread count. A layer type that keeps other per-row state
    is left to its own ``batch_select_indices``."""
    try:
        from transformers.cache_utils import DynamicLayer
        plain_select = DynamicLayer.batch_select_indices
    except ImportError:
        plain_select = None
    for layer in cache.layers:
        if not _plain_layer(layer, plain_select):
            layer.batch_select_indices(index)
        elif layer.keys.numel():
            layer.keys = layer.keys.index_select(0, index)
            layer.values = layer.values.index_select(0, index)


_MAX_BUCKETS = 3
_BUCKET_CALL_COST = 32   # an extra model call, in padded positions' worth of work (forward + backward)


def _length_buckets(lengths: list[int], r_len: int) -> list[tuple[list[int] | None, int]]:
    """Rows grouped by response length: ``[(rows, longest), ...]`` minimising padded positions plus
    ``_BUCKET_CALL_COST`` per bucket (dynamic programme over the rows sorted by length, at most ``_MAX_BUCKETS``);
    ``[(None, r_len)]`` when one bucket is best."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    L = [max(1, int(lengths[i])) for i in order]
    n = len(L)
    if n < 2 or n > 512 or L[0] == L[-1]:
        return [(None, r_len)]
    INF = float("inf")
    # best[k][j]: cost of the first j sorted rows in k buckets; cut[k][j]: where the last of them starts
    best = [[INF] * (n + 1) for _ in range(_MAX_BUCKETS + 1)]
    cut = [[0] * (n + 1) for _ in range(_MAX_BUCKETS + 1)]
    best[0][0] = 0.0
    starts = [0] + [i for i in range(1, n) if L[i] != L[i - 1]]   # a bucket starts where the length changes
    ends = [i for i in range(1, n + 1) if i == n or L[i] != L[i - 1]]
    for k in range(1, _MAX_BUCKETS + 1):
        for j in ends:
            for i in starts:
                if i >= j or best[k - 1][i] == INF:
                    continue
                c = best[k - 1][i] + (j - i) * L[j - 1] + _BUCKET_CALL_COST
                if c < best[k][j]:
                    best[k][j], cut[k][j] = c, i
    k = min(range(1, _MAX_BUCKETS + 1), key=lambda kk: best[kk][n])
    if k == 1:
        return [(None, r_len)]
    out, j = [], n
    for kk in range(k, 0, -1):
        i = cut[kk][j]
        out.append(([order[t] for t in range(i, j)], L[j - 1]))
        j = i
    return out[::-1]
