"""The forms models actually write, beyond ``\\boxed{}``: 11 classes of (gold, response, expected) cases.

The classes are those measured on a held-out public suite (answers without a box, final-answer lines, LaTeX
shorthand, digit grouping and decimal commas, several boxes, relations, matrices, identities, percent words, float
golds, false positives). The cases are written for this file; their forms follow public evidence that is not this
project: Math-Verify's documented extraction targets and its test suite's forms (huggingface/Math-Verify,
``src/math_verify/parser.py`` and ``tests/test_all.py``: "Final Answer: The final answer is $X$. I hope it is
correct." from Minerva (Lewkowycz et al. 2022, appendix prompt), last math span, "answer" anchors, ``\\frac13``,
``\\cfrac``, thousands separators, decimal commas, percent words, relation flips, equations up to a factor,
assignments and chains, matrices in ``\\left[\\begin{array}``) and the r1 / plain response templates of
``benchmarks``. Where our verdict differs from Math-Verify's, the case says why in a comment.

Every case goes through the public ``verify_batch_detailed`` (extraction in process, comparison in the worker pool).
"""
from fractions import Fraction
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import extract_answer, verify, verify_batch_detailed
from rewards.extract import DEFAULT_PRIORITY, METHODS, math_spans
from rewards.normalize import decimal_comma_reading

MINERVA = "Final Answer: The final answer is ${}$. I hope it is correct."

# ---------------------------------------------------------------------------------------------------------------
# 1. no box: the answer is the last math span ($...$, \(...\), \[...\], $$...$$)
NO_BOX = [
    (r"\frac{2}{5}", r"Solving, so $k = \frac{2}{5}$.", True),
    (r"\frac{2}{5}", r"Solving, so $k = \frac{2}{3}$.", False),
    (r"\frac{y}{3}+\frac{4}{3}", r"The sum is $\frac{y}{3}+\frac{4}{3}$", True),
    (r"\frac{y+4}{3}", r"The sum is $\frac{y}{3}+\frac{4}{3}$", True),
    (r"\frac{y}{3}+\frac{4}{3}", r"The sum is $\frac{y}{3}+\frac{5}{3}$", False),
    ("12", r"Adding, we get \(3 \cdot 4 = 12\).", True),
    ("12", r"Adding, we get \(3 \cdot 4 = 13\).", False),
    ("9", "First $a=2$ and $b=7$, so\n\\[\n a+b = 9\n\\]", True),
    ("9", "First $a=2$ and $b=7$, so\n$$ a+b = 9 $$", True),
    ("9", "First $a=2$ and $b=7$, so\n$$ a+b = 10 $$", False),
    (r"\sqrt{3}", r"The height is $h=\sqrt{3}$.", True),
    (r"\sqrt{3}", r"The height is $h=\sqrt{2}$.", False),
    ("(1,2)", r"The point is $(1, 2)$.", True),
    ("(1,2)", r"The point is $(2, 1)$.", False),
    ("x^2+2x+1", r"Expanding gives $(x+1)^2$.", True),
    ("x^2+2x+1", r"Expanding gives $(x-1)^2$.", False),
    ("-1, 2", r"The roots are $x=-1$ and $x=2$.", True),
    ("-1, 2", r"The roots are $x=-1$ and $x=3$.", False),
    ("3", r"We have $x + 1 = 4$, hence $x = 3$ and we are done.", True),
    ("3", r"We have $x + 1 = 4$, hence $x = 4$ and we are done.", False),
    ("5", r"The cost is $\$5$ per item, so the total is $5$.", True),
    ("10", r"Answer \( (9+1) \)", True),
    ("8", r"Answer \( (6+2) \)", True),
    ("8", r"Answer \( (6+3) \)", False),
    ("2", r"We find $x = 5 + 5 + 1 = 7 = 2$.", True),          # a chain's last part is the answer (Math-Verify too)
    ("11", r"So $x = 5+5+1 = 11$.", True),
    ("6", r"Thus $2+2=4$ and then $4+2 = 6$.", True),
    ("16", r"Since $\left(\sqrt{2}\right)^8=16$, done.", True),  # a computation without unknowns states its value
    ("1", r"So $2x+z=1$.", True),     # the value of 2x+z: an equation ending in a number states that number
    ("1", r"So $2x+z=y$.", False),    # an equation in unknowns is not a value
    (r"\frac{1}{2}", r"The probability is \(\frac{1}{2}\). That is the final result.", True),
    ("4", r"The answer follows: $\frac{8}{2}$ and that's it.", True),
    ("-7", r"Therefore, $y=-7$", True),
    ("-7", r"Therefore, $y=7$", False),
    ("24", "The area is\n\\[\n\\frac{1}{2} \\cdot 6 \\cdot 8 = 24.\n\\]", True),
    ("24", "The area is\n\\[\n\\frac{1}{2} \\cdot 6 \\cdot 8 = 25.\n\\]", False),
    ("7", r"The count of pairs is $7$, out of $10$ tries in total we made 12 checks", False),  # the later number
]

