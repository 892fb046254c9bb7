"""Evaluation statistics: hand-computed and brute-force checks."""
import itertools
import math

import numpy as np
import pytest

from harness import scores


# ---------------------------------------------------------------- pass@k
@pytest.mark.parametrize("n,c,k,expected", [
    (1, 0, 1, 0.0),
    (1, 1, 1, 1.0),
    (4, 1, 1, 0.25),               # one of four
    (4, 1, 2, 0.5),                # 1 - C(3,2)/C(4,2) = 1 - 3/6
    (5, 2, 2, 0.7),                # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 3, 5, 1 - 21 / 252),      # 1 - C(7,5)/C(10,5)
    (8, 0, 4, 0.0),
    (8, 5, 4, 1.0),                # n - c = 3 < k: every subset of 4 has a correct one
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert scores.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def _brute_force(verdicts, k):
    subsets = list(itertools.combinations(range(len(verdicts)), k))
    return sum(any(verdicts[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_pass_at_k_matches_enumeration_over_subsets(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        verdicts = list(rng.random(n) < 0.4)
        for k in range(1, n + 1):
            assert scores.pass_at_k(n, sum(verdicts), k) == pytest.approx(_brute_force(verdicts, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) overflows float64; the product form stays exact enough
    v = scores.pass_at_k(1000, 1, 500)
    assert v == pytest.approx(0.5, abs=1e-12)
    assert scores.pass_at_k(2000, 3, 1) == pytest.approx(3 / 2000)
    assert 0.0 < scores.pass_at_k(100000, 1, 1) < 1e-4


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must be in"):
        scores.pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c"):
        scores.pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="n"):
        scores.pass_at_k(0, 0, 1)


def test_mean_pass_at_k_and_avg_at_k():
    correct = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert scores.avg_at_k(correct) == pytest.approx((0.25 + 0.5 + 0) / 3)
    assert scores.avg_at_k(correct, k=2) == pytest.approx((0.5 + 1.0 + 0) / 3)
    # pass@1 equals avg@n
    assert scores.mean_pass_at_k(correct, 1) == pytest.approx(scores.avg_at_k(correct))
    assert scores.mean_pass_at_k(correct, 2) == pytest.approx((0.5 + (1 - 1 / 6) + 0) / 3)
    with pytest.raises(ValueError, match="k=5"):
        scores.avg_at_k(correct, k=5)


# ---------------------------------------------------------------- maj@k
def test_majority_vote_picks_most_common():
    assert scores.majority_vote(["3", "4", "4", None, "3", "4"]) == (1, 3)


def test_majority_vote_tie_goes_to_earliest_sample():
    # "7" and "5" both have two votes; "7" appears first (index 0)
    assert scores.majority_vote(["7", "5", "5", "7"]) == (0, 2)
    assert scores.majority_vote(["5", "7", "7", "5"]) == (0, 2)
    # deterministic whatever the key order in a dict/hash would be
    for _ in range(3):
        assert scores.majority_vote(["b", "a", "a", "b", "c"]) == (0, 2)


def test_majority_vote_with_canonical_key_and_equivalence():
    answers = ["1/2", "0.5", "2", "2"]
    # without a key the two halves are different answers: tie between "1/2"? no: "2" has 2 votes, halves 1 each
    assert scores.majority_vote(answers) == (2, 2)
    # with a canonical key they merge and win the tie by being earlier
    key = lambda a: round(eval(a), 9)  # noqa: E731  (test-only canonicaliser on trusted strings)
    assert scores.majority_vote(answers, key=key) == (0, 2)
    equiv = lambda x, y: abs(eval(x) - eval(y)) < 1e-9  # noqa: E731
    assert scores.majority_vote(answers, equiv=equiv) == (0, 2)
    assert scores.majority_vote([None, None]) == (None, 0)
    with pytest.raises(ValueError, match="either key"):
        scores.majority_vote(answers, key=key, equiv=equiv)


def test_maj_at_k_uses_representative_verdict_and_first_k():
    answers = [["7", "5", "5", "7"], ["1", "2", "2", "2"], [None, None, None, None]]
    correct = [[True, False, False, True], [True, False, False, False], [False] * 4]
    # problem 0: tie 7/5 -> 7 (earliest) correct; problem 1: "2" wins, wrong; problem 2: no answer
    assert scores.maj_at_k(answers, correct) == pytest.approx(1 / 3)
    # first 1 sample only: problem 1 votes "1" which is correct
    assert scores.maj_at_k(answers, correct, k=1) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_interval_contains_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    values = (rng.random(50) < 0.3).astype(float)
    ci = scores.bootstrap_ci(values, n_boot=500, seed=1)
    assert ci.low <= ci.mean <= ci.high
    assert ci.mean == pytest.approx(values.mean())
    assert ci.level == pytest.approx(0.95)
    assert scores.bootstrap_ci(values, n_boot=500, seed=1) == ci
    assert scores.bootstrap_ci(values, n_boot=500, seed=2) != ci


def test_bootstrap_interval_shrinks_with_more_problems():
    rng = np.random.default_rng(0)
    small = (rng.random(40) < 0.5).astype(float)
    large = np.tile(small, 25)                     # same mean, 25x more problems
    w_small = scores.bootstrap_ci(small, n_boot=1000).high - scores.bootstrap_ci(small, n_boot=1000).low
    ci_large = scores.bootstrap_ci(large, n_boot=1000)
    w_large = ci_large.high - ci_large.low
    assert w_large < w_small / 3                    # ~1/sqrt(25) = 1/5 in theory
    # and roughly the normal-approximation width
    p = small.mean()
    assert w_small == pytest.approx(2 * 1.96 * math.sqrt(p * (1 - p) / 40), rel=0.25)


def test_bootstrap_degenerate_and_errors():
    ci = scores.bootstrap_ci([1.0, 1.0, 1.0])
    assert (ci.low, ci.mean, ci.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="no per-problem scores"):
        scores.bootstrap_ci([])
    with pytest.raises(ValueError, match="NaN"):
        scores.bootstrap_ci([0.0, float("nan")])
    with pytest.raises(ValueError, match="alpha"):
        scores.bootstrap_ci([0.0, 1.0], alpha=1.5)


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(3)
    base = (rng.random(300) < 0.4).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:45]] = 1.0          # fixes 45 problems, breaks none
    res = scores.paired_bootstrap(better, base, n_boot=1000)
    assert res.diff == pytest.approx(45 / 300)
    assert res.low > 0 and res.p_value < 0.01
    assert res.low <= res.diff <= res.high
    same = scores.paired_bootstrap(base, base, n_boot=200)
    assert same.diff == 0.0 and same.p_value == 1.0
    # pairing matters: the paired interval is narrower than two independent intervals suggest
    ia, ib = scores.bootstrap_ci(better), scores.bootstrap_ci(base)
    assert (res.high - res.low) < (ia.high - ia.low) + (ib.high - ib.low)
    with pytest.raises(ValueError, match="same problems"):
        scores.paired_bootstrap([1.0, 0.0], [1.0])


def test_summarize_reports_every_figure():
    correct = [[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    answers = [["2", "3", "2", "3"], ["1", "1", "5", None], ["9", "9", "9", "9"]]
    s = scores.summarize(correct, answers, ks=[1, 2, 4], n_boot=100)
    assert s["n_problems"] == 3 and s["n_samples"] == 12
    assert s["avg@4"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert s["pass@1"] == pytest.approx(s["avg@4"])
    assert s["pass@4"] == pytest.approx(2 / 3)
    assert s["maj@4"] == pytest.approx(2 / 3)
    assert s["pass@2_ci"]["low"] <= s["pass@2"] <= s["pass@2_ci"]["high"]
    with pytest.raises(ValueError, match="k=8"):
        scores.summarize(correct, ks=[8])
