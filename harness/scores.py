"""Scores of one evaluation: pass@k, avg@k, maj@k and bootstrap intervals over problems (pure functions, numpy only).

`harness.evaluate` computes a benchmark's scores with them; the statistics over seeds that compare objectives are in
`harness.leaderboard.stats`. Definitions (n samples drawn for a problem, c of them correct; docs/benchmarks.md,
"Statistics"):

* ``pass@k`` (unbiased, Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): the probability that
  at least one of k samples drawn *without replacement* from the n is correct,
  ``1 - C(n-c, k) / C(n, k)``. It is computed as the product ``prod_{i=n-c+1}^{n} (1 - k/i)`` which never forms a
  binomial coefficient, so it is exact-enough in float64 for any n (no overflow, no cancellation). Benchmark pass@k
  is the mean over problems.
* ``avg@k``: the mean correctness of the k samples of a problem (c/k), averaged over problems. It is the unbiased
  estimate of pass@1 from k samples.
* ``maj@k``: majority vote over the extracted answers of the first k samples of a problem. Answers that are None
  (nothing could be extracted) do not vote. Answers are grouped by a caller-supplied canonical ``key`` (answers with
  equal keys are the same answer) or by a pairwise ``equiv`` predicate (an answer joins the first earlier group whose
  first answer it is equivalent to). The group with the most votes wins; **ties are broken by the earliest sample**:
  among the tied groups, the one whose first member has the smallest sample index wins. The problem counts as solved
  when the winning group's first sample is correct. A problem where no sample has an answer is not solved.
* Bootstrap interval over problems: resample the problems with replacement ``n_boot`` times (numpy
  ``default_rng(seed)``), take the mean of each resample, and report the ``alpha/2`` and ``1 - alpha/2`` percentiles
  (percentile bootstrap). Samples within a problem are not resampled: the interval reflects which problems a
  benchmark happens to contain.
* Paired bootstrap: two systems scored on the same problems; the same resampled problem indices are used for both,
  and the statistic is the difference of means (a - b). Reported with its percentile interval and a two-sided
  bootstrap p-value ``min(1, 2 * min(P(d <= 0), P(d >= 0)))`` over the resampled differences.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Hashable, Sequence

import numpy as np

__all__ = [
    "pass_at_k", "pass_at_k_per_problem", "mean_pass_at_k", "avg_at_k", "majority_vote", "maj_at_k",
    "Interval", "PairedInterval", "bootstrap_ci", "paired_bootstrap", "summarize", "check_boot",
]


def _check_nck(n: int, c: int, k: int) -> None:
    if not (isinstance(n, (int, np.integer)) and isinstance(c, (int, np.integer)) and isinstance(k, (int, np.integer))):
        raise TypeError(f"pass_at_k needs integers n, c, k; got n={n!r}, c={c!r}, k={k!r}")
    if n < 1:
        raise ValueError(f"pass_at_k: n (samples per problem) must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: c (correct samples) must be in [0, n={n}], got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: k must be in [1, n={n}] (k samples are drawn from the n generated), got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples of which ``c`` are correct: 1 - C(n-c,k)/C(n,k)."""
    _check_nck(n, c, k)
    if n - c < k:  # every size-k subset contains a correct sample
        return 1.0
    # C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i)
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / i))


def pass_at_k_per_problem(ns: Sequence[int], cs: Sequence[int], k: int) -> np.ndarray:
    """pass@k for each problem (``ns[i]`` samples, ``cs[i]`` correct). Returns a float64 array."""
    if len(ns) != len(cs):
        raise ValueError(f"pass_at_k_per_problem: ns and cs differ in length ({len(ns)} != {len(cs)})")
    return np.array([pass_at_k(int(n), int(c), k) for n, c in zip(ns, cs)], dtype=np.float64)


def _as_rows(correct: Sequence[Sequence[bool]], name: str) -> list[np.ndarray]:
    rows = [np.asarray(r, dtype=bool).reshape(-1) for r in correct]
    if not rows:
        raise ValueError(f"{name}: no problems given (need one list of per-sample verdicts per problem)")
    for i, r in enumerate(rows):
        if r.size == 0:
            raise ValueError(f"{name}: problem {i} has no samples")
    return rows


def mean_pass_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
    """Benchmark pass@k: the mean over problems of the unbiased per-problem estimate.

    ``correct[i]`` is the list of per-sample verdicts of problem i (any length n_i >= k).
    """
    rows = _as_rows(correct, "mean_pass_at_k")
    return float(np.mean([pass_at_k(int(r.size), int(r.sum()), k) for r in rows]))


