"""Equivalence of a gold answer and a predicted answer (both strings), on sympy.

Runs inside a checker worker process (``rewards.pool``) because symbolic simplification has no time bound of its
own; it never evaluates text (parsing is ``rewards.parse``).

Rules, in order (``Options`` holds the switches):

* Normalised strings equal -> equal (after ``rewards.parse.normalize``).
* Text answers (words such as ``\\text{Evelyn}`` or ``even``) compare as lower-case strings.
* Numbers: exact rationals compare exactly (``1/2004!`` and ``1/2006!`` differ, although both are 0.0 as floats).
  Irrational values compare at 60 significant digits (mpmath, unbounded exponent) with a relative tolerance of
  1e-40. Decimals follow the rounding rule of ``rewards.numeric``: a decimal of at least 6 significant digits
  equals the exact value it rounds or truncates (``0.333333`` is ``1/3``, ``0.333`` is not), on either side; two
  decimals are equal only in value (a gold ``4.5e33`` is not ``4.54e33`` unless ``rounded_gold_decimals``).
* Expressions with symbols: ``expand(g - p) == 0``, otherwise agreement at ``numeric_points`` random points
  (relative tolerance 1e-30 at 60 digits; exact rational points), falling back to ``simplify(g - p) == 0`` when no point evaluates to a finite real.
* Equations ``lhs = rhs``: the same equation up to side order and a non-zero constant factor (``y = 2x + 1`` equals
  ``2x - y + 1 = 0``); a different right side is a different equation. Inequalities: same direction after moving
  everything to one side, up to a positive factor.
* Approximations: a chain is cut at its first ``\\approx`` (``x = 5 + 6 = 12 \\approx 11`` states ``x = 12``); a
  decimal gold also accepts the approximation when the exact value rounds to it (``_split_approximation``).
* Clock times ``12:00`` (a part written ``0d``) compare part by part, not as ratios.
* Containers: ``(a, b)`` and ``[a, b)`` are ordered and their brackets must agree (open and closed intervals
  differ); sets ``\\{...\\}``, ``a \\pm b`` and bare lists ``a, b`` are unordered (a gold of distinct items is a
  set, so a repeated predicted item counts once; a gold with a repeat is a multiset); matrices elementwise.
  A bare list and a set with the same elements are equal. An interval equals the one-variable inequality that
  describes it (``(-\\infty, 3)`` and ``x < 3``; ``[1, 2)`` and ``1 \\le x < 2``). Ratios ``a : b`` compare by
  cross-multiplication.

Deliberate asymmetries (the gold is trusted, the prediction is not):

* ``x = 5`` predicted for gold ``5`` is accepted when the left side is a single symbol (a label); gold ``x = 5``
  accepts a bare ``5`` only when its own left side is a single symbol. A predicted chain ``x = 2 + 3 = 5`` needs
  every part after the label to equal the gold.
* A prediction with several values (``1, 2``; ``\\pm 2021``; ``1 or 2``) never equals a single gold value.
* A predicted decimal may approximate an exact gold, and an exact prediction a decimal gold, by the same rule of
  ``rewards.numeric`` (at least 6 significant digits, rounded or truncated).
* Percent: by default the % sign is dropped on both sides (``10\\%`` = ``10``). With ``percent_fraction=True`` a
  gold percent also accepts the fraction (``10\\%`` = ``0.1``) and a gold fraction accepts a percent.
* Predicted answers that fail to parse are wrong; a gold answer that fails to parse falls back to string
  comparison after normalisation.
"""
from __future__ import annotations

import random
import re
from fractions import Fraction

import mpmath
import sympy

from rewards.numeric import rounding_match
from rewards.options import DEFAULT_OPTIONS, Options
from rewards.normalize import decimal_comma_reading, drop_trig_degrees, has_trig_degrees
from rewards.parse import (APPROX, LIMITS, Limits, MatrixNode, Parsed, ParseError, Rel, Seq, TooLarge, normalize,
                           parse_answer)

__all__ = ["Options", "answers_equal", "compare"]




class _Ctx:
    def __init__(self, gold: Parsed, pred: Parsed, opts: Options):
        self.gold = gold
        self.pred = pred
        self.opts = opts
        self.rng = random.Random(opts.seed)


_PREC = 60


def _is_scalar(v) -> bool:
    return isinstance(v, sympy.Basic)


def _mpf(x):
    if isinstance(x, sympy.Float):
        if x._prec <= 1:
            # evalf could not tell this from zero (a cancellation such as sin(1)^2 + cos(1)^2 - 1 gives 0.e-190)
            return mpmath.mpf(0)
        return mpmath.mpf(x._mpf_)
    return mpmath.mpf(sympy.Float(x, _PREC)._mpf_)


