"""The rounding rule for decimals (``rewards.numeric``) against three independent graders, and its properties.

Every case carries the verdict of three graders outside the project, measured on the same (gold, answer) pair
(2026-12-07; the gold and the answer each in ``\\boxed{}``, as those graders' pipelines read them):

* Math-Verify 0.9.0 (``parse``/``verify`` with their defaults: floats compared after rounding both sides to 6
  decimal places);
* Qwen2.5-Math's ``evaluation/grader.py`` ``math_equal`` (github.com/QwenLM/Qwen2.5-Math, commit a45202b, its
  ``parser.extract_answer``/``strip_string`` on both sides; numbers equal within a relative 1e-4; run with sympy
  1.14 and antlr4-python3-runtime 4.11.1: its ``parse_latex`` reads ``\\pi`` and ``e`` as plain symbols, so it
  grades no approximation of them);
* lm-evaluation-harness ``lm_eval/tasks/minerva_math/utils.py`` ``is_equiv`` on Minerva's "Final Answer: The final
  answer is $X$. I hope it is correct." (github.com/EleutherAI/lm-evaluation-harness, commit 4e7e0d4; ``simplify``
  of the difference is 0: no approximation is ever equal; it reads no ``4.5e33``).

The policy chosen from them (docs/rewards.md, "decimals"): a decimal equals an exact value, on either side, when it
shows at least 6 significant digits and is that value rounded or truncated to the places shown; two decimals are
equal in value only. All three graders reject 3- and 4-digit decimals of exact values (0.333 and 0.3333 for 1/3,
3.14 for pi, 1.414 for sqrt 2), which the rule of 3 significant digits accepted.
"""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import verify_batch_detailed
from rewards.numeric import MIN_SIG_DIGITS, literal_of, rounding_match