def avg_at_k(correct: Sequence[Sequence[bool]], k: int | None = None) -> float:
    """avg@k: mean over problems of the fraction of correct samples among the first ``k`` (all when k is None)."""
    rows = _as_rows(correct, "avg_at_k")
    out = []
    for i, r in enumerate(rows):
        if k is not None:
            if not 1 <= k <= r.size:
                raise ValueError(f"avg_at_k: k={k} but problem {i} has only {r.size} samples")
            r = r[:k]
        out.append(r.mean())
    return float(np.mean(out))


def majority_vote(answers: Sequence[Any], key: Callable[[Any], Hashable] | None = None,
                  equiv: Callable[[Any, Any], bool] | None = None) -> tuple[int | None, int]:
    """Majority vote over one problem's extracted answers.

    Returns ``(index, votes)``: the sample index of the first member of the winning group (the representative whose
    verdict decides maj@k) and the size of that group; ``(None, 0)`` when every answer is None.
    Grouping: by ``key(answer)`` (default: the answer itself, stripped when it is a string) or, when ``equiv`` is
    given, greedily by ``equiv(representative, answer)`` in sample order. Ties: the group whose first member comes
    earliest wins (deterministic, independent of hash order).
    """
    if key is not None and equiv is not None:
        raise ValueError("majority_vote: pass either key= (canonical form) or equiv= (pairwise test), not both")
    if key is None:
        key = lambda a: a.strip() if isinstance(a, str) else a  # noqa: E731
    firsts: list[int] = []    # first sample index of each group, in order of creation (= increasing)
    counts: list[int] = []
    if equiv is None:
        by_key: dict[Hashable, int] = {}
        for i, a in enumerate(answers):
            if a is None:
                continue
            g = by_key.setdefault(key(a), len(firsts))
            if g == len(firsts):
                firsts.append(i)
                counts.append(0)
            counts[g] += 1
    else:
        for i, a in enumerate(answers):
            if a is None:
                continue
            for g, first in enumerate(firsts):
                if equiv(answers[first], a):
                    counts[g] += 1
                    break
            else:
                firsts.append(i)
                counts.append(1)
    if not firsts:
        return None, 0
    best = max(range(len(firsts)), key=lambda g: (counts[g], -firsts[g]))
    return firsts[best], counts[best]


def maj_at_k(answers: Sequence[Sequence[Any]], correct: Sequence[Sequence[bool]], k: int | None = None,
             key: Callable[[Any], Hashable] | None = None, equiv: Callable[[Any, Any], bool] | None = None) -> float:
    """maj@k over problems: the fraction of problems whose majority answer (first ``k`` samples) is correct.

    ``answers[i][j]`` is the extracted answer (or None) of sample j of problem i and ``correct[i][j]`` its verdict.
    """
    if len(answers) != len(correct):
        raise ValueError(f"maj_at_k: answers and correct differ in number of problems ({len(answers)} != {len(correct)})")
    if not answers:
        raise ValueError("maj_at_k: no problems given")
    solved = []
    for i, (ans, cor) in enumerate(zip(answers, correct)):
        if len(ans) != len(cor):
            raise ValueError(f"maj_at_k: problem {i} has {len(ans)} answers but {len(cor)} verdicts")
        if k is not None:
            if not 1 <= k <= len(ans):
                raise ValueError(f"maj_at_k: k={k} but problem {i} has only {len(ans)} samples")
            ans, cor = ans[:k], cor[:k]
        idx, _ = majority_vote(ans, key=key, equiv=equiv)
        solved.append(bool(cor[idx]) if idx is not None else False)
    return float(np.mean(solved))


@dataclass(frozen=True)
class Interval:
    """A mean with its percentile-bootstrap interval over problems."""
    mean: float
    low: float
    high: float
    n: int           # number of problems
    n_boot: int
    level: float     # e.g. 0.95

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedInterval:
    """Difference of means (a - b) over the same problems with its paired-bootstrap interval and p-value."""
    diff: float
    low: float
    high: float
    p_value: float
    mean_a: float
    mean_b: float
    n: int
    n_boot: int
    level: float

    def as_dict(self) -> dict:
        return asdict(self)


def _scores(x: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{name}: no per-problem scores given")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: per-problem scores contain NaN or inf")
    return a


