"""Hostile responses through the extraction paths that read answers without a box: math spans, final-answer lines,
"Answer" anchors, several boxes and 1 MB spans. Each check returns a bool within its budget (the contract of
``rewards.verify``), executes nothing, and the extraction (which runs in the trainer's own process) stays linear:
inputs built to make a naive scanner quadratic (a million unclosed openers on one line) finish within the same
budget as any check.
"""
import time

import pytest

import rewards
from rewards import verify_batch, verify_detailed
from rewards.extract import DEFAULT_PRIORITY, extract_with_method, math_spans

from test_security_hostile import BUDGET, SLACK, hostile_payloads

MB = 1_000_000

POSITIONS = [
    "so ${}$.",
    "so\n\\[\n{}\n\\]",
    "so $${}$$",
    "so \\({}\\)",
    "Final Answer: The final answer is ${}$. I hope it is correct.",
    "Final Answer: The area of $R$ is {}. I hope it is correct.",
    "Answer \\( {} \\)",
    "Answer: {}",
    "The answer is ${}$ and $5$",
    "$\\boxed{{{}}}$ and $\\boxed{{5}}$",
]

HUGE = {
    "1 MB inline span": "so $" + "1+" * (MB // 2) + "1$.",
    "1 MB display span": "so \\[" + "x" * MB + "\\]",
    "1 MB span of nested braces": "so $" + "{" * (MB // 2) + "1" + "}" * (MB // 2) + "$",
    "a million unclosed $ on one line": "$a " * (MB // 3),
    "a million unclosed \\( on one line": "\\(" * (MB // 2),
    "a million unclosed \\[": "\\[ " * (MB // 3),
    "a million $$": "$$" * (MB // 2),
    "alternating openers": "$\\(\\[" * (MB // 5),
    "escaped dollars": "\\$" * (MB // 2) + " 5",
    "many short spans": "$1$, " * (MB // 5),
    "many final-answer markers": "Final Answer: The final answer is " * (MB // 34),
    "many answer markers": "the answer is " * (MB // 14),
    "many Answer lines": "\nAnswer " * (MB // 8),
    "many boxes": "\\boxed{1}" * (MB // 9),
    "many different boxes": "".join(f"\\boxed{{{i}}}" for i in range(100_000)),
    "deep unclosed box": "\\boxed{" * (MB // 7),
    "many think tags": "</think>$5$" * (MB // 11),
    "a span holding a million numbers": "$" + " ".join(["7"] * (MB // 2)) + "$",
    "a million digits after a marker": "The answer is " + "9" * MB,
}


@pytest.fixture(scope="module")
def warm():
    rewards.warmup()


def test_hostile_payloads_in_every_new_position_stay_within_budget(tmp_path, warm):
    sentinel = tmp_path / "pwned"
    payloads = hostile_payloads(str(sentinel))
    responses = [pos.format(p) for p in payloads for pos in POSITIONS]
    t0 = time.monotonic()
    out = verify_batch(["5"] * len(responses), responses, timeout=BUDGET)
    assert len(out) == len(responses) and all(isinstance(x, bool) for x in out)
    # the batch runs each check under its own budget; the whole stays bounded by the slowest check per worker
    assert time.monotonic() - t0 < len(responses) * (BUDGET + SLACK)
    for p, pos in zip(payloads[:25], POSITIONS * 3):
        t1 = time.monotonic()
        v = verify_detailed("5", pos.format(p), timeout=BUDGET)
        assert isinstance(v.correct, bool)
        assert time.monotonic() - t1 < BUDGET + SLACK, (p[:60], pos)
        assert not v.reason.startswith("blocked"), (p[:60], v.reason)
    assert not sentinel.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_and_pathological_responses(name, warm):
    text = HUGE[name]
    assert len(text) >= 400_000
    t0 = time.monotonic()
    v = verify_detailed("5", text, timeout=BUDGET)
    elapsed = time.monotonic() - t0
    assert isinstance(v.correct, bool)
    assert elapsed < BUDGET + SLACK, f"{name} took {elapsed:.1f}s"
    assert not v.correct or name in ("escaped dollars", "many think tags")
    # every single extraction method on its own, too (the caller may order them any way)
    for method in DEFAULT_PRIORITY:
        t1 = time.monotonic()
        extract_with_method(text, (method,))
        assert time.monotonic() - t1 < BUDGET + SLACK, f"{name}: {method} took {time.monotonic() - t1:.1f}s"


def test_huge_answers_are_refused_by_size_not_parsed(warm):
    v = verify_detailed("5", "so $\\boxed{" + "1+" * (MB // 2) + "1}$", timeout=BUDGET)
    assert not v.correct and v.reason == "answer_too_long"
    # after a marker only MAX_TAIL characters are read: the cut answer is refused by the token limit
    v = verify_detailed("5", "Final Answer: The final answer is $" + "1+" * (MB // 2) + "5$.", timeout=BUDGET)
    assert not v.correct and v.reason.startswith(("answer_too_long", "too_large"))
    v = verify_detailed("5", HUGE["many different boxes"], timeout=BUDGET)
    assert not v.correct and v.reason == "too_many_answers"
    # a span longer than the scanned end of the text is not read as a span (its pairing is unknown)
    v = verify_detailed("5", HUGE["1 MB inline span"], timeout=BUDGET)
    assert not v.correct
    v = verify_detailed("5", "a long derivation\n" + "x" * MB + "\nso $5$.", timeout=BUDGET)
    assert v.correct and v.extracted == "5"


def test_span_scanner_on_pathological_text_is_linear_in_output():
    # a million unclosed openers give no spans, and a million closed ones give a million spans, each found once
    assert math_spans("\\(" * (MB // 2)) == []
    assert math_spans("$a " * (MB // 3)) != []  # consecutive "$a $" pairs close each other
    spans = math_spans("$1$ " * 250_000)
    assert len(spans) == 250_000 and all(c == "1" for *_, c in spans[:10])
