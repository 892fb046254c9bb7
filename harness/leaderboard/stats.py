"""Statistics over seeds and problems that compare objectives: the leaderboard's intervals, tests and verdicts.

``X[s, p]`` is the score of seed s on problem p (the fraction of its k samples that are correct). docs/benchmarks.md
("Seeds and problems") defines each statistic with its formula and source, and gives what each choice buys on
simulated tables (tests/test_stats_hierarchical.py checks those figures):

* ``hierarchical_bootstrap``: seeds resampled, then problems; one problem draw shared by the seeds of a crossed
  table (McCullagh 2000; Owen 2007), one per seed when the seeds saw different problems (Davison & Hinkley 1997,
  sec. 3.8). A replicate mean is ``w_seed^T X w_problem / (S P)`` with multinomial counts ``w``.
* ``paired_hierarchical_bootstrap``: the difference of two arms (one problem draw; one seed draw when the arms are
  paired by seed; the base model as a reference row), p-value with the +1 correction (Davison & Hinkley, eq. 4.11).
* ``sign_test`` (exact McNemar; Conover 1999, sec. 3.4-3.5), ``seed_t_test`` (ANOVA mean squares, Satterthwaite
  df) and ``welch_seed_test``: **the p-value of a verdict is the largest of the tests that apply**, each a valid
  test of no difference that covers a way the others fail; with 2+ seeds an interval is widened to the t interval.
* ``holm`` and ``holm_verdicts`` (Holm 1979): "A > B", "A < B" or "indistinguishable" at family-wise level alpha;
  ``variance_components`` (ANOVA moments; Searle, Casella & McCulloch 1992, sec. 4.7) and
  ``minimum_detectable_difference`` (Bloom 1995: 2.80 standard errors at 5% two-sided and 80% power).
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Hashable, Sequence

import numpy as np

from harness.scores import check_boot

__all__ = ["HierInterval", "HierDiff", "VarianceComponents", "hierarchical_bootstrap", "paired_hierarchical_bootstrap",
           "hierarchical_intervals", "sign_test", "seed_t_test", "welch_seed_test", "t_critical", "t_two_sided",
           "f_sf", "holm", "verdict", "holm_verdicts", "variance_components", "minimum_detectable_difference",
           "seeds_for_difference"]


@dataclass(frozen=True)
class HierInterval:
    """A mean over seeds and problems with its interval (the hierarchical bootstrap's, widened to the seed-level t
    interval with 2+ seeds) and the per-seed means."""
    mean: float
    low: float
    high: float
    per_seed: tuple[float, ...]
    n_seeds: int
    n_problems: int          # problems per seed (the largest count when the seeds differ)
    crossed: bool            # every seed scored on the same problems (one shared problem draw per replicate)
    n_boot: int
    level: float
    boot_low: float | None = None    # the bootstrap's own percentile interval; low/high also cover the t interval
    boot_high: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HierDiff:
    """mean(a) - mean(b) with its interval, the bootstrap p-value, the exact sign and t tests where they apply and
    the p-value a verdict uses (the largest). The interval is the hierarchical paired bootstrap's, widened to the t
    interval of the seed-level (paired) or Welch (unpaired) t-test where one applies, so that it excludes 0 only
    where that test rejects too."""
    diff: float
    low: float
    high: float
    p_value: float               # what a verdict uses: the largest of p_boot, p_sign and p_t where they apply
    p_boot: float
    p_sign: float | None         # exact sign test over discordant (seed, problem) pairs; None when not 0/1 or unpaired
    p_t: float | None            # seed-level t-test (Satterthwaite df); None with one seed or unpaired seeds
    t_df: float | None
    n_pos: int | None            # discordant pairs with a right, b wrong
    n_neg: int | None            # discordant pairs with a wrong, b right
    mean_a: float
    mean_b: float
    n_seeds_a: int
    n_seeds_b: int
    paired_seeds: bool           # one seed draw for both arms (same seeds, or b is an untrained reference)
    n_problems: int
    n_boot: int
    level: float
    boot_low: float | None = None    # the bootstrap's own percentile interval; low/high also cover the t interval
    boot_high: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VarianceComponents:
    """ANOVA estimates of a crossed seeds x problems table: seed, problem and residual variances."""
    seed: float
    problem: float
    resid: float
    n_seeds: int
    n_problems: int

    def se(self, n_seeds: int | None = None, n_problems: int | None = None) -> float:
        """Standard error of the grand mean at ``n_seeds`` seeds and ``n_problems`` problems (default: the
        table's): ``sqrt(seed/S + problem/P + resid/(S P))``."""
        s = self.n_seeds if n_seeds is None else n_seeds
        p = self.n_problems if n_problems is None else n_problems
        return math.sqrt(self.seed / s + self.problem / p + self.resid / (s * p))

    def as_dict(self) -> dict:
        return asdict(self)


def _seed_rows(scores: Any, name: str) -> list[np.ndarray]:
    """Per-seed score vectors from a 2-D array (seeds x problems) or a list of 1-D sequences (one per seed)."""
    if isinstance(scores, np.ndarray) and scores.ndim == 2:
        rows = [np.asarray(r, dtype=np.float64) for r in scores]
    elif isinstance(scores, np.ndarray) and scores.ndim == 1:
        rows = [scores.astype(np.float64)]
    else:
        rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in scores]
    if not rows:
        raise ValueError(f"{name}: no seeds given (need one row of per-problem scores per seed)")
    for i, r in enumerate(rows):
        if r.size == 0:
            raise ValueError(f"{name}: seed row {i} has no per-problem scores")
        if not np.all(np.isfinite(r)):
            raise ValueError(f"{name}: seed row {i} contains NaN or inf")
    return rows


