"""Comparison options (kept free of sympy so that importing ``rewards`` in the trainer stays light)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rewards.numeric import MIN_SIG_DIGITS

__all__ = ["Options", "DEFAULT_OPTIONS", "ANSWER_FORMS", "is_number_literal", "states_a_number"]

ANSWER_FORMS = ("any", "number")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def is_number_literal(text: str) -> bool:
    """Whether ``text`` is a number written out: digits with an optional sign and decimal part, digit groups of
    three separated by commas (``1,000``) or LaTeX's ``{,}``, inside optional ``$`` delimiters and with an optional
    final period. ``13 + 25``, ``\\frac{1}{2}`` and ``2^3`` are not."""
    t = text.strip().strip("$").strip().rstrip(".").replace("{,}", ",").replace("\\!", "").replace(" ", "")
    return bool(_NUMBER.fullmatch(t) or _GROUPED.fullmatch(t))


_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{([^{}]*)\}")


def states_a_number(answer: str) -> bool:
    """Whether an extracted answer states a number: the value after its last ``=`` (``x = 38``, ``13 + 25 = 38``;
    the whole answer when it has none), unwrapped from ``\\text{}``-like commands, is a number written out
    (:func:`is_number_literal`). ``13 + 25`` and ``38 = 13 + 25`` are not."""
    t = answer
    for _ in range(3):
        t = _WRAPPER.sub(r"\1", t)
    return is_number_literal(t.rsplit("=", 1)[-1])


@dataclass(frozen=True)
class Options:
    """Switches of the answer comparison (see ``rewards.equivalence`` for the rules).

    percent_fraction: 10% also equals 0.1 (and a gold 0.1 accepts 10%). Default False: the % sign is dropped.
    min_sig_digits: a decimal needs this many significant digits to stand for the exact value it rounds or
        truncates, on either side (0.333333 for 1/3 yes, 0.333 no; a gold 2.64575 for sqrt 7 yes, 3.14 for pi no;
        ``rewards.numeric``). 6, as the graders of Math-Verify and Qwen2.5-Math accept such decimals and reject
        3- and 4-digit ones.
    rounded_gold_decimals: treat every decimal gold as rounded (a prediction with at least as many significant
        digits that rounds to it is right: 4.54e33 for 4.5e33, 4.51 for 4.5). Default False: MATH's 4.5 is exactly
        9/2, and Minerva's 4.5e33 answers a question that asks for one decimal place.
    numeric_points: random points at which expressions with variables must agree.
    rel_tol_expr: relative tolerance at those points.
    seed: seed of the random points (checks are deterministic).
    answer_form: "any" (default): any answer equal to the gold counts; "number": the extracted answer must also be
        a number written out (``38``, ``-4``, ``2.5``, ``1,000``, also as the last member of ``13 + 25 = 38``;
        :func:`states_a_number`): for tasks such as ``arith`` whose question is
        itself an expression, so that restating it (``\\boxed{13 + 25}``) is not an answer. Such an answer is
        wrong with the reason ``not_a_number``.
    """
    percent_fraction: bool = False
    min_sig_digits: int = MIN_SIG_DIGITS
    rounded_gold_decimals: bool = False
    numeric_points: int = 5
    rel_tol_expr: float = 1e-30
    seed: int = 0
    answer_form: str = "any"

    def __post_init__(self):
        if self.answer_form not in ANSWER_FORMS:
            raise ValueError(f"answer_form must be one of {', '.join(ANSWER_FORMS)}, got {self.answer_form!r}")


DEFAULT_OPTIONS = Options()
