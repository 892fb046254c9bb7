"""Reward functions (correctness, format, DAPO overlong, sums), the public API surface, options and pool config."""
import sys
import threading

import pytest

import rewards
from rewards import Verdict, get_reward, reward_names, verify_batch, verify_batch_detailed
from rewards.options import Options

_ROOT = __import__("pathlib").Path(rewards.__file__).resolve().parents[1]


def test_names_and_unknowns():
    assert reward_names() == ["correctness", "format", "overlong"]
    with pytest.raises(ValueError, match="unknown reward 'nope'.*correctness"):
        get_reward("nope")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['foo'\].*valid"):
        get_reward("correctness", foo=1)
    with pytest.raises(ValueError, match="per part"):
        get_reward("correctness+overlong", max_len=10)
    with pytest.raises(ValueError, match="cache_len <= max_len"):
        get_reward("overlong", max_len=10, cache_len=20)


def test_correctness_plus_minus_one_and_one_zero():
    fn = get_reward("correctness")
    golds = ["3", "3", "3", "3", "\\frac{1}{2}"]
    responses = ["\\boxed{3}", "\\boxed{4}", "", "no answer here", "so \\boxed{0.5}"]
    out = fn.batch(golds, responses, [10] * 5)
    assert [r.value for r in out] == [1.0, -1.0, -1.0, -1.0, 1.0]
    assert out[2].reason == "empty_response" and out[3].reason == "no_answer"
    fn01 = get_reward("correctness", incorrect=0.0)
    assert [r.value for r in fn01.batch(golds, responses)] == [1.0, 0.0, 0.0, 0.0, 1.0]
    single = fn("3", "\\boxed{3}", 5)
    assert single.value == 1.0 and single.reason in ("fast_number", "string_match")


def test_bad_gold_is_a_counted_reason_not_an_exception():
    rewards.reset_reason_counts()
    out = get_reward("correctness").batch([None, "", 5, "\\frac{1}{0"], ["\\boxed{1}"] * 4)
    assert [r.value for r in out] == [-1.0, -1.0, -1.0, -1.0]
    assert out[0].reason == "bad_gold" and out[1].reason == "bad_gold"
    counts = rewards.reason_counts()
    assert counts.get("bad_gold") == 2


def test_numeric_gold_values_are_accepted():
    # AMC23 stores golds as JSON floats
    assert verify_batch([27.0, 27, 0.5], ["\\boxed{27}", "\\boxed{27}", "\\boxed{1/2}"]) == [True, True, True]


def test_percent_fraction_option():
    fn = get_reward("correctness", percent_fraction=True)
    assert [r.value for r in fn.batch(["10\\%", "0.1", "10\\%"], ["\\boxed{0.1}", "\\boxed{10\\%}", "\\boxed{10}"])] \
        == [1.0, 1.0, 1.0]
    assert verify_batch(["10\\%"], ["\\boxed{0.1}"]) == [False]  # default: the % sign is dropped
    v = verify_batch_detailed(["10\\%"], ["\\boxed{0.1}"], options=Options(percent_fraction=True))[0]
    assert v.correct and v.reason == "equivalent_percent"


def test_format_reward():
    fn = get_reward("format", ok=0.5, bad=-0.5)
    out = fn.batch(None, ["\\boxed{1}", "\\boxed{1} \\boxed{1}", "\\boxed{1} \\boxed{2}", "Answer: 3", ""])
    assert [r.value for r in out] == [0.5, 0.5, -0.5, -0.5, -0.5]
    assert out[2].reason == "multiple_different_answers"
    loose = get_reward("format", boxed_only=False)
    assert loose(None, "Answer: 3").value == 0.0 and loose(None, "nothing").value == -1.0


def test_overlong_dapo_formula():
    fn = get_reward("overlong", max_len=100, cache_len=20)
    lengths = [0, 80, 90, 100, 101, 5000]
    vals = [r.value for r in fn.batch(["x"] * 6, ["y"] * 6, lengths)]
    assert vals == [0.0, 0.0, pytest.approx(-0.5), pytest.approx(-1.0), -1.0, -1.0]
    assert fn.batch(["x"], ["y"], [101])[0].reason == "over_max_len"
    with pytest.raises(ValueError, match="needs num_tokens"):
        fn.batch(["x"], ["y"])
    default = get_reward("overlong")
    assert (default.max_len, default.cache_len) == (20480, 4096)  # DAPO's setting


def test_sum_of_rewards():
    fn = get_reward("correctness+overlong", overlong={"max_len": 100, "cache_len": 20})
    out = fn.batch(["2", "2"], ["\\boxed{2}", "\\boxed{3}"], [90, 10])
    assert [r.value for r in out] == [pytest.approx(0.5), -1.0]
    assert out[0].reason.startswith("correctness=") and "overlong=in_cache_zone" in out[0].reason
    both = rewards.combine(get_reward("correctness", incorrect=0.0), get_reward("format"))
    # "2" without a box: correct by the last-number fallback (+1) but badly formatted (-1)
    assert [r.value for r in both.batch(["2", "2"], ["\\boxed{2}", "2"])] == [1.0, 0.0]
    with pytest.raises(ValueError, match="RewardFn"):
        rewards.combine(lambda g, r, n: 0)


