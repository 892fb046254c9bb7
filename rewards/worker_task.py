"""The task a checker worker runs: compare one gold answer with the predicted answer(s) of one response.

Imported by the fork server (so sympy is loaded once) and by the worker processes; it may also be called
in-process by tests. It never evaluates text: see ``rewards.parse``.
"""
from __future__ import annotations

from rewards.cost import costly_answer
from rewards.equivalence import compare
from rewards.options import Options

__all__ = ["run_task", "check_candidates", "refuse_costly"]


def check_candidates(gold: str, candidates: list[str], opts: Options) -> tuple[bool, str]:
    """All candidates (the distinct final answers of one response) must equal the gold.

    A response that gives several different final answers is wrong even if one of them is right.
    """
    reasons = []
    for cand in candidates:
        ok, reason = compare(gold, cand, opts)
        if not ok:
            if len(candidates) > 1:
                return False, "multiple_different_answers"
            return False, reason
        reasons.append(reason)
    return True, reasons[-1] if reasons else "no_answer"


def refuse_costly(gold: str, candidates: list[str]) -> str | None:
    """The reason to refuse a check before any simplification runs (rewards.cost), or None."""
    for cand in candidates:
        why = costly_answer(cand)
        if why:
            return f"too_costly: {why}"
    why = costly_answer(gold)
    return f"gold_too_costly: {why}" if why else None


def run_task(msg: dict) -> dict:
    opts = Options(**msg.get("options", {}))
    gold, candidates = str(msg["gold"]), list(msg["candidates"])
    refused = refuse_costly(gold, candidates)
    if refused:
        return {"correct": False, "reason": refused}
    ok, reason = check_candidates(gold, candidates, opts)
    return {"correct": ok, "reason": reason}
