"""tools.perf.perf_vs_trl: the aggregation arithmetic, variant parsing, and one real TRL GRPO step on tiny-random."""
import pytest

from tools.perf import perf_vs_trl as perf


def _run(variant, step_s, gen_s, gen_tokens=100, prompt_tokens=300, rss=1000.0, warmup=1):
    steps = [{"step": i, "warmup": i < warmup, "step_s": s, "gen_s": g, "gen_tokens": gen_tokens,
              "train_tokens": gen_tokens + prompt_tokens, "rollout_tok_s": gen_tokens / g,
              "train_tok_s": (gen_tokens + prompt_tokens) / max(s - g, 1e-9)} for i, (s, g) in enumerate(zip(step_s, gen_s))]
    return {"variant": variant, "steps": steps, "peak_rss_mb": rss}


def test_summary_excludes_warmup_and_pools_tokens():
    runs = [_run("ours:float32:hf", [9.0, 2.0, 4.0], [5.0, 1.0, 2.0], rss=800),
            _run("trl:float32:hf", [20.0, 8.0, 10.0], [10.0, 4.0, 6.0], rss=1200),
            _run("ours:float32:hf", [9.0, 3.0], [5.0, 1.0], rss=900)]
    s = perf.summarize_runs(runs)
    ours, trl = s["ours:float32:hf"], s["trl:float32:hf"]
    assert ours["step_s"]["n"] == 3 and ours["step_s"]["median"] == 3.0             # 2, 4, 3 (warm-up 9s dropped)
    assert (ours["step_s"]["min"], ours["step_s"]["max"]) == (2.0, 4.0)
    assert ours["rollout_tok_s"] == pytest.approx(300 / 4.0)                        # 3 x 100 tokens in 1+2+1 s
    assert ours["train_tok_s"] == pytest.approx(3 * 400 / (1 + 2 + 2))
    assert ours["peak_rss_mb"] == 900
    assert trl["step_s"]["n"] == 2 and trl["step_s"]["median"] == 9.0               # 8, 10 (warm-up 20s dropped)
    assert trl["rollout_tok_s"] == pytest.approx(200 / 10.0) and trl["peak_rss_mb"] == 1200
    r = perf.ratios(s)
    assert r["float32:hf"]["step_time"] == pytest.approx(3.0 / 9.0)
    assert r["float32:hf"]["peak_rss"] == pytest.approx(900 / 1200)
    assert r["best"]["ours"] == "ours:float32:hf" and r["best"]["trl"] == "trl:float32:hf"


def test_best_settings_pick_the_fastest_variant_per_system():
    runs = [_run("ours:float32:hf", [2, 6.0, 6.0], [1, 1, 1]), _run("ours:bfloat16:hf", [2, 4.0, 4.0], [1, 1, 1]),
            _run("trl:float32:hf", [2, 10.0, 10.0], [1, 1, 1]), _run("trl:bfloat16:hf", [2, 12.0, 12.0], [1, 1, 1])]
    r = perf.ratios(perf.summarize_runs(runs))
    assert r["best"]["ours"] == "ours:bfloat16:hf" and r["best"]["trl"] == "trl:float32:hf"
    assert r["best"]["step_time"] == pytest.approx(0.4)
    assert r["bfloat16:hf"]["step_time"] == pytest.approx(4 / 12)


def test_only_warmup_steps_is_an_error():
    with pytest.raises(RuntimeError, match="no measured steps"):
        perf.summarize_runs([_run("ours:float32:hf", [1.0], [0.5], warmup=1)])


def test_parse_variant_and_config_checks():
    assert perf.parse_variant("ours:bfloat16:vllm") == ("ours", "bfloat16", "vllm")
    assert perf.parse_variant("trl:float32") == ("trl", "float32", "hf")
    with pytest.raises(ValueError, match="system:dtype"):
        perf.parse_variant("verl:float32")
    with pytest.raises(ValueError, match="dtype"):
        perf.PerfConfig(dtype="fp8").check()
    with pytest.raises(ValueError, match="steps"):
        perf.PerfConfig(steps=0).check()


@pytest.mark.slow
def test_trl_grpo_step_on_tiny_random_is_measured():
    pytest.importorskip("trl")
    cfg = perf.PerfConfig(model="tiny-random", prompts_per_step=2, responses_per_prompt=2, max_new_tokens=4,
                          steps=1, warmup=0)
    res = perf.run_trl(cfg)
    (step,) = res["steps"]
    assert 0 < step["gen_tokens"] <= 2 * 2 * 4                     # 4 completions of at most 4 tokens
    assert 0 < step["gen_s"] < step["step_s"]
    assert step["train_tokens"] > step["gen_tokens"] and res["peak_rss_mb"] > 0