def _as_number(x):
    """An mpmath complex (60 digits, unbounded exponent) for a symbol-free expression, or None."""
    try:
        v = sympy.N(x, _PREC)
        if v.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or not v.is_number:
            return None
        re_, im_ = v.as_real_imag()
        with mpmath.workdps(_PREC):  # mpmath numbers keep the precision they were made with
            out = mpmath.mpc(_mpf(re_), _mpf(im_))
    except Exception:  # noqa: BLE001 - sympy raises many kinds of errors on odd inputs
        return None
    if not mpmath.isfinite(out):
        return None
    return out


def _close(a, b, rel) -> bool:
    """|a - b| <= rel * max(|a|, |b|) for mpmath numbers (no overflow at 10^400, no incomparable zeros)."""
    with mpmath.workdps(_PREC):
        d = abs(a - b)
        scale = max(abs(a), abs(b))
        if scale == 0:
            return True
        return bool(d <= mpmath.mpf(rel) * scale)


def _literal_for(x, literals):
    """The decimal literal that wrote the number ``x``: the only one of the answer, or, in a container such as
    ``(0.6, 2.6667]``, the one whose value is ``x`` (so each entry keeps its own precision)."""
    if len(literals) == 1:
        return literals[0]
    if isinstance(x, sympy.Rational) and literals:
        v = abs(Fraction(int(x.p), int(x.q)))
        for lit in literals:
            if lit.value == v:
                return lit
    return None


def _numbers_equal(g, p, ctx: _Ctx, pred_decimal: bool) -> bool:
    if g == p:
        return True
    if g.is_infinite or p.is_infinite or g.has(sympy.zoo, sympy.nan) or p.has(sympy.zoo, sympy.nan):
        return bool(g == p)
    gold_lit = _literal_for(g, ctx.gold.decimals)
    pred_lit = _literal_for(p, ctx.pred.decimals)
    if isinstance(g, sympy.Rational) and isinstance(p, sympy.Rational):
        if gold_lit is None and pred_lit is None:
            return False  # both exact and different
        gf, pf = Fraction(int(g.p), int(g.q)), Fraction(int(p.p), int(p.q))
        return rounding_match(gf, pf, gold_lit, pred_lit, ctx.opts.min_sig_digits, ctx.opts.rounded_gold_decimals)
    gv = _as_number(g)
    pv = _as_number(p)
    if gv is None or pv is None:
        return False
    if _close(gv.real, pv.real, "1e-40") and _close(gv.imag, pv.imag, "1e-40"):
        return True  # irrational values that agree to 40 significant digits
    if gv.imag == 0 and pv.imag == 0:
        with mpmath.workdps(_PREC):
            return rounding_match(gv.real, pv.real, gold_lit, pred_lit, ctx.opts.min_sig_digits,
                                  ctx.opts.rounded_gold_decimals)
    return False


def _random_point(symbols, rng: random.Random, kind: int):
    out = {}
    for s in symbols:
        if kind == 0:
            out[s] = sympy.Rational(rng.randint(11, 97), rng.randint(7, 31))  # positive, avoids branch cuts
        else:
            out[s] = sympy.Rational(rng.randint(-97, 97), rng.randint(7, 31))
    return out


def _expr_equal(g, p, ctx: _Ctx, pred_decimal: bool = False) -> bool:
    if g == p:
        return True
    syms = g.free_symbols | p.free_symbols
    if not syms:
        return _numbers_equal(g, p, ctx, pred_decimal)
    if g.free_symbols != p.free_symbols:
        # different variables can still agree if one cancels (x - x + y); check numerically below
        pass
    diff = g - p
    try:
        if sympy.expand(diff) == 0:
            return True
    except Exception:  # noqa: BLE001
        pass
    rel = ctx.opts.rel_tol_expr
    pred_lit = ctx.pred.decimals[0] if len(ctx.pred.decimals) == 1 else None
    if pred_lit is not None and pred_lit.sig >= ctx.opts.min_sig_digits:
        rel = max(rel, 2 * float(pred_lit.rel_half_ulp))  # 0.333333 x for x/3: rounded or truncated, as numbers
    syms = sorted(syms, key=lambda s: s.name)
    valid = 0
    for attempt in range(ctx.opts.numeric_points * 4):
        pt = _random_point(syms, ctx.rng, attempt % 2)
        try:
            gv = _as_number(g.xreplace(pt))
            pv = _as_number(p.xreplace(pt))
        except Exception:  # noqa: BLE001
            continue
        if gv is None or pv is None:
            continue
        if not _close(gv, pv, rel):
            return False
        valid += 1
        if valid >= ctx.opts.numeric_points:
            return True
    if valid > 0:
        return True
    try:
        return bool(sympy.simplify(diff) == 0)
    except Exception:  # noqa: BLE001
        return False