def _counts(rng: np.random.Generator, n: int, size: int | tuple[int, ...]) -> np.ndarray:
    """Resampling counts: for each of ``size`` replicates, how often each of n items is drawn in n draws with
    replacement (float64, shape size + (n,))."""
    shape = (size,) if isinstance(size, int) else tuple(size)
    reps = int(np.prod(shape))
    idx = rng.integers(0, n, size=(reps, n)) + n * np.arange(reps)[:, None]
    return np.bincount(idx.ravel(), minlength=reps * n).reshape(*shape, n).astype(np.float64)


@functools.lru_cache(maxsize=4)
def _crossed_draws(seed: int, n_seeds: int, n_problems: int, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed counts then problem counts of ``default_rng(seed)``: what a crossed table of this shape draws. Cached,
    so the many comparisons of one leaderboard (same seed, shape and n_boot) draw once; read-only arrays."""
    rng = np.random.default_rng(seed)
    w_s, w_p = _counts(rng, n_seeds, n_boot), _counts(rng, n_problems, n_boot)
    w_s.flags.writeable = w_p.flags.writeable = False
    return w_s, w_p


def _crossed_replicates(x: np.ndarray, rng: np.random.Generator, n_boot: int, seed_w: np.ndarray | None = None,
                        problem_w: np.ndarray | None = None) -> np.ndarray:
    """Replicate means of crossed tables ``x`` (..., S, P): ``w_seed^T x w_problem / (S P)`` with one seed draw
    and one problem draw per replicate (shape (..., n_boot))."""
    *batch, s, p = x.shape
    w_s = _counts(rng, s, (*batch, n_boot)) if seed_w is None else seed_w
    w_p = _counts(rng, p, (*batch, n_boot)) if problem_w is None else problem_w
    return np.einsum("...bs,...sp,...bp->...b", w_s, x, w_p, optimize=True) / (s * p)


def _replicate_means(rows: list[np.ndarray], rng: np.random.Generator, n_boot: int,
                     problem_w: np.ndarray | None = None) -> np.ndarray:
    """Means of ``n_boot`` hierarchical replicates (seeds, then problems) of one table. A crossed table (equal row
    lengths) uses one problem draw for every seed (``problem_w`` passes a draw shared with another arm); a nested
    one draws problems per drawn seed."""
    if len({r.size for r in rows}) == 1:
        return _crossed_replicates(np.vstack(rows), rng, n_boot, problem_w=problem_w)
    if problem_w is not None:
        raise ValueError("hierarchical bootstrap: a shared problem draw needs every seed scored on the same problems")
    s = len(rows)
    w_s = _counts(rng, s, n_boot)
    out = np.zeros(n_boot)
    for j, r in enumerate(rows):  # nested: c_s draws of P_s problems each = one draw of c_s * P_s problems
        counts = rng.multinomial(w_s[:, j].astype(np.int64) * r.size, np.full(r.size, 1.0 / r.size))
        out += counts @ r / r.size
    return out / s


def hierarchical_intervals(tables: Any, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                           chunk: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hierarchical bootstrap of many crossed tables at once (``tables``: N x S x P), for simulation studies:
    returns (means, lows, highs), each of length N: the bootstrap's percentile intervals alone, the same as
    `hierarchical_bootstrap`'s ``boot_low``/``boot_high`` for a single crossed table with the same seed (N = 1),
    without the widening to the t interval."""
    check_boot(n_boot, alpha, "hierarchical_intervals")
    x = np.asarray(tables, dtype=np.float64)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"hierarchical_intervals: tables must be N x seeds x problems, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    means = x.mean(axis=(1, 2))
    lows, highs = np.empty(len(x)), np.empty(len(x))
    for start in range(0, len(x), chunk):
        reps = _crossed_replicates(x[start:start + chunk], rng, n_boot)
        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=-1)
        m = means[start:start + chunk]
        lows[start:start + chunk] = np.minimum(lo, m)
        highs[start:start + chunk] = np.maximum(hi, m)
    return means, lows, highs