# ---------------------------------------------------------------------------------------------------------------
# 2. final-answer lines (Minerva and friends)
FINAL_LINES = [
    ("17", "We try m = 16 first.\nFinal Answer: The smallest $m$ is 17.", True),
    ("17", "We try m = 16 first.\nFinal Answer: The smallest $m$ is 18.", False),
    ("40", "Final Answer: The area of $PQRS$ is 40. I hope it is correct.", True),
    ("40", "Final Answer: The area of $PQRS$ is 41. I hope it is correct.", False),
    ("34", "Final Answer: The largest $n$ is 34.", True),
    (r"\frac{3}{4}", MINERVA.format(r"\frac{3}{4}"), True),
    (r"\frac{3}{4}", MINERVA.format(r"\frac{4}{3}"), False),
    ("28", MINERVA.format(r"28 \%"), True),
    ("(0, 1)", MINERVA.format("(0, 1)"), True),
    ("[0,1)", MINERVA.format("(0, 1)"), False),
    ("x^2-1", MINERVA.format("(x-1)(x+1)"), True),
    ("2", "Lots of work $x = 9$ and $y=3$.\n" + MINERVA.format("2"), True),
    ("2", "Lots of work $x = 9$ and $y=2$.\n" + MINERVA.format("9"), False),
    ("12", "Final answer: 12", True),
    ("12", "**Final Answer**: 12 apples", True),
    ("12", "Final answer: $x=12$", True),
    ("12", "final answer is 12.", True),
    ("12", "final answer is 13.", False),
    ("5", "The answer is $5$ (from step 2).", True),
    ("5", "Hence the answer is: $\\frac{10}{2}$.", True),
    ("5", "Answer: $5$", True),
    ("5", "Answer: the value is $5$.", True),
    ("5", "Answer:\n$5$", True),
    ("5", "Answer: 6", False),
    ("1.5", "Final Answer: The final answer is 1.5. I hope it is correct.", True),
    ("1.5", "Final Answer: The final answer is 1.25. I hope it is correct.", False),
    ("\\frac{7}{2}", "Final Answer: The ratio is $3.5$.", True),
    ("18", "She makes 9 * 2 = $18 every day.\n#### 18", True),
    ("7", "<think>\nmaybe 6? recheck: it is 7\n</think>\nThe final answer is $7$.", True),
    ("7", "<think>\nit is 7\n</think>\nThe final answer is $6$.", False),
    ("7", "<think>\nmaybe 6\n</think>\nSo the answer is 7.", True),
    ("44", "We check it: so our answer is correct.\n\\[\n44\n\\]", True),   # words after the marker: later math
    ("5", "The answer is $5$.\nCheck: $5 \\cdot 2 = 10$.", True),        # a marker wins over later math
    ("\\text{Evelyn}", "The answer is Evelyn.", True),
]

