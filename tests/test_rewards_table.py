"""Table-driven accuracy test of the answer checker: (gold, response, expected) written by hand.

Covers extraction, normalisation, the equivalence rules of docs/rewards.md, the known false-positive traps
(1/2004! vs 1/2006!, ±2021 vs 2021, equations with different right sides), reward hacking with several answers,
and long chain-of-thought responses. All pairs go through one verify_batch_detailed call (the real worker pool).
"""
import pytest

from rewards import extract_answer, last_boxed, verify, verify_batch_detailed

B = r"\boxed{%s}"


def bx(s):
    return "The answer is $" + B % s + "$."


CASES = [
    # ---- extraction
    ("42", r"so we get \boxed{42}", True),
    ("42", r"\fbox{42}", True),
    (r"so the result is $\boxed{42}$", r"\boxed{42}", True),  # a gold given as a whole solution
    ("42", r"The final answer is $42$. I hope it is correct.", True),
    ("42", "Therefore, the answer is 42.", True),
    ("42", "So the answer is 42 because 6 * 7 = 42 and nothing else", True),
    ("42", "The answer is 41, since I made an error", False),
    ("42", "Some work.\nAnswer: 42", True),
    ("42", "Natalia sold 48/2 = 24 clips.\n#### 42", True),
    ("42", "I computed 40 + 2 which gives 42", True),
    ("42", "I computed 40 + 2 which gives 43", False),
    ("42", "", False),
    ("42", "   ", False),
    ("42", "no numbers here at all", False),
    ("42", r"\boxed{}", False),
    ("42", r"\boxed {42}", True),
    ("42", r"first \boxed{41} ... wait, recheck: \boxed{42}", False),  # two different final answers
    ("42", r"\boxed{42} and again \boxed{42}", True),                   # the same answer twice is fine
    ("42", r"\boxed{41} or \boxed{42}", False),
    ("42", r"\boxed{41 \text{ or } 42}", False),
    ("42", r"\boxed{42 \text{ or } 41}", False),
    ("\\frac{1}{2}", r"$\boxed{\frac{1}{2}}$", True),
    ("\\frac{1}{2}", r"\boxed{\frac{1}{2}", True),  # unbalanced final box: taken to the end
    ("7", "<think>maybe \\boxed{6}? no, recheck</think> The answer is \\boxed{7}.", True),  # drafts in <think>
    ("7", "<think>it is 7</think> So \\boxed{6}.", False),
    ("7", "<think>work</think><answer>7</answer>", True),
    ("7", "<answer>\\boxed{7}</answer>", True),
    ("7", "<think>the answer is 7", True),  # no closing tag: the whole text is searched
    # ---- normalisation
    ("\\frac{1}{2}", bx(r"\dfrac{1}{2}"), True),
    ("\\frac{1}{2}", bx(r"\tfrac12"), True),
    ("\\frac{1}{2}", bx(r"\left(\frac{1}{2}\right)"), True),
    ("5", bx(r"5\text{ cm}"), True),
    ("5", bx(r"5 \mbox{ meters}"), True),
    ("5", bx(r"5\,\mathrm{kg}"), True),
    ("30", bx(r"30^\circ"), True),
    ("30^\\circ", bx("30"), True),
    ("30", bx(r"30^{\circ}"), True),
    ("1000000", bx("1,000,000"), True),
    ("1000000", bx("1{,}000{,}000"), True),
    ("1000000", bx(r"1\,000\,000"), True),
    ("12", "The answer is 12.", True),
    ("12", bx("x = 12"), True),
    ("12", bx("n=12"), True),
    ("7/2", bx(r"3\frac{1}{2}"), True),
    ("\\frac{7}{2}", bx(r"3\frac12"), True),
    ("10\\%", bx("10"), True),
    ("10", bx(r"10\%"), True),
    ("10\\%", bx("0.1"), False),  # by default the % sign is dropped, 0.1 is not 10 (option percent_fraction)
    ("18.90", bx(r"\$18.90"), True),
    ("18.9", bx(r"\$18.90"), True),
    ("2", bx(r"2\!"), True),
    ("\\text{even}", bx("even"), True),
    ("\\text{Evelyn}", bx(r"\text{Evelyn}"), True),
    ("\\text{Evelyn}", bx(r"\text{Bob}"), False),
    ("\\text{(C)}", bx("(C)"), True),
    ("\\text{(C)}", bx("(D)"), False),
    ("-5", bx("−5"), True),
    ("6", bx("6."), True),
    # ---- numbers
    ("0.5", bx(r"\frac{1}{2}"), True),
    # a decimal stands for an exact gold with >= 6 significant digits, rounded or truncated (Math-Verify 0.9 and
    # Qwen2.5-Math's grader reject 0.333 and 0.3333 for 1/3, accept 0.333333; tests/test_rewards_rounding.py)
    ("\\frac{1}{3}", bx("0.333"), False),
    ("\\frac{1}{3}", bx("0.3333"), False),
    ("\\frac{1}{3}", bx("0.333333"), True),
    ("\\frac{1}{3}", bx("0.3333333"), True),
    ("\\frac{1}{3}", bx("0.33"), False),   # fewer than 6 significant digits
    ("\\frac{1}{3}", bx("0.334"), False),  # not the correctly rounded value
    ("\\frac{2}{3}", bx("0.667"), False),
    ("\\frac{2}{3}", bx("0.666667"), True),
    ("\\frac{2}{3}", bx("0.666666"), True),   # truncated
    ("\\frac{2}{3}", bx("0.666668"), False),  # neither rounded nor truncated
    ("2021", bx("2021.1"), False),
    ("2021", bx("2021.0"), True),
    ("27.0", bx("27"), True),
    ("27", bx("27.000"), True),
    ("4.5", bx("9/2"), True),
    ("4.5", bx("4.50"), True),
    ("4.5", bx("4.51"), False),
    ("0.5", bx("0.54"), False),  # a gold decimal is matched exactly
    ("3.14", bx(r"\pi"), False),
    ("1/2004!", bx("1/2006!"), False),
    (r"\frac{1}{2004!}", bx(r"\frac{1}{2004!}"), True),
    (r"\frac{1}{2004!}", bx(r"\frac{2005 \cdot 2006}{2006!}"), True),
    ("120", bx("5!"), True),
    ("1024", bx("2^{10}"), True),
    ("1024", bx("2^10"), True),
    ("1024", bx("2**10"), True),
    ("10", bx(r"\binom{5}{2}"), True),
    ("-1", bx("-1"), True),
    ("-1", bx("1"), False),
    ("0", bx("-0"), True),
    ("1000", bx(r"10^3"), True),
    ("2500", bx(r"2.5 \times 10^{3}"), True),
    ("100", bx("99.99"), False),
    ("4.5e33", bx(r"4.5 \times 10^{33}"), True),
    ("4.5e33", bx("4.54e33"), False),     # two decimals are equal in value only (rounded_gold_decimals: True)
    ("4.5e33", bx("4.6e33"), False),
    ("4.5e33", bx("4.5e32"), False),
    ("1e-5", bx("0.00001"), True),
    ("3e8", bx(r"3 \cdot 10^8"), True),
    ("2.7778e-6", bx(r"2.7778 \times 10^{-6}"), True),
    ("0.33", bx(r"\frac{1}{3}"), False),  # an exact prediction must equal a decimal gold exactly
    ("x^2", bx("1" + "0" * 300), False),    # a huge number is not x^2 (no float overflow in the comparison)
    ("0", bx(r"\sin^2(1)+\cos^2(1)-1"), True),   # numerically cancelling to 0.e-190
    ("e^{-200}", bx("e^{-201}"), False),         # tiny values are compared relatively, not as zeros
    # ---- irrational and symbolic
    (r"\frac{\sqrt{2}}{2}", bx(r"\frac{1}{\sqrt{2}}"), True),
    (r"\frac{\sqrt{2}}{2}", bx(r"\sqrt{2}/2"), True),
    (r"\frac{\sqrt{2}}{2}", bx("0.7071"), False),
    (r"\frac{\sqrt{2}}{2}", bx("0.707107"), True),
    (r"\frac{\sqrt{2}}{2}", bx("0.7072"), False),
    (r"2\sqrt{3}", bx(r"\sqrt{12}"), True),
    (r"2\sqrt{3}", bx(r"\sqrt{13}"), False),
    (r"\sqrt[3]{8}", bx("2"), True),
    (r"4\pi", bx(r"4 \pi"), True),
    (r"4\pi", bx(r"\pi \cdot 4"), True),
    (r"4\pi", bx(r"12.566"), False),
    (r"4\pi", bx(r"12.5664"), True),
    (r"4\pi", bx(r"3\pi"), False),
    (r"4 \pi^{2}-1", bx(r"-1 + 4\pi^2"), True),
    (r"\log_2 8", bx("3"), True),
    (r"\ln 2", bx(r"\log(2)"), True),
    (r"\frac{\pi}{4}", bx(r"\tan^{-1}(1)"), True),   # an inverse function, not 1/tan
    (r"\frac{\pi}{4}", bx(r"\arctan 1"), True),
    ("0", bx(r"\sqrt{x^2} - |x|"), True),
    (r"e^{i\pi}", bx("-1"), True),
    (r"\sin^2 x + \cos^2 x", bx("1"), True),
    (r"\frac{n(n+1)(2 n+1)}{6}", bx(r"\frac{2n^3+3n^2+n}{6}"), True),
    (r"\frac{n(n+1)(2 n+1)}{6}", bx(r"\frac{2n^3+3n^2+n}{5}"), False),
    (r"\frac{a b}{2}", bx(r"ab/2"), True),
    (r"\frac{1}{4} n(n+1)", bx(r"\frac{n^2+n}{4}"), True),
    ("x^2-1", bx("(x-1)(x+1)"), True),
    ("x^2-1", bx("(x-1)^2"), False),
    ("x", bx("x + 10^{-20}"), False),   # a tiny offset is not equality
    ("x", bx("x(1 + 10^{-25})"), False),
    ("6+9i", bx("9i+6"), True),
    ("6+9i", bx("6-9i"), False),
    ("2^{100}", bx("1267650600228229401496703205376"), True),
    (r"\infty", bx(r"\infty"), True),
    (r"-\infty", bx(r"\infty"), False),
    ("|x|", bx(r"\left| x \right|"), True),
    # ---- equations and inequalities
    ("x+y=3", bx("x+y=4"), False),
    ("x+y=3", bx("y+x=3"), True),
    ("x+y=3", bx("3=x+y"), True),
    ("y=2x+1", bx("2x-y+1=0"), True),
    ("y=2x+1", bx("y=2x+2"), False),
    ("y=2x+1", bx("2x+1"), True),       # the gold's left side is a label
    ("x=5", bx("5"), True),
    ("5", bx("x = 2 + 3 = 5"), True),
    ("5", bx("x = 2 + 3 = 6"), False),
    ("n=k+4", bx("n=4+k"), True),
    ("5", bx("5 = x"), True),
    ("f(x)=2 x", bx("2x"), True),          # f(x) = ... is a labelled function, not f*x
    ("f(x)=2 x", bx("f(x) = x + x"), True),
    ("f(x)=2 x", bx("g(x) = 2x"), False),
    ("f(x)=x, f(x)=2-x", bx("f(x) = 2 - x, f(x) = x"), True),
    ("n=k+4", bx("n=k+3"), False),
    ("x>3", bx("3<x"), True),
    ("x > 3", bx("x<3"), False),
    ("x \\ge 3", bx("x > 3"), False),
    ("2x+4y=8", bx("x+2y=4"), True),
    # ---- tuples, intervals, sets, lists, matrices
    (r"\left( 3, \frac{\pi}{2} \right)", bx(r"(3, \frac{\pi}{2})"), True),
    (r"\left( 3, \frac{\pi}{2} \right)", bx(r"(\frac{\pi}{2}, 3)"), False),
    ("(6,31,-1)", bx("(6, 31, -1)"), True),
    ("(1,2)", bx("1, 2"), True),
    ("[0,9)", bx("(0,9)"), False),
    ("[0,9)", bx("[0,9)"), True),
    ("[0,9]", bx("[0,9)"), False),
    ("(0,9) \\cup (9,36)", bx("(9,36)\\cup(0,9)"), True),
    ("(0,9) \\cup (9,36)", bx("(0,36)"), False),
    ("(-\\infty, 3)", bx("(-\\infty, 3)"), True),
    ("(-\\infty, 3]", bx("(-\\infty, 3)"), False),
    ("(-\\infty, 3)", bx("x < 3"), True),         # an interval and the inequality describing it
    ("(-\\infty, 3]", bx("x < 3"), False),
    ("[1,2)", bx(r"1 \le x < 2"), True),
    ("[3, \\infty)", bx("x > 3"), False),
    ("x > 3", bx(r"(3, \infty)"), True),
    (r"\{1, 2\}", bx(r"\{2, 1\}"), True),
    (r"\{1, 2\}", bx(r"\{1, 2, 3\}"), False),
    ("1, 2", bx("2, 1"), True),
    ("1, 2", bx("2 and 1"), True),
    ("0,-1,-\\frac{3}{2}", bx("-3/2, 0, -1"), True),
    ("1, 2", bx("1"), False),
    ("1", bx("1, 2"), False),
    ("(3,2),(-3,2),(3,-2),(-3,-2)", bx("(-3,-2),(3,2),(3,-2),(-3,2)"), True),
    ("(3,2),(-3,2),(3,-2),(-3,-2)", bx("(3,2),(-3,2),(3,-2)"), False),
    (r"\begin{pmatrix} 16/49 \\ 48/49 \\ 24/49 \end{pmatrix}",
     bx(r"\begin{pmatrix} \frac{16}{49} \\ \frac{48}{49} \\ \frac{24}{49} \end{pmatrix}"), True),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", bx(r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}"), True),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", bx(r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}"), False),
    ("52_8", bx("52_8"), True),
    ("52_8", bx("42"), False),
    # ---- ± answers
    (r"\pm 2021", bx("2021"), False),
    (r"\pm 2021", bx(r"\pm 2021"), True),
    (r"\pm 2021", bx("2021, -2021"), True),
    ("2021", bx(r"\pm 2021"), False),
    (r"1 \pm \sqrt{2}", bx(r"1+\sqrt{2}, 1-\sqrt{2}"), True),
    (r"1 \pm \sqrt{2}", bx(r"1+\sqrt{2}"), False),
    # ---- unparsable or odd predictions are just wrong
    ("5", bx("five"), False),
    ("5", bx(r"\unknowncommand{5}"), False),
    ("5", bx("5 = 6"), False),
    ("\\frac{1}{2}", bx("1/0"), False),
]

