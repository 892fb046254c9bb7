"""Bounds on what checking answers may cost: time limits, response size, expensive short forms, batch deadlines.

A policy in training is rewarded for whatever it writes, so the checker's cost must not depend on it without bound.
Four bounds, each reported as a counted reason (``rewards.reason_counts()``, ``verdict_reasons`` of an evaluation),
never raised into a training run:

* **Time limits are validated** (:func:`check_timeout`): a finite number of seconds in (0, ``MAX_TIMEOUT_S``];
  ``inf`` or ``nan`` would otherwise overflow the wait or kill every worker, so every check scored wrong.
* **Response size** (:func:`screen`): extraction is linear-time string work in the calling process, measured at
  about 0.08 s per MB for the worst case found, a response made of many ``\\boxed{}`` answers (1 MB 0.08 s, 4 MB
  0.33 s, 14 MB 1.07 s on the shared 2-core machine). A response longer than ``MAX_RESPONSE_CHARS`` (4,000,000
  characters, about a million tokens) is not extracted: it is wrong with the reason ``response_too_long``. A gold answer given as a numpy scalar (``np.int64(5)``) is taken as the Python number.
* **Expensive short forms** (:func:`costly_answer`, run in the checker worker after parsing and before any
  simplification): an answer whose full expansion has more than ``MAX_EXPANDED_TERMS`` terms is wrong with the reason
  ``too_costly`` (``gold_too_costly`` for a gold answer). The estimate, for a polynomial built from sums, products
  and integer powers (Add, Mul, Pow, binomial with an integer argument):

      terms(a + b) = terms(a) + terms(b)        terms(a * b) = terms(a) * terms(b)
      terms(s ** n) = C(n + t - 1, t - 1)       with t = terms(s): the monomials of degree n in t summands
      terms(binomial(s, k)) = C(k + t, t)       a polynomial of degree k in s (its falling factorial)

  capped by C(d + v, v), the number of monomials of degree <= d in v variables (d: the degree, v: the free
  symbols). ``(x+y+z+w)^{999}`` is about 1.7e8 terms and is refused; ``(x+1)^{100}`` (101 terms) is checked.
  The limit of 500 terms comes from measured check times on the 2-core development machine: about 4 ms per
  expanded term against a gold of ``3`` (``(x+y)^{300}`` 1.5 s, ``(x+y+z)^{30}`` (496 terms) 2.3 s,
  ``(x+y+z+w)^{20}`` (1771 terms) 8.9 s, ``(x+y)^{5000}`` 50 s), so what is refused would otherwise run into the
  5 s per-check timeout.
* **Batch deadline** (:func:`batch_deadline`): a batch of n answers sent to the worker pool must finish within
  ``BATCH_BASE_S + BATCH_PER_CHECK_S * n`` seconds (10 s + 0.25 s per answer: 26 s for a 64-response training
  step; environment variables ``RLVR_ZOO_BATCH_DEADLINE_BASE_S`` and ``RLVR_ZOO_BATCH_DEADLINE_PER_CHECK_S``).
  Answers not checked by then are wrong with the reason ``timeout: batch deadline``. The correctness reward
  (``batch_timeout``) and ``harness.evaluate`` use it; the reward warns with the count when it happens.
"""
from __future__ import annotations

import math
import numbers
import os

__all__ = ["check_timeout", "batch_deadline", "screen", "gold_value", "costly_answer", "estimated_terms",
           "MAX_TIMEOUT_S", "MAX_RESPONSE_CHARS", "MAX_EXPANDED_TERMS", "BATCH_TIMEOUT_REASON"]

MAX_TIMEOUT_S = 3600.0
MAX_RESPONSE_CHARS = 4_000_000
MAX_EXPANDED_TERMS = 500
BATCH_TIMEOUT_REASON = "timeout: batch deadline"


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return check_timeout(float(raw), name)
    except ValueError as exc:
        raise ValueError(f"environment variable {exc}") from None


def np_bool_types() -> tuple:
    """numpy's bool type when numpy is loaded (it is a numbers.Real look-alike that must not pass as seconds)."""
    import sys

    np = sys.modules.get("numpy")
    return (np.bool_,) if np is not None else ()