def _percentiles(reps: np.ndarray, point: float, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    # the percentile interval of a mean brackets it up to float rounding; make that exact
    return min(float(lo), point), max(float(hi), point)


def hierarchical_bootstrap(scores: Any, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
                           bounds: tuple[float, float] | None = None) -> HierInterval:
    """Hierarchical percentile-bootstrap interval of the mean of a seeds x problems table (see the module
    docstring). ``scores`` is a 2-D array (seeds x problems) or a list of per-seed sequences; the mean weighs every
    seed equally. One seed reduces it to the bootstrap over problems. With 2+ seeds the interval is widened to the
    seed-level t interval (`seed_t_test`'s standard error and df; for seeds scored on different problems, the
    one-sample t on the per-seed means): the bootstrap, resampling a few seeds as if they were the population, is
    too narrow there. ``bounds`` (e.g. (0, 1) for accuracies) is the range a score can take; the interval is cut to
    it."""
    check_boot(n_boot, alpha, "hierarchical_bootstrap")
    rows = _seed_rows(scores, "hierarchical_bootstrap")
    _check_bounds(rows, bounds, "hierarchical_bootstrap")
    per_seed = tuple(float(r.mean()) for r in rows)
    m = float(np.mean(per_seed))
    if len({r.size for r in rows}) == 1:
        w_s, w_p = _crossed_draws(seed, len(rows), rows[0].size, n_boot)
        reps = _crossed_replicates(np.vstack(rows), np.random.default_rng(seed), n_boot, w_s, w_p)
    else:
        reps = _replicate_means(rows, np.random.default_rng(seed), n_boot)
    lo, hi = _percentiles(reps, m, alpha)
    boot_low, boot_high = lo, hi
    crossed = len({r.size for r in rows}) == 1
    if len(rows) >= 2 and crossed and rows[0].size >= 2:
        _, se, df = _seed_t(rows, "hierarchical_bootstrap")
        lo, hi = _widen(lo, hi, m, se, df, alpha)
    elif len(rows) >= 2 and not crossed:
        seed_means = np.asarray(per_seed)
        lo, hi = _widen(lo, hi, m, float(seed_means.std(ddof=1)) / math.sqrt(len(rows)), len(rows) - 1.0, alpha)
    lo, hi = _clip(lo, hi, bounds)
    return HierInterval(mean=m, low=lo, high=hi, per_seed=per_seed, n_seeds=len(rows),
                        n_problems=max(r.size for r in rows), crossed=crossed,
                        n_boot=n_boot, level=1 - alpha, boot_low=boot_low, boot_high=boot_high)


def _binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def paired_hierarchical_bootstrap(scores_a: Any, scores_b: Any, seeds_a: Sequence[Hashable] | None = None,
                                  seeds_b: Sequence[Hashable] | None = None, reference: bool = False,
                                  n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
                                  bounds: tuple[float, float] | None = None) -> HierDiff:
    """mean(a) - mean(b) for two arms scored on the same problems (same count, same order), hierarchically.

    Seeds are paired (one seed draw for both) when ``seeds_a == seeds_b`` (labels, or equal counts when no labels
    are given); ``reference=True`` marks b as one untrained evaluation (the base model) subtracted from every seed
    of a. Otherwise each arm's seeds are drawn independently; the problem draw is always shared. Where the cells are
    0/1 and paired, the exact sign test over discordant (seed, problem) pairs is computed and the verdict p-value is
    ``max(p_boot, p_sign, p_t)`` (the rule in the module docstring). Where a t-test applies, the interval is widened
    to its t interval, so that it excludes 0 only where that test rejects. ``bounds`` is the range of one score
    (e.g. (0, 1)); the interval is cut to the differences it allows (against a reference, the range minus the
    reference's mean).
    """
    check_boot(n_boot, alpha, "paired_hierarchical_bootstrap")
    ra = _seed_rows(scores_a, "paired_hierarchical_bootstrap (a)")
    rb = _seed_rows(scores_b, "paired_hierarchical_bootstrap (b)")
    sizes = {r.size for r in ra} | {r.size for r in rb}
    if len(sizes) != 1:
        raise ValueError(f"paired_hierarchical_bootstrap: both arms must be scored on the same problems in every "
                         f"seed; got per-seed problem counts {sorted(sizes)}")
    if reference and len(rb) != 1:
        raise ValueError(f"paired_hierarchical_bootstrap: reference=True needs one row for b (one evaluation), "
                         f"got {len(rb)}")
    _check_bounds(ra + rb, bounds, "paired_hierarchical_bootstrap")
    a, b = np.vstack(ra), np.vstack(rb)
    n_problems = a.shape[1]
    if reference:
        paired = True
        d = a - b
    elif seeds_a is not None or seeds_b is not None:
        paired = seeds_a is not None and seeds_b is not None and list(seeds_a) == list(seeds_b)
        d = a - b if paired else None
    else:
        paired = a.shape[0] == b.shape[0]
        d = a - b if paired else None
    for name, seeds, x in (("a", seeds_a, a), ("b", seeds_b, b)):
        if seeds is not None and len(seeds) != x.shape[0]:
            raise ValueError(f"paired_hierarchical_bootstrap: seeds_{name} has {len(seeds)} labels for "
                             f"{x.shape[0]} rows")
    mean_a, mean_b = float(a.mean()), float(b.mean())
    point = mean_a - mean_b
    rng = np.random.default_rng(seed)
    if paired:
        w_s, w_p = _crossed_draws(seed, d.shape[0], n_problems, n_boot)
        reps = _crossed_replicates(d, rng, n_boot, w_s, w_p)
    else:
        w_p = _counts(rng, n_problems, n_boot)
        reps = (_replicate_means(ra, rng, n_boot, problem_w=w_p) - _replicate_means(rb, rng, n_boot, problem_w=w_p))
    lo, hi = _percentiles(reps, point, alpha)
    # Monte-Carlo p-value with the +1 correction (Davison & Hinkley 1997, eq. 4.11): never 0 from finitely many
    # replicates, at least 2 / (n_boot + 1)
    tail = min(int(np.sum(reps <= 0)), int(np.sum(reps >= 0)))
    p_boot = float(min(1.0, 2.0 * (tail + 1) / (n_boot + 1)))
    p_sign = n_pos = n_neg = p_t = df = None
    if paired and _binary(a) and _binary(b):
        n_pos, n_neg = int(np.sum(d > 0)), int(np.sum(d < 0))
        p_sign = sign_test(n_pos, n_neg)
    boot_low, boot_high = lo, hi
    if paired and d.shape[0] >= 2 and n_problems >= 2:
        p_t, df = seed_t_test(d)
        _, se, _ = _seed_t(d, "paired_hierarchical_bootstrap")
        lo, hi = _widen(lo, hi, point, se, df, alpha)
    elif not paired and a.shape[0] >= 2 and b.shape[0] >= 2:
        p_t, df = welch_seed_test(a.mean(axis=1), b.mean(axis=1))
        _, se, _ = _welch(a.mean(axis=1), b.mean(axis=1))
        lo, hi = _widen(lo, hi, point, se, df, alpha)
    if bounds is not None:
        span = (bounds[0] - mean_b, bounds[1] - mean_b) if reference else (bounds[0] - bounds[1], bounds[1] - bounds[0])
        lo, hi = _clip(lo, hi, span)
    p = max(x for x in (p_boot, p_sign, p_t) if x is not None)
    return HierDiff(diff=point, low=lo, high=hi, p_value=p, p_boot=p_boot, p_sign=p_sign, p_t=p_t, t_df=df,
                    n_pos=n_pos,
                    n_neg=n_neg, mean_a=mean_a, mean_b=mean_b, n_seeds_a=a.shape[0], n_seeds_b=b.shape[0],
                    paired_seeds=paired, n_problems=n_problems, n_boot=n_boot, level=1 - alpha,
                    boot_low=boot_low, boot_high=boot_high)


def sign_test(n_pos: int, n_neg: int) -> float:
    """Two-sided exact sign test: ``n_pos`` discordant pairs favour a, ``n_neg`` favour b; under no difference
    ``n_pos ~ Binomial(n, 1/2)`` with ``n = n_pos + n_neg``. Returns ``min(1, 2 P(X <= min(n_pos, n_neg)))``
    (exact integer sums; 1.0 when there is no discordant pair)."""
    for name, v in (("n_pos", n_pos), ("n_neg", n_neg)):
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"sign_test: {name} must be a count >= 0, got {v!r}")
    n = int(n_pos) + int(n_neg)
    if n == 0:
        return 1.0
    k = min(int(n_pos), int(n_neg))
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2 ** n)


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz; Abramowitz & Stegun
    26.5.8), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = a * math.log(x) + b * math.log1p(-x) - math.log(a) - (math.lgamma(a) + math.lgamma(b)
                                                                     - math.lgamma(a + b))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f


