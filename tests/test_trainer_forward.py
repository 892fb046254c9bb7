"""The trainer's per-token log-prob forward (``harness.training.forward.Forward.logprobs``) against a plain full forward + log_softmax.

The forward leaves the last token of each padded row out of the model call and keeps only the response positions'
logits (a memory saving); this checks the log-probs and entropies it returns are still those of every response token
under the full sequence, for rows of different prompt and response lengths, with and without a temperature.
"""
from __future__ import annotations

import pytest
import torch

import dataclasses

from harness.rollout import Rollout
from harness.training import TrainConfig, Trainer
from harness.training import forward as forward_mod
from harness.training.batch import RolloutBatch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(4)]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_forward_logprobs_equal_a_plain_full_log_softmax(tmp_path, temperature):
    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, prompts_per_step=1, responses_per_prompt=2,
                      max_new_tokens=3, temperature=temperature, out_dir=str(tmp_path / "run"), save_final=False,
                      tensorboard=False)
    tr = Trainer(cfg, dataset=ROWS, reward_fn=lambda golds, rollouts: [0.0] * len(rollouts), progress=False)
    rollouts = [Rollout(0, [5, 6, 7], [8, 9, 10, 11], "", [0.0] * 4, "length"),
                Rollout(1, [12], [13], "", [0.0], "stop"),
                Rollout(2, [14, 15], [16, 17], "", [0.0] * 2, "stop")]
    batch = RolloutBatch.from_rollouts(rollouts, tr.pad_id, tr.device)
    rows = torch.arange(3)
    tr.model.eval()
    logp, ent, mask = tr.forward.logprobs(tr.model, batch, rows, grad=False, entropy=True)
    assert logp.shape == (3, 4) and mask.sum() == 4 + 1 + 2
    for i, r in enumerate(rollouts):
        ids = torch.tensor([r.prompt_ids + r.response_ids])
        with torch.no_grad():
            logits = tr.model(input_ids=ids).logits[0].double() / temperature
        lsm = torch.log_softmax(logits, -1)
        p = len(r.prompt_ids)
        for j, tok in enumerate(r.response_ids):
            assert float(logp[i, j]) == pytest.approx(float(lsm[p + j - 1, tok]), abs=1e-5)
            want_h = float(-(lsm[p + j - 1].exp() * lsm[p + j - 1]).sum())
            assert float(ent[i, j]) == pytest.approx(want_h, abs=1e-4)
        assert not bool(mask[i, len(r.response_ids):].any())


# prompts shared by several responses (the GRPO case), of different lengths, with responses of different lengths
SHARED = [Rollout(0, [5, 6, 7, 20], [8, 9, 10, 11], "", [0.0] * 4, "length"),
          Rollout(0, [5, 6, 7, 20], [8, 2], "", [0.0] * 2, "stop"),
          Rollout(1, [12, 30], [13], "", [0.0], "stop"),
          Rollout(0, [5, 6, 7, 20], [21, 22, 23], "", [0.0] * 3, "stop"),
          Rollout(1, [12, 30], [16, 17, 18, 19], "", [0.0] * 4, "length")]


def _trainer(tmp_path, shared: bool, temperature: float = 1.0) -> Trainer:
    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, prompts_per_step=1, responses_per_prompt=2,
                      max_new_tokens=4, temperature=temperature, out_dir=str(tmp_path / f"run{int(shared)}"),
                      save_final=False, tensorboard=False, shared_prefix=shared)
    return Trainer(cfg, dataset=ROWS, reward_fn=lambda golds, rollouts: [0.0] * len(rollouts), progress=False)


def test_shared_prefix_forward_equals_a_plain_full_log_softmax(tmp_path):
    tr = _trainer(tmp_path, shared=True)
    batch = RolloutBatch.from_rollouts(SHARED, tr.pad_id, tr.device)
    tr.model.eval()
    logp, ent, mask = tr.forward.logprobs(tr.model, batch, torch.arange(len(SHARED)), grad=False, entropy=True)
    for i, r in enumerate(SHARED):
        ids = torch.tensor([r.prompt_ids + r.response_ids])
        with torch.no_grad():
            lsm = torch.log_softmax(tr.model(input_ids=ids).logits[0].double(), -1)
        p = len(r.prompt_ids)
        for j, tok in enumerate(r.response_ids):
            assert float(logp[i, j]) == pytest.approx(float(lsm[p + j - 1, tok]), abs=1e-5)
            assert float(ent[i, j]) == pytest.approx(float(-(lsm[p + j - 1].exp() * lsm[p + j - 1]).sum()), abs=1e-4)
        assert int(mask[i].sum()) == len(r.response_ids)