# ---------------------------------------------------------------------------------------------------------------
# 3. LaTeX shorthand outside a box
SHORTHAND = [
    (r"\frac{2}{5}", r"so $\frac25$.", True),
    (r"\frac{2}{5}", r"so $\frac52$.", False),
    ("2", r"so $\frac4{2}$.", True),
    ("1", r"so $\frac3{3}$.", True),
    (r"\sqrt{5}", r"so $\sqrt5$.", True),
    (r"\sqrt{5}", r"so $\sqrt6$.", False),
    (r"\frac{1}{3}", r"so $\dfrac{1}{3}$.", True),
    (r"\frac{1}{3}", r"so $\tfrac{1}{3}$.", True),
    (r"\frac{1}{3}", r"so $\cfrac{1}{3}$.", True),
    (r"\frac{1}{3}", r"so $\left( \frac{1}{3} \right)$.", True),
    (r"\frac{1}{3}", r"so $\frac{1}{3} \text{cm}$.", True),
    (r"\frac{1}{3}", r"so $\frac{1}{3} \textbf{meters}$.", True),
    (r"\frac{1}{3}", r"so $\frac{1}{3} \text{ inches}$.", True),
    ("12", r"so $12\text{ km/h}$.", True),
    ("12", "so 12 km/h.", True),
    ("12", "so $12 x/y$.", False),    # letters without a unit word are math, not a unit
    ("15", r"The area is $15\mbox{ cm}^2$.", True),
    ("125", r"The distance is $125\textnormal{ miles}$.", True),
    ("e", r"so $\mathrm{e}$.", True),
    ("e^2", r"so $\mathrm{e}^2$.", True),
    (r"\text{B}", r"The choice is $B$.", True),
    (r"\text{B}", r"The choice is $\text{(B)}$.", True),
    (r"\text{B}", r"The choice is $\text{C}$.", False),
    ("B", r"The choice is $\textbf{B}$.", True),
    (r"\sqrt{2}+\sqrt{5}", r"so $\sqrt 2+\sqrt 5$", True),
    (r"\frac{9}{4}\pi", r"so $\frac94\pi$", True),
    (r"\frac{9}{4}\pi", r"so $\frac49\pi$", False),
    ("1/3", r"so $ 1/3 $", True),
    (r"\frac{10}{9}", "so 10/9", True),
    (r"-\frac{10}{9}", "so -10/9", True),
    (r"\frac{\sqrt{3}}{2}", r"so $\dfrac{\sqrt3}{2}$", True),
    (r"\frac{\sqrt{3}}{2}", r"so $\dfrac{\sqrt2}{2}$", False),
    ("90^\\circ", r"the angle is $90^\circ$.", True),
    ("90", r"the angle is $90^{\circ}$.", True),
]

# ---------------------------------------------------------------------------------------------------------------
# 4. digit grouping and decimal commas (the rule: rewards.normalize.decimal_comma_reading)
DIGITS = [
    ("22222000", r"so $22,\! 222,\! 000$", True),
    ("22222000", r"so $22,\!222,\!000$", True),
    ("22222000", r"so $22,\! 222,\! 001$", False),
    ("12304", r"so $12{,}304$", True),
    ("12304", r"so $12{,}305$", False),
    ("2500", "so $2 500$", True),
    ("2500", r"so $2\,500$", True),
    ("7425000", "so 7,425,000", True),
    ("1000", "The total is 1 000", True),
    ("1000.99", "so 1,000.99", True),
    ("3.15", "so $3,15$", True),
    ("3.15", "so $3,16$", False),
    ("2500.75", "so $2500,75$", True),
    ("1000.99", "so $1000,99$", True),
    ("1.22", "so $1,22$", True),
    ("1,22", "so $1.22$", True),
    ("0.111", "so $0,111$", True),
    ("2.74", "The price: 2,74 in total", True),
    ("12304", "so $12,304$", True),            # three digits after the comma: thousands
    ("12.304", "so $12,304$", False),           # ... so never the decimal 12.304
    ("17,44", "so $44, 17$", True),             # a list of two roots, as MATH writes them
    ("1,2", "so $1.2$", False),                 # one digit after the comma: a list, not 1.2
    ("-2,1", "so $1,-2$", True),
    ("11111111100", r"is $\boxed{11,\! 111,\! 111,\! 100}$", True),
    ("32349", r"is $\boxed{32,\! 349}$", True),
    ("32349", r"is $\boxed{32, 349}$", False),  # with a plain space it is a list of two numbers
    ("14916", r"so the number is $14 {, }916$.", True),
    ("1000000", r"$\boxed{1\,000\,000}$", True),
    ("1000", "so 1000.0", True),
]

