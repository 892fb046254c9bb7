"""The answer forms the checker misread (issue 32), each with cases in both directions: forms that must verify and
near-misses that must not.

Six classes come from the issue (measured on an independent suite of expected verdicts); the "probed" group holds the
forms found while probing the checker against the categories of Math-Verify's test suite, and the last five groups
the forms still misread after them (choices in prose or with their content, numbers listed in prose and mixed
numbers, trigonometric functions of degrees, sums and products, markdown bold). Each case is ours unless
it names its source. Evidence beyond the issue's own examples:

* Math-Verify's test suite (huggingface/Math-Verify at 5d148cf, ``tests/test_all.py``, ``tests/test_numina_cases.py``,
  ``tests/test_yujianll.py``): a few cases are kept verbatim, marked ``MV <file>``, with Math-Verify's expected
  verdict (where ours differs, the comment says why);
* Qwen2.5-Math's evaluation (QwenLM/Qwen2.5-Math, ``evaluation/parser.py`` ``extract_answer``): Minerva's "final
  answer is $X$. I hope" is read before any box;
* lm-evaluation-harness's Minerva task (EleutherAI/lm-evaluation-harness, ``lm_eval/tasks/minerva_math/utils.py``):
  the "Final Answer: The final answer is X. I hope it is correct." line;
* responses of SmolLM2-135M-Instruct committed under ``results/`` (file and line named).

Every case goes through the public ``verify_batch_detailed`` (extraction in process, comparison in the pool).
"""
import pytest

from rewards import extract_answer, verify_batch_detailed
from rewards.extract import extract_with_method

# ---------------------------------------------------------------------------------------------------------------
# 1. a bare LaTeX answer with no delimiters and no box: the `bare_math` extraction method
BARE_LATEX = [
    ("10/9", r"\frac{10}{9}", True),                       # MV tests/test_all.py test_simple_fraction_notation
    ("-10/9", r"-\frac{10}{9}", True),                     # MV tests/test_all.py test_simple_fraction_notation
    (r"\frac{10}{9}", r"\dfrac{10}{9}", True),
    (r"\frac{10}{9}", "We divide the two counts.\n\\frac{10}{9}", True),
    (r"\frac{10}{9}", r"So the ratio is \frac{10}{9}.", True),
    (r"\frac{10}{9}", "\\frac{10}{9}\n\nI hope this helps!", True),
    (r"\frac{3}{4}", r"P(A) = \frac{3}{4}", True),
    (r"\sqrt{5}", r"d = \sqrt{1^2 + 2^2} = \sqrt{5}", True),
    ("2\\pi", "The period is 2\\pi.", True),
    ("3\\pi", "The area is 3\\pi square units.", True),
    (r"\frac{\pi}{3}", r"\theta = \frac{\pi}{3}", True),
    ("x^2+1", "The polynomial is x^2 + 1", True),
    ("1024", "We have 2^{10}", True),
    ("(1, 2)", "The solution is x = 1, y = 2.", True),
    ("2, 3", "x = 2 or x = 3", True),
    ("3", "x = 2 or x = 3", False),                      # two values never equal one (a hedge)
    ("C", "C", True),                                     # a one-word response is its own answer
    ("\\text{(C)}", "(C)", True),
    ("\\text{Evelyn}", "Evelyn", True),
    (r"\frac{10}{9}", r"\frac{9}{10}", False),
    ("9", r"\frac{10}{9}", False),                        # the last number in the text is not the answer
    ("10/9", r"-\frac{10}{9}", False),
    (r"\frac{10}{9}", r"So the ratio is \frac{10}{9}. Then we multiply by 9 to get 10.", False),  # later: 10
    (r"\frac{1}{6}", r"The chance of a 6 is \frac{1}{6}, so over 12 rolls we expect 2", False),
    ("2", r"The chance of a 6 is \frac{1}{6}, so over 12 rolls we expect 2", True),
    (r"\sqrt{6}", r"d = \sqrt{1^2 + 2^2} = \sqrt{5}", False),
    ("1024", "2^{10} = 1000", False),
    ("B", "C", False),
    ("\\text{Evelyn}", "Emily.", False),
    # SmolLM2 results/cpu-smollm2/runs/ce-gppo_beta1=0.5_beta2=1/seed-1/eval/arith.responses.jsonl:99 (gold 20):
    # the chain's last part is the statement, 8
    ("20", r"3 + 17 = 5 \times 17 = 8.", False),
    ("8", r"3 + 17 = 5 \times 17 = 8.", True),
]


