"""Log-probabilities of chosen tokens, and entropies, from logits [B, T, V] without a [B, T, V] float32 copy.

A plain `logits.float().log_softmax(-1)` on a 150k vocabulary materialises B*T*V float32 values, and autograd keeps
them for the backward pass. Here the B*T rows are processed in chunks of `chunk_size` rows: each chunk is upcast,
reduced to one number per row, and dropped. Autograd keeps only the original logits (in their own dtype) and one
log-sum-exp per row; the backward pass recomputes the softmax chunk by chunk. So the peak extra memory is one chunk
of float32, whatever B and T are.

    log p(y_t) = x[y_t] - logsumexp(x)                    d/dx_j = 1[j = y_t] - p_j
    H          = logsumexp(x) - sum_j p_j x_j             d/dx_j = -p_j (x_j - sum_k p_k x_k)

The outputs are float32 (float64 when the logits are float64) whatever the logits' dtype.
"""
from __future__ import annotations

import torch
from torch import Tensor

# rows per chunk when chunk_size is None: about 2^24 float32 values (64 MiB) per chunk
_ELEMENTS_PER_CHUNK = 1 << 24


def _compute_dtype(logits: Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _rows(n_rows: int, vocab: int, chunk_size: int | None):
    if chunk_size is None:
        chunk_size = max(1, _ELEMENTS_PER_CHUNK // max(vocab, 1))
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def _softmax_into(grad: Tensor, logits: Tensor, lse: Tensor, rows: slice) -> Tensor:
    """softmax of ``logits[rows]`` in the compute dtype, written straight into ``grad[rows]`` when the dtypes agree
    (no chunk-sized temporary and no copy), else into a new float32 chunk."""
    x = logits[rows]
    if x.dtype == lse.dtype and grad.dtype == lse.dtype:
        out = grad[rows]
        torch.sub(x, lse[rows, None], out=out)
        return out.exp_()
    return torch.exp(x.to(lse.dtype) - lse[rows, None])


class _ChunkedLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels, chunk_size):
        dtype = _compute_dtype(logits)
        out = torch.empty(logits.shape[0], dtype=dtype, device=logits.device)
        lse = torch.empty_like(out)
        for rows in _rows(logits.shape[0], logits.shape[1], chunk_size):
            x = logits[rows].to(dtype)
            lse[rows] = torch.logsumexp(x, dim=-1)
            out[rows] = x.gather(-1, labels[rows, None]).squeeze(-1) - lse[rows]
        ctx.save_for_backward(logits, labels, lse)
        ctx.chunk_size = chunk_size
        return out

    @staticmethod
    def backward(ctx, grad_out):
        logits, labels, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for rows in _rows(logits.shape[0], logits.shape[1], ctx.chunk_size):
            g = grad_out[rows, None].to(lse.dtype)
            chunk = _softmax_into(grad, logits, lse, rows)
            chunk.mul_(-g)                                                          # -p_j * g
            chunk.scatter_add_(-1, labels[rows, None], g)                          # +1[j = y] * g
            if chunk.data_ptr() != grad[rows].data_ptr():
                grad[rows] = chunk.to(grad.dtype)
        return grad, None, None


class _ChunkedEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, chunk_size):
        dtype = _compute_dtype(logits)
        out = torch.empty(logits.shape[0], dtype=dtype, device=logits.device)
        lse = torch.empty_like(out)
        for rows in _rows(logits.shape[0], logits.shape[1], chunk_size):
            x = logits[rows].to(dtype)
            lse[rows] = torch.logsumexp(x, dim=-1)
            p = torch.exp(x - lse[rows, None])
            out[rows] = lse[rows] - (p * x).sum(-1)
        ctx.save_for_backward(logits, lse)
        ctx.chunk_size = chunk_size
        return out

    @staticmethod
    def backward(ctx, grad_out):
        logits, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for rows in _rows(logits.shape[0], logits.shape[1], ctx.chunk_size):
            x = logits[rows].to(lse.dtype)
            p = torch.exp(x - lse[rows, None])
            mean_x = (p * x).sum(-1, keepdim=True)
            grad[rows] = (-p * (x - mean_x) * grad_out[rows, None].to(lse.dtype)).to(grad.dtype)
        return grad, None