# ---- long chain-of-thought responses (>= 20)
_COT_BODY = (
    "Let me think step by step. First, we set up the equation from the problem statement. "
    "If we let $x$ be the unknown, then $3x + 5 = 20$, so $3x = 15$ and $x = 5$. "
    "Now we double-check: $3 \\cdot 5 + 5 = 20$, which is correct. "
)


def _cot(final, filler=6, extra=""):
    return (_COT_BODY * filler) + extra + f"\n\nTherefore, the final answer is $\\boxed{{{final}}}$."


LONG_COT = [
    ("5", _cot("5"), True),
    ("5", _cot("6"), False),
    ("\\frac{3}{4}", _cot(r"\frac{3}{4}", 10), True),
    ("\\frac{3}{4}", _cot("0.75", 10), True),
    ("\\frac{3}{4}", _cot("0.7", 10), False),
    ("204", _cot("204", 12, "We computed 17*12 = 204 after trying 200 first. "), True),
    ("204", _cot("200", 12, "We computed 17*12 = 204 after trying 200 first. "), False),
    ("(1, 2)", _cot("(1,2)", 8), True),
    ("(1, 2)", _cot("(2,1)", 8), False),
    (r"2\sqrt{2}", _cot(r"\sqrt{8}", 9), True),
    (r"2\sqrt{2}", _cot(r"\sqrt{6}", 9), False),
    ("18", _cot("18", 5) + " The answer is 18.", True),
    ("18", _COT_BODY * 8 + "So she makes 9 * 2 = 18 dollars.\n#### 18", True),
    ("18", _COT_BODY * 8 + "So she makes 9 * 2 = 18 dollars.\n#### 19", False),
    ("18", _COT_BODY * 8 + "So the total is 18 dollars.", True),   # last-number fallback
    ("18", _COT_BODY * 8 + "So the total is 18 dollars, or maybe 20.", False),
    ("x^2+2x+1", _cot("(x+1)^2", 7), True),
    ("x^2+2x+1", _cot("(x-1)^2", 7), False),
    ("\\pm 3", _cot(r"\pm 3", 7), True),
    ("\\pm 3", _cot("3", 7), False),
    ("12", _COT_BODY * 7 + r"I first thought $\boxed{10}$ but on checking it is $\boxed{12}$.", False),
    ("12", _COT_BODY * 7 + "The final answer is: $12$", True),
    ("\\{1,2,3\\}", _cot(r"\{3,2,1\}", 7), True),
    ("100", _COT_BODY * 40 + r"$\boxed{100}$", True),
]

