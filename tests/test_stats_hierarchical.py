"""Seed-level statistics: hierarchical bootstrap coverage on simulated data with known variance components, Holm
against a worked textbook example, the exact sign test against binomial sums, the minimum detectable difference
against a simulated power curve, and the verdict rules."""
import itertools
from fractions import Fraction
import math

import numpy as np
import pytest

from harness.leaderboard import stats


def _crossed(rng, n, s, p, sd_seed, sd_problem, sd_resid, mu=0.4):
    """n tables X[s, p] = mu + a_s + b_p + e_sp (crossed random effects, known variances)."""
    return (mu + sd_seed * rng.standard_normal((n, s, 1)) + sd_problem * rng.standard_normal((n, 1, p))
            + sd_resid * rng.standard_normal((n, s, p)))


# ---------------------------------------------------------------- coverage
# 30 seeds x 40 problems, seed SD 0.1, problem SD 0.1, residual SD 0.1: the seed term is half of the mean's variance.
COVERAGE_DESIGN = dict(s=30, p=40, sd_seed=0.1, sd_problem=0.1, sd_resid=0.1)


def test_hierarchical_bootstrap_covers_the_truth_93_to_97_percent():
    x = _crossed(np.random.default_rng(0), 400, **COVERAGE_DESIGN)
    _, lo, hi = stats.hierarchical_intervals(x, n_boot=1000, seed=1)
    coverage = np.mean((lo <= 0.4) & (0.4 <= hi))
    assert 0.93 <= coverage <= 0.97, coverage          # 0.940 with these seeds


def test_problems_only_bootstrap_under_covers_when_seeds_vary():
    """The same check fails for the bootstrap over problems of seed-averaged scores (the old leaderboard
    interval): it leaves the seed variance out. This is what makes the coverage test able to fail."""
    x = _crossed(np.random.default_rng(0), 400, **COVERAGE_DESIGN)
    _, lo, hi = stats.hierarchical_intervals(x.mean(axis=1, keepdims=True), n_boot=1000, seed=1)
    coverage = np.mean((lo <= 0.4) & (0.4 <= hi))
    assert coverage < 0.85, coverage                    # 0.760 with these seeds


def test_batched_intervals_equal_the_single_table_function():
    x = _crossed(np.random.default_rng(3), 1, 4, 12, 0.1, 0.2, 0.1)
    m, lo, hi = stats.hierarchical_intervals(x, n_boot=300, seed=7)
    ci = stats.hierarchical_bootstrap(x[0], n_boot=300, seed=7)
    assert (m[0], lo[0], hi[0]) == pytest.approx((ci.mean, ci.boot_low, ci.boot_high), abs=1e-15)
    assert ci.per_seed == pytest.approx(tuple(x[0].mean(axis=1))) and ci.crossed and ci.n_seeds == 4


def test_one_seed_is_the_bootstrap_over_problems_and_ragged_seeds_are_nested():
    rng = np.random.default_rng(5)
    one = stats.hierarchical_bootstrap([rng.random(50)], n_boot=500)
    assert one.n_seeds == 1 and one.low < one.mean < one.high
    ragged = stats.hierarchical_bootstrap([rng.random(30), rng.random(40), rng.random(35)], n_boot=500)
    assert not ragged.crossed and ragged.n_problems == 40 and ragged.low < ragged.mean < ragged.high
    assert ragged.mean == pytest.approx(np.mean(ragged.per_seed))
    with pytest.raises(ValueError, match="NaN"):
        stats.hierarchical_bootstrap([[0.1, float("nan")]])
    with pytest.raises(ValueError, match="no seeds"):
        stats.hierarchical_bootstrap([])


# ---------------------------------------------------------------- paired differences
def test_pairing_by_seed_removes_the_shared_seed_effect():
    rng = np.random.default_rng(11)
    seed_effect = 0.2 * rng.standard_normal((5, 1))
    problems = rng.standard_normal((1, 80)) * 0.2
    a = 0.5 + seed_effect + problems + 0.02 * rng.standard_normal((5, 80))
    b = a - 0.05 + 0.02 * rng.standard_normal((5, 80))
    paired = stats.paired_hierarchical_bootstrap(a, b, seeds_a=[0, 1, 2, 3, 4], seeds_b=[0, 1, 2, 3, 4])
    unpaired = stats.paired_hierarchical_bootstrap(a, b, seeds_a=[0, 1, 2, 3, 4], seeds_b=[5, 6, 7, 8, 9])
    assert paired.paired_seeds and not unpaired.paired_seeds
    assert paired.low > 0 and paired.diff == pytest.approx(a.mean() - b.mean())
    assert (unpaired.high - unpaired.low) > 5 * (paired.high - paired.low)
    assert paired.p_sign is None                       # not 0/1 cells


