"""Loss aggregation: how a [B, T] matrix of per-token losses becomes one scalar.

The five modes differ only in the weight each token gets (n_i = response tokens of sequence i, N = sum_i n_i,
S = number of sequences with at least one response token, L = a fixed length):

    token-mean                 sum_{i,t} l_it / N                  every token weighs the same (DAPO)
    token-sum                  sum_{i,t} l_it                      no normalisation: the step grows with the batch's
                                                                   tokens (verl / slime "token-sum"; pair with a
                                                                   smaller learning rate)
    seq-mean-token-mean        sum_i (sum_t l_it / n_i) / S        every sequence weighs the same (GRPO)
    seq-mean-token-sum         sum_i (sum_t l_it) / S              long sequences weigh more
    seq-mean-token-sum-norm    sum_i (sum_t l_it / L) / S          Dr. GRPO: a constant L instead of n_i
    prompt-mean                sum_p (sum_{i in p, t} l_it / N_p) / P
                                                                   token-mean within each prompt's group of
                                                                   responses, then the mean over the P prompts:
                                                                   every prompt weighs the same, however long its
                                                                   responses (SkyRL's prompt_mean); needs group_ids

N and S are counts over the *whole* mini-batch. When a mini-batch is split into micro-batches (gradient
accumulation) or data-parallel ranks, pass the global counts as `global_tokens` / `global_seqs`: every piece is then
divided by the same denominators and the SUM of the pieces' losses (and gradients) equals the loss of the single big
batch exactly. With DDP, which averages gradients over ranks, multiply each rank's loss by the world size (or
all-reduce with a sum). The per-sequence quantities (n_i) are local to a sequence, so a sequence must not be split.
prompt-mean's N_p and P belong to the whole mini-batch too: pass `prompt_tokens` (each row's N_p, from
`prompt_counts` on the whole mini-batch) and `global_prompts` (P, summed over ranks when each rank holds whole
prompts); a prompt's responses may then lie in different micro-batches.
"""
from __future__ import annotations

import torch
from torch import Tensor

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm", "token-sum",
             "prompt-mean")
PROMPT_MEAN = "prompt-mean"
"""The mode that reads which prompt each response answers (group_ids)."""
SUMMARIES = {
    "token-mean": "sum_{i,t} l_it / N: every token weighs the same (DAPO)",
    "seq-mean-token-mean": "sum_i (sum_t l_it / n_i) / S: every sequence weighs the same (GRPO)",
    "seq-mean-token-sum": "sum_i (sum_t l_it) / S: long sequences weigh more",
    "seq-mean-token-sum-norm": "sum_i (sum_t l_it / L) / S: a constant L instead of n_i (Dr. GRPO)",
    "token-sum": "sum_{i,t} l_it: no normalisation",
    PROMPT_MEAN: "sum_p (sum_{i in p, t} l_it / N_p) / P: every prompt weighs the same (SkyRL's prompt_mean)",
}
"""One line per mode, for `rlvr-zoo list`."""


def count_tokens_and_seqs(mask: Tensor) -> tuple[int, int]:
    """(N, S) of a mask: response tokens, and sequences with at least one response token.

    The trainer sums these over the micro-batches (and ranks) of a mini-batch and passes the sums to `aggregate`.
    """
    mask = mask.bool()
    return int(mask.sum()), int(mask.any(dim=-1).sum())


def prompt_counts(mask: Tensor, group_ids: Tensor) -> tuple[Tensor, int]:
    """(N_p of each row's prompt [B], P): the response tokens of the prompt each row answers, and the number of
    prompts with at least one response token. Computed on a whole mini-batch, they are what every micro-batch of it
    passes to `aggregate` as prompt_tokens (its rows' entries) and global_prompts."""
    mask = mask.bool()
    group_ids = torch.as_tensor(group_ids, device=mask.device)
    if group_ids.shape != mask.shape[:1]:
        raise ValueError(f"group_ids must have shape [B] = [{mask.shape[0]}] (the prompt of each response), got "
                         f"{tuple(group_ids.shape)}")
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    per_group = torch.zeros(n_groups, dtype=torch.long, device=mask.device).index_add_(0, inverse, mask.sum(-1))
    return per_group[inverse], int((per_group > 0).sum())


def _prompt_mean(loss, mask, group_ids, prompt_tokens, global_prompts):
    """sum_p (sum_{i in p} sum_t l_it / N_p) / P. Stated unnumbered in SkyRL's documentation of its loss_reduction
    "prompt_mean" (token mean within each prompt group, then the mean over prompts); no paper found that defines it."""
    if prompt_tokens is None:
        if group_ids is None:
            raise ValueError("loss_agg_mode 'prompt-mean' needs group_ids [B] (which prompt each response answers), "
                             "or prompt_tokens [B] with global_prompts")
        prompt_tokens, prompts = prompt_counts(mask, group_ids)
        global_prompts = prompts if global_prompts is None else global_prompts
    elif global_prompts is None:
        raise ValueError("loss_agg_mode 'prompt-mean' with prompt_tokens also needs global_prompts (the number of "
                         "prompts of the whole mini-batch)")
    prompt_tokens = torch.as_tensor(prompt_tokens, dtype=loss.dtype, device=loss.device)
    per_row = (loss * mask).sum(-1) / prompt_tokens.clamp(min=1)
    return per_row.sum() / _denominator(global_prompts, per_row.new_ones(()))


