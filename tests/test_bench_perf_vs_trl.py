"""benchmarks.perf_vs_trl: the aggregation arithmetic, variant parsing, and one real TRL GRPO step on tiny-random."""
import pytest

from benchmarks import perf_vs_trl as perf


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