def _proportional(a, b, ctx: _Ctx, positive: bool = False) -> bool:
    """a == c*b for a non-zero constant c (positive when ``positive``), checked at random points."""
    if a == 0 or b == 0:
        return a == b
    syms = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    ratio = None
    valid = 0
    for attempt in range(ctx.opts.numeric_points * 4):
        pt = _random_point(syms, ctx.rng, attempt % 2)
        av = _as_number(a.xreplace(pt))
        bv = _as_number(b.xreplace(pt))
        if av is None or bv is None:
            continue
        with mpmath.workdps(_PREC):
            if abs(bv) < mpmath.mpf("1e-30") * max(abs(av), 1):
                continue
            r = av / bv
        if ratio is None:
            ratio = r
        elif not _close(ratio, r, ctx.opts.rel_tol_expr):
            return False
        valid += 1
        if valid >= ctx.opts.numeric_points:
            break
    if ratio is None or ratio == 0:
        return False
    if positive and (abs(ratio.imag) > 1e-12 * abs(ratio) or ratio.real <= 0):
        return False
    return True


def _is_label(x) -> bool:
    """A name for the answer: symbols combined without numbers (``x``, ``f(x)``, ``PQ``, ``a + b``,
    ``\\frac{AO}{OC}``, ``\\angle ABC``; a power only as ``1/s``), a tuple of names ``(a, b)`` or a ratio of names
    ``S_1 : S_2``. Math-Verify's assignment rule (latex2sympy2_extended ``is_expr_of_only_symbols``) is the same."""
    if isinstance(x, Seq):
        return bool(x.items) and x.kind in ("paren", "ratio", "list") and all(_is_label(i) for i in x.items)
    if isinstance(x, sympy.Symbol):
        return True
    if isinstance(x, sympy.Pow):
        return x.exp == -1 and _is_label(x.base)
    if isinstance(x, (sympy.Add, sympy.Mul, sympy.Function)):
        return bool(x.args) and all(_is_label(a) for a in x.args)
    return False


def _is_constant(x) -> bool:
    """A value without unknowns: a number, or a tuple, set or matrix of them (the result a computation states)."""
    if isinstance(x, Seq):
        return bool(x.items) and all(_is_constant(i) for i in x.items)
    if isinstance(x, MatrixNode):
        return all(_is_constant(i) for row in x.rows for i in row)
    return isinstance(x, sympy.Basic) and not x.free_symbols


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}


_OPEN = {"<": "(", "<=": "["}
_CLOSE = {"<": ")", "<=": "]"}


def _as_interval(r: Rel):
    """The interval a one-variable inequality describes (x < 3 -> (-oo, 3); 1 <= x < 2 -> [1, 2)), or None."""
    ops, parts = r.ops, r.parts
    if not all(isinstance(x, sympy.Basic) for x in parts) or "=" in ops or "!=" in ops:
        return None
    if len(ops) == 1:
        a, b = parts
        op = ops[0]
        if _is_label(b) and not _is_label(a):
            a, b, op = b, a, _FLIP[op]  # 3 > x  ->  x < 3
        if not _is_label(a) or b.free_symbols:
            return None
        if op in ("<", "<="):
            return Seq("interval", (-sympy.oo, b), "(", _CLOSE[op])
        return Seq("interval", (b, sympy.oo), "[" if op == ">=" else "(", ")")
    if len(ops) == 2 and _is_label(parts[1]):
        lo, hi = parts[0], parts[2]
        o1, o2 = ops
        if o1 in (">", ">=") and o2 in (">", ">="):
            lo, hi, o1, o2 = hi, lo, _FLIP[o2], _FLIP[o1]
        if o1 in ("<", "<=") and o2 in ("<", "<=") and not (lo.free_symbols or hi.free_symbols):
            return Seq("interval", (lo, hi), _OPEN[o1], _CLOSE[o2])
    return None


_INEQ = {"<": sympy.StrictLessThan, "<=": sympy.LessThan, ">": sympy.StrictGreaterThan, ">=": sympy.GreaterThan}


