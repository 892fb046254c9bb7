"""An answer marker whose "answer" is no answer falls through to the next extraction method.

Sources of the cases (none is our own reading of what a response means):

* ``SMOLLM2``: responses of the embedded SmolLM2-135M-Instruct committed under ``results/`` (copied verbatim from
  ``results/cpu-demo-reference/rerun-1/base/eval/arith.responses.jsonl`` and the run files named beside them),
  where the checker of commit cc3da39 extracted the phrase after the marker ("within \\boxed{}", "within the
  specified format") and graded it wrong. The expected answer and verdict of each is Math-Verify 0.9.0's
  (``parse(text, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()])``, the configuration of
  its own test suite), run on the same text: it drops a candidate that does not parse and takes the next one
  (``math_verify.parser.extract_target_from_pred``), here the last number.
* ``CUT_OFF``: two more committed SmolLM2 responses, cut off after "The final answer is" (see there).
* ``MATH_VERIFY``: cases of Math-Verify's public test suite (huggingface/Math-Verify ``tests/test_all.py``,
  ``test_math_extraction_additional_cases``) whose prose answer a marker rule reads wrongly.
* ``WORD_ANSWERS``: word answers that must stay answers: the forms named by the project's brief ("the answer is
  yes", "twelve", "(B)") and gold answers that are words in the benchmark data (MATH-500 "Evelyn", "odd",
  "Sunday", "neither", "two lines", "empty"; OlympiadBench/MATH multiple choice "A, B").
"""
import pytest

from rewards import extract_answer, get_reward, verify_batch_detailed
from rewards.extract import extract_with_method, is_non_answer

# (gold, response verbatim, answer Math-Verify extracts, its verdict); all extracted the phrase before the fix
SMOLLM2 = [
    ("38", "13 + 25 = 38\n\nThe answer is within \\boxed{}.", "38", True),
    ("32", "13 + 19 = 22\n\nThe answer is within \\boxed{}.", "22", False),
    ("10", "12 - 2 = 10\n\nThe answer is within the specified format.", "10", True),
    ("20", "1 + 19 = 20\n\nThe answer is within the specified constraints.", "20", True),
    ("2", "17 - 15 = 15 - 15 = 0\n\nThe answer is not within \\boxed{}.", "0", False),
    ("4", "12 - 8 = 12 - 2 = 12 + 2 = 14\n\nThe answer is within \\boxed", "14", False),
    ("20", "1 + 19 = 19\n\nThe answer is within a square bracket with a number inside.", "19", False),
    ("2", "17 - 15 = 15 - 15 = 0\n\nThe answer is not within the specified format.", "0", False),
    ("24", "17 + 7 = 22\n\nThe final answer is within \\boxed{}.", "22", False),
    ("10", "12 - 2 = 10\n\nThe final answer is within the specified format.", "10", True),
    # the template's instruction echoed: "final answer" here names the answer to come, and nothing comes
    ("21", "1 + 20 = 20 + 1\n\nTo put your final answer within \\boxed{}, you need to add 1 to", "1", False),
    ("11", "15 - 4 = 11.\n\nTo put your final answer within \\boxed{}, you need to add 1 to the result", "1", False),
]

# "The final answer is" cut off by the token limit (results/cpu-smollm2: base arith, gppo seed-0 gsm8k/test/53): the
# checker of commit cc3da39 took the marker's own verb, "is", as the answer. Math-Verify reads 24 for the first (the
# last number) and 80 for the second: it goes back to the earlier "The final answer is 80." (its candidates of one
# anchor are tried right to left), where our priority rule goes on to the next method and reads the last stated
# result, "which is 40" (the verdict the older checker recorded in that file). The second is the last three
# sentences of its response.
CUT_OFF = [
    ("8", "To solve this problem, we need to first calculate 24 - 16, which is 12.\n\nWe can do this by adding 12 "
          "to 24, which gives us 24.\n\nSo, the answer is 24.\n\nThe final answer is", "24", False),
    ("40", "So, 20% of the $40 is 40.  The total revenue is 20% of the $40, which is 80.  The final answer is 80.  "
           "The mechanic earns 20% of the $40, which is 40.  The final answer is", "40", True),
]

# the brief's own examples (one line each)
BRIEF = [
    ("38", "13 + 25 = 38. The answer is within \\boxed{}.", "38", True),
    ("5", "x = 5. The answer is within the box.", "5", True),
]

# Math-Verify tests/test_all.py: gold "$3$", expected 1 (the Minerva trailer "I hope it is correct." after prose)
JANE = (r"Let $t$ be the number of hours since Jane started growing Rod, and let $s$ be the number of hours since "
        r"Jane started growing Sphere. We know that $t = s + 5$, since Rod started 5 hours before Sphere. "
        r"So, Jane started growing Sphere 3 hours ago. Since Rod started 5 hours before Sphere, the number of hours "
        r"ago Jane started growing Rod is $t = s + 5 = 3 + 5 = 8$ hours. Final Answer: Jane started growing Sphere "
        r"3 hours ago. I hope it is correct. <|im_start|>user")