def test_identical_arms_are_indistinguishable():
    a = (np.random.default_rng(2).random((2, 60)) < 0.3).astype(float)
    d = stats.paired_hierarchical_bootstrap(a, a.copy())
    assert d.diff == 0 and d.p_value == 1.0 and d.p_sign == 1.0 and (d.n_pos, d.n_neg) == (0, 0)
    assert stats.holm_verdicts([d], [("x", "y")]) == [("indistinguishable", 1.0)]


def test_sign_test_overrides_a_coarse_bootstrap_on_few_discordant_problems():
    """GSM8K-like: the trained model solves 5 of 100 problems, the base model none. The bootstrap p is about 0.01
    (P(no solved problem in a resample) = 0.95^100), the exact sign test 2/2^5 = 0.0625: the verdict uses 0.0625."""
    base = np.zeros(100)
    trained = np.zeros((1, 100))
    trained[0, :5] = 1
    d = stats.paired_hierarchical_bootstrap(trained, [base], reference=True, n_boot=10000)
    assert d.p_boot < 0.05
    assert (d.n_pos, d.n_neg) == (5, 0) and d.p_sign == pytest.approx(0.0625)
    assert d.p_value == pytest.approx(0.0625)
    assert stats.verdict(d.diff, d.p_value) == "indistinguishable"


def test_reference_row_is_subtracted_from_every_seed():
    rng = np.random.default_rng(4)
    a = (rng.random((3, 50)) < 0.5).astype(float)
    base = (rng.random(50) < 0.2).astype(float)
    d = stats.paired_hierarchical_bootstrap(a, [base], reference=True)
    diff = a - base
    assert d.diff == pytest.approx(diff.mean()) and d.paired_seeds
    assert (d.n_pos, d.n_neg) == (int((diff > 0).sum()), int((diff < 0).sum()))
    with pytest.raises(ValueError, match="same problems"):
        stats.paired_hierarchical_bootstrap(a, [base[:40]], reference=True)


# ---------------------------------------------------------------- sign test
def _minlike_two_sided(k, n):
    """Exact two-sided binomial p (p = 1/2) by the 'sum of outcomes no more likely than the observed' rule of
    scipy.stats.binomtest, computed by enumerating every sign sequence of length n."""
    observed = math.comb(n, k)
    hits = sum(1 for signs in itertools.product((0, 1), repeat=n) if math.comb(n, sum(signs)) <= observed)
    return Fraction(hits, 2 ** n)


@pytest.mark.parametrize("n_pos,n_neg", [(0, 0), (1, 0), (5, 0), (0, 6), (3, 3), (7, 2), (2, 9), (10, 2), (6, 6)])
def test_sign_test_equals_enumerated_binomial_probabilities(n_pos, n_neg):
    n = n_pos + n_neg
    expected = 1.0 if n == 0 else float(min(1, _minlike_two_sided(n_pos, n)))
    assert stats.sign_test(n_pos, n_neg) == pytest.approx(expected, rel=1e-12)


def test_sign_test_known_values_and_large_n():
    assert stats.sign_test(5, 0) == pytest.approx(1 / 16)          # 2 * (1/2)^5
    assert stats.sign_test(8, 2) == pytest.approx(2 * 56 / 1024)   # 2 * (1 + 10 + 45) / 2^10
    assert 0 < stats.sign_test(700, 300) < 1e-30
    with pytest.raises(ValueError, match="count"):
        stats.sign_test(-1, 3)


def test_sign_test_matches_scipy_binomtest():
    scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is not installed; the enumeration test covers it")
    for n_pos, n_neg in [(5, 0), (7, 2), (30, 12), (100, 80), (3, 3)]:
        expected = scipy_stats.binomtest(n_pos, n_pos + n_neg, 0.5).pvalue
        assert stats.sign_test(n_pos, n_neg) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- Holm
def test_holm_textbook_example():
    """Wikipedia, "Holm-Bonferroni method", example: four hypotheses with p = 0.01, 0.04, 0.03, 0.005 at alpha =
    0.05. Sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: H4 and H1 are rejected, H3 and H2 are not.
    By hand, adjusted p = (3 x 0.01, max(0.06, 1 x 0.04), 2 x 0.03, 4 x 0.005) = (0.03, 0.06, 0.06, 0.02)."""
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert list(adjusted <= 0.05) == [True, False, False, True]