ALL = CASES + LONG_COT


def test_table_has_enough_cases():
    assert len(ALL) >= 150
    assert len(LONG_COT) >= 20
    assert all(len(r) > 1000 for _, r, _ in LONG_COT)


def test_table():
    golds = [g for g, _, _ in ALL]
    responses = [r for _, r, _ in ALL]
    verdicts = verify_batch_detailed(golds, responses, timeout=10.0)
    wrong = [(g, r[-120:], e, v) for (g, r, e), v in zip(ALL, verdicts) if v.correct != e]
    assert not wrong, "\n".join(f"gold={g!r} response=...{r!r} expected={e} got={v}" for g, r, e, v in wrong)
    assert not any(v.reason in ("timeout", "worker_died") for v in verdicts)


@pytest.mark.parametrize("gold,response,expected", CASES[:8] + LONG_COT[:2])
def test_single_verify_matches_batch(gold, response, expected):
    assert verify(gold, response) is expected


def test_last_boxed_and_extract():
    assert last_boxed(r"a \boxed{1} b \boxed{\frac{1}{2}} c") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{a{b{c}}d}") == "a{b{c}}d"
    assert last_boxed("nothing") is None
    assert last_boxed(r"\boxedx{1}") is None
    assert extract_answer("Answer: 7 apples") == "7"
    assert extract_answer("The answer is 12%, roughly") == "12%"
    assert extract_answer(r"the final answer is $\frac{3}{4}$. I hope it is correct.") == r"\frac{3}{4}"
    assert extract_answer("#### 1,234") == "1,234"
    assert extract_answer("no numbers") is None
    # callers can change the priority order
    text = r"The answer is 3. \boxed{4}"
    assert extract_answer(text) == "4"
    assert extract_answer(text, ("answer_is", "boxed")) == "3"
    with pytest.raises(ValueError, match="unknown extraction method"):
        extract_answer(text, ("nope",))


def test_an_empty_box_is_no_answer_not_an_unparsable_one():
    # an empty box is no answer: the extractor must not fall through to the line after the marker and report that
    # line as unparsable LaTeX
    assert extract_answer(r"The answer is \boxed{}") is None
    assert extract_answer(r"Final answer: $\boxed{ }$") is None
    out = verify_batch_detailed(["5", "5", "5"], [r"The answer is \boxed{}", r"The final answer is \boxed{}.",
                                                  r"so \boxed{} and then \boxed{5}"])
    assert [v.reason for v in out[:2]] == ["no_answer", "no_answer"] and not out[0].correct
    assert out[2].correct   # an empty box beside a real one is ignored