# ---------------------------------------------------------------------------------------------------------------
# 5. several boxes: one answer set
BOXES = [
    ("3, 4", r"$\boxed{3}, \boxed{4}$", True),
    (r"\{3,4\}", r"$\boxed{3}, \boxed{4}$", True),
    ("2, -5", r"$\boxed{-5}$ and $\boxed{2}$", True),
    ("2, -5", r"$\boxed{-5}$ and $\boxed{3}$", False),
    (r"\boxed{3}\boxed{4}", r"$\boxed{3,4}$", True),
    (r"\boxed{3}\boxed{4}", r"$\boxed{4,3}$", True),
    (r"\boxed{3}\boxed{4}", r"$\boxed{3}$", False),
    ("3", r"$\boxed{3}, \boxed{4}$", False),                  # a hedge never equals one value
    ("3", r"$\boxed{3}$ or maybe $\boxed{4}$", False),
    ("3", r"$\boxed{3}$ and again $\boxed{3}$", True),
    ("1, -2", "**Final Answer**\nThe integers are \\boxed{-2} and \\boxed{1}.", True),
    ("1, -2", "</think>\n\\[\n\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}.\n\\]", True),
    ("(1,2), (3,4)", r"$\boxed{(1,2)}$ and $\boxed{(3,4)}$", True),
    ("(1,2), (3,4)", r"$\boxed{(1,2)}$ and $\boxed{(4,3)}$", False),
    ("x=1, y=2", r"$\boxed{x=1}$, $\boxed{y=2}$", True),
    ("1, 2, 3", r"\boxed{1}, \boxed{2}, \boxed{3}", True),
    ("1, 2, 3", r"\boxed{1}, \boxed{2}", False),
    ("1, 2", r"\boxed{1}, \boxed{2}, \boxed{3}", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 6. relations
RELATIONS = [
    (r"y \geq 2", "so $y >= 2$", True),
    (r"y \geq 2", r"so $2 \leq y$", True),
    ("y >= 2", r"so $y \ge 2$", True),
    (r"y \geq 2", "so $y > 2$", False),
    (r"y \geq 2", r"so $y \leq 2$", False),
    ("-y > -4", "so $y < 4$", True),
    ("y < 4", "so $-y > -4$", True),
    ("y < 4", "so $y > -4$", False),
    (r"y \neq 7", "so $y != 7$", True),
    (r"y \neq 7", r"so $y \ne 7$", True),
    (r"y \neq 7", r"so $y \neq 8$", False),
    ("x < 3", r"so $x \lt 3$", True),
    ("x > 5", r"so $x \gt 5$", True),
    ("12x-5y+3z-8=0", "so $-12x+5y-3z+8=0$", True),
    ("12x-5y+3z-8=0", "so $24x-10y+6z-16=0$", True),
    ("12x-5y+3z-8=0", "so $12x-5y+3z+8=0$", False),
    ("3x+6y-2=0", r"so $y=-\frac12 x+\frac13$", True),
    ("3x+6y-2=0", r"so $y=-\frac12 x+\frac14$", False),
    ("2x+4y-3=0", r"so $y=-\frac{1}{2}x+\frac{3}{4}$", True),
    (r"\frac{x^2}{4} + \frac{y^2}{3} = 1", r"so $\frac{x^2}{16} + \frac{y^2}{12} = \frac14$", True),
    (r"t \in [-3,5]", r"so $-3 \le t \le 5$", True),
    (r"-3 \le t \le 5", r"so $t \in [-3,5]$", True),
    (r"t \in [-3,5]", r"so $-3 < t \le 5$", False),
    ("(4,1)", "so $(a,b)=(4,1)$", True),
    ("(4,1)", "so $(a,b)=(1,4)$", False),
    ("(2,3),(5,3)", "so $a=2,b=3;a=5,b=3$", True),
    ("(2,3),(5,3)", "so $a=2,b=3;a=5,b=4$", False),
    ("5:9", "so $S_1:S_2=5:9$", True),
    ("5:9", "so $S_1:S_2=10:18$", True),
    ("5:9", "so $S_1:S_2=9:5$", False),
    ("x = 11", "so $x = 5+5+1 = 7 =11$", True),                 # the chain's last part (Math-Verify too)
    ("11", "so $x=11$", True),
    ("x=11", "so $11$", True),
    ("k=1", "so $1$", True),
    ("7 = 11a+c", "so $11a+c$", False),                       # not a label: the gold is an equation
    ("2x+z=1", "so $1$", False),
    ("z = 1 + 1 = 2", "so $z = 3+3 = 2$", True),
    ("x < 1", "so $x > -1$", False),
    ("x <= 1", "so $-x >= -1$", True),
    (r"f(2) < f(1) < f(4)", r"Hence $f(2) < f(1) < f(4)$.", True),
    # a label is symbols combined without numbers (Math-Verify's assignment rule)
    ("PQ=6,RS=7", r"so $\boxed{6, 7}$", True),
    ("PQ=6,RS=7", r"so $\boxed{7, 6}$", False),
    (r"\frac{AO}{OC}=\frac{2}{\sqrt{5}}", r"so $\frac{2\sqrt5}{5}$", True),
    (r"\angle ABC = 30^\circ", "so $30$", True),
    ("a+b=9", "so $9$", True),
    ("2a+b=9", "so $9$", False),
    ("0<g(x)<2", "so $(0,2)$", True),
    ("0<g(x)<2", "so $[0,2)$", False),
    # sets of reals written both ways (Math-Verify turns a relation into a set the same way)
    (r"2\leq|w|\leq \frac{5}{2}", r"so $w \in \left[-\frac{5}{2}, -2\right] \cup \left[2, \frac{5}{2}\right]$", True),
    (r"2\leq|w|\leq \frac{5}{2}", r"so $w \in \left[-\frac{5}{2}, -2\right] \cup \left[2, 3\right]$", False),
    (r"x \in (-\infty, -2) \cup (3, \infty)", r"so $x < -2 \text{ or } x > 3$", True),
    (r"x \in (-\infty, -2) \cup (3, \infty)", r"so $x < -2 \text{ or } x \ge 3$", False),
    ("x^2 < 4", "so $(-2, 2)$", True),
    ("x^2 < 4", "so $-2 < x < 2$", True),
    ("x^2 < 4", "so $[-2, 2)$", False),
    ("x > 3", "so $y > 3$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 7. matrices inside math spans
PM = r"\begin{pmatrix} %s \end{pmatrix}"
MATRICES = [
    (PM % r"1 & 0 \\ 0 & 1", r"The identity is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.", True),
    (PM % r"0 & 0 \\ 0 & 0", r"Zero: $ \begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix} $", True),
    (PM % r"1 & 2 \\ 3 & 4", r"so $ \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] $", True),
    (PM % r"1 & 2 \\ 3 & 4", r"so $ \left[\begin{array}{cc}1 & 2 \\3 & 5\end{array}\right] $", False),
    (PM % r"1 & 2 \\ 3 & 4", r"so $\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}$", False),
    (PM % r"1 & 2 \\ 3 & 4", r"so $\begin{pmatrix}1 & 3 \\ 2 & 4\end{pmatrix}$", False),
    (PM % r"\frac{1}{2\sqrt{x}} & 0 \\ 0 & 1", r"so $\begin{pmatrix} \frac{1}{2}x^{-1/2} & 0 \\ 0 & 1 \end{pmatrix}$",
     True),
    (PM % r"\frac{1}{2\sqrt{x}} & 0 \\ 0 & 1", r"so $\begin{pmatrix} \frac{1}{2}x^{1/2} & 0 \\ 0 & 1 \end{pmatrix}$",
     False),
    (PM % r"\frac{1}{3\sqrt[3]{x}^2} & 0 \\ -\sin(x) & 0", r"so $\begin{pmatrix}\frac{1}{3x^{2/3}}&0\\-\sin(x)&0"
     r"\end{pmatrix}$", True),
    (PM % r"\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}",
     r"so $\begin{pmatrix}0.5 & 0.75 \\ \frac{5}{6} & 0.875\end{pmatrix}$", True),
    (PM % r"3 \\ 2 \\ -6", r"The direction is $\begin{pmatrix} 3 \\ 2 \\ -6 \end{pmatrix}.$", True),
    (PM % r"3 \\ 2 \\ -6", r"The direction is $(3, 2, -6)$.", True),
    (PM % r"3 \\ 2 \\ -6", r"The direction is $\begin{pmatrix} 3 \\ -6 \\ 2 \end{pmatrix}.$", False),
    (PM % r"a & b \\ c & d", r"so \[\begin{bmatrix} a & b \\ c & d \end{bmatrix}\]", True),
]

# ---------------------------------------------------------------------------------------------------------------
# 8. identities
IDENTITIES = [
    (r"\csc^2 y", r"so $\cot^2 y + 1$", True),
    (r"\cot^2 y + 1", r"so $\csc^2 y$", True),
    (r"\sec^2(y)", r"so $\tan^2(y)+1$", True),
    (r"\csc^2 y", r"so $\cot^2 y - 1$", False),
    (r"\frac{a+5}{3}", r"so $\frac{a}{3}+\frac{5}{3}$", True),
    (r"\frac{a+5}{3}", r"so $\frac{a}{3}+\frac{5}{2}$", False),
    (r"\frac{x+2}{7}", r"so $\frac{x}{7}+\frac{2}{7}$", True),
    (r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}", r"so $\frac{\sqrt{\sqrt{194}+\sqrt{11}}}{2\sqrt{33}+15}$",
     True),
    (r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}", r"so $\frac{\sqrt{\sqrt{194}+\sqrt{11}}}{2\sqrt{33}+16}$",
     False),
    (r"2 \sin b \cos a", r"so $\sin(a+b) - \sin(a-b)$", True),
    (r"\sin 2x", r"so $2\sin x \cos x$", True),
    (r"\sin 2x", r"so $\sin x \cos x$", False),
    ("(a+5)(b+2)", "so $ab + 2a + 5b + 10$", True),
    ("(a+5)(b+2)", "so $(5)(b+2)$", False),
    (r"\sqrt{2}+\sqrt{3}", r"so $\sqrt{5+2\sqrt{6}}$", True),
    (r"\log_2 8", "so $3$", True),
    (r"e^{\ln 5}", "so $5$", True),
]

# ---------------------------------------------------------------------------------------------------------------
# 9. percent words
PERCENT = [
    (r"45\%", "so 45 pct", True),
    (r"45\%", "so 45 percentage", True),
    (r"45\%", "so 45 percent", True),
    (r"45\%", "so 45 %", True),
    (r"45\%", "so $45$ %", True),
    (r"45\%", "so $45$ percent", True),
    (r"45\%", r"so $\boxed{45}$ pct", True),
    (r"45\%", r"$\boxed{45 pct}$", True),
    (r"45\%", r"$\boxed{45 percentage}$", True),
    (r"45\%", r"$\boxed{45 \text{ percent}}$", True),
    (r"45\%", "so 46 pct", False),
    (r"45\%", r"$\boxed{44 percentage}$", False),
    ("28", MINERVA.format(r"28\%"), True),
]

# ---------------------------------------------------------------------------------------------------------------
# 10. a float gold against an exact answer: compared at the gold's precision
FLOAT_GOLDS = [
    ("2.6457513110645907", r"so $\sqrt{7}$", True),
    ("2.6457513110645907", r"so $\sqrt{8}$", False),
    ("2.64575", r"so $\sqrt{7}$", True),
    ("2.64576", r"so $\sqrt{7}$", False),
    ("4.123105625617661", r"so $\sqrt{17}$", True),
    ("0.3333333333333333", r"so $\frac{1}{3}$", True),
    ("0.333333", r"so $\frac{1}{3}$", True),
    ("0.333334", r"so $\frac{1}{3}$", False),
    ("3.141592653589793", r"so $\pi$", True),
    ("3.14", r"so $\pi$", False),                  # a short decimal gold is exact (issue 3 trap): pi is not 3.14
    ("0.0833333333333333", r"so $\frac{1}{12}$", True),
    ("1.4142135623730951", r"so $\frac{2}{\sqrt{2}}$", True),
    ("1.4142135623730951", r"so $\frac{3}{\sqrt{2}}$", False),
    # each decimal inside a container keeps its own precision
    (r"(\frac{3}{5},\frac{8}{3}]", r"so $(0.6,2.66667]$", True),
    (r"(\frac{3}{5},\frac{8}{3}]", r"so $(0.61,2.66667]$", False),
    (r"(\frac{3}{5},\frac{8}{3}]", r"so $(0.6,2.6667]$", False),  # 5 significant digits do not stand for 8/3
    (PM % r"\frac{1}{3} \\ \frac{1}{5}", r"so $\begin{pmatrix}0.333333\\0.2 \end{pmatrix}$", True),
    (PM % r"\frac{1}{3} \\ \frac{1}{5}", r"so $\begin{pmatrix}0.333\\0.2 \end{pmatrix}$", False),
    (PM % r"\frac{1}{3} \\ \frac{1}{5}", r"so $\begin{pmatrix}0.33\\0.2 \end{pmatrix}$", False),
]

# ---------------------------------------------------------------------------------------------------------------
# 11. false positives to avoid
FALSE_POSITIVES = [
    ("6", r"so $\frac{1+\sqrt{13}}{6}$", False),
    ("13", r"so $\frac{1+\sqrt{13}}{6}$", False),
    ("(0,4)", "so $[0,4)$", False),
    ("[0,4)", "so $(0,4)$", False),
    ("(0,4)", "so $(0,4]$", False),
    ("2", r"so $\frac{1+\sqrt{5}}{2}$", False),
    ("4", r"so $\frac{34}{16}+\frac{\sqrt{1358}}{16}$", False),
    (r"1\sqrt{19}", "so $1$", False),
    ("4", r"so $4\sqrt{2}$", False),
    ("x+2n+1", "so $x+1$", False),
    ("5", r"the answer is $\frac{5}{2}$", False),
    ("2", "AZYUK2A", False),
    ("3", r"so $x^3$", False),
    ("10", r"so $10^{-3}$", False),
    ("1", r"so $\{1, 2\}$", False),
    ("12", r"We get $12$ as a first guess, but the total is $13$.", False),
    ("(3,1)", r"so ${1,3}$", False),
    (r"\text{13}", "so $13$", True),   # Math-Verify says no (a text symbol); we read \text{13} as the number 13
]

CLASSES = {"no_box": NO_BOX, "final_lines": FINAL_LINES, "shorthand": SHORTHAND, "digits": DIGITS, "boxes": BOXES,
           "relations": RELATIONS, "matrices": MATRICES, "identities": IDENTITIES, "percent": PERCENT,
           "float_golds": FLOAT_GOLDS, "false_positives": FALSE_POSITIVES}
ALL = [(cls, g, r, e) for cls, cases in CLASSES.items() for g, r, e in cases]


def test_at_least_200_cases_across_the_11_classes():
    assert len(CLASSES) == 11
    assert len(ALL) >= 200, len(ALL)
    assert all(len(c) >= 10 for c in CLASSES.values())
    for cases in CLASSES.values():  # every class has cases on both sides
        assert {e for _, _, e in cases} == {True, False}


def test_forms_table():
    verdicts = verify_batch_detailed([g for _, g, _, _ in ALL], [r for _, _, r, _ in ALL], timeout=10.0)
    wrong = [(cls, g, r, e, v) for (cls, g, r, e), v in zip(ALL, verdicts) if v.correct != e]
    assert not wrong, "\n".join(f"[{c}] gold={g!r} response={r[-80:]!r} expected={e} got={v}"
                                for c, g, r, e, v in wrong)
    assert not any(v.reason in ("timeout", "worker_died") for v in verdicts)


def test_gold_as_a_math_span_or_a_whole_solution():
    cases = [("$9$", "Answer $ 9 $", True), ("$[0,1)$", "so $[0,1)$", True), ("$(0,9)$", "so $[0,9)$", False),
             ("$125$ miles", r"The distance is $\boxed{125\textnormal{ miles}}.$", True),
             (r"so the roots are $n = \boxed{1,-2}.$", r"\boxed{-2} and \boxed{1}", True),
             (MINERVA.format(r"28 \%"), r"a loss of $\boxed{28\%}$", True),
             (r"Thus the answer is $x \in [-2, 7]$", r"so $-2 \le x \le 7$", True),
             (r"The solution is \(\frac{3}{4}\).", "so 0.75", True)]
    out = verify_batch_detailed([g for g, _, _ in cases], [r for _, r, _ in cases])
    assert [v.correct for v in out] == [e for _, _, e in cases], out


# ---------------------------------------------------------------------------------------------------------------
# the priority order: per call and per reward

def test_priority_order_is_configurable_per_call():
    text = r"The answer is $3$. Final Answer: $4$. I hope it is correct. $\boxed{5}$"
    assert extract_answer(text) == "5"
    assert extract_answer(text, ("final_answer", "boxed")) == "4"
    assert extract_answer(text, ("answer_is",)) == "3"
    assert extract_answer(text, "math_span") == "5"   # a name or a comma-separated string works too
    assert extract_answer("so $x=2$ and then 7 cats", ("math_span",)) is None   # a later bare number wins
    assert extract_answer("so $x=2$ and then 7 cats", ("math_span", "last_number")) == "7"
    assert verify("4", text, priority=("final_answer", "boxed"))
    assert not verify("4", text)
    assert set(DEFAULT_PRIORITY) == set(METHODS)
    with pytest.raises(ValueError, match="unknown extraction method 'spans'"):
        extract_answer(text, ("spans",))
    with pytest.raises(ValueError, match="extraction priority is empty"):
        verify_batch_detailed(["1"], ["1"], priority=())


def test_priority_order_is_configurable_per_reward():
    import rewards

    text = r"The answer is $3$. $\boxed{5}$"
    assert rewards.get_reward("correctness")("5", text).value == 1.0
    fn = rewards.get_reward("correctness", extraction=["answer_is", "boxed"])
    assert fn("3", text).value == 1.0 and fn("5", text).value == -1.0
    with pytest.raises(ValueError, match="unknown extraction method"):
        rewards.get_reward("correctness", extraction=["nope"])
    both = rewards.get_reward("correctness+overlong", correctness={"extraction": "answer_is"},
                              overlong={"max_len": 100, "cache_len": 10})
    assert both.batch(["3"], [text], [5])[0].value == 1.0


# ---------------------------------------------------------------------------------------------------------------
# property tests: general rules

_coef = st.integers(-9, 9)
_factor = st.fractions(min_value=-50, max_value=50, max_denominator=12).filter(lambda f: f != 0)


def _linear(cs, const) -> str:
    terms = [f"{'+' if c >= 0 else '-'}{abs(c)}{v}" for c, v in zip(cs, "xyz") if c]
    body = "".join(terms).lstrip("+") or "0"
    return f"{body}{'+' if const >= 0 else '-'}{abs(const)}=0"


def _latex_frac(f: Fraction) -> str:
    s = "-" if f < 0 else ""
    f = abs(f)
    return f"{s}{f.numerator}" if f.denominator == 1 else f"{s}\\frac{{{f.numerator}}}{{{f.denominator}}}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cs=st.tuples(_coef, _coef, _coef).filter(lambda t: any(t)), const=st.integers(-20, 20), k=_factor)
def test_property_an_equation_equals_its_multiple_by_any_nonzero_rational(cs, const, k):
    gold = _linear(cs, const)
    scaled = [Fraction(c) * k for c in cs]
    terms = "".join(f"+{_latex_frac(c)}{v}" for c, v in zip(scaled, "xyz") if c).replace("+-", "-").lstrip("+")
    pred = f"{terms}+{_latex_frac(Fraction(const) * k)}=0".replace("+-", "-")
    assert verify(gold, f"so ${pred}$."), (gold, pred)
    # and a different constant term is a different equation
    other = f"{terms}+{_latex_frac(Fraction(const + 1) * k)}=0".replace("+-", "-")
    assert not verify(gold, f"so ${other}$."), (gold, other)


@settings(max_examples=40, deadline=None)
@given(a=st.integers(-10 ** 9, 10 ** 9))
def test_property_digit_grouping_reads_as_the_same_integer(a):
    grouped = f"{a:,}"
    for form in (grouped, grouped.replace(",", ",\\! "), grouped.replace(",", "{,}"), grouped.replace(",", "\\,")):
        assert verify(str(a), f"so ${form}$."), form
    assert not verify(str(a + 1), f"so ${grouped.replace(',', '{,}')}$.")


@settings(max_examples=40, deadline=None)
@given(a=st.integers(0, 99999), b=st.integers(0, 9999).map(str).filter(lambda s: len(s) != 3 and len(s) >= 2))
def test_property_a_decimal_comma_equals_the_decimal_point(a, b):
    comma, point = f"{a},{b}", f"{a}.{b}"
    assert decimal_comma_reading(comma) == point
    assert verify(point, f"so ${comma}$") and verify(comma, f"so ${point}$")


@settings(max_examples=30, deadline=None)
@given(x=st.integers(-50, 50), phr=st.sampled_from([
    "so $n = {x}$.", "Final Answer: The final answer is ${x}$. I hope it is correct.", "Answer: ${x}$",
    "We get \\({x}\\).", "So\n\\[\n{x}\n\\]", "Final Answer: The value of $n$ is {x}.", "the answer is {x}."]))
def test_property_every_phrasing_states_the_same_answer(x, phr):
    text = "First $a = 3$ and $b = 4$.\n" + phr.format(x=x)
    assert verify(str(x), text) and not verify(str(x + 1), text)


@settings(max_examples=30, deadline=None)
@given(vals=st.lists(st.integers(-99, 99), min_size=2, max_size=5, unique=True), seed=st.integers(0, 10 ** 6))
def test_property_several_boxes_form_an_unordered_answer_set(vals, seed):
    shuffled = vals[:]
    random.Random(seed).shuffle(shuffled)
    resp = " and ".join(f"$\\boxed{{{v}}}$" for v in shuffled)
    assert verify(", ".join(map(str, vals)), resp)
    assert not verify(str(vals[0]), resp)                     # never one value
    assert not verify(", ".join(map(str, vals[:-1])), resp)   # nor a subset


def test_math_spans_are_found_in_order():
    text = r"a $x$ b \(y\) c \[z\] d $$w$$ e \$5 and $ broken" + "\n$v$"
    assert [c for _, _, c in math_spans(text)] == ["x", "y", "z", "w", "v"]
    assert math_spans("$a\nb$") == []           # inline math stays on one line
    assert [c for *_, c in math_spans("$$a\nb$$")] == ["a\nb"]
