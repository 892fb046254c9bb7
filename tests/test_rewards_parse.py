"""The safe parser, normalisation, size limits and the shared rounding rule, tested directly."""
from fractions import Fraction

import pytest
import sympy

from rewards.normalize import LIMITS, normalize
from rewards.numeric import Literal, literal_of, rounding_match
from rewards.parse import MatrixNode, ParseError, Rel, Seq, TooLarge, parse_answer, tokenize
from tools.checker.rewrite import second_form


@pytest.mark.parametrize("raw,expected", [
    (r"$\dfrac{1}{2}$", r"\frac{1}{2}"),
    (r"\left( 1, 2 \right)", "( 1, 2 )"),
    (r"5\text{ cm}", "5"),
    (r"30^\circ", "30"),
    ("1,000,000", "1000000"),
    (r"10,\!080", "10080"),
    (r"1\,000", "1000"),
    ("The answer is 7.", "7"),
    (r"\approx 8.24", "8.24"),
    (r"\pi k", r"\pi k"),  # a single letter is a variable, never a unit
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_tokenizer_whitelist():
    assert [t.text for t in tokenize(r"\frac{1}{2}+x")] == ["frac", "{", "1", "}", "{", "2", "}", "+", "x"]
    for bad in ["a.b", "`ls`", "x\x00", "\\input{x}", '"s"', "x#y", "@", "\\write18", "x\ud800"]:
        with pytest.raises(ParseError):
            tokenize(bad)
    # tokens that are each harmless do not make code: the parser refuses them or builds plain symbols
    for bad in ["__import__('os')", "().__class__", "x__y"]:
        with pytest.raises(ParseError):
            parse_answer(bad)
    lam = parse_answer("lambda: 0").value  # the letters l, a, m, b, d, a as symbols, in a ratio with 0
    assert isinstance(lam, Seq) and lam.kind == "ratio"
    assert all(isinstance(a, (sympy.Symbol, sympy.Number)) for item in lam.items for a in item.atoms())


def test_parser_builds_sympy_objects_without_evaluating_text():
    x = sympy.Symbol("x")
    assert parse_answer(r"\frac{x^2-1}{x-1}").value == (x ** 2 - 1) / (x - 1)
    with pytest.raises(ParseError, match="side by side"):
        parse_answer("2 3")
    v = parse_answer(r"(1, 2]").value
    assert isinstance(v, Seq) and (v.kind, v.left, v.right) == ("interval", "(", "]")
    assert isinstance(parse_answer("y = 2x").value, Rel)
    assert isinstance(parse_answer(r"\begin{pmatrix} 1 & 2 \end{pmatrix}").value, MatrixNode)
    assert parse_answer(r"\pm 2").value == Seq("pm", (sympy.Integer(2), sympy.Integer(-2)))
    assert parse_answer(r"\text{Monday}").is_text
    assert parse_answer("x y").value == x * sympy.Symbol("y")  # single letters are never text


@pytest.mark.parametrize("answer,what", [
    ("9^{9^{9^9}}", "power"),
    ("10^{10^{10}}", "power"),
    ("100000!", "factorial"),
    ("x^{x^{x}}", "tower"),
    ("(" * 100 + "1" + ")" * 100, "nests"),
    ("1" * 500, "digits"),
    ("+".join(["1"] * 1200), "tokens"),
    ("1" + "0" * 390 + "^{100}", "power"),
    ("2.5e999999", "exponent"),
    (r"\sum_{k=1}^{100000} k", "sum terms"),
    (r"\sum_{k=1}^{600} k + \sum_{j=1}^{600} j", "sum terms in one answer"),
    (r"\prod_{k=1}^{900} k^{k}", "product digits"),
    (r"\sum_{k=1}^{9} 10^{10^{6} k}", "power in a term"),
    (r"\prod_{k=1}^{10} 6000!", "factorial in a term"),
])
def test_size_limits_refuse_before_evaluating(answer, what):
    with pytest.raises(TooLarge):
        parse_answer(answer)


def test_limits_are_documented_values():
    assert (LIMITS.max_chars, LIMITS.max_depth, LIMITS.max_factorial) == (2000, 60, 5000)


def test_literals_and_the_rounding_rule():
    assert literal_of("0.333") == Literal(Fraction(333, 1000), 3, 3)
    assert literal_of("4.5e33") == Literal(Fraction(45 * 10 ** 32), -32, 2, True)
    assert literal_of("1e-5").value == Fraction(1, 100000)
    assert literal_of("0.333").ulp == Fraction(1, 1000) and literal_of("4.5e33").ulp == 10 ** 32
    third = Fraction(1, 3)

    def match(gold, pred, glit=None, plit=None, **kw):
        return rounding_match(gold, pred, glit, plit, **kw)

    def dec(text):
        return literal_of(text).value, literal_of(text)

    v, lit = dec("0.333333")
    assert match(third, v, plit=lit) and match(v, third, glit=lit)          # 6 significant digits, either side
    v, lit = dec("0.333")
    assert not match(third, v, plit=lit) and not match(v, third, glit=lit)  # 3 are not the exact third
    assert match(third, v, plit=lit, min_sig_digits=3)                      # unless asked for
    v, lit = dec("0.666666")
    assert match(Fraction(2, 3), v, plit=lit)                               # truncated
    assert not match(-Fraction(2, 3), v, plit=lit)                          # truncation keeps the sign
    assert match(-Fraction(2, 3), -v, plit=lit)
    v, lit = dec("0.333334")
    assert not match(third, v, plit=lit)                                    # neither rounded nor truncated
    v, lit = dec("2021.10")
    assert not match(Fraction(2021), v, plit=lit)
    v, lit = dec("123456.5")
    assert not match(Fraction(123457), v, plit=lit)                         # 7 digits, not 123457 rounded
    g, glit = dec("4.5e33")
    p, plit = dec("4.54e33")
    assert not match(g, p, glit=glit, plit=plit)                            # two decimals: equal in value only
    assert match(g, p, glit=glit, plit=plit, rounded_gold_decimals=True)
    assert not match(g, dec("4.6e33")[0], glit=glit, plit=dec("4.6e33")[1], rounded_gold_decimals=True)
    g, glit = dec("4.5")
    assert not match(g, dec("4.51")[0], glit=glit, plit=dec("4.51")[1])
    assert match(g, dec("4.51")[0], glit=glit, plit=dec("4.51")[1], rounded_gold_decimals=True)
    assert not match(Fraction(314, 100), Fraction(314159, 100000), glit=literal_of("3.14"))  # exact pred vs decimal


def test_second_forms_are_different_strings():
    assert second_form("1000") == "1,000"
    assert second_form("12") == r"\frac{24}{2}"
    assert second_form("0.25") == r"\frac{1}{4}"
    assert second_form(r"\{1,2\}") == r"\{2,1\}"
    assert second_form("y = 2x") == "2x = y"
    assert second_form(r"\frac{a}{b}+1") == "(a)/(b)+1"
    assert second_form(r"\text{even}") is None