def _is_inequality(v) -> bool:
    """A chain of inequalities, or a bare list of them ("x < -2 or x > 3")."""
    if isinstance(v, Seq) and v.kind == "list":
        return bool(v.items) and all(_is_inequality(i) for i in v.items)
    return isinstance(v, Rel) and all(o in _INEQ for o in v.ops) and all(isinstance(x, sympy.Basic)
                                                                          for x in v.parts)


def _free(v) -> set:
    items = v.items if isinstance(v, Seq) else (v,)
    return set().union(*(x.free_symbols for r in items for x in r.parts))


def _as_real_set(v):
    """The set of reals a one-variable inequality (or an "or" list of them) describes, or the set an interval,
    a union of intervals or a finite set names, as a sympy Set; None when ``v`` is neither (or sympy cannot say).
    The variable is read as real; the comparison runs in the worker under the check's time limit."""
    try:
        if _is_inequality(v):
            rels = v.items if isinstance(v, Seq) else (v,)
            syms = set().union(*(x.free_symbols for r in rels for x in r.parts))
            if len(syms) != 1:
                return None
            (var,) = syms
            real = sympy.Dummy("t", real=True)
            out = sympy.EmptySet
            for r in rels:
                conds = [_INEQ[o](a, b) for o, a, b in zip(r.ops, r.parts, r.parts[1:])]
                out = out.union(sympy.And(*conds).xreplace({var: real}).as_set())
            return out
        if isinstance(v, Seq) and v.kind == "union":
            parts = [_as_real_set(i) for i in v.items]
            return None if any(x is None for x in parts) else sympy.Union(*parts)
        if isinstance(v, Seq) and v.kind == "set" and all(isinstance(i, sympy.Basic) and not i.free_symbols
                                                          for i in v.items):
            return sympy.FiniteSet(*v.items)
        if isinstance(v, Seq) and v.left and v.right and len(v.items) == 2 and all(
                isinstance(i, sympy.Basic) and not i.free_symbols for i in v.items):
            return sympy.Interval(v.items[0], v.items[1], v.left == "(", v.right == ")")
    except Exception:  # noqa: BLE001 - sympy cannot turn every relation into a set
        return None
    return None


def _sets_equal(a, b) -> bool:
    try:
        return bool(a == b) or bool(sympy.Complement(a, b).is_empty and sympy.Complement(b, a).is_empty)
    except Exception:  # noqa: BLE001
        return False


def _interval_key(v: Seq):
    return v.items, v.left, v.right


def _has_relation(v) -> bool:
    return isinstance(v, Rel) or (isinstance(v, Seq) and any(isinstance(i, Rel) for i in v.items))


def _unlabel(v):
    """``a=2, b=3; a=5, b=3`` as the tuples ``(2, 3), (5, 3)`` (labels repeating with a period), else ``v``."""
    if not (isinstance(v, Seq) and v.kind == "list" and v.items and all(
            isinstance(r, Rel) and r.ops == ("=",) and _is_label(r.parts[0]) for r in v.items)):
        return v
    labels = [r.parts[0] for r in v.items]
    k = labels.index(labels[0], 1) if labels[0] in labels[1:] else len(labels)
    if len(labels) % k or any(labels[i] != labels[i % k] for i in range(len(labels))):
        return v
    values = [r.parts[1] for r in v.items]
    groups = [values[i:i + k] for i in range(0, len(values), k)]
    tuples = [g[0] if k == 1 else Seq("paren", tuple(g), "(", ")") for g in groups]
    return tuples[0] if len(tuples) == 1 else Seq("list", tuple(tuples))


def _values_equal(g, p, ctx: _Ctx, top: bool = False) -> bool:
    """Structural comparison of gold value g and predicted value p, by kind of value in this order: a set of reals
    written both ways (interval, inequality), relations, matrices, sequences, scalars."""
    if top:
        if not _has_relation(g):
            p = _unlabel(p)
        if not _has_relation(p):
            g = _unlabel(g)
    described = _described_sets_equal(g, p, ctx, top)
    if described is not None:
        return described
    if isinstance(g, Rel) or isinstance(p, Rel):
        return _relations_equal(g, p, ctx)
    if isinstance(g, MatrixNode) or isinstance(p, MatrixNode):
        return _matrices_equal(g, p, ctx)
    if isinstance(g, Seq) or isinstance(p, Seq):
        return _sequences_equal(g, p, ctx)
    return _expr_equal(g, p, ctx, bool(ctx.pred.decimals))


