"""HF rollout engine on the real tiny-random model, and the engine-vs-trainer log-prob helpers."""
import pytest
import torch

from harness import models
from algorithms.off_policy import mismatch_kl, tis_weights
from harness.rollout import Rollout, Sampling, collate, encode_prompts, make_engine

PROMPTS = ["The answer is", "Compute 12 times 7 and put the result in a box, then explain why.", "Hi"]


@pytest.fixture(scope="module")
def policy():
    model, tok = models.load_policy("tiny-random")
    return model, tok


@pytest.fixture(scope="module")
def engine(policy):
    return make_engine("hf", *policy)


def recompute_logprobs(model, rollouts, pad_id, temperature=1.0):
    """Full forward over prompt+response; log_softmax(logits/T) at each response token. [B, R], mask [B, R]."""
    b = collate(rollouts, pad_id)
    P = int(b["prompt_length"])
    with torch.no_grad():
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       position_ids=b["position_ids"]).logits.float()
    logits = logits[:, P - 1:-1] / (temperature if temperature > 0 else 1.0)
    labels = b["input_ids"][:, P:]
    logp = torch.log_softmax(logits, -1).gather(-1, labels[..., None]).squeeze(-1)
    return logp, b["response_mask"], b["engine_logprobs"]


def test_shapes_and_grouping(engine, policy):
    _, tok = policy
    rs = engine.generate(PROMPTS, Sampling(n=2, max_new_tokens=7, seed=0))
    assert len(rs) == 6
    assert [r.prompt_index for r in rs] == [0, 0, 1, 1, 2, 2]
    ids = encode_prompts(tok, PROMPTS)
    for r in rs:
        assert isinstance(r, Rollout)
        assert r.prompt_ids == ids[r.prompt_index]
        assert 1 <= len(r.response_ids) <= 7
        assert len(r.logprobs) == len(r.response_ids)
        assert all(lp <= 0 for lp in r.logprobs)
        assert r.finish_reason in ("stop", "length")
        assert r.text == tok.decode(r.response_ids, skip_special_tokens=True)


def test_eos_stop_and_finish_reasons(policy):
    model, tok = policy
    free = make_engine("hf", model, tok, stop_token_ids=[tok.eos_token_id])
    greedy = Sampling(n=1, max_new_tokens=12, temperature=0)
    base = free.generate(PROMPTS, greedy)
    # the random model never says eos by itself: make the 4th greedy token of prompt 0 a stop token
    stop_id = base[0].response_ids[3]
    stopping = make_engine("hf", model, tok, stop_token_ids=[stop_id])
    rs = stopping.generate(PROMPTS, greedy)
    first = base[0].response_ids.index(stop_id)
    assert rs[0].finish_reason == "stop"
    assert rs[0].response_ids == base[0].response_ids[:first + 1]  # eos kept, nothing after it
    assert rs[0].logprobs == pytest.approx(base[0].logprobs[:first + 1], abs=1e-5)
    for r, b in zip(rs, base):
        if stop_id in b.response_ids:
            assert r.finish_reason == "stop" and r.response_ids[-1] == stop_id
            assert stop_id not in r.response_ids[:-1]
        else:
            assert r.finish_reason == "length" and len(r.response_ids) == 12
            assert r.response_ids == b.response_ids


def test_left_padding_does_not_change_results(engine):
    greedy = Sampling(n=1, max_new_tokens=10, temperature=0)
    alone = engine.generate([PROMPTS[2]], greedy)[0]
    batched = engine.generate([PROMPTS[1], PROMPTS[2]], greedy)[1]   # padded to the longer prompt
    assert batched.response_ids == alone.response_ids
    assert batched.logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def test_chunking_matches_one_batch(policy):
    model, tok = policy
    greedy = Sampling(n=2, max_new_tokens=6, temperature=0)
    one = make_engine("hf", model, tok, batch_size=64).generate(PROMPTS, greedy)
    small = make_engine("hf", model, tok, batch_size=3).generate(PROMPTS, greedy)   # a chunk splits a group
    assert [r.response_ids for r in one] == [r.response_ids for r in small]
    # the samples of a prompt share its prefill (copied KV cache): greedy copies equal a single-sample run
    single = make_engine("hf", model, tok).generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=0))
    assert [r.response_ids for r in one] == [r.response_ids for r in single for _ in range(2)]


