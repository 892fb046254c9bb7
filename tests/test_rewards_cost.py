"""Bounded reward cost (rewards.cost and its uses in the pool, the worker task, verify and the correctness reward):
validated time limits, numpy golds, expensive short forms refused before sympy simplifies, a response too long to
extract from, and the per-batch deadline."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import rewards
from rewards import cost, verify_batch_detailed
from rewards.pool import pool_stats
from rewards.worker_task import run_task


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e12, 0, -1.0, "5", None, True, np.float64("nan")])
def test_bad_timeouts_are_value_errors_everywhere(bad):
    with pytest.raises(ValueError, match="finite number of seconds"):
        cost.check_timeout(bad)
    with pytest.raises(ValueError, match="finite number of seconds"):
        verify_batch_detailed(["1"], ["\\boxed{x-x+1}"], timeout=bad)
    with pytest.raises(ValueError, match="finite number of seconds"):
        rewards.get_reward("correctness", timeout=bad)
    if bad is not None:  # None is the default batch deadline
        with pytest.raises(ValueError, match="finite number of seconds"):
            rewards.get_reward("correctness", batch_timeout=bad)
    with pytest.raises(ValueError, match="finite number of seconds"):
        rewards.get_pool().run([{"gold": "1", "candidates": ["1"]}], bad)


def test_good_timeouts_including_numpy_numbers_work():
    assert cost.check_timeout(np.float32(2.5)) == 2.5 and cost.check_timeout(3) == 3.0
    # a sympy-needing check (not the in-process fast path) with a numpy timeout
    v = verify_batch_detailed(["x^2-1"], ["\\boxed{(x-1)(x+1)}"], timeout=np.float64(5.0))[0]
    assert v.correct and v.reason == "equivalent"


@pytest.mark.parametrize("gold", [np.int64(5), np.int32(5), np.float64(5.0), np.float32(5.0), np.uint8(5)])
def test_numpy_scalar_gold_is_its_number(gold):
    v = verify_batch_detailed([gold], ["so \\boxed{5}"])[0]
    assert v.correct, v
    assert not verify_batch_detailed([gold], ["so \\boxed{6}"])[0].correct


def test_numpy_bool_and_arrays_stay_bad_gold():
    for gold in (np.bool_(True), np.array([5])):
        assert verify_batch_detailed([gold], ["\\boxed{5}"])[0].reason == "bad_gold"


@pytest.mark.parametrize("expr, n", [("(x+y+z)**5", 3), ("(a+b)**7*(c+d+e)**3", 3), ("(x+1)**12", 1),
                                     ("(x+y)**4 + (x-y)**4", 2), ("(a+b+c+d)**3", 4)])
def test_term_estimate_bounds_sympys_own_expansion(expr, n):
    """Independent evidence: the number of terms sympy.expand actually produces. The estimate is exact for a power
    of a sum of distinct symbols and an upper bound otherwise (cancellation, repeated monomials)."""
    e = sympy.sympify(expr)
    actual = len(sympy.Add.make_args(sympy.expand(e)))
    est = cost.estimated_terms(e)
    assert est >= actual - 1e-6
    if expr in ("(x+y+z)**5", "(a+b+c+d)**3", "(x+1)**12"):
        assert round(est) == actual   # C(n+t-1, t-1): 21, 20, 13


@pytest.mark.parametrize("answer", ["\\binom{x}{9999999}", "(x+y+z+w)^{999}", "\\binom{x+y}{300}",
                                    "\\sin((a+b+c)^{300})", "\\{1, (x+y)^{5000}\\}", "x = (a+b+c+d+e)^{40}",
                                    "\\dbinom{n}{123456}", "\\frac{1}{(p+q+r)^{200}}"])
def test_expensive_short_answers_are_refused_before_sympy_simplifies(answer):
    assert cost.costly_answer(answer)
    out = run_task({"gold": "3", "candidates": [answer]})
    assert out == {"correct": False, "reason": out["reason"]} and out["reason"].startswith("too_costly: ")
    v = verify_batch_detailed(["3"], [f"\\boxed{{{answer}}}"], timeout=5.0)[0]
    assert v.reason.startswith("too_costly") and not v.correct      # not 'timeout': nothing ran to the limit
    assert run_task({"gold": answer, "candidates": ["3"]})["reason"].startswith("gold_too_costly: ")


@pytest.mark.parametrize("answer, same", [("(x+1)^{100}", "(1+x)^{100}"), ("(x+y)^{2}", "x^2+2xy+y^2"),
                                          ("\\binom{n}{2}", "\\frac{n(n-1)}{2}"), ("\\binom{10}{3}", "120"),
                                          ("x^{1000}", "x^{999} x"), ("(x+y+z)^{10}", "(z+y+x)^{10}"),
                                          ("\\frac{(a+b)^{3}}{c}", "(a+b)^3/c"), ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}")])
def test_ordinary_answers_are_still_checked(answer, same):
    assert cost.costly_answer(answer) is None and cost.costly_answer(same) is None
    assert run_task({"gold": answer, "candidates": [same]})["correct"]


def test_a_response_too_long_to_extract_from_is_wrong_with_its_reason():
    long_response = "\\boxed{1} " * (cost.MAX_RESPONSE_CHARS // 10 + 1) + "\\boxed{5}"
    v = verify_batch_detailed(["5"], [long_response])[0]
    assert not v.correct and v.reason.startswith("response_too_long")
    assert verify_batch_detailed(["5"], ["\\boxed{5} " + " " * (cost.MAX_RESPONSE_CHARS - 20)])[0].correct


def test_batch_deadline_rule_and_its_environment_settings(monkeypatch):
    assert cost.batch_deadline(64) == pytest.approx(10 + 0.25 * 64)
    monkeypatch.setenv("RLVR_ZOO_BATCH_DEADLINE_BASE_S", "2")
    monkeypatch.setenv("RLVR_ZOO_BATCH_DEADLINE_PER_CHECK_S", "0.5")
    assert cost.batch_deadline(10) == pytest.approx(7.0)
    monkeypatch.setenv("RLVR_ZOO_BATCH_DEADLINE_BASE_S", "inf")
    with pytest.raises(ValueError, match="RLVR_ZOO_BATCH_DEADLINE_BASE_S"):
        cost.batch_deadline(10)


def test_correctness_reward_stops_at_its_batch_deadline_and_reports_it():
    # 496 expanded terms each: accepted by the size rule, 0.3-2 s of sympy each on the dev machine. Each answer
    # has its own symbols: sympy caches an expansion inside a worker, so a repeated one would be fast.
    symbols = ["p+q+r", "u+v+w", "a+b+c", "m+n+k", "s+t+g", "h+j+d"]
    slow = [f"\\boxed{{({s})^{{30}}+{i}}}" for i, s in enumerate(symbols)]
    fn = rewards.get_reward("correctness", batch_timeout=0.05)
    before = pool_stats().get("batch_deadline", 0)
    with pytest.warns(UserWarning, match=r"6 of 7 answers were not checked within the batch deadline"):
        out = fn.batch(["0"] * 6 + ["4"], slow + ["\\boxed{4}"])
    assert [r.reason for r in out[:6]] == [cost.BATCH_TIMEOUT_REASON] * 6 and all(r.value == -1.0 for r in out[:6])
    assert out[6].value == 1.0                 # checked in-process (fast path): not affected
    assert pool_stats()["batch_deadline"] >= before + 6
    assert rewards.reason_counts().get("timeout", 0) >= 6   # counted as timeouts