class _ChunkedLogprobsEntropy(torch.autograd.Function):
    """Both at once: one upcast and one softmax per chunk in each direction (about half the work of the two)."""

    @staticmethod
    def forward(ctx, logits, labels, chunk_size):
        dtype = _compute_dtype(logits)
        logp = torch.empty(logits.shape[0], dtype=dtype, device=logits.device)
        entropy, lse, mean_x = torch.empty_like(logp), torch.empty_like(logp), torch.empty_like(logp)
        buf = None   # one chunk of exp(x - max), reused: four passes over a chunk instead of about ten
        for rows in _rows(logits.shape[0], logits.shape[1], chunk_size):
            x = logits[rows].to(dtype)
            if buf is None:                       # the first chunk is the largest
                buf = torch.empty_like(x)
            top = x.amax(dim=-1, keepdim=True)
            e = torch.sub(x, top, out=buf[:x.shape[0]]).exp_()                    # softmax up to its normaliser
            total = e.sum(-1)
            lse[rows] = top.squeeze(-1) + total.log()
            mean_x[rows] = torch.linalg.vecdot(e, x) / total                       # E_p[x]
            logp[rows] = x.gather(-1, labels[rows, None]).squeeze(-1) - lse[rows]
            entropy[rows] = lse[rows] - mean_x[rows]
        ctx.save_for_backward(logits, labels, lse, mean_x)
        ctx.chunk_size = chunk_size
        ctx.set_materialize_grads(False)   # an output the loss does not use gets None, not a tensor of zeros
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        logits, labels, lse, mean_x = ctx.saved_tensors
        grad = torch.empty_like(logits)
        zeros = torch.zeros_like(lse)
        with_entropy = grad_entropy is not None    # None when the entropy is only reported, not in the loss
        grad_logp = zeros if grad_logp is None else grad_logp.to(lse.dtype)
        grad_entropy = zeros if grad_entropy is None else grad_entropy.to(lse.dtype)
        for rows in _rows(logits.shape[0], logits.shape[1], ctx.chunk_size):
            g_lp, g_h = grad_logp[rows, None], grad_entropy[rows, None]
            chunk = _softmax_into(grad, logits, lse, rows)                          # p
            if with_entropy:                          # d logp + d H, softmax part: -p (g_lp + g_h (x - E_p[x]))
                chunk.mul_(-(g_lp + g_h * (logits[rows].to(lse.dtype) - mean_x[rows, None])))
            else:
                chunk.mul_(-g_lp)
            chunk.scatter_add_(-1, labels[rows, None], g_lp)                       # + 1[j = y] * g_logp
            if chunk.data_ptr() != grad[rows].data_ptr():
                grad[rows] = chunk.to(grad.dtype)
        return grad, None, None


def _check_labels(logits: Tensor, labels: Tensor, ignore_index: int | None):
    """Flattened labels (ignored ones replaced by 0) and the bool mask of the kept ones."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"labels shape {tuple(labels.shape)} must equal logits shape without the vocabulary "
                         f"dimension, {tuple(logits.shape[:-1])}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"labels must be an integer tensor of token ids, got dtype {labels.dtype}")
    vocab = logits.shape[-1]
    flat_labels = labels.reshape(-1).long()
    keep = flat_labels != ignore_index if ignore_index is not None else torch.ones_like(flat_labels, dtype=torch.bool)
    bad = keep & ((flat_labels < 0) | (flat_labels >= vocab))
    if bool(bad.any()):
        raise ValueError(f"labels must lie in [0, {vocab}) (the vocabulary) or equal ignore_index={ignore_index}; "
                         f"found {int(flat_labels[bad][0])}")
    return torch.where(keep, flat_labels, torch.zeros_like(flat_labels)), keep


def logprobs_and_entropy_from_logits(logits: Tensor, labels: Tensor, chunk_size: int | None = None,
                                     ignore_index: int | None = -100) -> tuple[Tensor, Tensor]:
    """(logprobs_from_logits(...), entropy_from_logits(...)) in one pass over the logits, same results.

    Ignored labels give log-prob 0 (no gradient); their entropy is still computed.
    """
    safe_labels, keep = _check_labels(logits, labels, ignore_index)
    logp, entropy = _ChunkedLogprobsEntropy.apply(logits.reshape(-1, logits.shape[-1]), safe_labels, chunk_size)
    logp = torch.where(keep, logp, torch.zeros((), dtype=logp.dtype, device=logp.device))
    return logp.reshape(labels.shape), entropy.reshape(labels.shape)


def logprobs_from_logits(logits: Tensor, labels: Tensor, chunk_size: int | None = None,
                         ignore_index: int | None = -100) -> Tensor:
    """log softmax(logits)[labels] for logits [..., V] and integer labels [...]; differentiable in logits.

    chunk_size: rows (of the flattened leading dimensions) per chunk; None picks ~2^24 elements per chunk.
    Labels equal to ignore_index (Hugging Face's -100 for padding) give 0.0 and no gradient.
    """
    safe_labels, keep = _check_labels(logits, labels, ignore_index)
    out = _ChunkedLogprobs.apply(logits.reshape(-1, logits.shape[-1]), safe_labels, chunk_size)
    out = torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out.reshape(labels.shape)


def entropy_from_logits(logits: Tensor, chunk_size: int | None = None) -> Tensor:
    """Entropy of softmax(logits) over the last dimension, [...]; differentiable in logits, chunked as above."""
    vocab = logits.shape[-1]
    return _ChunkedEntropy.apply(logits.reshape(-1, vocab), chunk_size).reshape(logits.shape[:-1])
