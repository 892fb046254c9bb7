"""Safe parsing of LaTeX and plain-text math answers into sympy objects.

THE RULE: text written by the model never reaches ``eval``. This module never calls ``sympify``,
``parse_expr``, ``parse_latex``, ``eval``, ``exec`` or ``lambdify`` on answer text. Instead:

1. ``normalize`` rewrites the answer with plain string operations (no evaluation).
2. ``tokenize`` splits it into tokens from a fixed whitelist: numbers, single letters, a fixed set of LaTeX commands
   and function names, and operator characters. Anything else (quotes, dots after names, underscores
   followed by dunder names, backticks, unknown commands, control characters...) is a ``ParseError``.
3. A small recursive-descent parser builds the answer tree by calling sympy *constructors* directly
   (``Integer``, ``Rational``, ``Symbol``, ``Add``, ``Mul``, ``Pow``, ``sin``...). Symbol names come only from
   whitelisted letters, Greek-letter commands and subscripts, and a sympy ``Symbol`` name is never evaluated.

Size limits, checked *before* sympy evaluates anything (see ``Limits``): answer length, token count, nesting
depth, digits per number, and an estimate of the size of every numeric power, factorial and binomial
(``9^{9^{9^9}}`` is refused with ``TooLarge`` instead of being computed). Numbers that grow through products are
checked after each operation. The worker process that runs this adds address-space and CPU-time limits on top
(``rewards.pool``).

Containers are kept as small tuples (``Seq``) instead of sympy sets so that comparisons can be exact about
brackets: ``(1, 2)`` (a point or an open interval), ``[1, 2)``, ``\\{1, 2\\}``, a bare list ``1, 2``, ``a \\pm b``
and matrices are distinct kinds (see ``rewards.equivalence``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import sympy
from sympy import Integer, Rational, Symbol

from rewards.normalize import LIMITS, Limits, ParseError, TooLarge, normalize
from rewards.numeric import literal_of

__all__ = ["normalize", "tokenize", "parse_answer", "Parsed", "Seq", "Rel", "MatrixNode", "ParseError",
           "TooLarge", "Limits", "LIMITS", "APPROX"]


# ----------------------------------------------------------------------------------------------------------------
# answer trees

@dataclass(frozen=True)
class Seq:
    """A bracketed or bare sequence. kind: 'list' (bare commas/"and"), 'paren' '(..)', 'bracket' '[..]',
    'interval' (mixed brackets such as [a, b)), 'set' (\\{..\\}), 'pm' (the values of an expression with ±),
    'union' (A \\cup B)."""
    kind: str
    items: tuple
    left: str = ""
    right: str = ""


APPROX = "~"  # the op of ``\\approx`` in a Rel: an approximation, not an equation (rewards.equivalence)


@dataclass(frozen=True)
class Rel:
    """A chain of relations: parts[0] ops[0] parts[1] ops[1] ... ; ops in '=', '<', '>', '<=', '>=', '!=' and
    ``APPROX``."""
    ops: tuple
    parts: tuple


@dataclass(frozen=True)
class MatrixNode:
    rows: tuple  # tuple of tuples of sympy expressions


@dataclass
class Parsed:
    """A parsed answer: ``value`` (sympy Expr, Seq, Rel or MatrixNode), the normalised text and flags."""
    value: object
    text: str
    percent: bool = False
    decimals: list = field(default_factory=list)  # rewards.numeric.Literal of every decimal literal, in order
    is_text: bool = False  # the answer is words, compared as a normalised string


# ----------------------------------------------------------------------------------------------------------------
# tokenizer: a fixed whitelist

_FUNCS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sec": sympy.sec, "csc": sympy.csc, "cot": sympy.cot,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "asin": sympy.asin, "acos": sympy.acos,
    "atan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "exp": sympy.exp,
    "ln": sympy.log, "log": sympy.log, "lg": None, "sqrt": sympy.sqrt, "abs": sympy.Abs,
    "floor": sympy.floor, "ceil": sympy.ceiling, "gcd": None, "lcm": None, "det": None,
}
_INVERSE = {"sin": sympy.asin, "cos": sympy.acos, "tan": sympy.atan, "sec": sympy.asec, "csc": sympy.acsc,
            "cot": sympy.acot, "sinh": sympy.asinh, "cosh": sympy.acosh, "tanh": sympy.atanh}
_ACCENTS = {"dot", "ddot", "hat", "bar", "tilde", "vec", "overline", "widehat", "widetilde"}
_EXTRA_SYMBOLS = {"hbar", "ell", "odot", "angle", "triangle", "max", "min"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}
_COMMANDS = {
    "frac", "sqrt", "pi", "infty", "infinity", "cdot", "times", "div", "pm", "mp", "le", "leq", "leqslant", "ge",
    "geq", "geqslant", "ne", "neq", "lt", "gt", "binom", "cup", "cap", "emptyset", "begin", "end", "in",
    "rightarrow", "Rightarrow", "implies", "approx", "ldots", "cdots", "dots", "prime", "land", "lor", "wedge",
    "vee", "e", "mathbb", "R", "not", "lfloor", "rfloor", "lceil", "rceil", "neg", "over", "sum", "prod",
} | _ACCENTS | _EXTRA_SYMBOLS | set(_FUNCS) | _GREEK
_WORD_SEPARATORS = {"and", "or"}

_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+(?:\.\d+|\.(?![\d.]))?|\.\d+)(?:[eE][-+]?\d+(?![A-Za-z]))?)"
    r"|(?P<cmd>\\[A-Za-z]+)"
    r"|(?P<esc>\\[{}|%\\])"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<op>\*\*|<=|>=|!=|=>|->|[-+*/^()\[\]{},;=<>!|&_%':])"
)


@dataclass
class Tok:
    kind: str   # num, cmd, word, op, letter
    text: str


def tokenize(s: str, limits: Limits = LIMITS) -> list[Tok]:
    """Split a normalised answer into whitelisted tokens, or raise ParseError naming the first bad character."""
    toks: list[Tok] = []
    pos = 0
    n = len(s)
    while pos < n:
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            raise ParseError(f"character {s[pos]!r} at position {pos} is not allowed in a math answer")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "ws":
            continue
        if kind == "num":
            if len(text) > limits.max_digits:
                raise TooLarge(f"a number literal has {len(text)} digits (limit {limits.max_digits})")
            toks.append(Tok("num", text))
        elif kind == "cmd":
            name = text[1:]
            if name not in _COMMANDS:
                raise ParseError(f"LaTeX command {text} is not supported in answers")
            toks.append(Tok("cmd", name))
        elif kind == "esc":
            toks.append(Tok("op", {"\\{": "\\{", "\\}": "\\}", "\\|": "|", "\\%": "%", "\\\\": "\\\\"}[text]))
        elif kind == "word":
            toks.extend(_word_tokens(text))
        else:
            if text == "**":
                text = "^"
            toks.append(Tok("op", text))
        if len(toks) > limits.max_tokens:
            raise TooLarge(f"answer has more than {limits.max_tokens} tokens")
    return toks


def _word_tokens(text: str) -> list[Tok]:
    """A run of letters: a function name, "and"/"or" (a list separator), pi, infinity, or single-letter variables."""
    low = text.lower()
    if text in _FUNCS or low in ("sqrt", "ln", "log", "sin", "cos", "tan", "exp"):
        return [Tok("cmd", low if low in _FUNCS else text)]
    if low in _WORD_SEPARATORS:
        return [Tok("op", ",")]
    if low == "pi":
        return [Tok("cmd", "pi")]
    if low in ("infinity", "inf", "oo"):
        return [Tok("cmd", "infty")]
    return [Tok("letter", ch) for ch in text]


# ----------------------------------------------------------------------------------------------------------------
# bounded numeric construction

def _digits_of(x) -> float:
    """Approximate decimal digits of an exact rational (0 for non-rationals)."""
    if isinstance(x, sympy.Rational):
        return max(abs(int(x.p)).bit_length(), abs(int(x.q)).bit_length()) * 0.30103
    return 0.0


class _Builder:
    def __init__(self, limits: Limits):
        self.limits = limits

    def check(self, x):
        if isinstance(x, sympy.Rational) and _digits_of(x) > self.limits.max_result_digits:
            raise TooLarge(f"a number in the answer has more than {self.limits.max_result_digits} digits")
        return x

    def pow(self, base, exp):
        if isinstance(base, (Seq, Rel, MatrixNode)) or isinstance(exp, (Seq, Rel, MatrixNode)):
            raise ParseError("a power of a list, relation or matrix is not a scalar answer")
        if exp.free_symbols and any(p.exp.free_symbols for p in exp.atoms(sympy.Pow)):
            # x^{x^{x}}: towers with variables above two levels make numeric checks explode; not an answer form
            raise TooLarge("power tower with variables deeper than two levels")
        if exp.is_Number and base.is_Number:
            if isinstance(exp, sympy.Integer) and _digits_of(exp) > 15 and base in (0, 1, -1):
                return sympy.Pow(base, exp)
            self._check_numeric_power(base, exp)
        elif exp.is_Number and isinstance(exp, sympy.Rational) and _digits_of(exp) > 7:
            # symbolic base with an enormous exponent: keep it, but refuse absurd sizes that expand() would blow up
            raise TooLarge("exponent of a symbolic power has more than 7 digits")
        elif exp.is_Number is False and base.is_Number and not exp.free_symbols:
            # exponent is an unevaluated numeric expression (e.g. 10^(10^10) kept symbolic): bound its value
            try:
                v = abs(float(sympy.N(exp, 15)))
            except (TypeError, ValueError, OverflowError):
                v = math.inf
            if v > 1e7:
                raise TooLarge("exponent too large")
        return self.check(sympy.Pow(base, exp))

    def _check_numeric_power(self, base, exp) -> None:
        """TooLarge when the power of two numbers would exceed the size limits before sympy computes it."""
        if isinstance(exp, sympy.Rational) and _digits_of(exp) > 15:
            raise TooLarge(f"exponent with about {_digits_of(exp):.0f} digits")
        if isinstance(exp, sympy.Integer):
            e = abs(int(exp))
            if isinstance(base, sympy.Rational):
                size = _digits_of(base) * e
                if size > self.limits.max_result_digits and base not in (0, 1, -1):
                    raise TooLarge(f"power with exponent {e} would have about {size:.3g} digits")
            elif isinstance(base, sympy.Float) and e > 10 ** 6:
                raise TooLarge("float power with a huge exponent")
        elif isinstance(exp, sympy.Rational):
            if _digits_of(exp) > 50 or _digits_of(base) * abs(float(exp)) > self.limits.max_result_digits:
                raise TooLarge("rational power too large")
        elif isinstance(exp, sympy.Float) and abs(float(exp)) > 10 ** 6:
            raise TooLarge("float exponent too large")

    def factorial(self, x):
        if isinstance(x, (Seq, Rel, MatrixNode)):
            raise ParseError("factorial of a non-scalar")
        if x.is_Integer:
            if int(x) > self.limits.max_factorial:
                raise TooLarge(f"{int(x)}! is beyond the factorial limit {self.limits.max_factorial}")
            if int(x) < 0:
                raise ParseError("factorial of a negative integer")
            return sympy.factorial(x)
        if x.is_Number:
            raise ParseError("factorial of a non-integer number")
        return sympy.factorial(x, evaluate=False)

    def binom(self, n, k):
        for v in (n, k):
            if isinstance(v, (Seq, Rel, MatrixNode)):
                raise ParseError("binomial of a non-scalar")
        if n.is_Integer and abs(int(n)) > self.limits.max_factorial:
            raise TooLarge("binomial coefficient too large")
        return self.check(sympy.binomial(n, k))

    def mul(self, a, b):
        return self.check(sympy.Mul(a, b))

    def add(self, a, b):
        return self.check(sympy.Add(a, b))

    def div(self, a, b):
        if b == 0:
            return sympy.zoo if a != 0 else sympy.nan
        return self.check(sympy.Mul(a, sympy.Pow(b, -1)))


# ----------------------------------------------------------------------------------------------------------------
# recursive-descent parser

_REL_OPS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", "le": "<=", "leq": "<=",
            "leqslant": "<=", "ge": ">=", "geq": ">=", "geqslant": ">=", "ne": "!=", "neq": "!=", "lt": "<",
            "gt": ">", "approx": APPROX}
_CONSTANTS = {"pi": sympy.pi, "infty": sympy.oo, "infinity": sympy.oo}


class _Parser:
    def __init__(self, toks: list[Tok], limits: Limits, parsed: Parsed):
        self.toks = toks
        self.i = 0
        self.limits = limits
        self.b = _Builder(limits)
        self.depth = 0
        self.out = parsed
        self.abs_depth = 0
        self.index_letters: set[str] = set()  # the index of an enclosing \\sum/\\prod: a variable even if i or e
        self.sum_terms = 0  # terms built for every \\sum and \\prod of the answer together

    # -- token helpers
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, kind: str, text: str | None = None, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind == kind and (text is None or t.text == text)

    def at_op(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "op" and t.text in texts

    def at_cmd_ahead(self, name: str) -> bool:
        """^{\\prime} or ^\\prime follows."""
        t1, t2 = self.peek(1), self.peek(2)
        return (t1 is not None and t1.kind == "cmd" and t1.text == name) or (
            t1 is not None and t1.kind == "op" and t1.text == "{" and t2 is not None and t2.kind == "cmd"
            and t2.text == name)

    def at_cmd(self, *names: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "cmd" and t.text in names

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end of answer")
        self.i += 1
        return t

    def expect_op(self, text: str):
        t = self.next()
        if t.kind != "op" or t.text != text:
            raise ParseError(f"expected {text!r} but found {t.text!r}")

    def enter(self):
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise TooLarge(f"answer nests deeper than {self.limits.max_depth} levels")

    def leave(self):
        self.depth -= 1

    # -- grammar
    def parse(self):
        if not self.toks:
            raise ParseError("empty answer")
        value = self.list_(closers=())
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek().text!r} after the answer")
        return value

    def list_(self, closers: tuple):
        """items separated by ',' or ';' until a closer (not consumed). Returns a single item or Seq('list')."""
        self.enter()
        if self.at_op(",", ";"):
            raise ParseError("a list cannot start with a comma")
        items = [self.relation()]
        while self.at_op(",", ";"):
            self.next()
            while self.at_op(",", ";"):  # "2, 3, and 4" gives two separators in a row
                self.next()
            if self.peek() is None or (self.peek().kind == "op" and self.peek().text in closers):
                break  # trailing comma
            if self.at_cmd("ldots", "cdots", "dots"):
                raise ParseError("an answer with '...' is not a finite list")
            items.append(self.relation())
            if len(items) > self.limits.max_items:
                raise TooLarge(f"more than {self.limits.max_items} items in a list")
        self.leave()
        if len(items) == 1:
            return items[0]
        return Seq("list", tuple(items))

    def relation(self):
        self.enter()
        parts = [self.union()]
        if self.at_op(":"):
            # a ratio a : b (: c ...)
            items = [parts[0]]
            while self.at_op(":"):
                self.next()
                items.append(self.union())
            self.leave()
            if any(isinstance(x, (Seq, Rel, MatrixNode)) for x in items):
                raise ParseError("a ratio of lists")
            return Seq("ratio", tuple(items))
        ops = []
        while True:
            t = self.peek()
            if t is None:
                break
            if t.kind == "op" and t.text in ("=", "<", ">", "<=", ">=", "!="):
                op = _REL_OPS[t.text]
            elif t.kind == "cmd" and t.text in _REL_OPS:
                op = _REL_OPS[t.text]
            elif t.kind == "cmd" and t.text == "in":
                # "x \in (1, 2)": the membership is the answer's right-hand side
                self.next()
                parts = [self.union()]
                ops = []
                continue
            else:
                break
            self.next()
            ops.append(op)
            parts.append(self.union())
        self.leave()
        if not ops:
            return parts[0]
        return Rel(tuple(ops), tuple(parts))

    def union(self):
        left = self.additive()
        if not self.at_cmd("cup"):
            return left
        items = [left]
        while self.at_cmd("cup"):
            self.next()
            items.append(self.additive())
        return Seq("union", tuple(items))

    def additive(self):
        self.enter()
        # terms: list of (sign, value) where sign in {+1, -1, 'pm', 'mp'}
        terms = []
        sign = +1
        if self.at_op("+"):
            self.next()
        elif self.at_op("-"):
            self.next()
            sign = -1
        elif self.at_cmd("pm", "mp"):
            sign = self.next().text
        terms.append((sign, self.term()))
        while True:
            if self.at_op("+", "-"):
                terms.append((+1 if self.next().text == "+" else -1, self.term()))
            elif self.at_cmd("pm", "mp"):
                terms.append((self.next().text, self.term()))
            else:
                break
        self.leave()
        if len(terms) == 1 and terms[0][0] == 1:
            return terms[0][1]
        if any(isinstance(v, MatrixNode) for _, v in terms):
            return self._matrix_sum(terms)
        if any(isinstance(v, (Seq, Rel)) for _, v in terms):
            raise ParseError("arithmetic on a list, interval or relation")
        return self._expand_pm(terms)

    def _expand_pm(self, terms):
        """The sum of signed scalar terms; with ``\\pm``/``\\mp`` signs, the Seq('pm') of every choice of them."""
        n_pm = sum(1 for s, _ in terms if s in ("pm", "mp"))
        if n_pm > 4:
            raise TooLarge("more than four ± signs")
        results = []
        for mask in range(2 ** n_pm):
            total = Integer(0)
            k = 0
            for s, v in terms:
                if s in ("pm", "mp"):
                    plus = not (mask >> k) & 1
                    k += 1
                    s = 1 if (plus == (s == "pm")) else -1
                total = self.b.add(total, v if s == 1 else self.b.mul(-1, v))
            results.append(total)
        if n_pm == 0:
            return results[0]
        return Seq("pm", tuple(results))

    def _matrix_sum(self, terms):
        """``A + B - C`` of matrices of one shape, entry by entry (a sum written out: "A + B = C" states C)."""
        if not all(isinstance(v, MatrixNode) and s in (1, -1) for s, v in terms):
            raise ParseError("arithmetic between a matrix and a number, list or relation")
        shape = _shape(terms[0][1])
        if any(_shape(v) != shape for _, v in terms):
            raise ParseError("sum of matrices of different shapes")
        rows = []
        for r in range(shape[0]):
            row = []
            for c in range(shape[1]):
                total = Integer(0)
                for s, v in terms:
                    x = v.rows[r][c]
                    total = self.b.add(total, x if s == 1 else self.b.mul(-1, x))
                row.append(total)
            rows.append(tuple(row))
        return MatrixNode(tuple(rows))

    def starts_atom(self) -> bool:
        t = self.peek()
        if t is None:
            return False
        if t.kind in ("num", "letter"):
            return True
        if t.kind == "cmd":
            return t.text in ("frac", "sqrt", "pi", "infty", "infinity", "binom", "e", "begin", "lfloor", "lceil",
                              "sum", "prod") \
                or t.text in _FUNCS or t.text in _GREEK or t.text in _ACCENTS or t.text in _EXTRA_SYMBOLS
        if t.kind == "op":
            if t.text == "|":
                return self.abs_depth == 0
            return t.text in ("(", "[", "{", "\\{")
        return False

    def term(self):
        self.enter()
        value = self.unary()
        while True:
            if self.at_op("*") or self.at_cmd("cdot", "times"):
                self.next()
                value = self._mul(value, self.unary())
            elif self.at_op("/") or self.at_cmd("div", "over"):
                self.next()
                other = self.unary()
                if isinstance(value, (Seq, Rel, MatrixNode)) or isinstance(other, (Seq, Rel, MatrixNode)):
                    raise ParseError("division of a list, relation or matrix")
                value = self.b.div(value, other)
            elif self.starts_atom():
                if self.peek().kind == "num" and self.toks[self.i - 1].kind == "num":
                    raise ParseError("two numbers side by side (a digit group or a missing operator)")
                value = self._mul(value, self.power())
            else:
                break
        self.leave()
        return value

    def _mul(self, a, b):
        if isinstance(a, MatrixNode) or isinstance(b, MatrixNode):
            if isinstance(a, MatrixNode) and isinstance(b, MatrixNode):
                return self._matrix_product(a, b)
            m, s = (a, b) if isinstance(a, MatrixNode) else (b, a)
            if isinstance(s, (Seq, Rel)):
                raise ParseError("product of a matrix and a list")
            return MatrixNode(tuple(tuple(self.b.mul(s, x) for x in row) for row in m.rows))
        if isinstance(a, (Seq, Rel)) or isinstance(b, (Seq, Rel)):
            raise ParseError("product of a list, interval or relation")
        return self.b.mul(a, b)

    def _matrix_product(self, a: MatrixNode, b: MatrixNode) -> MatrixNode:
        """The product ``A B`` of conformable matrices (at most ``Limits.max_items`` entries in each, so at most
        200 x 200 multiplications of entries)."""
        (n, k), (k2, m) = _shape(a), _shape(b)
        if k != k2:
            raise ParseError(f"product of a {n}x{k} and a {k2}x{m} matrix")
        if n * m > self.limits.max_items:
            raise TooLarge("matrix product too large")
        rows = []
        for i in range(n):
            row = []
            for j in range(m):
                total = Integer(0)
                for t in range(k):
                    total = self.b.add(total, self.b.mul(a.rows[i][t], b.rows[t][j]))
                row.append(total)
            rows.append(tuple(row))
        return MatrixNode(tuple(rows))

    def unary(self):
        if self.at_op("-"):
            self.next()
            self.enter()
            v = self.unary()
            self.leave()
            if isinstance(v, (Seq, Rel, MatrixNode)):
                raise ParseError("minus sign before a list")
            return self.b.mul(-1, v)
        if self.at_op("+"):
            self.next()
            return self.unary()
        return self.power()

    def power(self):
        self.enter()
        base = self.postfix()
        if self.at_op("^"):
            self.next()
            if self.at_op("-"):
                self.next()
                exp = self.b.mul(-1, self.exponent())
            else:
                exp = self.exponent()
            base = self.b.pow(base, exp)
            base = self.postfix_ops(base)
        self.leave()
        return base

    def exponent(self):
        if self.at_op("{"):
            return self.group()
        return self.power()

    def postfix(self):
        return self.postfix_ops(self.atom())

    def postfix_ops(self, v):
        while True:
            if self.at_op("!"):
                self.next()
                v = self.b.factorial(v)
            elif self.at_op("%"):
                self.next()
                self.out.percent = True
            elif self.at_op("'") or (self.at_op("^") and self.at_cmd_ahead("prime")):
                # y' and y^{\prime}: a derivative, kept as its own symbol
                if self.at_op("^"):
                    self.next()
                    if self.at_op("{"):
                        self.next()
                        self.next()
                        self.expect_op("}")
                    else:
                        self.next()
                else:
                    self.next()
                if not isinstance(v, sympy.Symbol):
                    raise ParseError("a prime on something that is not a variable")
                v = Symbol(v.name + "'")
            else:
                return v

    def group(self):
        """{ ... } as grouping."""
        self.expect_op("{")
        self.enter()
        if self.at_op("}"):
            raise ParseError("empty braces")
        v = self.list_(closers=("}",))
        self.expect_op("}")
        self.leave()
        return v

    def arg(self):
        """A LaTeX macro argument: {group} or a single token (\\frac12 takes '1' then '2')."""
        t = self.peek()
        if t is None:
            raise ParseError("missing argument")
        if t.kind == "op" and t.text == "{":
            return self.group()
        if t.kind == "num" and len(t.text) > 1 and "." not in t.text:
            self.toks[self.i] = Tok("num", t.text[1:])
            return Integer(int(t.text[0]))
        return self.atom()

    def atom(self):
        self.enter()
        try:
            return self._atom()
        finally:
            self.leave()

    def _number(self, text: str):
        if "." in text or "e" in text or "E" in text:
            try:
                lit = literal_of(text)
            except ValueError as e:
                raise TooLarge(f"number {text[:40]}: {e}") from None
            self.out.decimals.append(lit)
            return self.b.check(Rational(lit.value.numerator, lit.value.denominator))
        return Integer(int(text))

    def _atom(self):
        """One operand, by the kind of its first token: a number, a letter, a command, a bracket."""
        t = self.next()
        if t.kind == "num":
            return self._atom_number(t)
        if t.kind == "letter":
            return self._atom_letter(t.text)
        if t.kind == "cmd":
            return self._atom_command(t.text)
        if t.kind == "op":
            return self._atom_bracket(t.text)
        raise ParseError(f"unexpected {t.text!r}")

    def _atom_number(self, t: Tok):
        v = self._number(t.text)
        if v.is_Integer and self.at_cmd("frac"):
            mixed = self._mixed_number(v)
            if mixed is not None:
                return mixed
        if self.at_op("_"):
            # a number with a base subscript, 52_8: kept as an opaque symbol (compared by its spelling)
            self.next()
            return Symbol(f"{t.text}_{self._subscript_text()}")
        return v

    def _mixed_number(self, whole):
        """``3\\frac{1}{2}`` = 7/2 when a proper fraction of integers follows the integer; None (and nothing read)
        otherwise."""
        save = self.i
        self.next()
        try:
            a = self.arg()
            b = self.arg()
        except ParseError:
            self.i = save
            return None
        if isinstance(a, sympy.Integer) and isinstance(b, sympy.Integer) and b != 0 and 0 < a < b:
            return whole + Rational(a, b)
        self.i = save
        return None

    def _atom_letter(self, name: str):
        if self.at_op("_"):
            self.next()
            return Symbol(f"{name}_{self._subscript_text()}")
        if name in self.index_letters:
            return Symbol(name)
        if name == "e":
            return sympy.E
        if name == "i":
            return sympy.I
        return Symbol(name)

    def _atom_command(self, name: str):
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name == "e":
            return sympy.E
        if name in _ACCENTS:
            inner = self.arg()
            if not isinstance(inner, sympy.Symbol):
                raise ParseError(f"\\{name} on something that is not a variable")
            return Symbol(f"{name}({inner.name})")
        if name in _EXTRA_SYMBOLS:
            return self._extra_symbol(name)
        if name in _GREEK:
            if self.at_op("_"):
                self.next()
                return Symbol(f"{name}_{self._subscript_text()}")
            return Symbol(name)
        rule = _COMMAND_RULES.get(name)
        if rule is not None:
            return rule(self)
        if name in _FUNCS:
            return self._function(name)
        raise ParseError(f"\\{name} cannot start an expression")

    def _extra_symbol(self, name: str):
        """``\\max(a, b)`` and ``\\min(...)`` as functions; the other extra symbols (``\\hbar``, ``\\angle``)
        as symbols."""
        if name in ("max", "min") and self.at_op("("):
            self.next()
            v = self.list_(closers=(")",))
            self.expect_op(")")
            items = v.items if isinstance(v, Seq) else (v,)
            if any(isinstance(x, (Seq, Rel, MatrixNode)) for x in items):
                raise ParseError(f"{name} of lists")
            return (sympy.Max if name == "max" else sympy.Min)(*items)
        return Symbol(name)

    def _frac(self):
        a = self.arg()
        b = self.arg()
        for v in (a, b):
            if isinstance(v, (Seq, Rel, MatrixNode)):
                raise ParseError("\\frac of a list")
        return self.b.div(a, b)

    def _binom(self):
        return self.b.binom(self.arg(), self.arg())

    def _sqrt(self):
        index = None
        if self.at_op("["):
            self.next()
            index = self.additive()
            self.expect_op("]")
        x = self.arg() if (self.at_op("{") or self.peek() is None or self.peek().kind != "op") else self.atom()
        if isinstance(x, (Seq, Rel, MatrixNode)):
            raise ParseError("square root of a list")
        if index is None:
            return self.b.pow(x, Rational(1, 2))
        if isinstance(index, (Seq, Rel, MatrixNode)) or index == 0:
            raise ParseError("bad root index")
        return self.b.pow(x, self.b.div(Integer(1), index))

    def _floor_or_ceiling(self, closer: str, fn):
        v = self.additive()
        if not self.at_cmd(closer):
            raise ParseError(f"missing \\{closer}")
        self.next()
        return fn(v)

    def _atom_bracket(self, text: str):
        if text in ("(", "["):
            return self._bracketed(text)
        if text == "{":
            self.i -= 1
            return self.group()
        if text == "\\{":
            if self.at_op("\\}"):
                self.next()
                return Seq("set", ())
            v = self.list_(closers=("\\}",))
            self.expect_op("\\}")
            items = v.items if isinstance(v, Seq) and v.kind == "list" else (v,)
            return Seq("set", tuple(items))
        if text == "|":
            self.abs_depth += 1
            v = self.additive()
            self.abs_depth -= 1
            self.expect_op("|")
            if isinstance(v, (Seq, Rel, MatrixNode)):
                raise ParseError("absolute value of a list")
            return sympy.Abs(v)
        raise ParseError(f"unexpected {text!r}")

    def _subscript_text(self) -> str:
        """The spelling of a subscript: a single token or {letters/digits}."""
        if self.at_op("{"):
            self.next()
            parts = []
            while not self.at_op("}"):
                t = self.next()
                if t.kind not in ("num", "letter", "cmd") and t.text not in ("+", "-", ","):
                    raise ParseError("unsupported subscript")
                parts.append(t.text)
                if len(parts) > 20:
                    raise TooLarge("subscript too long")
            self.next()
            return "".join(parts)
        t = self.next()
        if t.kind not in ("num", "letter", "cmd"):
            raise ParseError("unsupported subscript")
        return t.text

    def _bracketed(self, opener: str):
        if self.at_op(")") and opener == "(":
            raise ParseError("empty parentheses")
        abs_save = self.abs_depth
        self.abs_depth = 0
        v = self.list_(closers=(")", "]"))
        self.abs_depth = abs_save
        t = self.next()
        if t.kind != "op" or t.text not in (")", "]"):
            raise ParseError(f"expected a closing bracket but found {t.text!r}")
        closer = t.text
        if isinstance(v, Seq) and v.kind == "list":
            items = v.items
        elif opener == "(" and closer == ")":
            return v  # plain grouping
        elif opener == "[" and closer == "]":
            return v  # grouping with square brackets
        else:
            items = (v,)
        if opener == "(" and closer == ")":
            kind = "paren"
        elif opener == "[" and closer == "]":
            kind = "bracket"
        else:
            kind = "interval"
        return Seq(kind, tuple(items), opener, closer)

    def _function(self, name: str):
        base = None
        power = None
        if name == "log" and self.at_op("_"):
            self.next()
            base = self.arg()
        if self.at_op("^"):
            self.next()
            power = self.exponent()
        x = self._function_argument()
        args = x.items if isinstance(x, Seq) and name in ("gcd", "lcm") else (x,)
        for a in args:
            if isinstance(a, (Seq, Rel, MatrixNode)):
                raise ParseError(f"{name} of a list")
        if power == -1 and name in _INVERSE:
            return _INVERSE[name](args[0])  # \tan^{-1} x is arctan x, not 1/tan x
        v = _apply_function(name, args, base)
        if power is not None:
            v = self.b.pow(v, power)
        return v

    def _function_argument(self):
        """``(x)``, ``{x}``, or a product of operands without operators (``\\sin 2x`` is sin(2x))."""
        if self.at_op("("):
            self.next()
            abs_save = self.abs_depth
            self.abs_depth = 0
            x = self.list_(closers=(")",))
            self.abs_depth = abs_save
            self.expect_op(")")
            return x
        if self.at_op("{"):
            return self.group()
        x = self.power()
        while self.starts_atom() and not self.at_cmd(*_FUNCS):
            x = self._mul(x, self.power())
        return x

    def _braced_text(self) -> str:
        """The tokens of ``{...}`` (no nesting) spelled together: an environment name or an array column spec."""
        self.expect_op("{")
        text = ""
        while not self.at_op("}"):
            text += self.next().text
        self.next()
        return text

    def _big_operator(self, name: str):
        """``\\sum_{k=a}^{b} f(k)`` and ``\\prod_{k=a}^{b} f(k)``: the summand is the product that follows, up to
        the next ``+`` or ``-`` (``k^2``, ``(k+1)^{10}``, ``k \\cdot 2^k``, ``\\frac{1}{k}``; ``\\sum_{k=1}^{3} k + 1``
        is 7). Integer bounds: the terms are built one by
        one under the size limits (at most ``Limits.max_sum_terms`` in one answer); a symbolic upper bound: a sum of a
        polynomial in k (degree at most 10) in closed form. Anything else is a ParseError."""
        self.expect_op("_")
        self.expect_op("{")
        var = self.next()
        if var.kind != "letter":
            raise ParseError(f"\\{name} needs an index letter")
        k = Symbol(var.text)
        self.expect_op("=")
        lo = self.additive()
        self.expect_op("}")
        self.expect_op("^")
        hi = self.arg()
        outer = self.index_letters
        self.index_letters = outer | {var.text}
        try:
            body = self.term()
        finally:
            self.index_letters = outer
        for v in (lo, hi, body):
            if isinstance(v, (Seq, Rel, MatrixNode)):
                raise ParseError(f"\\{name} of a list")
        if not lo.is_Integer:
            raise ParseError(f"\\{name} with a lower bound that is not an integer")
        if hi.is_Integer:
            count = int(hi) - int(lo) + 1
            self.sum_terms += max(count, 0)
            if self.sum_terms > self.limits.max_sum_terms:
                raise TooLarge(f"\\{name} of {count} terms (limit {self.limits.max_sum_terms} in one answer)")
            total = Integer(0) if name == "sum" else Integer(1)
            for i in range(int(lo), int(hi) + 1):
                term = self._substitute(body, k, Integer(i))
                total = self.b.add(total, term) if name == "sum" else self.b.mul(total, term)
            return total
        if name == "sum" and hi.is_Number is False and not hi.has(k) and _closed_form_summand(body, k):
            return sympy.expand(sympy.summation(body, (k, lo, hi)))
        raise ParseError(f"\\{name} with these bounds or terms is not supported")

    def _substitute(self, e, var, value):
        """``e`` with ``var`` replaced by ``value``, rebuilt through the size-checked constructors (so a term such as
        ``9^{9^{k}}`` is refused before sympy computes it)."""
        if e == var:
            return value
        if not e.has(var):
            return e
        args = [self._substitute(a, var, value) for a in e.args]
        if e.is_Add:
            out = Integer(0)
            for a in args:
                out = self.b.add(out, a)
            return out
        if e.is_Mul:
            out = Integer(1)
            for a in args:
                out = self.b.mul(out, a)
            return out
        if e.is_Pow:
            return self.b.pow(args[0], args[1])
        if isinstance(e, sympy.factorial):
            return self.b.factorial(args[0])
        if isinstance(e, sympy.binomial):
            return self.b.binom(*args)
        return self.b.check(e.func(*args))

    def _matrix(self):
        env = self._braced_text()
        if env not in ("pmatrix", "bmatrix", "matrix", "vmatrix", "array", "smallmatrix", "Bmatrix"):
            raise ParseError(f"environment {env!r} is not supported")
        if env == "array" and self.at_op("{"):  # column spec {cc}
            self._braced_text()
        rows = [[]]
        while True:
            if self.at_cmd("end"):
                self.next()
                self._braced_text()
                break
            cell = self.additive()
            if isinstance(cell, (Seq, Rel, MatrixNode)):
                raise ParseError("matrix entry is not a scalar")
            rows[-1].append(cell)
            if self.at_op("&"):
                self.next()
            elif self.at_op("\\\\"):
                self.next()
                if self.at_cmd("end"):
                    continue
                rows.append([])
            elif not self.at_cmd("end"):
                raise ParseError("unexpected token in a matrix")
            if sum(len(r) for r in rows) > self.limits.max_items:
                raise TooLarge("matrix too large")
        if not rows[-1]:
            rows.pop()
        width = {len(r) for r in rows}
        if len(width) != 1:
            raise ParseError("matrix rows have different lengths")
        return MatrixNode(tuple(tuple(r) for r in rows))


# commands that start an operand with a rule of their own (the rest: constants, accents, Greek letters, functions)
_COMMAND_RULES = {
    "frac": _Parser._frac,
    "binom": _Parser._binom,
    "sqrt": _Parser._sqrt,
    "lfloor": lambda p: p._floor_or_ceiling("rfloor", sympy.floor),
    "lceil": lambda p: p._floor_or_ceiling("rceil", sympy.ceiling),
    "begin": lambda p: p._matrix(),
    "emptyset": lambda p: Seq("set", ()),
    "sum": lambda p: p._big_operator("sum"),
    "prod": lambda p: p._big_operator("prod"),
}


def _closed_form_summand(body, k) -> bool:
    """Whether a sum of ``body`` over k up to a symbolic bound has a closed form that sympy finds at once: every
    term is a polynomial in k of degree at most 10 times, optionally, a power r^(a k + b) of a number r other than
    0 and 1 (``k^2``, ``2^k``, ``k 3^{k-1}``)."""
    for term in sympy.Add.make_args(sympy.expand(body)):
        poly = []
        for f in sympy.Mul.make_args(term):
            if not f.has(k):
                continue
            if f.is_Pow and f.base.is_Number and f.base not in (0, 1) and f.exp.is_polynomial(k) \
                    and sympy.degree(f.exp, k) == 1:
                continue
            poly.append(f)
        rest = sympy.Mul(*poly)
        if not rest.is_polynomial(k) or sympy.degree(rest, k) > 10:
            return False
    return True


def _apply_function(name: str, args: tuple, base):
    """The function ``name`` of its parsed arguments (``base``: the base of ``\\log_b``, or None)."""
    if name in ("gcd", "lcm"):
        if len(args) < 2:
            raise ParseError(f"{name} needs two arguments")
        v = args[0]
        for a in args[1:]:
            v = (sympy.gcd if name == "gcd" else sympy.lcm)(v, a)
        return v
    if name == "lg":
        return sympy.log(args[0], 10)
    if name == "det":
        raise ParseError("det is not supported")
    if name == "log" and base is not None:
        if isinstance(base, (Seq, Rel, MatrixNode)):
            raise ParseError("log base is a list")
        return sympy.log(args[0], base)
    return _FUNCS[name](args[0])


def _shape(m: MatrixNode) -> tuple[int, int]:
    return len(m.rows), len(m.rows[0]) if m.rows else 0


_FUNCTION_LABEL = re.compile(r"(^|,\s*)([A-Za-z])\s*\(\s*([A-Za-z])\s*\)\s*=(?!=)")
_FUNCTION_LABEL_RIGHT = re.compile(r"(?<![=<>!])=\s*([A-Za-z])\s*\(\s*([A-Za-z])\s*\)\s*(?=$|,)")
_WORDS_ONLY = re.compile(r"^[A-Za-z][A-Za-z\s\-']*$")


def parse_answer(answer: str, limits: Limits = LIMITS) -> Parsed:
    """Normalise, tokenize and parse one answer (see the module docstring). Raises ParseError / TooLarge."""
    text = normalize(answer, limits)
    if not text:
        raise ParseError("empty answer")
    parsed = Parsed(value=None, text=text)
    # words (names, "even", "Monday", multiple-choice letters) are compared as text, not as products of symbols
    words = text.replace("(", "").replace(")", "").strip()
    longest = max((len(w) for w in re.split(r"[\s\-']+", words) if w), default=0)
    if _WORDS_ONLY.match(words) and (longest >= 3 or words.lower() == "no") and words.lower() not in _FUNCS:
        low = words.lower()
        if not any(w in _WORD_SEPARATORS for w in low.split()) and not re.fullmatch(r"[a-z]\s*", low):
            parsed.is_text = True
            parsed.value = re.sub(r"\s+", " ", low).strip()
            return parsed
    # "f(x) = ..." names a function: the left side is a label f_{x}, not the product f*x
    text_for_parser = _FUNCTION_LABEL.sub(lambda m: f"{m.group(1)}{m.group(2)}_{{{m.group(3)}}} =", text)
    text_for_parser = _FUNCTION_LABEL_RIGHT.sub(lambda m: f"= {m.group(1)}_{{{m.group(2)}}}", text_for_parser)
    toks = tokenize(text_for_parser, limits)
    parsed.value = _Parser(toks, limits, parsed).parse()
    return parsed