def check_boot(n_boot: int, alpha: float, name: str) -> None:
    """ValueError (naming the caller `name`) unless n_boot >= 1 and 0 < alpha < 1."""
    if n_boot < 1:
        raise ValueError(f"{name}: n_boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"{name}: alpha must be in (0, 1) (0.05 gives a 95% interval), got {alpha}")


def _resampled_means(scores: np.ndarray, idx_rng: np.random.Generator, n_boot: int,
                     others: Sequence[np.ndarray] = (), chunk: int = 256) -> list[np.ndarray]:
    """Means of ``n_boot`` resamples (same indices for ``scores`` and each of ``others``), in chunks."""
    n = scores.size
    outs = [np.empty(n_boot) for _ in range(1 + len(others))]
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = idx_rng.integers(0, n, size=(b, n))
        for out, arr in zip(outs, (scores, *others)):
            out[start:start + b] = arr[idx].mean(axis=1)
    return outs


def bootstrap_ci(scores: Sequence[float], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of the mean of per-problem ``scores`` (e.g. per-problem avg@k or pass@k)."""
    check_boot(n_boot, alpha, "bootstrap_ci")
    a = _scores(scores, "bootstrap_ci")
    (means,) = _resampled_means(a, np.random.default_rng(seed), n_boot)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    m = float(a.mean())
    # the percentile interval of a mean always brackets it up to float rounding; make that exact
    return Interval(mean=m, low=min(float(lo), m), high=max(float(hi), m), n=int(a.size), n_boot=n_boot,
                    level=1 - alpha)


def paired_bootstrap(scores_a: Sequence[float], scores_b: Sequence[float], n_boot: int = 1000, alpha: float = 0.05,
                     seed: int = 0) -> PairedInterval:
    """Paired bootstrap of mean(a) - mean(b) where ``scores_a[i]`` and ``scores_b[i]`` are the same problem."""
    check_boot(n_boot, alpha, "paired_bootstrap")
    a = _scores(scores_a, "paired_bootstrap (a)")
    b = _scores(scores_b, "paired_bootstrap (b)")
    if a.size != b.size:
        raise ValueError(f"paired_bootstrap: both systems must be scored on the same problems; got {a.size} and "
                         f"{b.size} scores")
    (diffs,) = _resampled_means(a - b, np.random.default_rng(seed), n_boot)
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    d = float(a.mean() - b.mean())
    p = float(min(1.0, 2.0 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))))
    return PairedInterval(diff=d, low=min(float(lo), d), high=max(float(hi), d), p_value=p, mean_a=float(a.mean()),
                          mean_b=float(b.mean()), n=int(a.size), n_boot=n_boot, level=1 - alpha)


def summarize(correct: Sequence[Sequence[bool]], answers: Sequence[Sequence[Any]] | None = None,
              ks: Sequence[int] | None = None, key: Callable[[Any], Hashable] | None = None,
              n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """All the per-benchmark figures from per-sample verdicts (and extracted answers for maj@k).

    Returns ``{"n_problems", "n_samples", "avg@K", "avg@K_ci": Interval dict, "pass@k" for each k in ks,
    "pass@k_ci", "maj@K"}`` where K is the smallest number of samples any problem has.
    """
    rows = _as_rows(correct, "summarize")
    big_k = min(r.size for r in rows)
    ks = sorted(set(ks)) if ks else sorted({1, big_k})
    for k in ks:
        if not 1 <= k <= big_k:
            raise ValueError(f"summarize: k={k} is not in [1, {big_k}] (the fewest samples any problem has)")
    out: dict[str, Any] = {"n_problems": len(rows), "n_samples": int(sum(r.size for r in rows))}
    per_avg = np.array([r[:big_k].mean() for r in rows])
    out[f"avg@{big_k}"] = float(per_avg.mean())
    out[f"avg@{big_k}_ci"] = bootstrap_ci(per_avg, n_boot, alpha, seed).as_dict()
    for k in ks:
        per = np.array([pass_at_k(int(r.size), int(r.sum()), k) for r in rows])
        out[f"pass@{k}"] = float(per.mean())
        out[f"pass@{k}_ci"] = bootstrap_ci(per, n_boot, alpha, seed).as_dict()
    if answers is not None:
        out[f"maj@{big_k}"] = maj_at_k(answers, [list(r) for r in rows], k=big_k, key=key)
    return out