def test_seeded_sampling_is_deterministic(engine):
    s = Sampling(n=3, max_new_tokens=8, temperature=1.0, seed=123)
    a = engine.generate(PROMPTS, s)
    b = engine.generate(PROMPTS, s)
    c = engine.generate(PROMPTS, Sampling(n=3, max_new_tokens=8, temperature=1.0, seed=124))
    assert [r.response_ids for r in a] == [r.response_ids for r in b]
    assert [r.logprobs for r in a] == [r.logprobs for r in b]
    assert [r.response_ids for r in a] != [r.response_ids for r in c]
    # the n samples of one prompt differ from each other
    assert len({tuple(r.response_ids) for r in a[:3]}) > 1


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_equal_full_forward(engine, policy, temperature):
    model, tok = policy
    rs = engine.generate(PROMPTS, Sampling(n=2, max_new_tokens=9, temperature=temperature, seed=7))
    logp, mask, eng = recompute_logprobs(model, rs, tok.pad_token_id, temperature)
    assert mask.sum() == sum(len(r.response_ids) for r in rs)
    assert torch.allclose(logp * mask, eng, atol=1e-4), (logp * mask - eng).abs().max()
    assert mismatch_kl(eng, logp, mask) < 1e-7


def test_greedy_logprobs_are_temperature_one(engine, policy):
    model, tok = policy
    rs = engine.generate(PROMPTS[:2], Sampling(n=1, max_new_tokens=5, temperature=0))
    logp, mask, eng = recompute_logprobs(model, rs, tok.pad_token_id, 1.0)
    assert torch.allclose(logp * mask, eng, atol=1e-4)


def test_top_p_truncates_sampling_but_logprobs_stay_plain_temperature(engine, policy):
    model, tok = policy
    greedy = engine.generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=0))
    nucleus = engine.generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=1.0, top_p=1e-6, seed=1))
    # only the most likely token survives a tiny nucleus: sampling equals greedy decoding
    assert [r.response_ids for r in nucleus] == [r.response_ids for r in greedy]
    logp, mask, eng = recompute_logprobs(model, nucleus, tok.pad_token_id, 1.0)
    assert torch.allclose(logp * mask, eng, atol=1e-4)   # un-truncated log-probs (documented caveat)


def test_bf16_autocast_rollouts_are_close(policy):
    model, tok = policy
    eng16 = make_engine("hf", model, tok, dtype="bfloat16")
    rs = eng16.generate(PROMPTS, Sampling(n=2, max_new_tokens=6, seed=3))
    logp, mask, eng = recompute_logprobs(model, rs, tok.pad_token_id, 1.0)
    kl = mismatch_kl(eng, logp, mask)
    assert 0 < kl < 1e-2
    assert model.dtype == torch.float32   # autocast only: parameters stay fp32


def test_training_mode_restored_and_sync_rebinds(policy):
    model, tok = policy
    eng = make_engine("hf", model, tok)
    model.train()
    eng.generate(PROMPTS[:1], Sampling(n=1, max_new_tokens=2, temperature=0))
    assert model.training
    model.eval()
    other = models.frozen_copy(model)
    with torch.no_grad():
        other.lm_head.weight.mul_(-1.0)   # tied with the embeddings: a very different model
    before = eng.generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=0))
    eng.sync_weights(other)
    after = eng.generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=0))
    direct = make_engine("hf", other, tok).generate(PROMPTS, Sampling(n=1, max_new_tokens=6, temperature=0))
    assert [r.response_ids for r in after] == [r.response_ids for r in direct]
    assert [r.response_ids for r in after] != [r.response_ids for r in before]


