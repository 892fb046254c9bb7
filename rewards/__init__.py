"""Answer extraction, normalisation, sympy equivalence and reward functions (see docs/rewards.md).

    from rewards import verify, verify_batch, extract_answer, last_boxed
    verify(gold, response, timeout=5.0) -> bool          # never raises, never exceeds its budget, any thread
    verify_batch(golds, responses, timeout=5.0) -> list[bool]
    verify_batch_detailed(golds, responses) -> list[Verdict(correct, extracted, reason)]
    rewards.get_reward("correctness" | "format" | "overlong" | "correctness+overlong", **params)
    checker_fingerprint() -> str                         # 12 hex digits of SHA-256 over this package's source

Importing ``rewards`` does not import sympy: sympy runs only in the checker worker processes.
"""
from rewards.extract import DEFAULT_PRIORITY, all_boxed, extract_answer, last_boxed
from rewards.fingerprint import checker_fingerprint, checker_record
from rewards.functions import (Correctness, FormatReward, Overlong, RewardFn, RewardResult, SumReward, combine,
                               get_reward, register_reward, reward_names)
from rewards.options import Options
from rewards.pool import configure_pool, get_pool, shutdown_pool
from rewards.spec import Scored, TrainingReward, training_reward
from rewards.verify import (Verdict, reason_counts, reset_reason_counts, verify, verify_batch, verify_batch_detailed,
                            verify_detailed)


def warmup() -> None:
    """Start the checker worker processes now instead of on the first check (the trainer calls this at start-up)."""
    get_pool().warmup()


__all__ = ["verify", "verify_batch", "verify_batch_detailed", "verify_detailed", "Verdict", "extract_answer",
           "last_boxed", "all_boxed", "DEFAULT_PRIORITY", "Options", "get_reward", "reward_names", "register_reward",
           "Scored", "TrainingReward", "training_reward", "combine", "RewardFn", "RewardResult", "Correctness",
           "FormatReward", "Overlong", "SumReward",
           "reason_counts", "reset_reason_counts", "warmup", "shutdown_pool", "configure_pool",
           "checker_fingerprint", "checker_record"]