def test_holm_bounds_and_verdicts():
    p = np.random.default_rng(0).random(12) ** 3
    adj = stats.holm(p)
    assert np.all(adj >= p) and np.all(adj <= np.minimum(1, 12 * p) + 1e-15)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert stats.holm([]).size == 0 and stats.holm([0.2]) == pytest.approx([0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.1, 1.5])
    assert stats.verdict(0.1, 0.01, a="dapo", b="grpo") == "dapo > grpo"
    assert stats.verdict(-0.1, 0.01, a="dapo", b="grpo") == "dapo < grpo"
    assert stats.verdict(0.1, 0.2) == "indistinguishable"


# ---------------------------------------------------------------- variance components and MDD
def test_variance_components_recover_the_simulated_variances():
    x = _crossed(np.random.default_rng(8), 200, 20, 60, 0.1, 0.2, 0.15)
    comps = [stats.variance_components(t) for t in x]
    assert np.mean([c.seed for c in comps]) == pytest.approx(0.01, rel=0.1)
    assert np.mean([c.problem for c in comps]) == pytest.approx(0.04, rel=0.1)
    assert np.mean([c.resid for c in comps]) == pytest.approx(0.0225, rel=0.02)
    with pytest.raises(ValueError, match="2 seeds"):
        stats.variance_components([[0.1, 0.2, 0.3]])


def test_mdd_has_80_percent_power_in_simulation():
    """Bloom (1995): a true difference of one MDD is detected 80% of the time by the two-sided 5% test. Simulate
    paired difference tables D = delta + a_s + b_p + e_sp at delta = MDD (and at 0), estimate SE from each table's
    variance components as the leaderboard does, and count |mean| / SE > 1.96."""
    s, p = 20, 100
    truth = stats.VarianceComponents(seed=0.1 ** 2, problem=0.15 ** 2, resid=0.3 ** 2, n_seeds=s, n_problems=p)
    mdd = stats.minimum_detectable_difference(truth)
    assert mdd == pytest.approx((1.959964 + 0.841621) * truth.se(), rel=1e-6)
    rng = np.random.default_rng(1)
    for delta, low, high in ((mdd, 0.76, 0.84), (0.0, 0.03, 0.075)):
        x = delta + _crossed(rng, 2000, s, p, 0.1, 0.15, 0.3, mu=0.0)
        z = np.array([t.mean() / stats.variance_components(t).se() for t in x])
        power = np.mean(np.abs(z) > 1.959964)
        assert low <= power <= high, (delta, power)
    estimated = np.mean([stats.minimum_detectable_difference(stats.variance_components(t)) for t in x[:200]])
    assert estimated == pytest.approx(mdd, rel=0.05)


def test_seeds_for_difference_inverts_the_mdd():
    # the difference of two arms whose seed SDs are 14 points each: the difference's seed variance is 2 x 0.14^2
    comps = stats.VarianceComponents(seed=2 * 0.14 ** 2, problem=0.01, resid=0.05, n_seeds=2, n_problems=189)
    n = stats.seeds_for_difference(comps, 0.10)
    assert stats.minimum_detectable_difference(comps, n_seeds=n) <= 0.10
    assert stats.minimum_detectable_difference(comps, n_seeds=n - 1) > 0.10
    assert 28 <= n <= 36          # 2 x (2.8 x 14 / 10)^2 = 30.7 seeds from the seed term alone (issue 15's estimate)
    assert stats.seeds_for_difference(comps, 0.001) is None     # the problem term alone is larger


# ---------------------------------------------------------------- seed-level t-test
@pytest.mark.parametrize("t,df,expected", [
    (12.706, 1, 1 - 2 / math.pi * math.atan(12.706)),     # df = 1 is the Cauchy: p = 1 - (2/pi) atan|t|
    (0.3, 1, 1 - 2 / math.pi * math.atan(0.3)),
    (4.303, 2, 1 - 4.303 / math.sqrt(4.303 ** 2 + 2)),      # df = 2: p = 1 - |t| / sqrt(t^2 + 2)
    (30.0, 2, 1 - 30 / math.sqrt(902)),
    (1.959964, 1e7, 0.05),                                   # the normal limit
])
def test_t_distribution_against_closed_forms_and_tables(t, df, expected):
    assert stats.t_two_sided(t, df) == pytest.approx(expected, rel=2e-4)


def test_t_distribution_against_a_table():
    assert stats.t_two_sided(2.228, 10) == pytest.approx(0.05, rel=1e-3)   # t table: t_{0.975, 10} = 2.228