# (gold, answer, our verdict, Math-Verify, Qwen2.5-Math, Minerva)
EXACT_GOLDS = [
    (r"\frac{1}{3}", '0.333', False, False, False, False),
    (r"\frac{1}{3}", '0.3333', False, False, True, False),
    (r"\frac{1}{3}", '0.33333', False, False, True, False),
    (r"\frac{1}{3}", '0.333333', True, True, True, False),
    (r"\frac{1}{3}", '0.3333333', True, True, True, False),
    (r"\frac{1}{3}", '0.333334', False, False, True, False),
    (r"\frac{1}{3}", '0.3333334', False, True, True, False),
    (r"\frac{2}{3}", '0.667', False, False, False, False),
    (r"\frac{2}{3}", '0.66667', False, False, True, False),
    (r"\frac{2}{3}", '0.666667', True, True, True, False),
    (r"\frac{2}{3}", '0.666666', True, False, True, False),
    (r"\frac{2}{3}", '0.6666666', True, True, True, False),
    (r"\sqrt{2}", '1.41', False, False, False, False),
    (r"\sqrt{2}", '1.414', False, False, False, False),
    (r"\sqrt{2}", '1.4142', False, False, True, False),
    (r"\sqrt{2}", '1.41421', True, False, True, False),
    (r"\sqrt{2}", '1.414214', True, True, True, False),
    (r"\sqrt{2}", '1.4142135', True, True, True, False),
    (r"\sqrt{2}", '1.414215', False, False, True, False),
    (r"\pi", '3.14', False, False, False, False),
    (r"\pi", '3.142', False, False, False, False),
    (r"\pi", '3.1416', False, False, False, False),
    (r"\pi", '3.14159', True, False, False, False),
    (r"\pi", '3.141593', True, True, False, False),
    (r"\pi", '3.1415926', True, True, False, False),
    (r"\pi", '3.141594', False, False, False, False),
    ('e', '2.718', False, False, False, False),
    ('e', '2.71828', True, False, False, False),
    ('e', '2.718282', True, True, False, False),
    (r"\frac{100}{3}", '33.3', False, False, False, False),
    (r"\frac{100}{3}", '33.333', False, False, True, False),
    (r"\frac{100}{3}", '33.33333', True, False, True, False),
    (r"\frac{100}{3}", '33.333333', True, True, True, False),
    (r"\ln 2", '0.693', False, False, False, False),
    (r"\ln 2", '0.69315', False, False, True, False),
    (r"\ln 2", '0.693147', True, True, True, False),
    (r"\frac{1}{300}", '0.00333', False, False, False, False),
    (r"\frac{1}{300}", '0.003333', False, True, True, False),
    (r"\frac{1}{300}", '0.00333333', True, True, True, False),
    (r"\frac{2000}{7}", '285.71', False, False, True, False),
    (r"\frac{2000}{7}", '285.7143', True, False, True, False),
    (r"\frac{2000}{7}", '285.71429', True, False, True, False),
]
DECIMAL_GOLDS = [
    ('0.5', r"\frac{1}{2}", True, True, True, True),
    ('2.5', r"\frac{5}{2}", True, True, True, True),
    ('0.125', r"\frac{1}{8}", True, True, True, True),
    ('0.75', r"\frac{3}{4}", True, True, True, True),
    ('0.33', r"\frac{1}{3}", False, False, False, False),
    ('0.333', r"\frac{1}{3}", False, False, False, False),
    ('0.3333', r"\frac{1}{3}", False, False, True, False),
    ('0.33333', r"\frac{1}{3}", False, False, True, False),
    ('0.333333', r"\frac{1}{3}", True, True, True, False),
    ('0.3333333', r"\frac{1}{3}", True, True, True, False),
    ('0.1667', r"\frac{1}{6}", False, False, False, False),
    ('0.166667', r"\frac{1}{6}", True, True, True, False),
    ('3.14', r"\pi", False, False, False, False),
    ('3.142', r"\pi", False, False, False, False),
    ('3.1416', r"\pi", False, False, False, False),
    ('3.14159', r"\pi", True, False, False, False),
    ('3.141593', r"\pi", True, True, False, False),
    ('3.1415926535897931', r"\pi", True, True, False, False),
    ('1.41', r"\sqrt{2}", False, False, False, False),
    ('1.414', r"\sqrt{2}", False, False, False, False),
    ('1.4142', r"\sqrt{2}", False, False, True, False),
    ('1.41421', r"\sqrt{2}", True, False, True, False),
    ('1.414214', r"\sqrt{2}", True, True, True, False),
    ('1.4142135623730951', r"\sqrt{2}", True, True, True, False),
    ('2.6457513110645907', r"\sqrt{7}", True, True, True, False),
    ('2.64575', r"\sqrt{7}", True, False, True, False),
    ('2.65', r"\sqrt{7}", False, False, False, False),
    ('33.3', r"\frac{100}{3}", False, False, False, False),
    ('33.33', r"\frac{100}{3}", False, False, False, False),
    ('33.333333', r"\frac{100}{3}", True, True, True, False),
    ('0.69', r"\ln 2", False, False, False, False),
    ('0.693147', r"\ln 2", True, True, True, False),
    ('2.718', 'e', False, False, False, False),
    ('2.718282', 'e', True, True, False, False),
]
TWO_DECIMALS = [
    ('4.5', '4.50', True, True, True, True),
    ('4.5', '4.500000', True, True, True, True),
    ('4.5', '4.51', False, False, False, False),
    ('4.5', '4.49', False, False, False, False),
    ('4.5', '4.5000001', False, True, True, False),
    ('0.33', '0.333', False, False, False, False),
    ('0.333', '0.33', False, False, False, False),
    ('3.14', '3.1416', False, False, False, False),
    ('3.14', '3.141', False, False, False, False),
    ('3.1416', '3.14159', False, False, True, False),
    ('1.4142', '1.41421', False, False, True, False),
    ('12.5', '12.50', True, True, True, True),
    ('0.1', '0.10', True, True, True, True),
    ('0.1', '0.1000001', False, True, True, False),
    ('2.0', '2', True, True, True, True),
    ('2', '2.0', True, True, True, True),
    ('2', '2.00001', False, False, True, False),
    ('100', '100.0', True, True, True, True),
    ('100', '99.99', False, False, False, False),
    ('0.05', '0.050', True, True, True, True),
]
LARGE = [
    ('1000000', '1,000,000', True, True, True, True),
    ('1000000', r"1\,000\,000", True, False, True, True),
    ('1000000', '1 000 000', True, False, True, True),
    ('1000000', '10^6', True, True, True, True),
    ('1000000', '10^{6}', True, True, True, True),
    ('1000000', '1e6', True, False, True, False),
    ('1000000', r"1.0 \times 10^6", True, True, True, True),
    ('1000000', '1{,}000{,}000', True, True, False, True),
    ('1234567', '1,234,567', True, True, True, True),
    ('1234567', r"1.23 \times 10^6", False, False, False, False),
    ('1234567', r"1.234567 \times 10^6", True, True, True, True),
    ('1234567', '1234567.0', True, True, True, True),
    ('1234567', '1,234,568', False, False, True, False),
    ('1234567', '1234567.4', False, False, True, False),
    ('1,234,567', '1234567', True, True, True, True),
    ('12,345', '12345', True, True, True, True),
    ('12345', '12,345', True, True, True, True),
    ('12345', '12.345', False, False, False, False),
    ('2500', '2,500', True, True, True, True),
    ('2500', '2.500', False, False, False, False),
    ('2500', '2,5', False, False, True, False),
    ('10000', '10.000', False, False, False, False),
]
SCIENTIFIC = [
    (r"4.5 \times 10^{33}", '4.5e33', True, False, False, False),
    (r"4.5 \times 10^{33}", r"4.5 \times 10^{33}", True, True, True, True),
    (r"4.5 \times 10^{33}", r"4.54 \times 10^{33}", False, False, False, False),
    (r"4.5 \times 10^{33}", r"4.6 \times 10^{33}", False, False, False, False),
    (r"4.5 \times 10^{33}", r"45 \times 10^{32}", True, True, True, True),
    ('4.5e33', '4.54e33', False, False, False, False),
    ('4.5e33', r"4.5 \times 10^{33}", True, False, False, False),
    ('4.5e33', '4.5e32', False, False, False, False),
    (r"3 \times 10^8", '300000000', True, True, True, True),
    (r"3 \times 10^8", '3e8', True, False, False, False),
    (r"3 \times 10^8", r"2.998 \times 10^8", False, False, False, False),
    (r"3 \times 10^{8}", r"3.0 \times 10^{8}", True, True, True, True),
    (r"6.022 \times 10^{23}", r"6.02 \times 10^{23}", False, False, False, False),
    (r"6.022 \times 10^{23}", r"6.0221 \times 10^{23}", False, False, True, False),
    (r"1.6 \times 10^{-19}", r"1.60 \times 10^{-19}", True, True, True, True),
    (r"1.6 \times 10^{-19}", '1.6e-19', True, False, False, False),
    (r"1.6 \times 10^{-19}", r"1.61 \times 10^{-19}", False, True, False, False),
    (r"1.6 \times 10^{-19}", r"1.7 \times 10^{-19}", False, True, False, False),
    ('7.5e-10', r"7.5 \times 10^{-10}", True, False, False, False),
    ('7.5e-10', '7.54e-10', False, False, False, False),
    ('7.5e-10', '7.46e-10', False, False, False, False),
    (r"2.5 \times 10^{-3}", '0.0025', True, True, True, True),
    (r"2.5 \times 10^{-3}", '0.00254', False, False, False, False),
]