def _described_sets_equal(g, p, ctx: _Ctx, top: bool) -> bool | None:
    """An interval against the inequality that describes it (at any depth), or, for whole answers, other sets of
    reals written both ways (``2 \\le |w| \\le 3`` and ``[-3, -2] \\cup [2, 3]``; ``x < -2`` or ``x > 3``);
    None when neither applies."""
    if isinstance(g, Rel) and isinstance(p, Seq) and p.left and p.right:
        gi = _as_interval(g)
        if gi is not None:
            return _values_equal(gi, p, ctx)
    if isinstance(p, Rel) and isinstance(g, Seq) and g.left and g.right:
        pi_ = _as_interval(p)
        if pi_ is not None:
            return _values_equal(g, pi_, ctx)
    if top and (_is_inequality(g) or _is_inequality(p)) and not (
            _is_inequality(g) and _is_inequality(p) and _free(g) != _free(p)):  # x > 3 is not y > 3
        gs, ps = _as_real_set(g), _as_real_set(p)
        if gs is not None and ps is not None:
            return _sets_equal(gs, ps)
    return None


def _matrices_equal(g, p, ctx: _Ctx) -> bool:
    """Entry by entry; a gold column vector also equals the same tuple."""
    if isinstance(g, MatrixNode) and isinstance(p, Seq) and p.kind in ("paren", "bracket"):
        if all(len(r) == 1 for r in g.rows) and len(g.rows) == len(p.items):
            return all(_values_equal(r[0], q, ctx) for r, q in zip(g.rows, p.items))
        return False
    if not (isinstance(g, MatrixNode) and isinstance(p, MatrixNode)):
        return False
    if len(g.rows) != len(p.rows) or any(len(a) != len(b) for a, b in zip(g.rows, p.rows)):
        return False
    return all(_values_equal(a, b, ctx) for ra, rb in zip(g.rows, p.rows) for a, b in zip(ra, rb))


_UNORDERED = {"set", "list", "pm", "union"}


def _sequences_equal(g, p, ctx: _Ctx) -> bool:
    """Ratios by cross-multiplication; sets, lists, ``\\pm`` and unions unordered; a bare list against a tuple in
    order; tuples and intervals in order with the same brackets."""
    if not (isinstance(g, Seq) and isinstance(p, Seq)):
        return False
    if g.kind == "ratio" or p.kind == "ratio":
        # a : b equals c : d when a d = b c (all parts, pairwise with the first)
        if g.kind != p.kind or len(g.items) != len(p.items):
            return False
        g0, p0 = g.items[0], p.items[0]
        return all(_expr_equal(g0 * q, p0 * h, ctx) for h, q in zip(g.items[1:], p.items[1:]))
    if g.kind in _UNORDERED and p.kind in _UNORDERED:
        if (g.kind == "union") != (p.kind == "union"):
            return False
        return _collection_equal(g.items, p.items, ctx)
    if g.kind in _UNORDERED or p.kind in _UNORDERED:
        # a bare list against a tuple: same order, e.g. gold "(1, 2)" and prediction "1, 2"
        if {g.kind, p.kind} <= {"list", "paren"} and len(g.items) == len(p.items):
            return all(_values_equal(a, b, ctx) for a, b in zip(g.items, p.items))
        return False
    if (g.left, g.right) != (p.left, p.right) or len(g.items) != len(p.items):
        return False
    return all(_values_equal(a, b, ctx) for a, b in zip(g.items, p.items))


def _collection_equal(gs, ps, ctx: _Ctx) -> bool:
    """Unordered items. A gold that lists distinct items is a set: a prediction that repeats one of them is the
    same set (``(3,1),(1,3),(3,1)`` = ``(1,3),(3,1)``) as long as every item of each side equals an item of the
    other. A gold that repeats an item (``2, 2, 3``) is a multiset: the counts must agree."""
    if len(ps) == len(gs) and _multiset_equal(gs, ps, ctx):
        return True
    if len(ps) <= len(gs) or len(set(gs)) < len(gs):
        return False
    covered = [False] * len(gs)
    for p in ps:
        k = next((i for i, g in enumerate(gs) if _values_equal(g, p, ctx)), None)
        if k is None:
            return False
        covered[k] = True
    return all(covered)


def _multiset_equal(gs, ps, ctx: _Ctx) -> bool:
    if len(gs) != len(ps):
        return False
    used = [False] * len(ps)
    for g in gs:
        for j, p in enumerate(ps):
            if not used[j] and _values_equal(g, p, ctx):
                used[j] = True
                break
        else:
            return False
    return True


