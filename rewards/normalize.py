"""String-level normalisation of answers and the size limits (no sympy: safe and cheap in any process).

``normalize`` never evaluates anything; it is linear-ish in the answer length (a few regular expressions over at most
``4 * Limits.max_chars`` characters). ``rewards.parse`` tokenises its output; the in-process fast path of
``rewards.verify`` compares normalised strings of short answers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["normalize", "decimal_comma_reading", "is_unit_word", "ParseError", "TooLarge", "Limits", "LIMITS"]


class ParseError(ValueError):
    """The answer is not math this parser accepts (reason in the message)."""


class TooLarge(ParseError):
    """The answer would need a number or nesting beyond the size limits."""


@dataclass(frozen=True)
class Limits:
    max_chars: int = 2000        # normalised answer length
    max_tokens: int = 1000
    max_depth: int = 60          # bracket / operator nesting
    max_digits: int = 400        # digits in one number literal
    max_result_digits: int = 20000   # decimal digits of any exact number built while parsing
    max_factorial: int = 5000    # n! with n above this is refused (5000! has 16326 digits)
    max_items: int = 200         # items in one list / set / matrix
    max_sum_terms: int = 1000    # terms of all \sum and \prod with numeric bounds in one answer, each term size-checked


LIMITS = Limits()



# ----------------------------------------------------------------------------------------------------------------
# normalisation (string level; never evaluates anything)

_UNIT_WORDS = {
    "cm", "mm", "km", "m", "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer",
    "kilometers", "inch", "inches", "in", "ft", "foot", "feet", "yard", "yards", "mile", "miles", "mph", "kg", "g",
    "gram", "grams", "lb", "lbs", "pound", "pounds", "ounce", "ounces", "oz", "second", "seconds", "sec", "s",
    "minute", "minutes", "min", "hour", "hours", "hr", "hrs", "h", "day", "days", "week", "weeks", "month", "months",
    "year", "years", "dollar", "dollars", "cent", "cents", "unit", "units", "square", "sq", "cubic", "degree",
    "degrees", "deg", "radian", "radians", "rad", "percent", "liter", "liters", "litre", "litres", "l", "ml",
    "gallon", "gallons", "people", "students", "apples", "times", "points", "ways", "items", "eggs", "pages",
    "books", "boxes", "marbles", "balls", "cookies", "cars", "coins", "games", "steps", "numbers", "integers",
    "digits", "bags", "tickets", "candies", "cups", "pieces", "feet", "kmh", "hz", "ev", "pa",
}
# single letters are variables, never units: "\\pi k" keeps its k
_UNIT_WORDS = {w for w in _UNIT_WORDS if len(w) > 1 and w not in ("in",)}


def is_unit_word(word: str) -> bool:
    """Whether ``word`` names a unit that a trailing position drops ("cm", "dollars", "units"; never one letter)."""
    return word.lower() in _UNIT_WORDS

_SIMPLE_REPLACEMENTS = [
    ("\\left", ""), ("\\right", ""), ("\\bigl", ""), ("\\bigr", ""), ("\\Bigl", ""), ("\\Bigr", ""),
    ("\\big", ""), ("\\Big", ""), ("\\displaystyle", ""), ("\\textstyle", ""), ("\\nolimits", ""), ("\\limits", ""),
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"), ("\\dbinom", "\\binom"),
    ("\\tbinom", "\\binom"),
    ("\\!", ""), ("\\,", " "), ("\\;", " "), ("\\:", " "), ("\\qquad", " "), ("\\quad", " "),
    ("~", " "), ("\\$", ""), ("$", ""), ("\\(", ""), ("\\)", ""), ("\\[", ""), ("\\]", ""),
    ("{,}", ""), ("\\{,\\}", ""),
    ("^{\\circ}", ""), ("^\\circ", ""), ("^{\\circ }", ""), ("\\circ", ""), ("°", ""), ("\\degree", ""),
    ("\\%", "%"), ("−", "-"), ("–", "-"), ("×", "\\times "), ("÷", "\\div "), ("·", "\\cdot "),
    ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "), ("±", "\\pm "), ("∓", "\\mp "), ("π", "\\pi "),
    ("∞", "\\infty "), ("√", "\\sqrt "), ("∪", "\\cup "), ("∅", "\\emptyset "),
    ("\\lvert", "|"), ("\\rvert", "|"), ("\\vert", "|"), ("\\lbrace", "\\{"), ("\\rbrace", "\\}"),
    ("\\lbrack", "["), ("\\rbrack", "]"), ("\\langle", "("), ("\\rangle", ")"),
    ("\\varnothing", "\\emptyset"), ("\\to", "\\rightarrow"), ("\\phantom", ""), ("≈", "\\approx "),
    ("\\mathbb{R}", "(-\\infty, \\infty)"), ("\\mathbb R", "(-\\infty, \\infty)"),
]

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|mbox|operatorname|textrm|mathsf|textnormal|boldsymbol|bm)"
                       r"\s*\{([^{}]{0,200})\}")
_SPACING = re.compile(r"\\[hv]space\*?\s*\{[^{}]{0,40}\}")  # \hspace{1cm}: layout, no content
_DIGIT_GROUP = re.compile(r"(\d)(?:,\\!|\s*\{\s*,\s*\})\s*(?=\d{3}(?!\d))")  # 22,\! 222 and 14 {, }916
_DECIMAL_COMMA = re.compile(r"^(-?)(\d+),(\d+)$")
# a unit written as text at the end: a rate in any text command (12\\text{ km/h}, 9.8\\mathrm{m/s^2}), or words in
# \\text/\\mbox (5\\text{ m}, 3\\text{ s}^2), never \\mathrm{e} (Euler's number)
_TEXT_UNIT_END = re.compile(r"(?<=[\d}])\s*(?:\\(?:text|mbox|mathrm|textnormal|textrm)\s*\{\s*[A-Za-z]+(?:\s*/\s*[A-Za-z]+)+"
                            r"(?:\^\d)?\s*\}|\\(?:text|mbox|textnormal|textrm)\s*\{\s*[A-Za-z]+(?:\s+[A-Za-z]+)*"
                            r"(?:\^\d)?\s*\})(?:\^\{?\d\}?)?\s*$")
# an angle in degrees as the argument of a trigonometric function: \sin 60^\circ, \cos(45^{\circ}), \tan{30°}
_DEG = r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree)"
_TRIG_DEGREES = re.compile(r"\\(sin|cos|tan|sec|csc|cot)(\s*\^\s*(?:\{\s*\d\s*\}|\d))?\s*(?:\(\s*(\d{1,4})" + _DEG + r"\s*\)|\{\s*(\d{1,4})" + _DEG
                           + r"\s*\}|(\d{1,4})" + _DEG + ")")
# a mixed number written with a slash: 1 1/2 (a whole number, a space, a proper fraction)
_MIXED_SLASH = re.compile(r"(?<![\d.,/^_])(\d{1,6})[ \t]+(\d{1,6})[ \t]*/[ \t]*(\d{1,6})(?![\d./]|,\d)")
_PERCENT_WORD = re.compile(r"(?<=[\d}])\s*(?:percentage|percent|pct)\b", re.IGNORECASE)
_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:[, ]\d{3})+(?:\.\d+)?$")
_TRAILING_WORDS = re.compile(r"^(.*?[\d}\)\]a-zA-Z])\s+([A-Za-z][A-Za-z\s\^\d\./]*)$")
_LABEL = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:=]?\s*", re.IGNORECASE)


# a command written with its backslash doubled, as in text escaped twice ("\\\\frac{1}{5}" for "\\frac{1}{5}")
_DOUBLED = re.compile(r"(?<!\\)\\\\(left|right|frac|dfrac|tfrac|sqrt|pi|cdot|times|le|leq|ge|geq|ne|neq|in|infty|"
                      r"text|mathrm|circ|pm|cup|approx|div|sin|cos|tan|log|ln)(?![A-Za-z])")


def _undouble_commands(s: str) -> str:
    """``\\\\frac`` -> ``\\frac`` for common commands, in an answer that has no matrix (where ``\\\\`` ends a
    row and may be followed by a letter)."""
    if "\\\\" not in s or "&" in s or "\\begin" in s.replace("\\\\begin", ""):
        return s
    return _DOUBLED.sub(r"\\\1", s)


def _strip_text_commands(s: str) -> str:
    for _ in range(20):
        new = _TEXT_CMD.sub(lambda m: " " + m.group(1) + " ", s)
        if new == s:
            break
        s = new
    return s


def decimal_comma_reading(s: str) -> str | None:
    """The decimal reading of a normalised answer ``A,B`` in digits (``3,15`` -> ``3.15``), or None.

    THE RULE (digit grouping and decimal commas):
    * ``1,000``, ``12,304,000``, ``2 500``, ``22,\\! 222,\\! 000``, ``12{,}304``: a leading group of 1-3 digits
      followed by groups of exactly three digits is one number with thousands separators (English usage), on its
      own or anywhere inside an answer for ``,\\!`` and ``{,}``.
    * ``A,B`` (digits, no space) is read as a decimal comma only when (a) it cannot be a digit grouping: B has two
      or more digits and either B does not have exactly three, or A is 0, or A has four or more digits
      (``3,15``, ``2500,75``, ``0,111``, ``2500,750``), and (b) the other side of the comparison is a single
      number. Otherwise it is a list of two numbers: MATH writes lists of roots as ``17,44`` and ``-2,1``, so
      ``17,44`` equals ``44, 17`` and equals ``17.44`` only against a gold that is one number.
    """
    m = _DECIMAL_COMMA.match(s.strip())
    if m is None:
        return None
    sign, a, b = m.groups()
    if len(b) >= 2 and (len(b) != 3 or a.lstrip("0") == "" or len(a) >= 4):
        return f"{sign}{a}.{b}"
    return None


def _without_sizing(s: str) -> str:
    return s.replace("\\left", "").replace("\\right", "")  # \sin\left(60^\circ\right) is \sin(60^\circ)


def has_trig_degrees(s: str) -> bool:
    """Whether ``s`` takes a trigonometric function of an angle in degrees (``\\sin 60^\\circ``)."""
    return _TRIG_DEGREES.search(_without_sizing(s)) is not None


def drop_trig_degrees(s: str) -> str:
    """``s`` with the degree signs of trigonometric arguments dropped (``\\tan 15^\\circ`` -> ``\\tan 15``): the
    reading of an answer that writes the degrees of the question without their sign."""
    return _TRIG_DEGREES.sub(lambda m: f"\\{m.group(1)}{m.group(2) or ''}({m.group(3) or m.group(4) or m.group(5)})",
                             _without_sizing(s))


def _radians(m: re.Match) -> str:
    deg = m.group(3) or m.group(4) or m.group(5)
    return f"\\{m.group(1)}{m.group(2) or ''}(\\frac{{{deg}\\pi}}{{180}})"


def _mixed(m: re.Match) -> str:
    whole, a, b = m.groups()
    return f"{whole}\\frac{{{a}}}{{{b}}}" if 0 < int(a) < int(b) else m.group(0)


def normalize(answer: str, limits: Limits = LIMITS) -> str:
    """String-level normalisation of an answer (both gold and prediction).

    Removes ``$``, ``\\left``/``\\right``, spacing commands and ``\\!``; maps ``\\dfrac``/``\\tfrac`` to ``\\frac``;
    unwraps ``\\text{}``/``\\mathrm{}``; drops degree signs, a trailing unit word (``12 cm``, ``5\\text{ dollars}``),
    thousands separators (``1,000,000`` and ``1{,}000``), trailing punctuation and an "answer is" label.
    """
    if not isinstance(answer, str):
        raise ParseError("answer is not a string")
    s = answer
    if len(s) > 4 * limits.max_chars:
        raise TooLarge(f"answer has {len(s)} characters (limit {4 * limits.max_chars})")
    s = s.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    s = _undouble_commands(s)
    s = _DIGIT_GROUP.sub(r"\1", s)  # 29,\!322,\!216 -> 29322216
    s = _SPACING.sub(" ", s)
    s = _TRIG_DEGREES.sub(_radians, _without_sizing(s))  # before degree signs are dropped: sin 60° is sin(pi/3)
    s = _MIXED_SLASH.sub(_mixed, s)
    for a, b in _SIMPLE_REPLACEMENTS:
        if a in s:
            s = s.replace(a, b)
    s = re.sub(r"(?<!\\)\\ ", " ", s)  # a LaTeX space (backslash, space), not a matrix row separator
    s = _TEXT_UNIT_END.sub("", s)  # 12\\text{ km/h}: a unit written as text at the end
    s = _strip_text_commands(s)
    s = _PERCENT_WORD.sub("%", s)  # 45 pct, 45 percent, 45 percentage -> 45%
    s = s.strip()
    s = _LABEL.sub("", s)
    if s.startswith("\\approx"):
        s = s[len("\\approx"):].strip()
    # trailing punctuation and sentence ends
    s = s.rstrip(" .;:")
    s = s.strip()
    # unit words at the end: "12 cm", "5 dollars", "30 square units"
    for _ in range(4):
        m = _TRAILING_WORDS.match(s)
        if not m:
            break
        words = [w for w in re.split(r"[\s\^\d\./]+", m.group(2)) if w]
        # "12 km/h": a rate is a unit when its words are units or single letters and one is a unit word
        rate = "/" in m.group(2) and any(w.lower() in _UNIT_WORDS for w in words) and all(
            w.lower() in _UNIT_WORDS or len(w) == 1 for w in words)
        if words and (rate or all(w.lower() in _UNIT_WORDS for w in words)):
            s = m.group(1).strip()
        else:
            break
    # "x = 1,000" style thousands separators only when the whole answer is one such number
    if _THOUSANDS.match(s):
        s = s.replace(",", "").replace(" ", "")
    s = re.sub(r"\s+", " ", s).strip()
    if len(s) > limits.max_chars:
        raise TooLarge(f"normalised answer has {len(s)} characters (limit {limits.max_chars})")
    return s