def test_summary_reports_overhead_median_and_parts():
    a = _run("ours:float32:hf", [9.0, 4.0, 6.0], [5.0, 2.0, 3.0])
    for st, (g, fb) in zip(a["steps"][1:], [(1.0, 1.0), (2.0, 1.0)]):
        st.update(bare_gen_s=g, bare_fb_s=fb, bare_gen_tokens=64, overhead_ratio=st["step_s"] / (g + fb))
    a["micro_batch_size"] = 8
    s = perf.summarize_runs([a, _run("trl:float32:hf", [9.0, 8.0], [5.0, 4.0])])
    oh = s["ours:float32:hf"]["overhead"]
    assert oh["ratio"]["median"] == pytest.approx((4.0 / 2 + 6.0 / 3) / 2) and oh["ratio"]["n"] == 2
    assert (oh["bare_gen_s"], oh["bare_fb_s"]) == (1.5, 1.0)
    assert "overhead" not in s["trl:float32:hf"] and s["ours:float32:hf"]["micro_batch_size"] == 8
    table = perf._table(s, perf.ratios(s), {"trl:bfloat16:vllm": {"reason": "ValueError: no CPU support"}})
    assert "| 2.00 (1.50 + 1.00) |" in table and "trl:bfloat16:vllm | failed: ValueError: no CPU support" in table


def test_failure_reason_picks_the_exception_line():
    log = "loading...\nTraceback (most recent call last):\n  File x\nvllm.v1.Foo: nope\nRuntimeError: no kernel\n"
    assert perf.failure_reason("trl run failed (exit 1); its output ends with:\n" + log) == "RuntimeError: no kernel"
    assert perf.failure_reason("timed out after 60 s") == "timed out after 60 s"
    with pytest.raises(ValueError, match="micro_batch_size"):
        perf.PerfConfig(micro_batch_size=-1).check()


@pytest.mark.slow
def test_overhead_parts_of_a_real_step_on_tiny_random(one_torch_thread):
    """One real step of our trainer on tiny-random, then its bare generate and bare forward/backward."""
    cfg = perf.PerfConfig(model="tiny-random", prompts_per_step=2, responses_per_prompt=3, max_new_tokens=5,
                          steps=1, warmup=0, micro_batch_size=4)
    res = perf.run_ours(cfg)
    (step,) = res["steps"]
    longest = max(1, step["bare_gen_expected_tokens"] // 6)
    assert step["bare_gen_expected_tokens"] == 2 * 3 * longest and 1 <= longest <= 5
    assert step["bare_gen_tokens"] == step["bare_gen_expected_tokens"]     # every row forced to the longest length
    assert step["gen_tokens"] <= step["bare_gen_tokens"]                    # the step sampled at most that many
    assert step["bare_gen_s"] > 0 and step["bare_fb_s"] > 0
    assert step["bare_fb_tokens"] == step["train_tokens"]                   # same real prompt + response tokens
    assert step["overhead_ratio"] == pytest.approx(step["step_s"] / (step["bare_gen_s"] + step["bare_fb_s"]))
    assert res["micro_batch_size"] == 4 and res["peak_rss_mb"] > 0 and res["peak_tree_rss_mb"] >= 0


@pytest.mark.slow
def test_bare_forward_backward_matches_a_plain_log_prob_sum(one_torch_thread):
    import torch

    from tools.perf.perf_overhead import StepWork, bare_forward_backward, bare_generate_hf
    from harness import models
    from harness.rollout import Rollout

    model, _ = models.load_policy("tiny-random")
    rollouts = [Rollout(prompt_index=i // 2, prompt_ids=[5, 6, 7][: 2 + i // 2], response_ids=[8, 9, 10][: 1 + i],
                        text="", logprobs=[0.0] * (1 + i), finish_reason="length") for i in range(3)]
    work = StepWork.from_rollouts(rollouts, n=2)
    assert work.prompt_ids == [[5, 6], [5, 6, 7]] and work.longest == 3
    whole = bare_forward_backward(model, work, pad_token_id=0, dtype="float32")
    split = bare_forward_backward(model, work, pad_token_id=0, dtype="float32", micro_batch_size=1)
    assert whole["tokens"] == 2 + 1 + 2 + 2 + 3 + 3 and whole["loss"] < 0
    assert split["loss"] == pytest.approx(whole["loss"], rel=1e-5)          # micro-batches: same sum
    with torch.no_grad():                                                    # the first row on its own
        logits = model(input_ids=torch.tensor([[5, 6, 8]])).logits
        direct = torch.log_softmax(logits[0, 1], -1)[8]
    one = bare_forward_backward(model, StepWork.from_rollouts(rollouts[:1], n=1), pad_token_id=0, dtype="float32")
    assert one["loss"] == pytest.approx(float(direct), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())
    gen = bare_generate_hf(model, work, pad_token_id=0, temperature=1.0, top_p=1.0, dtype="float32")
    assert gen["tokens"] == 2 * 2 * 3 and gen["seconds"] > 0