def t_two_sided(t: float, df: float) -> float:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom: ``I_{df/(df+t^2)}(df/2, 1/2)``."""
    if df <= 0:
        raise ValueError(f"t_two_sided: df must be > 0, got {df}")
    if not math.isfinite(t):
        return 0.0
    return min(1.0, _betainc(df / 2, 0.5, df / (df + t * t)))


def f_sf(f: float, d1: float, d2: float) -> float:
    """P(F >= f) for Fisher's F with (d1, d2) degrees of freedom: ``I_{d2/(d2 + d1 f)}(d2/2, d1/2)``."""
    if f <= 0:
        return 1.0
    return _betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * f))


POOL_LEVEL = 0.25   # seed and residual mean squares are pooled when their F-test is not significant at this level


def seed_t_test(diffs: Any) -> tuple[float, float]:
    """Seed-level t-test of a paired difference table ``D[s, p]`` (S >= 2 seeds, P >= 2 problems): returns
    (two-sided p, degrees of freedom).

    Under crossed random effects the mean's variance is ``s_a^2/S + s_b^2/P + s_e^2/(S P)``, estimated from the
    two-way ANOVA mean squares (E[MS_seed] = s_e^2 + P s_a^2, E[MS_problem] = s_e^2 + S s_b^2, E[MS_resid] = s_e^2)
    as the sum of a seed term and a problem term, each with its own degrees of freedom:

    * seed term ``T_s = MS_seed / (S P)`` with S - 1 df; or, when the seeds differ no more than the residual noise
      predicts (the F-test of MS_seed / MS_resid is not significant at the 0.25 level), the pooled
      ``(SS_seed + SS_resid) / (S - 1 + (S-1)(P-1)) / (S P)`` with the summed df: the "sometimes pool" rule of
      Bozivich, Bancroft & Hartley (1956, Ann. Math. Statist. 27(4)), whose liberal 0.25 level keeps the test's
      size near nominal. Never with 2 seeds: one degree of freedom cannot tell "no seed variance" from "two seeds
      that happened to agree" (pooling there rejected a true null 12% of the time in simulation);
    * problem term ``T_p = max(0, MS_problem - MS_resid) / (S P)`` with Satterthwaite's df
      ``(MS_problem - MS_resid)^2 / (MS_problem^2/(P-1) + MS_resid^2/((S-1)(P-1)))``.

    ``t = mean(D) / sqrt(T_s + T_p)`` with Satterthwaite's (1946) df ``(T_s + T_p)^2 / (T_s^2/df_s + T_p^2/df_p)``.
    When the seeds disagree the df fall to S - 1: with 2 seeds |t| must exceed 12.7 for p < 0.05. That is what two
    seeds can support, and what the bootstrap, resampling 2 seeds as if they were the population, cannot show."""
    mean, se, df = _seed_t(diffs, "seed_t_test")
    if se == 0:  # every cell equal: no variation at all
        return (1.0 if mean == 0 else 0.0), float("inf")
    return t_two_sided(mean / se, df), df


