"""``verify``, ``verify_batch`` and ``verify_batch_detailed``: the public answer checker.

In the calling process only linear-time string work happens: answer extraction (``rewards.extract``) and a fast
path for plain numbers (below). Everything that touches sympy runs in the worker pool (``rewards.pool``) under a
hard per-check deadline, so no input can hang or crash the caller, from any thread.

Fast path (in-process, provably bounded): when the gold and every predicted answer are identical short strings
or equal after ``rewards.normalize.normalize`` (string operations on at most 500 characters), or are all plain
decimal numbers of at most 40 characters (``-12``, ``3.50``, ``1,000``), they are compared with
``fractions.Fraction`` using exactly the numeric rule of ``rewards.equivalence`` (exact rationals, a predicted
decimal may be the gold rounded to its shown places with at least 3 significant digits). Anything else goes to
the pool.

Bad input never raises: an empty response, no extractable answer, a non-string or empty gold, or an answer longer
than ``MAX_ANSWER_CHARS`` give ``Verdict(correct=False, reason=...)``; reasons are counted in ``reason_counts()``.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from fractions import Fraction

from rewards.normalize import ParseError, normalize
from rewards.numeric import literal_of, rounding_match
from rewards.options import DEFAULT_OPTIONS, Options, states_a_number
from rewards.extract import (DEFAULT_PRIORITY, answer_region, check_priority, distinct_boxed, extract_with_method,
                             gold_answer)
from rewards.pool import get_pool
from rewards.cost import check_timeout, screen

__all__ = ["Verdict", "verify", "verify_batch", "verify_batch_detailed", "reason_counts", "reset_reason_counts",
           "MAX_ANSWER_CHARS", "MAX_CANDIDATES"]

MAX_ANSWER_CHARS = 2000   # a longer extracted answer is wrong ("answer_too_long")
MAX_CANDIDATES = 8        # a response with more distinct boxed answers is wrong ("too_many_answers")
_EXTRACTED_SHOWN = 300    # Verdict.extracted is cut to this many characters


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check.

    correct: whether the response's final answer equals the gold answer.
    extracted: the final answer found in the response (cut to 300 characters), or None.
    reason: why, e.g. "string_match", "equivalent", "fast_number", "not_equivalent", "no_answer",
        "empty_response", "multiple_different_answers", "timeout", "worker_died", "unparsable: ...".
    """
    correct: bool
    extracted: str | None
    reason: str


_COUNTS: Counter = Counter()
_COUNTS_LOCK = threading.Lock()


def _count(verdicts) -> None:
    with _COUNTS_LOCK:
        for v in verdicts:
            _COUNTS[v.reason.split(":")[0]] += 1


def reason_counts() -> dict[str, int]:
    """How many checks ended with each reason (prefix before ':') since the last reset, in this process."""
    with _COUNTS_LOCK:
        return dict(_COUNTS)


def reset_reason_counts() -> None:
    with _COUNTS_LOCK:
        _COUNTS.clear()


# ------------------------------------------------------------------------------------------------------------------
# in-process preparation

