"""Comparison options (kept free of sympy so that importing ``rewards`` in the trainer stays light)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Options", "DEFAULT_OPTIONS"]


@dataclass(frozen=True)
class Options:
    """Switches of the answer comparison (see ``rewards.equivalence`` for the rules).

    percent_fraction: 10% also equals 0.1 (and a gold 0.1 accepts 10%). Default False: the % sign is dropped.
    min_sig_digits: a predicted decimal needs this many significant digits to count as the
        exact gold rounded (0.333 for 1/3 yes, 0.33 no).
    rounded_gold_decimals: treat every decimal gold as rounded (a prediction that rounds to it is right), as is
        always done for golds in scientific notation (4.5e33). Default False: MATH's 4.5 is exactly 9/2.
    numeric_points: random points at which expressions with variables must agree.
    rel_tol_expr: relative tolerance at those points.
    seed: seed of the random points (checks are deterministic).
    """
    percent_fraction: bool = False
    min_sig_digits: int = 3
    rounded_gold_decimals: bool = False
    numeric_points: int = 5
    rel_tol_expr: float = 1e-30
    seed: int = 0


DEFAULT_OPTIONS = Options()
