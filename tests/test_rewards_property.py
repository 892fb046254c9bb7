"""Property-based test (hypothesis): random text, LaTeX fragments, deeply nested braces, huge exponents and 1 MB
responses never make ``verify`` raise or exceed its budget. The number of timeouts is reported."""
import time
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rewards
from rewards import extract_answer, last_boxed, verify_detailed

BUDGET = 2.0
SLACK = 2.0
REASONS = Counter()

FRAGMENTS = [r"\frac{", "}{", "}", "{", r"\sqrt", "[", "]", "(", ")", "^", "_", r"\boxed{", r"\pi", r"\infty",
             "x", "y", "e", "i", "1", "2", "10", "9", "0.5", "+", "-", "*", "/", "=", ",", r"\pm", r"\cdot", "!",
             r"\left(", r"\right)", r"\begin{pmatrix}", r"\end{pmatrix}", "&", r"\\", r"\text{", r"\%", "$",
             r"\sin", r"\log_", r"\binom", r"\cup", r"\{", r"\}", " ", "\n", "**", "__import__", "'", '"']

latex = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)
nested = st.integers(min_value=1, max_value=5000).map(lambda n: "{" * n + "1" + "}" * n)
towers = st.lists(st.sampled_from(["10", "9", "2", "x"]), min_size=2, max_size=6).map(
    lambda xs: "^{".join(xs) + "}" * (len(xs) - 1))
surrogates = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=20)
controls = st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50)
responses = st.one_of(st.text(max_size=300), latex, surrogates.map(lambda s: r"\boxed{" + s + "}"),
                      controls.map(lambda s: s + r"\boxed{1}"), latex.map(lambda s: r"\boxed{" + s + "}"),
                      nested.map(lambda s: r"\boxed" + s), towers.map(lambda s: r"\boxed{" + s + "}"))
golds = st.sampled_from(["1", r"\frac{1}{2}", "x^2", r"(1, 2)", r"\pm 3", "10^{10}", r"\text{even}"])


def _check(gold, response):
    t0 = time.monotonic()
    v = verify_detailed(gold, response, timeout=BUDGET)
    elapsed = time.monotonic() - t0
    assert isinstance(v.correct, bool)
    assert elapsed < BUDGET + SLACK, (response[:80], elapsed)
    REASONS[v.reason.split(":")[0]] += 1
    # extraction itself is total on any string
    extract_answer(response)
    last_boxed(response)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(gold=golds, response=responses)
@example(gold="1", response=r"\boxed{10^{10^{10}}}")
@example(gold="10^{10}", response=r"\boxed{10^{10^{10^{10}}}}")
@example(gold="1", response="x" * (1 << 20))
@example(gold="1", response=(r"\boxed{" * 100000) + "1" + ("}" * 100000))
@example(gold="1", response=("(" * 500000) + (")" * 500000))
@example(gold="1", response=r"\boxed{1}" * 100000)
@example(gold="1", response="1 " * 500000)
@example(gold="1", response="<answer>" * 125000)
@example(gold="1", response="the answer is " * 70000)
@example(gold="1", response="\nAnswer: " * 100000)
@example(gold="1", response="final answer is $" * 50000)
@example(gold="1", response="####" * 200000)
@example(gold="1", response="</think>" * 100000 + "\\boxed{1}")
@example(gold="1", response="\n" + "*" * 1000000)
def test_verify_never_raises_and_stays_within_budget(gold, response):
    _check(gold, response)


def test_report_timeouts():
    """Runs after the property test (file order) and prints the reasons, including the count of timeouts."""
    rewards.verify("1", r"\boxed{1}")
    print(f"\nproperty test reasons: {dict(REASONS)}; timeouts: {REASONS.get('timeout', 0)}")
    assert sum(REASONS.values()) > 0