def _seed_t(table: Any, name: str) -> tuple[float, float, float]:
    """(grand mean, its standard error, Satterthwaite df) of a crossed seeds x problems table under crossed random
    effects: the estimate behind `seed_t_test` (its docstring has the formulas). se is 0 when every cell is equal."""
    rows = _seed_rows(table, name)
    if len({r.size for r in rows}) != 1:
        raise ValueError(f"{name}: every seed must be scored on the same problems")
    x = np.vstack(rows)
    s, p = x.shape
    if s < 2 or p < 2:
        raise ValueError(f"{name}: needs at least 2 seeds and 2 problems, got {s} x {p}")
    grand = float(x.mean())
    ss_seed = p * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_prob = s * float(np.sum((x.mean(axis=0) - grand) ** 2))
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ss_resid = float(np.sum(resid ** 2))
    df_seed, df_prob, df_resid = s - 1, p - 1, (s - 1) * (p - 1)
    ms_seed, ms_prob, ms_resid = ss_seed / df_seed, ss_prob / df_prob, ss_resid / df_resid
    if df_seed < 2 or ms_resid <= 0 or f_sf(ms_seed / ms_resid, df_seed, df_resid) <= POOL_LEVEL:
        t_seed, df_s = ms_seed / (s * p), float(df_seed)
    else:
        t_seed, df_s = (ss_seed + ss_resid) / (df_seed + df_resid) / (s * p), float(df_seed + df_resid)
    excess = ms_prob - ms_resid
    if excess > 0:
        t_prob = excess / (s * p)
        df_p = excess ** 2 / (ms_prob ** 2 / df_prob + ms_resid ** 2 / df_resid)
    else:
        t_prob, df_p = 0.0, float("inf")
    v = t_seed + t_prob
    if v <= 0:
        return grand, 0.0, float("inf")
    df = v ** 2 / (t_seed ** 2 / df_s + (t_prob ** 2 / df_p if t_prob > 0 else 0.0))
    return grand, math.sqrt(v), float(df)