def _last_of_chain(r: Rel) -> Rel:
    """A chain is a derivation: ``x = 5 + 5 + 1 = 11`` states ``x = 11`` (Math-Verify reads chains the same way)."""
    if len(r.ops) > 1 and all(o == "=" for o in r.ops) and _is_label(r.parts[0]):
        return Rel(("=",), (r.parts[0], r.parts[-1]))
    return r


def _relations_equal(g, p, ctx: _Ctx) -> bool:
    if isinstance(g, Rel) and isinstance(p, Rel):
        g, p = _last_of_chain(g), _last_of_chain(p)
        if len(g.ops) == 1 and len(p.ops) == 1:
            gl, gr = g.parts
            pl, pr = p.parts
            if not all(_is_scalar(x) for x in (gl, gr, pl, pr)):
                # x = (1, 2) style: labels with container values
                if g.ops == p.ops == ("=",) and _is_label(gl) and gl == pl:
                    return _values_equal(gr, pr, ctx)
                return False
            gop, pop = g.ops[0], p.ops[0]
            if gop == "=" and pop == "=":
                if _is_label(gl) and _is_label(pl) and gl == pl:
                    return _values_equal(gr, pr, ctx)
                return _proportional(gl - gr, pl - pr, ctx)
            if gop == "!=" or pop == "!=":
                return gop == pop and _proportional(gl - gr, pl - pr, ctx)
            # inequalities: bring to "expr op 0" with op in (<, <=)
            ge, gop2 = (gl - gr, gop) if gop in ("<", "<=") else (gr - gl, _FLIP[gop])
            pe, pop2 = (pl - pr, pop) if pop in ("<", "<=") else (pr - pl, _FLIP[pop])
            return gop2 == pop2 and _proportional(ge, pe, ctx, positive=True)
        # chains such as 1 < x < 3 compare part by part
        if g.ops == p.ops and len(g.parts) == len(p.parts):
            return all(_values_equal(a, b, ctx) for a, b in zip(g.parts, p.parts))
        return False
    if isinstance(p, Rel):
        # prediction "x = 5", "x = 2 + 3 = 5", "a + b = 9" (or "5 = x") for a gold value: the last part is the
        # answer when the first is a label or the last has no unknowns (Math-Verify reads an equation against a
        # value the same way)
        if all(o == "=" for o in p.ops) and not isinstance(g, Rel):
            if _is_label(p.parts[0]) or _is_constant(p.parts[-1]):
                return _values_equal(g, p.parts[-1], ctx)
            if len(p.parts) == 2 and _is_label(p.parts[1]):
                return _values_equal(g, p.parts[0], ctx)
        return False
    # gold is a relation, prediction is not: accept the bare right side when the gold's left side is a label
    if all(o == "=" for o in g.ops) and _is_label(g.parts[0]):
        return _values_equal(g.parts[-1], p, ctx)
    return False


def _scale(v, factor):
    if isinstance(v, Seq):
        return Seq(v.kind, tuple(_scale(x, factor) for x in v.items), v.left, v.right)
    if isinstance(v, sympy.Basic):
        return v * factor
    return v


def _last_equation_part(text: str) -> str | None:
    """The text after the last top-level ``=`` (not in brackets, not part of ``<=``/``>=``/``!=``), or None."""
    depth, last = 0, -1
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0 and (k == 0 or text[k - 1] not in "<>!=\\") and \
                (k + 1 == len(text) or text[k + 1] != "="):
            last = k
    rest = text[last + 1:].strip() if last >= 0 else ""
    return rest or None


def _parse(text: str, limits: Limits) -> Parsed:
    """parse_answer; when the whole does not parse but it is an equation chain, its last part (as Math-Verify
    does: "\\overrightarrow{P} = \\frac{4}{3}" gives 4/3). TooLarge is never retried."""
    try:
        return parse_answer(text, limits)
    except TooLarge:
        raise
    except ParseError:
        rest = _last_equation_part(normalize(text, limits))
        if rest is None:
            raise
        return parse_answer(rest, limits)


def _decimal_comma_alternative(one: Parsed, other: Parsed, limits: Limits) -> Parsed | None:
    """``one`` read with a decimal comma (``3,15`` as 3.15) when ``other`` is a single number (see
    ``rewards.normalize.decimal_comma_reading`` for the rule), else None."""
    if not (isinstance(other.value, sympy.Basic) and other.value.is_Number):
        return None
    if not (isinstance(one.value, Seq) and one.value.kind == "list" and len(one.value.items) == 2):
        return None
    reading = decimal_comma_reading(one.text)
    if reading is None:
        return None
    try:
        return parse_answer(reading, limits)
    except ParseError:
        return None


