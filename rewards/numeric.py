"""The rounding rule for decimal numbers, shared by the in-process fast path and the sympy comparison (no sympy).

A decimal literal carries its precision: ``0.333`` shows 3 decimal places and 3 significant digits; ``4.5e33`` and
``4.5 \\times 10^{33}`` show 2 significant digits. Half a unit in the last place, relative to the literal's value,
is the literal's relative precision ``rel_half_ulp``.

* Both sides exact (no decimal literal): equal only if exactly equal (1/2004! and 1/2006! differ).
* Prediction is one decimal literal, gold exact: equal when the prediction shows at least ``min_sig_digits`` (3)
  significant digits and is the gold correctly rounded: |gold - pred| <= rel_half_ulp(pred) * |pred|.
  (0.333 and 0.3333 equal 1/3; 0.33 and 0.334 do not; 2021.1 is not 2021.)
* Gold in scientific notation (a rounded, measured value such as Minerva's ``4.5e33``; any decimal gold with
  ``rounded_gold_decimals=True``) with at least 2 significant digits, prediction one decimal literal with at least
  as many significant digits: equal when the prediction rounds to the gold: |gold - pred| <= rel_half_ulp(gold) *
  |gold| (4.54e33 equals 4.5e33). A plain decimal gold such as MATH's ``4.5`` is an exact value by default
  (4.51 is not 4.5); an exact prediction must equal a decimal gold of fewer than 6 significant digits exactly
  (``\\pi`` is not ``3.14``).
* Gold a decimal with at least ``FLOAT_GOLD_SIG_DIGITS`` (6) significant digits, prediction exact: the gold is a
  computed value (``2.6457513110645907``, a float printout of sqrt 7); the prediction is right when it rounds to
  the gold at the gold's precision: |gold - pred| <= max(rel_half_ulp(gold), 1e-15) * |gold|. (``\\sqrt{7}``
  equals ``2.6457513110645907`` and ``2.64575``; ``\\pi`` still differs from ``3.14``.)
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Literal", "literal_of", "rounding_match", "FLOAT_GOLD_SIG_DIGITS"]

FLOAT_GOLD_SIG_DIGITS = 6          # a decimal gold with this many significant digits is a computed value
_DOUBLE_SLACK = Fraction(1, 10 ** 15)  # relative: a double printed with 17 digits may be off in the last one


@dataclass(frozen=True)
class Literal:
    """A decimal literal: its value, decimal places (negative for 4.5e33) and significant digits."""
    value: Fraction
    places: int
    sig: int
    sci: bool = False  # written in scientific notation (4.5e33)

    @property
    def rel_half_ulp(self) -> Fraction:
        if self.value == 0:
            return Fraction(0)
        return Fraction(1, 2) * Fraction(10) ** (-self.places) / abs(self.value)


def literal_of(text: str, max_exp: int = 400) -> Literal:
    """Parse ``12.50``, ``.5``, ``4.5e33``, ``1e-5`` (no sign) into a Literal. ValueError when not one."""
    mant, _, exp = text.lower().partition("e")
    e = int(exp) if exp else 0
    if abs(e) > max_exp:
        raise ValueError(f"exponent {e} beyond {max_exp}")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac)) * Fraction(10) ** e
    return Literal(value=value, places=len(frac) - e, sig=len(digits) or 1, sci=bool(exp))


def rounding_match(diff_abs, gold_lit: Literal | None, pred_lit: Literal | None, gold_abs, pred_abs,
                   min_sig_digits: int = 3, rounded_gold_decimals: bool = False) -> bool:
    """Whether |gold - pred| = ``diff_abs`` is within the rounding rule (see the module docstring).

    ``gold_abs``/``pred_abs`` are |gold| and |pred|: Fractions (exact values) or mpmath numbers (irrationals).
    """
    if pred_lit is not None and gold_lit is None:
        if pred_lit.sig < min_sig_digits:
            return False
        return bool(diff_abs <= _num(pred_lit.rel_half_ulp, pred_abs) * pred_abs)
    if gold_lit is not None and pred_lit is None:
        # a gold printed from a computation (2.6457513110645907 for sqrt 7): compared at the gold's precision, with
        # the last digit of a double allowed to be off by one
        if gold_lit.sig < FLOAT_GOLD_SIG_DIGITS:
            return False
        tol = max(gold_lit.rel_half_ulp, _DOUBLE_SLACK)
        return bool(diff_abs <= _num(tol, gold_abs) * gold_abs)
    if gold_lit is not None and pred_lit is not None:
        if not (gold_lit.sci or rounded_gold_decimals):
            return False
        if gold_lit.sig < 2 or pred_lit.sig < gold_lit.sig:
            return False
        return bool(diff_abs <= _num(gold_lit.rel_half_ulp, gold_abs) * gold_abs)
    return False


def _num(fr: Fraction, like):
    """A Fraction in the number type of ``like`` (an mpmath number when ``like`` is one)."""
    if isinstance(like, (Fraction, int)):
        return fr
    import mpmath  # only reached from the worker (mpmath numbers of the sympy comparison)
    return mpmath.mpf(fr.numerator) / fr.denominator