def test_token_id_prompts_and_errors(engine, policy):
    _, tok = policy
    ids = encode_prompts(tok, PROMPTS[:1])
    a = engine.generate(ids, Sampling(n=1, max_new_tokens=4, temperature=0))
    b = engine.generate(PROMPTS[:1], Sampling(n=1, max_new_tokens=4, temperature=0))
    assert a[0].response_ids == b[0].response_ids
    with pytest.raises(TypeError, match="list of strings"):
        engine.generate("just a string", Sampling())
    with pytest.raises(ValueError, match="empty"):
        engine.generate([[]], Sampling())
    with pytest.raises(ValueError, match="valid engines"):
        make_engine("sglang", None, tok)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be"), (dict(max_new_tokens=0), "max_new_tokens"), (dict(temperature=-1), "temperature"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p")])
def test_sampling_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sampling(**kwargs)


def test_chat_template_prompts_are_not_given_a_second_bos(policy):
    _, tok = policy
    text = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True)
    ids = encode_prompts(tok, [text])[0]
    assert ids == tok(text, add_special_tokens=False)["input_ids"]
    assert ids.count(tok.bos_token_id) == text.count(tok.bos_token)


# ---------------------------------------------------------------------------------------------------------------
# mismatch KL and truncated importance sampling


def test_mismatch_kl_estimates_the_true_kl():
    g = torch.Generator().manual_seed(0)
    p_logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])
    q_logits = torch.tensor([1.5, 1.2, 0.3, -0.5, 0.0])
    logp, logq = torch.log_softmax(p_logits, 0), torch.log_softmax(q_logits, 0)
    true_kl = float((logp.exp() * (logp - logq)).sum())
    tokens = torch.multinomial(logp.exp(), 200_000, replacement=True, generator=g)
    eng, trn = logp[tokens][None], logq[tokens][None]
    mask = torch.ones_like(eng)
    assert mismatch_kl(eng, trn, mask) == pytest.approx(true_kl, rel=0.03)
    assert mismatch_kl(eng, eng, mask) == 0.0
    # masked-out tokens do not count, whatever their values
    eng2 = torch.cat([eng[:, :100], torch.full((1, 5), -50.0)], 1)
    trn2 = torch.cat([trn[:, :100], torch.zeros((1, 5))], 1)
    m2 = torch.cat([torch.ones(1, 100), torch.zeros(1, 5)], 1)
    assert mismatch_kl(eng2, trn2, m2) == pytest.approx(mismatch_kl(eng[:, :100], trn[:, :100], m2[:, :100]))
    with pytest.raises(ValueError, match="shapes differ"):
        mismatch_kl(eng, trn[:, :5], mask)


def test_tis_weights():
    old = torch.tensor([[-1.0, -2.0, -0.5, 0.0]], requires_grad=True)
    eng = torch.tensor([[-1.0, -3.0, -0.1, -80.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = tis_weights(old, eng, mask, cap=2.0)
    assert not w.requires_grad
    assert torch.allclose(w, torch.tensor([[1.0, 2.0, torch.exp(torch.tensor(-0.4)).item(), 0.0]]))
    assert torch.isfinite(w).all()
    with pytest.raises(ValueError, match="cap"):
        tis_weights(old, eng, mask, cap=0)


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.7)])
def test_sampler_draws_from_the_stated_distribution(engine, temperature, top_p):
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5])
    rows = 100_000
    g = torch.Generator().manual_seed(0)
    tok, lp = engine._next_token(logits.repeat(rows, 1), Sampling(temperature=temperature, top_p=top_p), g)
    freq = torch.bincount(tok, minlength=5).double() / rows
    probs = torch.softmax(logits.double() / temperature, 0)
    # nucleus: the smallest set of most likely tokens whose mass reaches top_p, renormalised
    order = probs.argsort(descending=True)
    keep = torch.zeros(5, dtype=torch.bool)
    keep[order[(probs[order].cumsum(0) - probs[order]) < top_p]] = True
    target = torch.where(keep, probs, 0.0)
    target = target / target.sum()
    assert torch.allclose(freq, target, atol=0.006), (freq, target)
    # returned log-probs are those of softmax(logits / T), un-truncated
    assert torch.allclose(lp.double(), torch.log(probs)[tok], atol=1e-5)