def welch_seed_test(means_a: Any, means_b: Any) -> tuple[float, float]:
    """Welch's two-sample t-test of two arms trained on different seeds, on their per-seed mean scores: returns
    (two-sided p, degrees of freedom). ``t = (mean(a) - mean(b)) / sqrt(v_a/n_a + v_b/n_b)`` with the sample
    variances ``v``, and the Welch-Satterthwaite df ``(v_a/n_a + v_b/n_b)^2 / ((v_a/n_a)^2/(n_a-1) +
    (v_b/n_b)^2/(n_b-1))`` (Welch 1947, Biometrika 34). Each per-seed mean carries its seed's effect and its problem
    noise; the arms share the problems, which correlates their means positively, so leaving the pairing by problem
    out makes the test conservative, never liberal. Unpaired seeds are what the bootstrap handles worst: resampling
    3 seeds per arm as if they were the population, it called two sets of seeds of one objective different."""
    diff, se, df = _welch(means_a, means_b)
    if se == 0:
        return (1.0 if diff == 0 else 0.0), float("inf")
    return t_two_sided(diff / se, df), df


def _welch(means_a: Any, means_b: Any) -> tuple[float, float, float]:
    """(difference of means, its Welch standard error, Welch-Satterthwaite df): `welch_seed_test`'s estimate."""
    a = np.asarray(means_a, dtype=np.float64).reshape(-1)
    b = np.asarray(means_b, dtype=np.float64).reshape(-1)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"welch_seed_test: needs at least 2 seeds per arm, got {a.size} and {b.size}")
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb <= 0:
        return diff, 0.0, float("inf")
    df = (va + vb) ** 2 / ((va ** 2 / (a.size - 1) if va > 0 else 0.0) + (vb ** 2 / (b.size - 1) if vb > 0 else 0.0))
    return diff, math.sqrt(va + vb), float(df)