def compare(gold: str, pred: str, opts: Options = DEFAULT_OPTIONS, limits: Limits = LIMITS) -> tuple[bool, str]:
    """(equal, reason) for a gold answer and one extracted predicted answer. Never raises ParseError.

    A trigonometric function of an angle in degrees (``\\sin 60^\\circ``) is read in degrees (it equals
    ``\\frac{\\sqrt{3}}{2}``); when that reading differs, the two are also compared with those degree signs
    dropped, so ``\\tan 15`` written for ``\\tan 15^\\circ`` keeps the question's unit as before."""
    same, reason = _compare(gold, pred, opts, limits)
    if not same and (has_trig_degrees(gold) or has_trig_degrees(pred)):
        again, why = _compare(drop_trig_degrees(gold), drop_trig_degrees(pred), opts, limits)
        if again:
            return True, why
    return same, reason


def _compare(gold: str, pred: str, opts: Options, limits: Limits) -> tuple[bool, str]:
    norm_gold, norm_pred = _safe_norm(gold), _safe_norm(pred)
    if norm_gold == norm_pred:
        return True, "string_match"
    choice = _choice_letters(norm_gold, norm_pred)
    if choice is not None:
        return choice[0] == choice[1], "choice" if choice[0] == choice[1] else "not_equivalent"
    pg, gold_err = _parse_gold(gold, limits)
    try:
        pp = _parse(pred, limits)
    except TooLarge as e:
        return False, f"too_large: {e}"
    except ParseError as e:
        if pg is None:
            # neither parses as math: compare normalised strings
            same = _loose(gold) is not None and _loose(gold) == _loose(pred)
            return same, "string_match" if same else f"unparsable: {e}"
        return False, f"unparsable: {e}"
    if pg is None:
        same = pp.text.replace(" ", "").lower() == _safe_norm(gold).replace(" ", "").lower()
        return same, "string_match" if same else gold_err
    if pg.text == pp.text:
        return True, "string_match"
    if pg.is_text or pp.is_text:
        same = pg.is_text and pp.is_text and pg.value == pp.value
        return same, "text_match" if same else "text_mismatch"
    return _compare_parsed(pg, pp, opts, limits)


_CHOICE_GOLD = re.compile(r"\(?([A-E])\)?")
_CHOICE_LABEL = re.compile(r"\(([A-E])\)\s*\S")


def _choice_letters(gold: str, pred: str) -> tuple[str, str] | None:
    """(gold letter, predicted letter) when the normalised gold is a multiple-choice letter (``B``, ``(B)``,
    ``\\text{(B)}``) and the normalised prediction starts with a choice label followed by the choice's content
    (``(B) 3``, ``\\textbf{(B)}\\ 3``): the label is the answer. None otherwise, and for a list (``(C), 288\\pi``
    is two answers, a hedge)."""
    g = _CHOICE_GOLD.fullmatch(gold)
    if g is None:
        return None
    p = _CHOICE_LABEL.match(pred)
    if p is None or _has_top_level_comma(pred):
        return None
    return g.group(1), p.group(1)