CASES = EXACT_GOLDS + DECIMAL_GOLDS + TWO_DECIMALS + LARGE + SCIENTIFIC

# Where all three graders give one verdict and ours differs, and why.
AGAINST_ALL_THREE = {
    # Math-Verify's 6 decimal places reject 6 significant digits at or above 1 (it accepts 0.333333 and 1.41421's
    # neighbour 1.414214); Qwen's grader accepts 6 digits (1.41421 for sqrt 2) but cannot read pi or e; Minerva
    # accepts no approximation. One rule for every magnitude keeps 3.14159 with 1.41421.
    (r"\pi", "3.14159"), ("e", "2.71828"), ("3.14159", r"\pi"),
    # e-notation: none of the three reads 4.5e33 (Math-Verify and the two sympy parse_latex graders take e as a
    # symbol); it is the same number as 4.5 \times 10^{33}.
    (r"4.5 \times 10^{33}", "4.5e33"), ("4.5e33", r"4.5 \times 10^{33}"), (r"3 \times 10^8", "3e8"),
    (r"1.6 \times 10^{-19}", "1.6e-19"), ("7.5e-10", r"7.5 \times 10^{-10}"),
}


def test_our_verdicts():
    verdicts = verify_batch_detailed([c[0] for c in CASES], [f"The answer is $\\boxed{{{c[1]}}}$." for c in CASES])
    wrong = [(c[0], c[1], c[2], v) for c, v in zip(CASES, verdicts) if v.correct != c[2]]
    assert not wrong, wrong