def t_critical(alpha: float, df: float) -> float:
    """The two-sided critical value q of Student's t: ``t_two_sided(q, df) = alpha`` (the normal quantile for infinite
    df), by bisection on the exact tail. E.g. 12.706 at df 1, 2.228 at df 10, 1.960 at df inf (alpha 0.05)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"t_critical: alpha must lie in (0, 1), got {alpha}")
    if df <= 0:
        raise ValueError(f"t_critical: df must be > 0, got {df}")
    if math.isinf(df):
        return NormalDist().inv_cdf(1.0 - alpha / 2.0)
    lo, hi = 0.0, 1.0
    while t_two_sided(hi, df) > alpha:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_two_sided(mid, df) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return hi


def _check_bounds(rows: list[np.ndarray], bounds: tuple[float, float] | None, name: str) -> None:
    if bounds is None:
        return
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"{name}: bounds must be (low, high) with low < high, got {bounds}")
    if any(float(r.min()) < lo or float(r.max()) > hi for r in rows):
        raise ValueError(f"{name}: scores lie outside the bounds {bounds} they were declared to have")


def _clip(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """An interval cut to the range its parameter can take (this keeps its coverage: the parameter lies in it)."""
    if bounds is None:
        return low, high
    return max(low, bounds[0]), min(high, bounds[1])


def _widen(low: float, high: float, center: float, se: float, df: float, alpha: float) -> tuple[float, float]:
    """The union of a bootstrap interval and the t interval ``center +- t_critical(alpha, df) se``."""
    if se <= 0:
        return low, high
    half = t_critical(alpha, df) * se
    return min(low, center - half), max(high, center + half)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order: with the m p-values sorted ascending,
    ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))``. Reject H_i at family-wise level alpha iff
    ``p_adj_i <= alpha``."""
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError(f"holm: p-values must lie in [0, 1], got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def verdict(diff: float, p_adjusted: float, alpha: float = 0.05, a: str = "A", b: str = "B") -> str:
    """"a > b" / "a < b" where the (adjusted) p-value is at most alpha, else "indistinguishable"."""
    if p_adjusted <= alpha and diff > 0:
        return f"{a} > {b}"
    if p_adjusted <= alpha and diff < 0:
        return f"{a} < {b}"
    return "indistinguishable"


def holm_verdicts(diffs: Sequence[HierDiff], names: Sequence[tuple[str, str]], alpha: float = 0.05
                  ) -> list[tuple[str, float]]:
    """Verdict and Holm-adjusted p-value of each comparison of one table (``names[i] = (a, b)`` of diffs[i]);
    the family is every comparison passed."""
    if len(diffs) != len(names):
        raise ValueError(f"holm_verdicts: {len(diffs)} comparisons but {len(names)} name pairs")
    adjusted = holm([d.p_value for d in diffs])
    return [(verdict(d.diff, float(p), alpha, a, b), float(p)) for d, (a, b), p in zip(diffs, names, adjusted)]


def variance_components(scores: Any) -> VarianceComponents:
    """ANOVA estimates of the seed, problem and residual variances of a crossed seeds x problems table (one value
    per cell; the mean squares in docs/benchmarks.md). Needs at least 2 seeds and 2 problems."""
    rows = _seed_rows(scores, "variance_components")
    if len({r.size for r in rows}) != 1:
        raise ValueError("variance_components: every seed must be scored on the same problems (a crossed table)")
    x = np.vstack(rows)
    s, p = x.shape
    if s < 2 or p < 2:
        raise ValueError(f"variance_components: needs at least 2 seeds and 2 problems, got {s} x {p} (with one seed "
                         f"the seed variance cannot be estimated)")
    grand = x.mean()
    seed_means, prob_means = x.mean(axis=1), x.mean(axis=0)
    ms_seed = p * np.sum((seed_means - grand) ** 2) / (s - 1)
    ms_prob = s * np.sum((prob_means - grand) ** 2) / (p - 1)
    resid = x - seed_means[:, None] - prob_means[None, :] + grand
    ms_resid = np.sum(resid ** 2) / ((s - 1) * (p - 1))
    return VarianceComponents(seed=float(max(0.0, (ms_seed - ms_resid) / p)),
                              problem=float(max(0.0, (ms_prob - ms_resid) / s)), resid=float(ms_resid),
                              n_seeds=s, n_problems=p)


def _multiplier(alpha: float, power: float) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"minimum_detectable_difference: alpha and power must lie in (0, 1), got {alpha}, {power}")
    z = NormalDist()
    return z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)