def _has_top_level_comma(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in ",;" and depth <= 0:
            return True
    return False


def _parse_gold(gold: str, limits: Limits) -> tuple[Parsed | None, str]:
    """(the parsed gold, '') or (None, the reason it does not parse)."""
    try:
        return _parse(gold, limits), ""
    except TooLarge as e:
        return None, f"gold_too_large: {e}"
    except ParseError as e:
        return None, f"gold_unparsable: {e}"


def _loose(s: str) -> str | None:
    """The normalised string without spaces, lower-cased (None when it does not normalise)."""
    try:
        return normalize(s).replace(" ", "").lower()
    except ParseError:
        return None


def _compare_parsed(pg: Parsed, pp: Parsed, opts: Options, limits: Limits) -> tuple[bool, str]:
    """(equal, reason) for a parsed gold and prediction: the rules of the module docstring, in order."""
    clock = _clock_times_equal(pg.text, pp.text)
    if clock is not None:
        return clock, "clock_time" if clock else "not_equivalent"
    pg.value, _ = _split_approximation(pg.value, pg)
    pp.value, approx = _split_approximation(pp.value, pp)
    ctx = _Ctx(pg, pp, opts)
    if _values_equal(pg.value, pp.value, ctx, top=True):
        return True, "equivalent"
    for g_alt, p_alt in ((pg, _decimal_comma_alternative(pp, pg, limits)),
                         (_decimal_comma_alternative(pg, pp, limits), pp)):
        if g_alt is not None and p_alt is not None and _values_equal(g_alt.value, p_alt.value,
                                                                     _Ctx(g_alt, p_alt, opts), top=True):
            return True, "equivalent_decimal_comma"
    if approx is not None and _approximation_states_gold(pg, pp.value, approx, opts):
        return True, "equivalent_approximation"
    if opts.percent_fraction and (pg.percent or pp.percent):
        factor = sympy.Rational(1, 100) if pp.percent else sympy.Integer(100)
        if pp.percent and pg.percent:
            return False, "not_equivalent"
        if _values_equal(pg.value, _scale(pp.value, factor), ctx, top=True):
            return True, "equivalent_percent"
    return False, "not_equivalent"


# ---------------------------------------------------------------------------------------------------------------
# approximations and clock times

def _split_approximation(v, parsed: Parsed):
    """(the exact statement, the approximation as a Parsed, or None) of a value whose chain holds ``\\approx``.

    The approximation is a gloss of the exact value before it: ``x = 5 + 6 = 11 \\approx 11.0`` states
    ``x = 11``, ``y = \\frac{1}{3} \\approx 0.33`` states ``y = 1/3``, ``\\pi \\approx \\frac{22}{7}`` states
    ``\\pi``. A label followed only by an approximation (``x \\approx 11``) states that value. In a list each item
    is read so. The decimal literals of the approximation leave ``parsed.decimals`` (they do not set the
    precision of the exact part) and go with the returned approximation."""
    if isinstance(v, Seq) and v.kind == "list":
        return Seq(v.kind, tuple(_split_approximation(i, parsed)[0] for i in v.items), v.left, v.right), None
    if not (isinstance(v, Rel) and APPROX in v.ops):
        return v, None
    ops, parts = list(v.ops), list(v.parts)
    if ops[0] == APPROX and _is_label(parts[0]):
        ops[0] = "="
    if APPROX not in ops:
        return Rel(tuple(ops), tuple(parts)), None
    k = ops.index(APPROX)
    exact = parts[0] if k == 0 else Rel(tuple(ops[:k]), tuple(parts[:k + 1]))
    approx = parts[k + 1]
    mine = [lit for lit in parsed.decimals if isinstance(approx, sympy.Rational)
            and lit.value == abs(Fraction(int(approx.p), int(approx.q)))]
    parsed.decimals = [lit for lit in parsed.decimals if all(lit is not m for m in mine)]
    return exact, Parsed(approx, parsed.text, decimals=mine)


def _approximation_states_gold(pg: Parsed, exact, approx: Parsed, opts: Options) -> bool:
    """A decimal gold (``0.33``, the value rounded as the question asks) against ``y = \\frac13 \\approx 0.33``:
    right when the approximation equals the gold and the exact value rounds to the approximation (so
    ``\\frac14 \\approx 0.33`` is not)."""
    if not (pg.decimals and isinstance(pg.value, sympy.Basic) and pg.value.is_Number and len(approx.decimals) == 1):
        return False
    if not _values_equal(pg.value, approx.value, _Ctx(pg, approx, opts)):
        return False
    value = exact.parts[-1] if isinstance(exact, Rel) else exact
    if not (_is_scalar(value) and _is_scalar(approx.value)):
        return False
    ev, av = _as_number(value), _as_number(approx.value)
    if ev is None or av is None or ev.imag != 0 or av.imag != 0:
        return False
    with mpmath.workdps(_PREC):
        half = approx.decimals[0].rel_half_ulp
        return bool(abs(ev.real - av.real) <= mpmath.mpf(half.numerator) / half.denominator * abs(av.real))


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _clock_times_equal(gold_text: str, pred_text: str) -> bool | None:
    """Whether two clock times are the same (``12:00`` is not ``1:00``), or None when the two are not both clock
    times. ``a:b`` is a clock time, not a ratio, when a part after a colon is two digits starting with 0 on either
    side (``12:00``, ``3:05``); ``1:4`` and ``2:8`` stay ratios."""
    g = _CLOCK.fullmatch(gold_text.replace(" ", ""))
    p = _CLOCK.fullmatch(pred_text.replace(" ", ""))
    if g is None or p is None:
        return None
    if not any(part is not None and part.startswith("0") for part in g.groups()[1:] + p.groups()[1:]):
        return None
    return [int(x or 0) for x in g.groups()] == [int(x or 0) for x in p.groups()]


def _safe_norm(s: str) -> str:
    try:
        return normalize(s)
    except ParseError:
        return s


def answers_equal(gold: str, pred: str, opts: Options = DEFAULT_OPTIONS) -> bool:
    return compare(gold, pred, opts)[0]