def test_two_level_inverse_cdf_draw_is_exact_across_blocks_and_never_draws_a_zero_weight():
    from harness.rollout.hf import _BLOCK, _inverse_cdf_draw

    V = 2 * _BLOCK + 52                      # three blocks, the last one padded
    support = torch.tensor([0, _BLOCK - 1, _BLOCK, 1500, 2 * _BLOCK, V - 1])
    w = torch.tensor([0.5, 1.0, 2.0, 0.25, 3.0, 1.25])
    weights = torch.zeros(V)
    weights[support] = w
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(V, dtype=torch.float64)
    rows, rounds = 4000, 10
    for _ in range(rounds):
        counts += torch.bincount(_inverse_cdf_draw(weights.repeat(rows, 1), g), minlength=V).double()
    assert counts.sum() == rows * rounds
    assert counts[support].sum() == rows * rounds          # nothing outside the support, no padding token
    freq = counts[support] / (rows * rounds)
    assert torch.allclose(freq, (w / w.sum()).double(), atol=0.01), freq
    # one-hot rows and the same seed twice
    one = torch.zeros(3, V)
    one[0, 7], one[1, _BLOCK + 3], one[2, V - 1] = 1.0, 5.0, 1e-30
    assert _inverse_cdf_draw(one, torch.Generator().manual_seed(1)).tolist() == [7, _BLOCK + 3, V - 1]
    a = _inverse_cdf_draw(weights.repeat(50, 1), torch.Generator().manual_seed(5))
    b = _inverse_cdf_draw(weights.repeat(50, 1), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_packed_weights_rollouts_equal_plain_ones_and_leave_the_model_untouched(policy):
    from harness.rollout.hf import _packing_available

    model, tok = policy
    if not _packing_available():
        pytest.skip("this torch build has no oneDNN packed linear (torch.ops.mkldnn._linear_pointwise)")
    plain = make_engine("hf", model, tok, packed_weights=False)
    packed = make_engine("hf", model, tok, packed_weights=True)
    assert make_engine("hf", model, tok).packed_weights is None      # default: on where it applies
    cpu = torch.device("cpu")
    assert make_engine("hf", model, tok)._use_packed(cpu)
    assert not make_engine("hf", model, tok, dtype="bfloat16")._use_packed(cpu)   # autocast: plain weights
    s = Sampling(n=3, max_new_tokens=10, seed=5)
    a, b = plain.generate(PROMPTS, s), packed.generate(PROMPTS, s)
    assert [r.response_ids for r in a] == [r.response_ids for r in b]
    for x, y in zip(a, b):
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs)) < 1e-5
    # the per-module forwards are removed again: training and later calls see plain nn.Linear modules
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all("forward" not in m.__dict__ for m in linears)
    # packed rollouts follow weight updates (the packing is redone per call, from the current weights)
    with torch.no_grad():
        saved = model.lm_head.weight.clone()
        model.lm_head.weight.mul_(1.5)
        try:
            c, d = plain.generate(PROMPTS, s), packed.generate(PROMPTS, s)
        finally:
            model.lm_head.weight.copy_(saved)
    assert [r.response_ids for r in c] == [r.response_ids for r in d]
    assert [r.logprobs[0] for r in c] != [r.logprobs[0] for r in a]