_PLAIN_NUM = re.compile(r"^-?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def _plain_number(s: str):
    """(value, Literal or None) for a plain decimal number string such as -12, 3.50 or 1,000; else None."""
    s = s.strip().strip("$").strip()
    if s.endswith(".") and not s.endswith(".."):
        s = s[:-1]
    if len(s) > 40 or not _PLAIN_NUM.match(s):
        return None
    s = s.replace(",", "")
    neg = s.startswith("-")
    body = s.lstrip("-")
    if "." in body:
        lit = literal_of(body)
        return (-lit.value if neg else lit.value), lit
    return Fraction(int(s)), None


def _fast_numbers(gold: str, cands: list[str], opts: Options):
    """True/False when every candidate and the gold are plain numbers, None otherwise (rewards.numeric rules)."""
    g = _plain_number(gold)
    if g is None:
        return None
    ps = [_plain_number(c) for c in cands]
    if any(p is None for p in ps):
        return None
    gv, glit = g
    for pv, plit in ps:
        if pv == gv:
            continue
        if not rounding_match(gv, pv, glit, plit, opts.min_sig_digits, opts.rounded_gold_decimals):
            return False
    return True


def _squash(s: str) -> str:
    return " ".join(s.split())


def _prepare(gold, response, priority):
    """Either a final Verdict, or (gold string, alternatives, extracted answer, number of boxed answers).

    ``alternatives`` are lists of candidate answers; the response is right when, for one of the lists, every
    candidate equals the gold. Several different boxes give two: the answer set they form (``\\boxed{3},
    \\boxed{4}`` is ``3, 4``) and the boxes one by one (``\\boxed{15\\frac{39}{40}} = \\boxed{\\frac{639}{40}}``
    restates one value). Either way a hedge over two different values never equals a single gold."""
    gold, response, refused = screen(gold, response)  # rewards.cost: numpy golds, bounded extraction time
    if refused:
        return Verdict(False, None, refused)
    if isinstance(gold, (int, float)) and not isinstance(gold, bool):
        gold = repr(gold)
    if not isinstance(gold, str) or not gold.strip():
        return Verdict(False, None, "bad_gold")
    gold = gold_answer(gold)  # a gold given as a whole solution or a math span: its answer, by the same rules
    if len(gold) > MAX_ANSWER_CHARS:
        return Verdict(False, None, "bad_gold: longer than the answer limit")
    if not isinstance(response, str):
        return Verdict(False, None, "empty_response")
    if not response.strip():
        return Verdict(False, None, "empty_response")
    response = answer_region(response)
    extracted, method = extract_with_method(response, priority)  # the caller's priority order decides
    if extracted is None:
        return Verdict(False, None, "no_answer")
    boxes = 1
    alternatives = [[extracted]]
    if method == "boxed":
        # all different boxed answers form one answer set (joined by extract); a hedge over two values never
        # equals a single gold
        boxes = len(distinct_boxed(response))
        if boxes > MAX_CANDIDATES:
            return Verdict(False, extracted[:_EXTRACTED_SHOWN], "too_many_answers")
        if boxes > 1:
            alternatives.append(distinct_boxed(response))
    if len(extracted) > MAX_ANSWER_CHARS:
        return Verdict(False, extracted[:_EXTRACTED_SHOWN], "answer_too_long")
    return gold, alternatives, extracted, boxes


def _hedge_reason(correct: bool, reason: str, boxes: int) -> str:
    """A wrong answer set made of several different boxes is reported as a hedge."""
    if not correct and boxes > 1 and reason in ("not_equivalent", "fast_number", "text_mismatch"):
        return "multiple_different_answers"
    return reason


def _normalized(s: str) -> str | None:
    try:
        return normalize(s)
    except ParseError:
        return None


def _fast(gold: str, cands: list[str], opts: Options):
    if all(_squash(c) == _squash(gold) for c in cands) and len(gold) <= 500:
        return True, "string_match"
    if len(gold) <= 500 and all(len(c) <= 500 for c in cands):
        # the worker's first rule, done here: equal normalised strings (string operations only, bounded length)
        ng = _normalized(gold)
        if ng and all(_normalized(c) == ng for c in cands):
            return True, "string_match"
    r = _fast_numbers(gold, cands, opts)
    if r is not None:
        if not r and len(cands) > 1:
            return False, "multiple_different_answers"
        return r, "fast_number"
    return None


def _run_tasks(tasks: list[dict], timeout: float, total_timeout: float | None, progress: bool) -> list[dict]:
    """The pool's answers for ``tasks`` (a counted ``pool_error`` for each when no worker could run them)."""
    bar = None
    cb = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks), desc="checking answers", unit="check")
        cb = bar.update
    try:
        total_deadline = time.monotonic() + total_timeout if total_timeout else None
        return get_pool().run(tasks, timeout, total_deadline=total_deadline, progress=cb)
    except Exception as e:  # noqa: BLE001 - e.g. no process could be started: counted, never raised
        return [{"correct": False, "reason": f"pool_error: {type(e).__name__}: {e}"[:300]}] * len(tasks)
    finally:
        if bar is not None:
            bar.close()


# ------------------------------------------------------------------------------------------------------------------
# public API

