"""The rounding rule for decimal numbers, shared by the in-process fast path and the sympy comparison (no sympy).

A decimal literal carries its precision: ``0.333333`` shows 6 decimal places and 6 significant digits; ``4.5e33``
and ``4.5 \\times 10^{33}`` show 2 significant digits. One unit in the last place shown is the literal's ``ulp``.

* Both sides exact (no decimal literal): equal only if exactly equal (1/2004! and 1/2006! differ).
* One side a decimal literal, the other exact (a fraction, ``\\pi``, ``\\sqrt{2}``): equal when the decimal shows at
  least ``min_sig_digits`` (6) significant digits and is the exact value rounded or truncated to the places it
  shows: |exact - decimal| <= ulp/2, or the decimal has the exact value's sign and |decimal| <= |exact| <
  |decimal| + ulp. (0.333333, 0.3333333 and 0.33333333 equal 1/3, and so do 3.14159, 3.141593 and the truncated
  3.1415926 pi; 0.333, 0.3333, 0.333334, 3.14 and 3.1416 do not; 1.23 \\times 10^6 is not 1234567.) Either side may
  be the gold: a gold printed from a computation (``2.6457513110645907``, a float printout of sqrt 7) equals the
  exact ``\\sqrt{7}``, a short gold such as ``3.14`` does not equal ``\\pi``. A decimal with 16 or more digits may
  be off by one in its last digit (a double printed in full), so the tolerance is at least 1e-15 relative.
* Both sides decimal literals: equal only if equal in value (``4.50`` is ``4.5``, ``4.51`` is not, ``4.54e33`` is
  not ``4.5e33``), unless ``rounded_gold_decimals=True``: then a decimal gold with at least 2 significant digits is
  a rounded value, and a prediction with at least as many significant digits that rounds to it is right:
  |gold - pred| <= ulp(gold)/2 (``4.54e33`` for ``4.5e33``, ``4.51`` for ``4.5``).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Literal", "literal_of", "rounding_match", "MIN_SIG_DIGITS"]

MIN_SIG_DIGITS = 6  # a decimal with this many significant digits may stand for the exact value it rounds/truncates
_DOUBLE_SLACK = Fraction(1, 10 ** 15)  # relative: a double printed with 17 digits may be off in the last one


@dataclass(frozen=True)
class Literal:
    """A decimal literal: its value, decimal places (negative for 4.5e33) and significant digits."""
    value: Fraction
    places: int
    sig: int
    sci: bool = False  # written in scientific notation (4.5e33)

    @property
    def ulp(self) -> Fraction:
        """One unit in the last place shown (0.001 for 0.333, 10^32 for 4.5e33)."""
        return Fraction(10) ** (-self.places)

    @property
    def rel_half_ulp(self) -> Fraction:
        if self.value == 0:
            return Fraction(0)
        return self.ulp / 2 / abs(self.value)


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


def rounding_match(gold, pred, gold_lit: Literal | None, pred_lit: Literal | None,
                   min_sig_digits: int = MIN_SIG_DIGITS, rounded_gold_decimals: bool = False) -> bool:
    """Whether ``gold`` and ``pred`` (signed Fractions, or mpmath numbers for irrationals) are equal under the
    rounding rule (see the module docstring); ``gold_lit``/``pred_lit`` are the decimal literals that wrote them
    (None: exact)."""
    if (gold_lit is None) != (pred_lit is None):
        lit, dec, exact = (pred_lit, pred, gold) if gold_lit is None else (gold_lit, gold, pred)
        return lit.sig >= min_sig_digits and _stands_for(dec, lit, exact)
    if gold_lit is not None and pred_lit is not None and rounded_gold_decimals:
        if gold_lit.sig < 2 or pred_lit.sig < gold_lit.sig:
            return False
        return bool(abs(gold - pred) <= _num(gold_lit.ulp / 2, gold))
    return False


def _stands_for(dec, lit: Literal, exact) -> bool:
    """Whether the decimal ``dec`` (written as ``lit``) is ``exact`` rounded or truncated to the places shown."""
    diff = abs(exact - dec)
    if diff <= max(_num(lit.ulp / 2, dec), _num(_DOUBLE_SLACK, dec) * abs(dec)):
        return True  # rounded (or a full double printout)
    same_sign = (dec > 0 and exact > 0) or (dec < 0 and exact < 0)
    return bool(same_sign and abs(dec) <= abs(exact) < abs(dec) + _num(lit.ulp, dec))  # truncated


def _num(fr: Fraction, like):
    """A Fraction in the number type of ``like`` (an mpmath number when ``like`` is one)."""
    if isinstance(like, (Fraction, int)):
        return fr
    import mpmath  # only reached from the worker (mpmath numbers of the sympy comparison)
    return mpmath.mpf(fr.numerator) / fr.denominator