def test_bare_latex_is_read_by_its_own_method_and_a_cut_off_expression_is_not():
    assert extract_with_method(r"So the ratio is \frac{10}{9}.") == (r"\frac{10}{9}", "bare_math")
    assert extract_with_method("The midpoint is \\left( 2, 3 \\right).") == ("\\left( 2, 3 \\right)", "bare_math")
    # SmolLM2 results/cpu-demo-reference/.../arith.responses.jsonl: a response cut off inside an align block
    cut = "1. First, we need to find the sum of 17.\n\n\\begin{align*}\n17 &= 1 + "
    assert extract_with_method(cut)[1] == "last_number"
    # results/cpu-smollm2/runs/gppo/seed-1/eval/gsm8k.responses.jsonl:75: an arrow leads the last line
    assert extract_answer("\\begin{align*}\n\\Rightarrow 1200 = 1200 * 100\n\\Rightarrow 1") == "1"
    assert extract_answer("We get 5 \\times 3 = 15 apples in all") == "15"   # prose after the math: last number
    assert extract_answer("The answer is within \\boxed{}.\n\\end{align*}") is None


# ---------------------------------------------------------------------------------------------------------------
# 2. chains of equalities and approximations: the exact member before the first \approx is the statement
APPROXIMATIONS = [
    ("11", r"$x = 5 + 6 = 11 \approx 11.0$", True),
    (r"\frac{1}{3}", r"so $y = \frac{1}{3} \approx 0.33$", True),
    ("$x = 1/3$", "$x = 5+5+1 = 1/3 \\approx 11$", True),   # MV tests/test_all.py test_relations_math
    ("$1/3$", "$x=1/3\\approx1.3$", True),                  # MV tests/test_all.py test_relations_math
    ("$11$", "$x\\approx11$", True),                        # MV tests/test_all.py test_relations_math
    (r"10\sqrt{2}", r"The diagonal is $d = 10\sqrt{2} \approx 14.14$.", True),
    ("14.14", r"The diagonal is $d = 10\sqrt{2} \approx 14.14$.", True),  # a decimal gold: the approximation
    ("0.67", r"$x = \frac{2}{3} \approx 0.67$", True),
    (r"\frac{1}{3}", r"The probability is $\frac{1}{3} \approx 33.3\%$.", True),
    ("11", r"We get $x = 5 + 6 = 12 \approx 11$", False),  # the exact part is 12
    ("12", r"We get $x = 5 + 6 = 12 \approx 11$", True),
    (r"\frac{1}{3}", r"so $y = \frac{1}{4} \approx 0.33$", False),
    ("0.33", r"so $y = \frac{1}{4} \approx 0.33$", False),  # 1/4 does not round to 0.33
    ("0.66", r"$x = \frac{2}{3} \approx 0.66$", False),      # 2/3 rounds to 0.67
    (r"\frac{22}{7}", r"$\pi \approx \frac{22}{7}$", False),
    ("1.41", r"$x = \sqrt{2} \approx 1.414$", False),
    ("14", r"The diagonal is $d = 10\sqrt{2} \approx 14.14$.", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 3. matrix and vector arithmetic written out: "A + B = C" states C; "A + B" and "A B" are computed
_M = r"\begin{{pmatrix}}{}\end{{pmatrix}}".format
A, B, SUM, PROD = _M(r"1 & 2 \\ 3 & 4"), _M(r"5 & 6 \\ 7 & 8"), _M(r"6 & 8 \\ 10 & 12"), _M(r"19 & 22 \\ 43 & 50")
U, V, TWICE_A, SLIP = _M(r"1 \\ 2"), _M(r"5 \\ 6"), _M(r"2 & 4 \\ 6 & 8"), _M(r"6 & 8 \\ 10 & 11")
MATRICES = [
    # MV tests/test_all.py test_matrix_extraction (both verbatim)
    ("$\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}$",
     "The sum is $\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$",
     True),
    ("$\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}$",
     "When multiplying by identity: $\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix} \\begin{pmatrix}1 & 0 \\\\ 0 & "
     "1\\end{pmatrix}$", True),
    (SUM, f"${A} + {B} = {SUM}$", True),
    (SUM, f"\\[\n{A} + {B} = {SUM}\n\\]", True),
    (PROD, f"${A}{B} = {PROD}$", True),
    (PROD, f"${A}{B}$", True),
    (_M(r"-4 \\ -4"), f"\\[{U} - {V}\\]", True),
    (TWICE_A, f"$2{A} = {TWICE_A}$", True),
    (TWICE_A, f"$\\mathbf{{A}} + \\mathbf{{A}} = {TWICE_A}$", True),
    ("(6, 8)", "$(1, 2) + (5, 6) = (6, 8)$", True),
    (SUM, f"${A} + {B} = {SLIP}$", False),                      # a slip in the stated result
    (A, f"${A} + {B} = {SUM}$", False),                         # the first matrix is not the answer
    (_M(r"23 & 34 \\ 31 & 46"), f"${A}{B}$", False),            # B A, not A B
    (SUM, f"${A} + {U}$", False),                               # shapes differ: no sum
    ("(6, 8)", "$(1, 2) + (5, 6) = (6, 9)$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 4. sets of tuples in another order or with a repeat (the gold lists distinct items: a set)
TUPLE_SETS = [
    ("(1,3),(3,1)", "$(3,1),(1,3),(3,1)$", True),
    ("(1,3),(3,1)", "The solutions are $(3,1)$, $(1,3)$ and $(3,1)$.", True),
    ("(1,3),(3,1)", r"$\{(3,1),(1,3)\}$", True),
    ("(1,2),(2,1),(3,3)", r"\boxed{(3,3),(2,1),(1,2),(2,1)}", True),
    ("(1,2,3),(3,2,1)", "$(3,2,1),(1,2,3),(1,2,3)$", True),
    # MV tests/test_numina_cases.py (verbatim)
    ("$(37,3,3,13),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$",
     "$\\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), (37,3,3,13)}$", True),
    ("1, 2, 3", "$1, 2, 3, 3$", True),
    ("(1,3),(3,1)", "$(3,1),(3,1)$", False),          # (1,3) is missing
    ("(1,3),(3,1)", "$(1,3)$", False),
    ("(1,3),(3,1)", "$(3,1),(1,3),(2,2)$", False),    # an extra solution
    ("(1,2,3),(3,2,1)", "$(3,2,1),(1,3,2)$", False),  # a tuple's own order counts
    ("2, 2, 3", "$2, 3$", False),                      # a gold that repeats an item counts it (a multiset)
    ("2, 2, 3", "$3, 2, 2$", True),
    ("1, 2, 3", "$1, 2, 2$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 5. \mathrm{e}, \operatorname{e} and \text{e} as Euler's number
EULER = [
    ("e^2", r"$\mathrm{e}^2$", True),
    ("e^2", r"\operatorname{e}^{2}", True),
    ("e^{2}", r"\text{e}^2", True),
    ("e", r"The base is \mathrm{e}.", True),
    (r"\frac{1}{e}", r"\frac{1}{\mathrm{e}}", True),
    (r"\frac{1}{e}", r"\mathrm{e}^{-1}", True),
    ("2e", r"$\text{e} + \mathrm{e}$", True),
    ("e^x", r"$\mathrm{e}^{x}$", True),
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$", True),   # MV tests/test_yujianll.py
    ("e", "$2.71828$", True),                          # e rounded to 6 significant digits (the decimal rule)
    ("e", "$2.718281$", True),                         # e truncated to 7
    ("e", "$2.718$", False),                           # 4 digits do not stand for e
    ("e^3", r"The value is \mathrm{e}^{2}", False),
    ("e", r"$\mathrm{e}^2$", False),
    ("e", "$2.71$", False),                            # not e rounded (2.72)
    ("e^x", r"$\mathrm{e}^{2x}$", False),
    (r"\frac{e}{2}", r"$\frac{\mathrm{e}}{3}$", False),
    # MV tests/test_yujianll.py expects 1 here; 1 + 1/e is not 1 - 1/e
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 6. a point or vector stated after a derivation, in \left( ... \right), when earlier lines hold other tuples
POINTS = [
    ("(2,3)", "Points $(1, 2)$ and $(3, 4)$ give the midpoint\n\\[\\left( \\frac{1+3}{2}, \\frac{2+4}{2} \\right) "
              "= \\left( 2, 3 \\right)\\]", True),
    ("(2,3)", "Points (1, 2) and (3, 4) give the midpoint\n\\left( \\frac{1+3}{2}, \\frac{2+4}{2} \\right) = "
              "\\left( 2, 3 \\right)", True),
    ("(2,3)", "Points $(1,2)$ and $(3,4)$.\nThe midpoint is \\left( 2, 3 \\right).", True),
    ("(4, -1)", "Step 1: $(0,0)$ maps to $(1,1)$.\nStep 2: so the image of $(3,-2)$ is\n\\[\\left( 3+1, -2+1 "
                "\\right) = \\left( 4, -1 \\right)\\]", True),
    ("(1, 2, 3)", "With $\\mathbf{a} = (1,0,0)$ and $\\mathbf{b} = (0,2,3)$ we have \\[\\mathbf{a} + \\mathbf{b} = "
                  "\\left(1, 2, 3\\right).\\]", True),
    (r"\left( \sqrt{2}, \frac{\pi}{4} \right)", "Converting $(1,1)$: $r=\\sqrt2$, so the polar form is "
                                                 "\\left( \\sqrt{2}, \\frac{\\pi}{4} \\right)", True),
    # MV tests/test_all.py test_math_extraction_edge_cases: the gold's backslashes are doubled (escaped twice)
    ("$\\\\left(\\\\frac{1}{5},\\\\frac{1}{6}\\\\right)$", "Thus, $(t,u) = \\boxed{\\left( \\frac{1}{5}, "
                                                        "\\frac{1}{6} \\right)}.$", True),
    ("(2,3)", "Points $(1, 2)$ and $(3, 4)$ give the midpoint\n\\[\\left( \\frac{1+3}{2}, \\frac{2+4}{2} \\right) "
              "= \\left( 2, 4 \\right)\\]", False),
    ("(1,2)", "Points $(1, 2)$ and $(3, 4)$ give the midpoint\n\\[\\left( \\frac{1+3}{2}, \\frac{2+4}{2} \\right) "
              "= \\left( 2, 3 \\right)\\]", False),   # an earlier tuple is not the answer
    ("(2,3)", "Points (1, 2) and (3, 4).\nThe midpoint is \\left( 3, 2 \\right).", False),
    ("(4, -1)", "Step 1: $(0,0)$ maps to $(1,1)$.\nStep 2: so the image of $(3,-2)$ is\n\\[\\left( 3+1, -2+1 "
                "\\right) = \\left( 4, -2 \\right)\\]", False),
    ("$\\\\left(\\\\frac{1}{5},\\\\frac{1}{6}\\\\right)$", "Thus, $\\boxed{\\left( \\frac{1}{6}, \\frac{1}{5} "
                                                        "\\right)}.$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 7. found while probing the categories of Math-Verify's tests: a final-answer line after intermediate boxes, clock
# times, scientific notation without a box, units in \text{}, \mathbb{R}, \boldsymbol and \hspace
_BOXED_STEPS = ("The interest is $0.04 \\cdot 10,000 \\cdot \\frac{1}{2} = \\boxed{200}$, then $0.05 \\cdot 10,200 "
                "\\cdot \\frac{1}{2} = \\boxed{255}$, so she has $10,455.\n")
PROBED = [
    # the later statement wins (MV tests/test_all.py test_math_extraction_additional_cases has this response;
    # Qwen2.5-Math's extract_answer reads Minerva's "final answer is $X$. I hope" before any box)
    ("10455", _BOXED_STEPS + "Final Answer: The final answer is $10,455$. I hope it is correct.", True),
    ("10456", _BOXED_STEPS + "Final Answer: The final answer is $10,455$. I hope it is correct.", False),
    ("12 \\text{ and } 13", "between $\\boxed{12 $ and $13 }. $ Final Answer: The final answer is \"$12 $ and "
                            "$13 $\". I hope it is correct.", True),     # MV tests/test_all.py (its response's end)
    ("7", "$\\boxed{7}$.\n\nFinal Answer: The final answer is in the box above.", True),  # words: the box stands
    ("12:00", "$12:00$", True),
    ("12:00", "$1:00$", False),                        # MV tests/test_yujianll.py: a clock time, not 12:0 = 1:0
    ("3:05", "$3:50$", False),
    ("1:4", "$2:8$", True),                            # a ratio stays a ratio
    ("3 \\times 10^8", "c is about 3e8", True),
    ("3 \\times 10^8", "c is about 3e9", False),
    ("3", "\\boxed{3\\text{ m/s}^2}", True),
    ("5", "\\boxed{5 \\text{ m}}", True),
    ("5", "\\boxed{50 \\text{ m}}", False),
    ("2e", "\\boxed{2\\mathrm{e}}", True),             # \mathrm{e} after a number is Euler's number, not a unit
    ("2", "\\boxed{2\\mathrm{e}}", False),
    ("(-\\infty, \\infty)", "$\\mathbb{R}$", True),
    ("(0, \\infty)", "$\\mathbb{R}$", False),
    ("5", "\\boxed{\\boldsymbol{5}}", True),
    ("2", "\\boxed{\\hspace{1cm}2}", True),
    ("12", "Answer: 12 (twelve)", True),
    ("$-2 \\\\le x \\\\le 7$", "$x \\in [-2,7]$", True),  # MV tests/test_all.py test_set_rel_assymetry (doubled)
    ("$-2 \\\\le x \\\\le 7$", "$x \\in [-2,8]$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# the remaining forms found by probing after the classes above: multiple-choice answers in prose and with their
# content, numbers listed in prose, mixed numbers in prose, trigonometric functions of degrees, sums and products,
# markdown bold around the answer
CHOICES = [
    ("C", "The correct option is (C).", True),
    ("(C)", "Comparing the four values, the correct option is (C).", True),
    ("C", "Hence the correct choice is \\textbf{(C)}.", True),
    ("C", "So the answer is option C.", True),
    ("(D)", "Therefore, option (D) is correct.", True),
    ("D", "Thus (D) is the correct answer.", True),
    ("(D)", "The correct option is (D) since 3 > 2.", True),
    ("(B)", "$\\boxed{(B) 3}$", True),
    ("B", "$\\boxed{\\text{(B) } 3}$", True),
    (r"\text{(B)}", "$\\boxed{\\textbf{(B)}\\ 3}$", True),
    ("C", "The correct option is (D).", False),
    ("(C)", "Thus (D) is the correct answer.", False),
    ("(B)", "$\\boxed{(C) 3}$", False),
    ("B", "So the answer is option A.", False),
    ("3", "$\\boxed{(B) 3}$", False),               # the gold is no choice: (B) 3 stays a product
    ("(C)", "It is either $\\boxed{\\text{(C)}}$ or $\\boxed{288 \\pi}$.", False),   # a hedge, not a choice's content
    ("(C)", "$\\boxed{(C) 3, (D) 4}$", False),
    ("12", "The best option is to multiply 3 by 4, which gives 12.", True),   # no choice named: not a marker
    ("7", "The best option is to multiply 3 by 4, which gives 12.", False),
]
PROSE_NUMBERS = [
    ("2, 3", "The roots are 2 and 3.", True),
    ("-2, 3", "Therefore the roots are -2 and 3.", True),
    ("2, 3, 5", "The primes are 2, 3, and 5", True),
    ("2, 3", "x is 2 or 3", True),
    ("3", "The roots are 2 and 3.", False),          # a list is not one of its values
    ("2", "The roots are 2 and 3.", False),
    ("2, 4", "The roots are 2 and 3.", False),
    ("3", "She has 5 apples and 3 oranges.", True),   # numbers joined through words are no list
    ("17", "We add 10 and 7 to get 17.", True),
    ("3", "So 12 + 5 = 17 and 3.", True),
    # SmolLM2 responses committed under results/ (cpu-demo-reference/rerun-3/runs/ce-gppo/seed-8/eval/arith
    # .responses.jsonl:78, cpu-smollm2/runs/ce-gppo_beta1=0.75_beta2=1/seed-0/eval/arith.responses.jsonl:49):
    # numbers after an operation are no list of values
    ("17", "10 + 7 = 17\nTo find 7 + 10, we need to add 10 and 17.\n", True),
    ("4", "To calculate 0 + 4, you simply add the numbers 0 and 4.", True),
    (r"\frac{3}{2}", "He walked 1 1/2 miles.", True),
    (r"\frac{7}{2}", "The answer is 3 1/2.", True),
    (r"1\frac{1}{2}", "The answer is 1 1/2 cups.", True),
    (r"\frac{1}{2}", "He walked 1 1/2 miles.", False),
    (r"\frac{7}{2}", "The answer is 3 1/3.", False),
    (r"\frac{3}{2}", "The answer is 3 4/2.", False),  # no mixed number: 4/2 is not a proper fraction
    ("x^{5/2}", "$\\boxed{x^2 1/2}$", False),           # an exponent is no whole part of a mixed number
]
TRIG_DEGREES = [
    (r"\frac{\sqrt{3}}{2}", "$\\boxed{\\sin 60^\\circ}$", True),
    (r"\frac{1}{2}", "So $\\cos 60^{\\circ}$.", True),
    ("1", "$\\tan 45°$", True),
    (r"\frac{\sqrt{3}}{2}", "$\\boxed{\\sin(60^\\circ)}$", True),
    (r"\frac{\sqrt{3}}{2}", "$\\boxed{\\sin\\left(60^\\circ\\right)}$", True),
    (r"\frac{3}{4}", "$\\boxed{\\sin^2 60^\\circ}$", True),
    (r"\tan 15^\circ", "$\\boxed{2 - \\sqrt{3}}$", True),
    (r"\tan 15^\circ", "$\\boxed{\\tan 15}$", True),     # the question's degrees without their sign
    (r"\frac{\sqrt{3}}{2}", "$\\boxed{\\sin 30^\\circ}$", False),
    (r"\frac{\sqrt{3}}{2}", "$\\boxed{\\sin 60}$", False),   # 60 radians
    (r"\frac{1}{2}", "$\\boxed{\\cos 45^\\circ}$", False),
    (r"\tan 15^\circ", "$\\boxed{2 + \\sqrt{3}}$", False),
    (r"\tan 15^\circ", "$\\boxed{\\tan 16}$", False),
]
SUMS = [
    ("55", "$\\boxed{\\sum_{k=1}^{10} k}$", True),          # MV reads these too
    ("385", "$\\boxed{\\sum_{i=1}^{10} i^2}$", True),        # i is the index, not the imaginary unit
    ("120", "$\\boxed{\\prod_{k=1}^{5} k}$", True),
    (r"\frac{n(n+1)}{2}", "$\\boxed{\\sum_{k=1}^{n} k}$", True),
    ("2^{n+1}-1", "$\\boxed{\\sum_{k=0}^{n} 2^k}$", True),
    (r"\frac{10}{11}", "$\\boxed{\\sum_{k=1}^{10} \\frac{1}{k(k+1)}}$", True),
    ("7", "$\\boxed{\\sum_{k=1}^{3} k + 1}$", True),          # the summand ends at the +
    ("56", "$\\boxed{\\sum_{k=1}^{10} k}$", False),
    ("9", "$\\boxed{\\sum_{k=1}^{3} k + 1}$", False),
    ("-10", "$\\boxed{\\sum_{i=1}^{10} i^2}$", False),
    (r"\frac{n(n-1)}{2}", "$\\boxed{\\sum_{k=1}^{n} k}$", False),
    ("24", "$\\boxed{\\prod_{k=1}^{5} k}$", False),
    ("1", "$\\boxed{\\sum_{k=1}^{100000} k}$", False),        # beyond the term limit: too large, never computed
]
BOLD = [
    ("10", "The answer is **10**.", True),
    ("C", "**Answer: C**", True),
    ("12", "**Final Answer:** 12", True),
    ("10", "The answer is **10 apples**.", True),
    ("x = 4", "Answer: **x = 4**", True),
    ("11", "The answer is **10**.", False),
    ("D", "**Answer: C**", False),
    ("13", "**Final Answer:** 12", False),
    ("4", "Answer: **x = 5**", False),
    ("8", "The answer is 2**3", True),                # a power written with **, not bold
    ("6", "The answer is 2**3", False),
]

CLASSES = {"bare_latex": BARE_LATEX, "approximations": APPROXIMATIONS, "matrices": MATRICES,
           "tuple_sets": TUPLE_SETS, "euler": EULER, "points": POINTS, "probed": PROBED, "choices": CHOICES,
           "prose_numbers": PROSE_NUMBERS, "trig_degrees": TRIG_DEGREES, "sums": SUMS, "bold": BOLD}


def test_every_class_has_cases_in_both_directions():
    for name, cases in CLASSES.items():
        verdicts = [c[2] for c in cases]
        assert verdicts.count(True) >= 5 and verdicts.count(False) >= 5, name


@pytest.mark.parametrize("name", list(CLASSES))
def test_misread_class(name):
    cases = CLASSES[name]
    got = verify_batch_detailed([g for g, _, _ in cases], [r for _, r, _ in cases])
    wrong = [(g, r[-120:], exp, v.extracted, v.reason) for (g, r, exp), v in zip(cases, got) if v.correct != exp]
    assert not wrong, wrong