MATH_VERIFY = [("3", JANE, "3", True)]

WORD_ANSWERS = [
    ("yes", "Checking every case, the answer is yes.", "yes"),
    ("12", "the answer is twelve", "twelve"),
    ("(B)", "Comparing the options, the answer is (B)", "(B)"),
    ("Evelyn", "Evelyn has the greatest average speed. The answer is Evelyn.", "Evelyn"),
    ("odd", "f(-x) = -f(x), so the answer is odd.", "odd"),
    ("Sunday", "Counting forward 40 days, the answer is Sunday.", "Sunday"),
    ("neither", "It is neither even nor odd, so the answer is neither", "neither"),
    ("two lines", "The equation factors, so the answer is two lines.", "two lines"),
    ("A, B", "Only the first two hold.\nAnswer: A, B", "A, B"),
    ("empty", "No real x satisfies both, so the answer is empty.", "empty"),
]


@pytest.mark.parametrize("gold,response,answer,correct", SMOLLM2 + BRIEF + MATH_VERIFY + CUT_OFF)
def test_a_non_answer_after_a_marker_falls_through_as_in_math_verify(gold, response, answer, correct):
    assert extract_answer(response) == answer
    assert extract_with_method(response)[1] == "last_number"


def test_verdicts_on_the_non_answers_match_math_verify():
    cases = SMOLLM2 + BRIEF + MATH_VERIFY + CUT_OFF
    out = verify_batch_detailed([g for g, *_ in cases], [r for _, r, *_ in cases])
    assert [v.correct for v in out] == [c for *_, c in cases]
    assert all(v.reason != "text_mismatch" and not v.reason.startswith("unparsable") for v in out)


@pytest.mark.parametrize("gold,response,answer", WORD_ANSWERS)
def test_word_answers_stay_answers(gold, response, answer):
    assert extract_answer(response) == answer
    assert not is_non_answer(answer)


def test_word_answers_verify():
    out = verify_batch_detailed([g for g, _, _ in WORD_ANSWERS if g != "12"],
                                [r for g, r, _ in WORD_ANSWERS if g != "12"])
    assert all(v.correct for v in out), [(v.extracted, v.reason) for v in out]


def test_an_empty_box_is_a_placeholder_a_filled_one_is_not():
    assert is_non_answer(r"within \boxed{}") and is_non_answer(r"within \boxed") and is_non_answer("\\boxed{ }")
    assert is_non_answer("within a boxed{}, you need to place it inside a square bracket")
    assert not is_non_answer(r"\boxed{5}") and not is_non_answer(r"\boxed 5") and not is_non_answer("5")
    # a filled box after the same words is the boxed method's answer, before any marker is read
    assert extract_with_method(r"13 + 25 = 38. The answer is within \boxed{38}.") == ("38", "boxed")


def test_the_rule_s_own_boundary():
    # not from a source: where the rule stops. A box named as the answer, a long words-only answer, "true"
    assert extract_answer("Only one box holds the coin. The answer is Box A.") == "Box A"
    assert extract_answer("x = 4 so the statement holds. The answer is true.") == "true"
    long_words = "within " + "the answer that goes on " * 10
    assert not is_non_answer(long_words) and is_non_answer(long_words[:60])


def test_no_later_statement_means_no_answer_not_the_phrase():
    # nothing but the phrase: the response states no answer at all
    assert extract_answer("The answer is within the specified format.") is None
    out = verify_batch_detailed(["10"], ["The answer is within \\boxed{}."])
    assert out[0].reason == "no_answer" and out[0].extracted is None


def test_every_marker_and_the_answer_tag_fall_through():
    for marker in ("The answer is", "The final answer is", "Final Answer:", "Answer:"):
        # the line before states x = 7 (bare_math reads the statement, last_number would read 7)
        assert extract_answer(f"so x = 7.\n{marker} within the box.") == "x = 7", marker
        assert extract_answer(f"so 7 in all.\n{marker} within the box.") == "7", marker
    assert extract_answer("x = 7 <answer>within \\boxed{}</answer>") == "7"
    # a caller's own priority without a fallback finds nothing instead of the phrase
    assert extract_answer("x = 7. The answer is within the box.", ("answer_is",)) is None


def test_a_marker_ending_its_line_reads_the_next_line():
    # "is" ends the marker's line: the answer is on the next line (Minerva-style "Final Answer:" split in two)
    assert extract_with_method("The final answer is\n40") == ("40", "final_answer")
    assert extract_answer("Final Answer: The final answer is\n\n$\\frac{1}{2}$") == "\\frac{1}{2}"


def test_the_format_reward_does_not_count_a_phrase_as_a_stated_answer():
    fmt = get_reward("format", boxed_only=False)
    got = fmt.batch(None, ["The answer is within \\boxed{}.", "The answer is 38."])
    assert [r.reason for r in got] == ["no_boxed_answer", "answer_marker"]