def test_batch_of_512_responses_checks_each_distinct_pair_once():
    golds = ["x^2 - 1"] * 256 + ["\\frac{3}{4}"] * 256 + ["0.75"] * 2
    responses = ["\\boxed{(x-1)(x+1)}"] * 256 + ["\\boxed{0.75}"] * 128 + ["\\boxed{0.7}"] * 128 + ["0.75", "0.7"]
    pool = rewards.get_pool()
    before = pool.stats["tasks"]
    out = get_reward("correctness").batch(golds, responses, [100] * 514)
    assert [r.value for r in out] == [1.0] * 384 + [-1.0] * 128 + [1.0, -1.0]
    # three distinct (gold, answer) pairs went to the pool; the plain numbers took the in-process fast path
    assert pool.stats["tasks"] - before == 3
    assert out[-1].reason == "fast_number"


def test_lengths_must_match():
    with pytest.raises(ValueError, match="one gold per response"):
        verify_batch(["1"], ["1", "2"])
    with pytest.raises(ValueError, match="golds for"):
        get_reward("correctness").batch(["1"], ["1", "2"])
    with pytest.raises(ValueError, match="timeout"):
        verify_batch(["1"], ["1"], timeout=0)


def test_register_a_user_reward():
    name = "test-length-bonus"
    if name not in reward_names():
        from dataclasses import dataclass

        @rewards.register_reward(name)
        @dataclass
        class LengthBonus(rewards.RewardFn):
            per_token: float = 0.01

            def batch(self, golds, responses, num_tokens=None):
                return [rewards.RewardResult(self.per_token * n, "bonus") for n in num_tokens]

    assert get_reward(name, per_token=0.5)("1", "2", 4).value == 2.0
    with pytest.raises(ValueError, match="already registered"):
        rewards.register_reward(name)(object)


def test_verdict_fields_and_extracted_is_cut():
    v = verify_batch_detailed(["1"], ["\\boxed{" + "1+" * 400 + "1}"])[0]
    assert isinstance(v, Verdict) and v.correct is False and len(v.extracted) <= 300


def test_importing_rewards_does_not_import_sympy():
    import subprocess
    code = "import sys, rewards; rewards.extract_answer('x'); print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_ROOT)
    assert out.stdout.strip() == "False"


def test_script_without_main_guard_can_verify(tmp_path):
    """Workers do not re-run the caller's __main__ (forkserver children normally do)."""
    import subprocess
    script = tmp_path / "user_script.py"
    script.write_text("import rewards\nprint('RUN')\nprint(rewards.verify('1/2', r'\\boxed{0.5}'))\n")
    import os
    env = dict(os.environ, PYTHONPATH=str(_ROOT))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["RUN", "True"], out.stderr[-2000:]


def test_configure_pool_and_threads():
    pool = rewards.configure_pool(size=1)
    assert pool.size == 1 and rewards.get_pool() is pool
    results = {}

    def run(i):
        results[i] = verify_batch([str(i), "x"], [f"\\boxed{{{i}}}", "\\boxed{x + 0}"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [True, True] for i in range(4)}
    with pytest.raises(ValueError, match="positive integer"):
        rewards.configure_pool(size=0)
    rewards.configure_pool()  # back to the default size


def test_total_timeout_caps_a_batch():
    import time
    golds = ["0"] * 6
    # 496 expanded terms each (under rewards.cost's refusal limit), 0.3-2 s of sympy each on the dev machine; each
    # answer has symbols of its own, since a worker's sympy cache makes a repeated expansion fast
    responses = [f"\\boxed{{(x_{i}+y_{i}+z_{i})^{{30}}+{i}}}" for i in range(6)]
    t0 = time.monotonic()
    verdicts = verify_batch_detailed(golds, responses, timeout=5.0, total_timeout=0.05)
    assert time.monotonic() - t0 < 0.05 + 2.0
    assert [v.reason for v in verdicts] == ["timeout: batch deadline"] * 6


def test_a_forked_child_gets_its_own_pool():
    import os
    rewards.verify("1", "\\boxed{x - x + 1}")  # the parent's pool exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the inherited pool belongs to the parent; verify must still work
        try:
            ok = rewards.verify("x^2-1", "\\boxed{(x-1)(x+1)}") and not rewards.verify("2", "\\boxed{x}")
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"


def test_workers_are_recycled_after_many_checks(monkeypatch):
    import rewards.pool as pool_mod
    pool = rewards.configure_pool(size=1)
    rewards.warmup()
    first = pool.worker_pids()
    monkeypatch.setattr(pool_mod, "MAX_TASKS_PER_WORKER", 3)
    verify_batch(["x"] * 5, [f"\\boxed{{x + {i} - {i}}}" for i in range(5)])
    assert pool.worker_pids() == [] or pool.worker_pids() != first  # the used worker was not kept
    assert verify_batch(["x"], ["\\boxed{x+0}"]) == [True]
    rewards.configure_pool()


def test_the_callers_priority_order_is_respected():
    text = r"The answer is 3. Later I boxed \boxed{4}."
    assert verify_batch(["4", "3"], [text, text]) == [True, False]
    assert verify_batch(["4", "3"], [text, text], priority=("answer_is", "boxed")) == [False, True]
    with pytest.raises(ValueError, match="unknown extraction method"):
        verify_batch(["4"], [text], priority=("nope",))
