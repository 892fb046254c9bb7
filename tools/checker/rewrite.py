"""Equivalent rewritings of gold answers, for the dataset acceptance test and ``tools/checker/checker_bench.py``.

``second_form(gold)`` returns the gold written differently but equal in value (or None when no rewriting rule
applies), by plain string rules: integers get thousands separators or become ``\\frac{2n}{2}``, decimals become
fractions, ``\\frac{a}{b}`` becomes ``(a)/(b)``, degree signs and ``\\left``/``\\right`` change, unordered
lists and sets are reversed, equations swap sides, numbers get a label (``x = 5``). The rules never look at the
meaning beyond what they rewrite, so a failure to verify a rewriting is a real checker (or rule) gap.
"""
from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["second_form", "RULES"]

_INT = re.compile(r"^-?\d+$")
_DEC = re.compile(r"^-?\d*\.\d+$")
_SIMPLE_FRAC = re.compile(r"(?<!\d)\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_SQRT_NUM = re.compile(r"\\sqrt\{(\d+)\}")


def _split_top(s: str) -> list[str] | None:
    """Split on top-level commas (outside brackets and braces)."""
    depth = 0
    parts, cur = [], []
    i = 0
    while i < len(s):
        ch = s[i]
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i:i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts if len(parts) > 1 else None


_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,(?:\\!)?\d{3})+$")


def _integer(g):
    if _THOUSANDS.match(g):
        return g.replace(",", "").replace("\\!", "")
    if _INT.match(g):
        n = int(g)
        return f"{n:,}" if abs(n) >= 1000 else f"\\frac{{{2 * n}}}{{2}}"
    return None


def _decimal(g):
    if _DEC.match(g):
        f = Fraction(g)
        return f"\\frac{{{f.numerator}}}{{{f.denominator}}}" if f.denominator != 1 else str(f.numerator)
    return None


def _frac(g):
    if re.search(r"\d\s*\\[dt]?frac", g):  # a mixed number such as 3 \frac{1}{2}
        return None
    if re.search(r"\\(?:sin|cos|tan|sec|csc|cot|log|ln)\b", g):  # \tan \frac{x}{2}: the argument would change
        return None
    if _SIMPLE_FRAC.search(g) and "^" not in g and "_" not in g and "\\sqrt" not in g:
        return _SIMPLE_FRAC.sub(lambda m: f"({m.group(1)})/({m.group(2)})", g)
    return None


def _sqrt(g):
    if _SQRT_NUM.search(g):
        return _SQRT_NUM.sub(lambda m: f"({m.group(1)})^{{1/2}}", g)
    return None


def _degree(g):
    if "^\\circ" in g or "^{\\circ}" in g:
        return g.replace("^{\\circ}", "").replace("^\\circ", "")
    return None


def _equation(g):
    if g.count("=") == 1 and "\\le" not in g and "\\ge" not in g and "<" not in g and ">" not in g \
            and _split_top(g) is None:
        lhs, rhs = g.split("=")
        if lhs.strip() and rhs.strip():
            return f"{rhs.strip()} = {lhs.strip()}"
    return None


def _set(g):
    if g.startswith("\\{") and g.endswith("\\}"):
        parts = _split_top(g[2:-2])
        if parts:
            return "\\{" + ",".join(reversed(parts)) + "\\}"
    return None


def _list(g):
    if ",\\!" in g or "and" in g:
        return None
    parts = _split_top(g)
    if parts and not (g.startswith(("(", "[")) and g.endswith((")", "]")) and len(parts) == 2 and
                      "),(" not in g.replace(" ", "")):
        if all(p.strip() for p in parts):
            return ", ".join(p.strip() for p in reversed(parts))
    return None


def _tuple(g):
    if g.startswith("(") and g.endswith(")") and _split_top(g[1:-1]):
        return "\\left(" + g[1:-1] + "\\right)"
    return None


RULES = [_integer, _decimal, _degree, _set, _list, _tuple, _equation, _frac, _sqrt]


def second_form(gold: str) -> str | None:
    """The gold written in a second, equivalent way, or None when no rule applies."""
    g = gold.strip()
    for rule in RULES:
        out = rule(g)
        if out is not None and out != g:
            return out
    return None