def verify_batch_detailed(golds, responses, timeout: float = 5.0, *, options: Options | None = None,
                          priority=DEFAULT_PRIORITY, progress: bool = False,
                          total_timeout: float | None = None) -> list[Verdict]:
    """One Verdict per (gold, response) pair; each check has ``timeout`` seconds in a worker process.

    ``total_timeout`` (seconds, optional) also caps the whole call: checks not finished by then are ``timeout``.
    Starting the worker processes on the very first call (about one sympy import) is not charged to the budget;
    ``rewards.warmup()`` takes that cost at start-up instead.

    Never raises for bad pairs. Raises ValueError only for misuse by the caller (lists of different lengths,
    a non-positive timeout, an unknown extraction method).
    """
    golds = list(golds)
    responses = list(responses)
    if len(golds) != len(responses):
        raise ValueError(f"verify_batch needs one gold per response: got {len(golds)} golds and "
                         f"{len(responses)} responses")
    timeout = check_timeout(timeout)  # rewards.cost: finite, > 0, capped
    total_timeout = None if total_timeout is None else check_timeout(total_timeout, "total_timeout", cap=86400.0)
    opts = options or DEFAULT_OPTIONS
    priority = check_priority(priority)
    verdicts: list[Verdict | None] = [None] * len(golds)
    tasks, where, extracted_of, task_of = [], [], {}, {}
    for i, (g, r) in enumerate(zip(golds, responses)):
        try:
            prep = _prepare(g, r, priority)
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - extraction is our code; a bug must not kill training
            prep = Verdict(False, None, f"extract_error: {type(e).__name__}")
        if isinstance(prep, Verdict):
            verdicts[i] = prep
            continue
        gold, alternatives, extracted, boxes = prep
        shown = extracted[:_EXTRACTED_SHOWN]
        if opts.answer_form == "number" and not all(states_a_number(c) for c in alternatives[0]):
            verdicts[i] = Verdict(False, shown, "not_a_number")
            continue
        fasts = [_fast(gold, cands, opts) for cands in alternatives]
        hit = next((f for f in fasts if f is not None and f[0]), None)
        if hit is not None or all(f is not None for f in fasts):
            f = hit or fasts[0]
            verdicts[i] = Verdict(f[0], shown, _hedge_reason(f[0], f[1], boxes))
            continue
        ts = []
        for cands, f in zip(alternatives, fasts):
            if f is not None:
                continue
            key = (gold, tuple(cands))
            if key not in task_of:  # a group of responses often repeats an answer: check each distinct pair once
                task_of[key] = len(tasks)
                tasks.append({"gold": gold, "candidates": cands, "options": asdict(opts) if options else {}})
            ts.append(task_of[key])
        where.append((i, ts, boxes))
        extracted_of[i] = shown
    if tasks:
        results = _run_tasks(tasks, timeout, total_timeout, progress)
        for i, ts, boxes in where:
            res = next((results[t] for t in ts if results[t]["correct"]), results[ts[0]])
            ok = bool(res["correct"])
            verdicts[i] = Verdict(ok, extracted_of[i], _hedge_reason(ok, str(res["reason"]), boxes))
    out = [v if v is not None else Verdict(False, None, "internal_error") for v in verdicts]
    _count(out)
    return out


def verify_batch(golds, responses, timeout: float = 5.0, **kw) -> list[bool]:
    """Whether each response's final answer equals its gold answer (worker pool, reused across calls)."""
    return [v.correct for v in verify_batch_detailed(golds, responses, timeout, **kw)]


def verify(gold, response, timeout: float = 5.0, **kw) -> bool:
    """Whether the final answer in ``response`` equals ``gold``. Never raises; returns within ``timeout`` seconds
    (plus process start-up on the very first call, see ``rewards.warmup``), from any thread."""
    try:
        return verify_batch_detailed([gold], [response], timeout, **kw)[0].correct
    except Exception:  # noqa: BLE001 - the contract: never raises
        return False


def verify_detailed(gold, response, timeout: float = 5.0, **kw) -> Verdict:
    try:
        return verify_batch_detailed([gold], [response], timeout, **kw)[0]
    except Exception as e:  # noqa: BLE001
        return Verdict(False, None, f"error: {type(e).__name__}")