def check_timeout(value, name: str = "timeout", cap: float = MAX_TIMEOUT_S) -> float:
    """``value`` as float seconds; ValueError unless it is a finite number in (0, cap] (numpy numbers accepted)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np_bool_types()))
    seconds = float(value) if ok else math.nan
    if not ok or not math.isfinite(seconds) or seconds <= 0 or seconds > cap:
        raise ValueError(f"{name} must be a finite number of seconds in (0, {cap:g}], got {value!r}")
    return seconds


def batch_deadline(n_checks: int, base: float | None = None, per_check: float | None = None) -> float:
    """Seconds a batch of ``n_checks`` answers may take in the worker pool: base + per_check * n_checks."""
    base = _env_seconds("RLVR_ZOO_BATCH_DEADLINE_BASE_S", 10.0) if base is None else check_timeout(base, "base")
    per = (_env_seconds("RLVR_ZOO_BATCH_DEADLINE_PER_CHECK_S", 0.25) if per_check is None
           else check_timeout(per_check, "per_check"))
    return base + per * max(0, int(n_checks))


def gold_value(gold):
    """A numpy scalar gold (``np.int64(5)``, ``np.float32(0.5)``) as the Python number; anything else unchanged."""
    if type(gold).__module__ == "numpy" and hasattr(gold, "item") and getattr(gold, "ndim", None) == 0:
        value = gold.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return gold


def screen(gold, response):
    """(gold, response, refusal): the gold as a plain value, and a refusal reason (None: go on) for a response too
    long to extract an answer from within the time limits."""
    gold = gold_value(gold)
    if isinstance(response, str) and len(response) > MAX_RESPONSE_CHARS:
        return gold, response, f"response_too_long: {len(response)} characters (limit {MAX_RESPONSE_CHARS})"
    return gold, response, None


# ------------------------------------------------------------------------------------------------------------------
# expanded size of an answer tree


def _log_comb(n: float, k: float) -> float:
    """log C(n, k) for real n >= k >= 0."""
    if k <= 0 or n <= k:
        return 0.0
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _logaddexp(values) -> float:
    values = list(values)
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


class _Estimator:
    """log(terms) and degree of each node of a sympy expression, memoised (expressions are DAGs)."""

    def __init__(self):
        self.memo: dict = {}
        self.worst = 0.0

    def visit(self, e) -> tuple[float, float]:
        import sympy

        if e in self.memo:
            return self.memo[e]
        log_t, deg = 0.0, 0.0
        if isinstance(e, sympy.Symbol):
            deg = 1.0
        elif e.is_Atom or not e.args:
            pass
        elif isinstance(e, sympy.Add):
            parts = [self.visit(a) for a in e.args]
            log_t, deg = _logaddexp(p[0] for p in parts), max(p[1] for p in parts)
        elif isinstance(e, sympy.Mul):
            parts = [self.visit(a) for a in e.args]
            log_t, deg = sum(p[0] for p in parts), sum(p[1] for p in parts)
        elif isinstance(e, sympy.Pow):
            base_t, base_d = self.visit(e.base)
            self.visit(e.exp)
            if e.exp.is_Integer and abs(int(e.exp)) >= 2:
                n = float(abs(int(e.exp)))
                t = math.exp(min(base_t, 700.0))
                log_t, deg = _log_comb(n + t - 1, t - 1), n * base_d
            else:
                log_t, deg = base_t, base_d
        elif isinstance(e, sympy.binomial):
            top_t, top_d = self.visit(e.args[0])
            self.visit(e.args[1])
            ks = [a for a in (e.args[1], e.args[0] - e.args[1]) if a.is_Integer and int(a) >= 0]
            if ks and e.args[0].free_symbols:
                k = float(min(int(a) for a in ks))
                t = math.exp(min(top_t, 700.0))
                log_t, deg = _log_comb(k + t, t), k * max(top_d, 1.0)
        else:  # functions and other heads: one term here; their arguments are estimated on their own
            for a in e.args:
                self.visit(a)
        if deg > 0 and log_t > 0:
            v = max(1, len(e.free_symbols))
            log_t = min(log_t, _log_comb(deg + v, v))
        self.worst = max(self.worst, log_t)
        self.memo[e] = (log_t, deg)
        return log_t, deg


def estimated_terms(value) -> float:
    """The largest estimated number of terms of a full expansion over every sympy expression in ``value`` (a sympy
    expression, or a parsed answer tree of rewards.parse: Seq, Rel, MatrixNode, nested)."""
    est = _Estimator()
    stack = [value]
    while stack:
        v = stack.pop()
        if v is None:
            continue
        items = getattr(v, "items", None) or getattr(v, "parts", None) or getattr(v, "rows", None)
        if isinstance(v, (tuple, list)):
            stack.extend(v)
        elif items is not None and not callable(items):
            stack.extend(items)
        elif hasattr(v, "free_symbols") and hasattr(v, "args"):
            est.visit(v)
    return math.exp(min(est.worst, 700.0))


def costly_answer(text: str, limit: int = MAX_EXPANDED_TERMS) -> str | None:
    """Why checking the answer ``text`` would be too expensive (its estimated expansion exceeds ``limit`` terms), or
    None. Text that does not parse is None here: the comparison reports it."""
    from rewards.parse import ParseError, parse_answer

    try:
        parsed = parse_answer(text)
    except (ParseError, ValueError, RecursionError, MemoryError):
        return None
    if parsed.is_text:
        return None
    terms = estimated_terms(parsed.value)
    if terms > limit:
        return f"its expansion would have about {terms:.2g} terms (limit {limit})"
    return None