def _denominator(count, default: Tensor) -> Tensor:
    value = default if count is None else torch.as_tensor(count, dtype=default.dtype, device=default.device)
    return value.clamp(min=1)  # an empty batch gives 0, never 0/0


def _token_mean(loss, mask, tokens, seqs, norm_length):
    """sum_{i,t} l_it / N: DAPO's token-level policy-gradient loss (Yu et al. 2025, Eq. (12))."""
    return (loss * mask).sum() / _denominator(tokens, mask.sum())


def _seq_mean_token_mean(loss, mask, tokens, seqs, norm_length):
    """sum_i (sum_t l_it / n_i) / S: GRPO's 1/G sum_i 1/|o_i| sum_t (Shao et al. 2024, Eq. (3); DAPO's Eq. (5))."""
    per_seq = (loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return per_seq.sum() / _denominator(seqs, (mask.sum(-1) > 0).to(loss.dtype).sum())


def _seq_mean_token_sum(loss, mask, tokens, seqs, norm_length):
    """sum_i (sum_t l_it) / S: the PPO objective as a sum over a response's tokens (Liu et al. 2025, Eq. (2))."""
    per_seq = (loss * mask).sum(-1)
    return per_seq.sum() / _denominator(seqs, (mask.sum(-1) > 0).to(loss.dtype).sum())


def _seq_mean_token_sum_norm(loss, mask, tokens, seqs, norm_length):
    """sum_i (sum_t l_it / L) / S with a constant L: stated unnumbered in Liu et al. 2025 (section 3.2 and Listing 1,
    which divides by the constant MAX_TOKENS); it is their Eq. (2) divided by a constant."""
    length = loss.shape[-1] if norm_length is None else norm_length
    per_seq = (loss * mask).sum(-1) / float(length)
    return per_seq.sum() / _denominator(seqs, (mask.sum(-1) > 0).to(loss.dtype).sum())


def _token_sum(loss, mask, tokens, seqs, norm_length):
    """sum_{i,t} l_it. Equation number not confirmed: no paper found that defines it (the losses of the papers read
    for the other modes and for the estimators all divide by a count of sequences, tokens or both); it is an
    implementation option (loss_agg_mode "token-sum" of verl and slime)."""
    return (loss * mask).sum()


_MODES = {
    "token-mean": _token_mean,
    "seq-mean-token-mean": _seq_mean_token_mean,
    "seq-mean-token-sum": _seq_mean_token_sum,
    "seq-mean-token-sum-norm": _seq_mean_token_sum_norm,
    "token-sum": _token_sum,
    PROMPT_MEAN: _prompt_mean,      # called with the prompts' counts instead (aggregate)
}
assert tuple(_MODES) == AGG_MODES


def aggregate(loss_mat: Tensor, mask: Tensor, mode: str, global_tokens=None, global_seqs=None,
              norm_length: int | None = None, group_ids=None, prompt_tokens=None, global_prompts=None) -> Tensor:
    """Aggregate per-token losses [B, T] over response tokens (mask == 1) into a scalar.

    mode: one of AGG_MODES. global_tokens / global_seqs: N and S of the whole mini-batch (ints or tensors);
    None uses this batch's own counts. norm_length: L of seq-mean-token-sum-norm (Dr. GRPO's constant, e.g. the
    generation budget); None uses T = loss_mat.shape[-1], which only matches across micro-batches padded alike.
    Positions where mask == 0 contribute nothing, whatever loss_mat holds there (NaN included).
    prompt-mean: group_ids [B] (responses to one prompt share an id), or, for a piece of a mini-batch,
    prompt_tokens [B] and global_prompts from `prompt_counts` on the whole mini-batch.
    """
    if mode not in AGG_MODES:
        raise ValueError(f"unknown loss aggregation mode {mode!r}; valid modes: {', '.join(AGG_MODES)}")
    if loss_mat.shape != mask.shape:
        raise ValueError(f"loss matrix shape {tuple(loss_mat.shape)} differs from mask shape {tuple(mask.shape)}")
    if norm_length is not None and norm_length <= 0:
        raise ValueError(f"norm_length must be a positive number of tokens, got {norm_length}")
    keep = mask.bool()
    loss_mat = torch.where(keep, loss_mat, torch.zeros((), dtype=loss_mat.dtype, device=loss_mat.device))
    if mode == PROMPT_MEAN:
        return _prompt_mean(loss_mat, keep.to(loss_mat.dtype), group_ids, prompt_tokens, global_prompts)
    return _MODES[mode](loss_mat, keep.to(loss_mat.dtype), global_tokens, global_seqs, norm_length)