def test_shared_prefix_forward_runs_each_prompt_once_and_gives_the_same_gradients(tmp_path):
    shared_prefix_forward = forward_mod.shared_prefix_forward

    grads = {}
    for shared in (False, True):
        tr = _trainer(tmp_path, shared=shared, temperature=0.8)
        torch.manual_seed(0)
        with torch.no_grad():  # the same non-trivial weights in both trainers
            for p in tr.model.parameters():
                p.copy_(torch.randn_like(p) * 0.05)
        batch = RolloutBatch.from_rollouts(SHARED, tr.pad_id, tr.device)
        calls = []
        hook = tr.model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["input_ids"].shape),
                                                  with_kwargs=True)
        tr.model.train()
        tr.model.zero_grad(set_to_none=True)
        logp, _, mask = tr.forward.logprobs(tr.model, batch, torch.arange(len(SHARED)), grad=True, entropy=False)
        weights = torch.linspace(-1.0, 1.0, logp.numel()).reshape(logp.shape)
        (logp * weights * mask).sum().backward()
        hook.remove()
        grads[shared] = {n: p.grad.clone() for n, p in tr.model.named_parameters() if p.grad is not None}
        if shared:   # one pass over the 2 distinct prompts (minus their last token), one over the 5 sequences
            assert [tuple(c) for c in calls] == [(2, 3), (5, 4)]
        else:
            assert [tuple(c) for c in calls] == [(5, 7)]
    assert grads[True].keys() == grads[False].keys() and grads[True]
    for name, g in grads[False].items():
        torch.testing.assert_close(grads[True][name], g, atol=1e-5, rtol=1e-4, msg=name)
    # nothing to share: every row its own prompt, or a single-token prompt
    tr = _trainer(tmp_path, shared=True)
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    ones = torch.ones_like(ids)
    assert shared_prefix_forward(tr.model, ids, ones, ones.cumsum(-1) - 1, 2, 2) is None
    ids = torch.tensor([[1, 2, 3], [1, 6, 7]])
    assert shared_prefix_forward(tr.model, ids, torch.ones_like(ids), torch.ones_like(ids).cumsum(-1) - 1, 1, 2) \
        is None


def test_length_buckets_give_the_same_log_probs_entropies_and_gradients(tmp_path, monkeypatch):
    monkeypatch.setattr(forward_mod, "_BUCKET_CALL_COST", 0)   # split wherever it saves a padded position
    assert forward_mod._length_buckets([4, 2, 1, 3, 4], 4) == [([2], 1), ([1], 2), ([3, 0, 4], 4)]
    assert forward_mod._length_buckets([3, 3, 3], 3) == [(None, 3)]
    results = {}
    for buckets in (False, True):
        tr = _trainer(tmp_path / str(buckets), shared=True, temperature=0.9)
        tr.forward = dataclasses.replace(tr.forward, length_buckets=buckets)
        torch.manual_seed(0)
        with torch.no_grad():
            for p in tr.model.parameters():
                p.copy_(torch.randn_like(p) * 0.05)
        batch = RolloutBatch.from_rollouts(SHARED, tr.pad_id, tr.device)
        calls = []
        hook = tr.model.register_forward_pre_hook(lambda m, a, kw: calls.append(tuple(kw["input_ids"].shape)),
                                                  with_kwargs=True)
        tr.model.train()
        logp, ent, mask = tr.forward.logprobs(tr.model, batch, torch.arange(len(SHARED)), grad=True, entropy=True)
        weights = torch.linspace(-1.0, 1.0, logp.numel()).reshape(logp.shape)
        (logp * weights * mask).sum().backward()
        hook.remove()
        results[buckets] = (logp.detach(), torch.where(mask, ent, 0.0), calls,
                            {n: p.grad.clone() for n, p in tr.model.named_parameters() if p.grad is not None})
    (lp0, en0, calls0, g0), (lp1, en1, calls1, g1) = results[False], results[True]
    assert calls0 == [(2, 3), (5, 4)]
    assert calls1[0] == (2, 3) and sorted(calls1[1:]) == [(1, 1), (1, 2), (3, 4)]   # lengths 1 | 2 | 3, 4, 4
    torch.testing.assert_close(lp1, lp0, atol=1e-5, rtol=0)
    torch.testing.assert_close(en1, en0, atol=1e-4, rtol=0)
    for name, g in g0.items():
        torch.testing.assert_close(g1[name], g, atol=1e-5, rtol=1e-4, msg=name)


def test_cache_rows_for_repeated_prompts_have_a_run_to_run_identical_gradient():
    """Each prompt's keys and values are copied to its responses; their gradients are summed back. Indexing with
    repeated rows would sum them with a parallel accumulating index_put_ whose order varies between runs on CPU
    (measured: one SmolLM2 PPO step gave different weights in two processes); the cache copy must give the same
    bits every time, at two threads as at one, and the same values as the indexing."""
    from transformers.cache_utils import DynamicCache

    torch.manual_seed(0)
    keys = torch.randn(4, 3, 24, 64, requires_grad=True)
    values = torch.randn(4, 3, 24, 64, requires_grad=True)
    index = torch.arange(4).repeat_interleave(16)[torch.randperm(64)]     # 16 responses per prompt, shuffled
    weight = torch.randn(64, 3, 24, 64)

    def grads(threads: int):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            cache = DynamicCache()
            cache.update(keys * 1.0, values * 1.0, 0)
            forward_mod._select_rows(cache, index)
            layer = cache.layers[0]
            loss = (layer.keys * weight).sum() + (layer.values * weight).square().sum()
            return torch.autograd.grad(loss, (keys, values))
        finally:
            torch.set_num_threads(before)

    serial = grads(1)
    for _ in range(10):
        for got, want in zip(grads(2), serial):
            assert torch.equal(got, want)
    # the same gradient as the plain indexing, up to the order of the sums
    k_ref = torch.autograd.grad((keys[index] * weight).sum(), keys)[0]
    torch.testing.assert_close(serial[0], k_ref, rtol=1e-5, atol=1e-5)