def test_where_the_three_graders_agree_we_agree_but_for_the_listed_cases():
    against = {(g, p) for g, p, ours, mv, qwen, minerva in CASES if mv == qwen == minerva != ours}
    assert against == AGAINST_ALL_THREE


def test_both_directions_are_covered():
    for table in (EXACT_GOLDS, DECIMAL_GOLDS, TWO_DECIMALS, LARGE, SCIENTIFIC):
        assert {c[2] for c in table} == {True, False}


# ---------------------------------------------------------------------------------------------------------------
# properties of the rule, on exact rationals

def _round(x: Fraction, sig: int, truncate: bool = False) -> tuple[int, int]:
    """``x`` (positive) to ``sig`` significant digits, rounded half up or truncated: (digits n, exponent e) of
    n * 10^e, n of exactly ``sig`` digits."""
    e = 0
    while x >= Fraction(10) ** (e + sig):
        e += 1
    while x < Fraction(10) ** (e + sig - 1):
        e -= 1
    q = x / Fraction(10) ** e
    n = int(q) if truncate else int(q + Fraction(1, 2))
    if n >= 10 ** sig:  # 9.99... rounded up to 10.0
        n, e = n // 10, e + 1
    return n, e


positive = st.fractions(min_value=Fraction(1, 10 ** 6), max_value=10 ** 6).filter(lambda f: f > 0)


@settings(max_examples=300, deadline=None)
@given(positive, st.integers(2, 10), st.booleans(), st.booleans())
def test_a_decimal_stands_for_an_exact_value_with_six_digits(x, sig, truncate, gold_is_decimal):
    n, e = _round(x, sig, truncate)
    lit = literal_of(f"{n}e{e}")  # written as 1234e-3: sig digits shown whatever the magnitude
    assert lit.sig == sig
    if lit.value == x:
        return  # equal values are equal before the rule is asked (rewards.verify, rewards.equivalence)
    if gold_is_decimal:
        ok = rounding_match(lit.value, x, lit, None)
    else:
        ok = rounding_match(x, lit.value, None, lit)
    assert ok == (sig >= MIN_SIG_DIGITS)
    assert rounding_match(-x, -lit.value, None, lit) == ok  # the same with both signs flipped
    assert not rounding_match(-x, lit.value, None, lit)     # never with the other sign


@settings(max_examples=300, deadline=None)
@given(positive, st.integers(6, 10), st.sampled_from([-2, 2, 3]))
def test_a_decimal_off_in_its_last_digit_is_no_approximation(x, sig, off):
    """The rounded value moved by 2 or 3 units of its last place, or by 2 down: neither the rounding nor the
    truncation of ``x``, whatever its number of digits."""
    n, e = _round(x, sig)
    mlit = literal_of(f"{n + off}e{e}")
    assert not rounding_match(x, mlit.value, None, mlit)
    assert not rounding_match(mlit.value, x, mlit, None)


@pytest.mark.parametrize("gold, answer, expected", [
    (r"\frac{1}{7}", "0.142857", True),         # through the worker: a fraction gold
    (r"\frac{1}{7}", "-0.142857", False),
    (r"-\frac{1}{7}", "-0.142857", True),
    (r"-\frac{1}{7}", "-0.1428571", True),      # truncated, negative
    (r"-\frac{1}{7}", "-0.1428572", False),
    ("1234567", r"1.23 \times 10^6", False),   # 3 significant digits of a large integer
    ("1234567", r"1.234567 \times 10^6", True),
    (r"\frac{x}{3}", "0.333333x", True),        # a decimal coefficient
    (r"\frac{x}{3}", "0.333x", False),
])
def test_through_verify(gold, answer, expected):
    assert verify_batch_detailed([gold], [f"$\\boxed{{{answer}}}$"])[0].correct is expected