def minimum_detectable_difference(components: VarianceComponents, n_seeds: int | None = None,
                                  n_problems: int | None = None, alpha: float = 0.05, power: float = 0.8) -> float:
    """Bloom's (1995) minimum detectable difference ``(z_{1-alpha/2} + z_power) * SE`` with SE from the variance
    components of a paired difference table at ``n_seeds`` seeds and ``n_problems`` problems (default: the
    table's). 2.80 standard errors at alpha = 0.05 two-sided and 80% power."""
    return _multiplier(alpha, power) * components.se(n_seeds, n_problems)


def seeds_for_difference(components: VarianceComponents, target: float, n_problems: int | None = None,
                         alpha: float = 0.05, power: float = 0.8, max_seeds: int = 10_000) -> int | None:
    """The fewest seeds per arm whose minimum detectable difference is at most ``target`` (same problems); None
    when the problem term alone exceeds it (more seeds cannot get there) or it needs more than ``max_seeds``."""
    if target <= 0:
        raise ValueError(f"seeds_for_difference: target must be > 0, got {target}")
    p = components.n_problems if n_problems is None else n_problems
    m = _multiplier(alpha, power)
    if m * math.sqrt(components.problem / p) >= target:
        return None
    for s in range(1, max_seeds + 1):
        if m * components.se(s, p) <= target:
            return s
    return None