def test_f_distribution_against_tables():
    assert stats.f_sf(161.45, 1, 1) == pytest.approx(0.05, rel=1e-3)      # F_{0.95}(1, 1) = 161.45
    assert stats.f_sf(4.0, 1, 1e7) == pytest.approx(0.0455003, rel=1e-4)  # F(1, inf) = z^2: P(|z| >= 2)
    assert stats.f_sf(3.49, 3, 12) == pytest.approx(0.05, rel=5e-3)       # F_{0.95}(3, 12) = 3.49


@pytest.mark.parametrize("n_seeds", [2, 3, 5])
def test_seed_t_test_holds_its_size_where_the_bootstrap_does_not(n_seeds):
    """No true difference, seed SD 0.15, problem SD 0.1, residual 0.3, 60 problems. The t-test rejects at 5% about
    5% of the time; the hierarchical bootstrap's own p-value, resampling the few seeds as if they were the
    population, rejects far more often (25% / 15% / 11% at 2 / 3 / 5 seeds here). This is why a verdict needs
    both."""
    rng = np.random.default_rng(n_seeds)
    x = _crossed(rng, 1000, n_seeds, 60, 0.15, 0.1, 0.3, mu=0.0)
    p_t = np.array([stats.seed_t_test(t)[0] for t in x])
    assert 0.025 <= np.mean(p_t < 0.05) <= 0.075
    p_boot = np.array([stats.paired_hierarchical_bootstrap(t, np.zeros_like(t), n_boot=500).p_boot for t in x[:300]])
    assert np.mean(p_boot < 0.05) > 0.09
    d = stats.paired_hierarchical_bootstrap(x[0], np.zeros_like(x[0]), n_boot=500)
    assert d.p_t == pytest.approx(stats.seed_t_test(x[0])[0]) and d.p_value == max(d.p_boot, d.p_t)


def test_seed_t_test_two_seeds_is_the_one_df_t_test():
    """Two seeds, no problem structure: the seed term has 1 df, so two seeds that agree closely still give a
    large p; a clear difference with many seeds gives a small one."""
    r = np.tile([0.01, -0.01], 25)
    two = np.array([0.40 + r, 0.30 - r])   # problem means all 0.35: no problem term; seed means 0.40 and 0.30
    p, df = stats.seed_t_test(two)
    # MS_seed = 50 * 2 * 0.05^2 = 0.25, SE = sqrt(0.25 / 100) = 0.05, t = 0.35 / 0.05 = 7 with 1 df
    assert df == pytest.approx(1.0) and p == pytest.approx(1 - 2 / math.pi * math.atan(7.0), rel=1e-9)
    many = _crossed(np.random.default_rng(1), 1, 20, 60, 0.05, 0.05, 0.2, mu=0.2)[0]
    assert stats.seed_t_test(many)[0] < 1e-6
    assert stats.seed_t_test(np.zeros((3, 10))) == (1.0, float("inf"))


def test_welch_seed_test_matches_a_published_example():
    """Welch's t-test on the first worked example of Wikipedia's "Welch's t-test" article (two samples of 15):
    t = -2.46, df = 24.9, two-sided p = 0.021."""
    from harness.leaderboard.stats import welch_seed_test

    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    p, df = welch_seed_test(a, b)
    assert abs(df - 24.9) < 0.15 and abs(p - 0.021) < 0.001


def test_arms_on_different_seeds_are_not_called_different_when_they_are_not():
    """Two arms of one objective trained on different seeds (3 each), with a seed SD of 8 points and 128 shared 0/1
    problems, and no true difference: the verdict's p must fall below 0.05 in about 5% of tables (measured: 6.0%),
    not the 9.5% of the bootstrap alone, which resamples three seeds as if they were the population."""
    from harness.leaderboard.stats import paired_hierarchical_bootstrap

    rng = np.random.default_rng(7)
    n_sim, rejections, boot_only = 200, 0, 0
    for _ in range(n_sim):
        difficulty = rng.normal(0, 1.5, 128)
        def arm():
            rows = []
            for _ in range(3):
                seed_shift = rng.normal(0, 0.6)          # about 8 points of accuracy between seeds
                prob = 1 / (1 + np.exp(-(difficulty - 1.5 + seed_shift)))
                rows.append((rng.random(128) < prob).astype(float))
            return rows
        res = paired_hierarchical_bootstrap(arm(), arm(), seeds_a=[0, 1, 2], seeds_b=[3, 4, 5], n_boot=400,
                                            seed=int(rng.integers(1 << 30)))
        assert res.p_t is not None and not res.paired_seeds
        rejections += res.p_value < 0.05
        boot_only += res.p_boot < 0.05
    assert rejections / n_sim <= 0.09, rejections
    assert boot_only > rejections          # the case the t-test is there for


