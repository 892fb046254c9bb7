"""Answer extraction, normalisation, sympy equivalence and reward functions (see docs/rewards.md)."""
from rewards.extract import all_boxed, extract_answer, last_boxed

__all__ = ["last_boxed", "all_boxed", "extract_answer"]