def test_packed_linear_forward_equals_f_linear():
    from harness.rollout.hf import _PackedLinears, _packing_available

    if not _packing_available():
        pytest.skip("this torch build has no oneDNN packed linear (torch.ops.mkldnn._linear_pointwise)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.Linear(40, 8, bias=False))
    for shape in [(6, 24), (6, 1, 24), (3, 5, 24), (1, 24)]:
        x = torch.randn(*shape)
        want = net(x)
        with torch.no_grad(), _PackedLinears(net, rows=6):
            got = net(x)
            assert "forward" in net[0].__dict__
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert "forward" not in net[0].__dict__


@pytest.mark.parametrize("bool_mask", [True, False])
def test_decode_attention_equals_sdpa_with_grouped_heads(bool_mask):
    from harness.rollout.hf import _decode_attention

    g = torch.Generator().manual_seed(2)
    B, H, KV, n, D = 3, 6, 2, 9, 8
    q, k, v = (torch.randn(B, H, 1, D, generator=g), torch.randn(B, KV, n, D, generator=g),
               torch.randn(B, KV, n, D, generator=g))
    keep = torch.ones(B, 1, 1, n, dtype=torch.bool)
    keep[0, ..., :4] = False       # a left-padded row
    mask = keep if bool_mask else torch.zeros(B, 1, 1, n).masked_fill(~keep, float("-inf"))
    want = torch.nn.functional.scaled_dot_product_attention(
        q, k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1), attn_mask=mask, scale=0.3)
    got = _decode_attention(q, k, v, mask, 0.3)
    assert got.shape == (B, 1, H, D)
    torch.testing.assert_close(got, want.transpose(1, 2), rtol=1e-5, atol=1e-6)


# prompts in a chat template: a long common prefix (the system prompt), then each its own question
CHAT = [f"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
        for q in ("What is 7 + 5?", "Compute 12 times 7 and put the result in a box.", "Hi")]


def test_a_shared_prompt_prefix_runs_once_and_changes_nothing(policy, monkeypatch):
    """With shared_prefix (default) the common prefix of the chat prompts goes through the model once, then each
    prompt's remainder: greedy tokens are those of one prefill of the whole prompts, and every log-prob equals an
    independent full forward (recompute_logprobs) as closely as the plain prefill's do."""
    from harness.rollout import hf

    model, tok = policy
    ids = encode_prompts(tok, CHAT)
    assert hf._common_prefix(ids) >= hf.MIN_SHARED_PREFIX
    calls = []
    real_forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **kw: calls.append(kw["input_ids"].shape) or
                        real_forward(*a, **kw))
    greedy = Sampling(n=2, max_new_tokens=8, temperature=0)
    shared = make_engine("hf", model, tok).generate(CHAT, greedy)
    assert calls[0] == (1, hf._common_prefix(ids))               # the prefix, once
    assert calls[1][0] == 3 and calls[1][1] < max(map(len, ids))  # then the three remainders
    calls.clear()
    plain = make_engine("hf", model, tok, shared_prefix=False).generate(CHAT, greedy)
    assert calls[0] == (3, max(map(len, ids)))
    assert [r.response_ids for r in shared] == [r.response_ids for r in plain]
    for rs in (shared, plain):
        logp, mask, eng = recompute_logprobs(model, rs, tok.pad_token_id)
        assert torch.allclose(logp * mask, eng, atol=1e-4), (logp * mask - eng).abs().max()
    sampled = make_engine("hf", model, tok).generate(CHAT, Sampling(n=3, max_new_tokens=8, seed=5))
    logp, mask, eng = recompute_logprobs(model, sampled, tok.pad_token_id)
    assert torch.allclose(logp * mask, eng, atol=1e-4)
    # prompts without a long common prefix take the plain prefill
    assert hf._common_prefix(encode_prompts(tok, PROMPTS)) < hf.MIN_SHARED_PREFIX