def test_t_critical_matches_the_t_table():
    """Two-sided 5% critical values from a printed t table: 12.706 (1 df), 4.303 (2), 2.228 (10), 2.042 (30), and
    the normal 1.960 at infinite df."""
    for df, q in ((1, 12.706), (2, 4.303), (10, 2.228), (30, 2.042), (float("inf"), 1.960)):
        assert stats.t_critical(0.05, df) == pytest.approx(q, abs=5e-4)
    assert stats.t_two_sided(stats.t_critical(0.01, 7.3), 7.3) == pytest.approx(0.01, rel=1e-9)


def test_a_three_seed_interval_covers_the_truth_once_widened_to_the_t_interval():
    """3 seeds x 60 problems, seed SD 0.08, problem SD 0.2, residual 0.15: the bootstrap alone, resampling three
    seeds as if they were the population, covers the true mean in 89% of 300 tables; widened to the seed-level t
    interval (2-ish df), 96%."""
    rng = np.random.default_rng(1)
    x = _crossed(rng, 300, 3, 60, 0.08, 0.2, 0.15)
    boot = wide = 0
    for i, t in enumerate(x):
        ci = stats.hierarchical_bootstrap(t, n_boot=500, seed=i)
        boot += ci.boot_low <= 0.4 <= ci.boot_high
        wide += ci.low <= 0.4 <= ci.high
        assert ci.low <= ci.boot_low and ci.high >= ci.boot_high
    assert boot / len(x) < 0.92 and 0.93 <= wide / len(x) <= 0.99, (boot, wide)


@pytest.mark.parametrize("paired", [True, False])
def test_a_difference_interval_excludes_zero_only_where_its_t_test_rejects(paired):
    """No true difference, 3 seeds per arm, shared problems. The printed interval must agree with the verdict's
    p-value: it may exclude 0 only where the seed-level (paired) or Welch (unpaired) t-test rejects at 5%. The
    bootstrap's own interval does not: it excluded 0 in 18% of the unpaired tables."""
    rng = np.random.default_rng(3)
    boot_excl = wide_excl = 0
    for i in range(200):
        problems = rng.normal(0, 0.2, (1, 60))
        a = 0.4 + rng.normal(0, 0.08, (3, 1)) + problems + rng.normal(0, 0.15, (3, 60))
        b = 0.4 + rng.normal(0, 0.08, (3, 1)) + problems + rng.normal(0, 0.15, (3, 60))
        seeds_b = [0, 1, 2] if paired else [3, 4, 5]
        d = stats.paired_hierarchical_bootstrap(a, b, seeds_a=[0, 1, 2], seeds_b=seeds_b, n_boot=500, seed=i)
        excludes = d.low > 0 or d.high < 0
        if excludes:
            assert d.p_t < 0.05, (d.low, d.high, d.p_t)
        boot_excl += d.boot_low > 0 or d.boot_high < 0
        wide_excl += excludes
    assert wide_excl / 200 <= 0.08
    if not paired:
        assert boot_excl / 200 > 0.12


def test_bounds_cut_an_interval_to_the_scores_range_and_reject_scores_outside_it():
    """Two seeds that disagree (0.9 and 0.1 on 0/1 problems) give a 1-df t interval far wider than [0, 1]; with
    bounds (0, 1) it is cut to [0, 1], and a difference against a reference of mean 0.25 to [-0.25, 0.75]."""
    x = np.array([[1.0] * 9 + [0.0], [0.0] * 9 + [1.0]])
    wide = stats.hierarchical_bootstrap(x, n_boot=300)
    assert wide.low < 0 and wide.high > 1
    cut = stats.hierarchical_bootstrap(x, n_boot=300, bounds=(0.0, 1.0))
    assert (cut.low, cut.high) == (0.0, 1.0)
    ref = np.array([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]) * np.array([[1.0] * 5 + [0.0] * 5])
    d = stats.paired_hierarchical_bootstrap(x, ref, reference=True, n_boot=300, bounds=(0.0, 1.0))
    assert d.low == pytest.approx(0.0 - ref.mean()) and d.high == pytest.approx(1.0 - ref.mean())
    with pytest.raises(ValueError, match="outside the bounds"):
        stats.hierarchical_bootstrap(x * 2, n_boot=300, bounds=(0.0, 1.0))
