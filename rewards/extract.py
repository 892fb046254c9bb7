"""Answer extraction from a model response (pure string processing, no sympy, bounded time).

Everything here is linear in the length of the text (single scans, no backtracking regular expressions on
unbounded input), so it is safe to run in the trainer's own process on untrusted model output.

THE PRIORITY RULE. ``DEFAULT_PRIORITY`` lists the methods; the first that finds an answer wins. Callers pass
their own tuple of names (``extract_answer(text, priority=...)``, ``verify(..., priority=...)``, the correctness
reward's ``extraction`` parameter), much as Math-Verify's extraction configs choose and order its targets.

1. ``boxed``        every ``\\boxed{...}`` / ``\\boxed ...`` / ``\\fbox{...}`` (nested braces handled); several
                    different boxes form one answer set: ``\\boxed{3}, \\boxed{4}`` is the answer ``3, 4``, so a
                    hedge ``\\boxed{3} or \\boxed{4}`` never equals a single gold
2. ``answer_tag``   the last ``<answer>...</answer>`` (its own boxed answer if it has one)
3. ``final_answer`` the last "final answer": Minerva's "Final Answer: The final answer is $X$. I hope it is
                    correct.", "Final Answer: The smallest $m$ is 17." (the answer follows the first "is"),
                    "final answer: X"
4. ``answer_is``    the last "answer is ..." ("The answer is $\\frac{1}{2}$", "the answer is 12 apples"); a choice
                    in prose: "The correct option is (C).", "the best choice is B", "the answer is option C", and
                    "(D) is the correct answer" / "option (D) is correct" after the last "answer is"
5. ``answer_colon`` the last line starting with "Answer:" (or "Answer" directly followed by math or a number:
                    "Answer \\( (6+2) \\)")
6. ``hashes``       "#### n" (GSM8K style)
7. ``math_span``    the last math span ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` (together with the spans
                    right before it on its line joined by "," / "and" / "or": "$x=1$ and $x=-2$"), unless the
                    prose after it states a bare number or bare LaTeX (the later statement, which the next two take)
8. ``bare_math``    LaTeX written without delimiters at the end of the last line that holds math: a response that
                    is just ``\\frac{10}{9}``, "The midpoint is \\left( 2, 3 \\right)." (see ``_bare_math``)
9. ``last_number``  the last number of the text (fallback); a mixed number is one ("1 1/2 cups"), and numbers
                    that end the text joined by "and"/"or" right after "is"/"are"/"equals"/":" are a list ("The
                    roots are 2 and 3.")

After a marker (3-5) the answer is, in this order: a box, a math span starting right there, the text after the
first "is" when the line starts with words, a math span starting within 50 characters, else the rest of the
sentence (a leading number followed by prose is the number: "42 because ..."; markdown bold around it is dropped:
"The answer is **10**."); an "is" that ends its line takes
the next line ("The final answer is\n40"; cut off there, the marker has no answer). A weak marker (4, 5) whose
answer is words gives way to a math span on a later line ("so our answer is correct.\n\\[ 44 \\]" gives 44);
otherwise a marker wins over later math, as Math-Verify's "answer" anchors do.

NON-ANSWERS FALL THROUGH. What a method returns counts as found only when it states an answer
(``is_non_answer``): an empty box inside words ("The answer is within \\boxed{}."), a phrase about where the answer
goes ("within the specified format", "inside the box", "in square brackets") or the verdict "correct" (Minerva's
"I hope it is correct." read after the first "is") is no answer, and the next method in the priority order is
tried ("13 + 25 = 38. The answer is within \\boxed{}." gives 38 by ``last_number``), as Math-Verify drops a
candidate that does not parse and takes the next. Word answers ("yes", "twelve", "(B)", "Evelyn") stay answers.

Math spans are read in the last ``MAX_SPAN_SCAN`` characters (from a line start); inline spans stay on one line
and ``\\$`` is a dollar sign. Only the last ``MAX_BOXED`` boxes are read.

When the response contains ``</think>``, only the text after the last ``</think>`` is searched (``answer_region``):
drafts inside the thinking part are scratch work. A gold answer goes through the same rules when it is a whole
solution (it contains a box, a math span or a final-answer line; see ``gold_answer``).
"""
from __future__ import annotations

import collections
import functools
import re

from rewards.normalize import is_unit_word

__all__ = ["last_boxed", "all_boxed", "distinct_boxed", "extract_answer", "extract_with_method", "answer_region",
           "math_spans", "gold_answer", "is_non_answer", "DEFAULT_PRIORITY", "METHODS", "check_priority"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_RE = re.compile(r"\\.|[{}]", re.DOTALL)
MAX_BOXED = 64  # at most this many boxed answers are collected from one response


def _start_of_last_boxes(text: str, count: int) -> int:
    """Where the last ``count`` box commands begin (0 when there are fewer): only they can be kept, so a response
    with a hundred thousand boxes is scanned from there (a few C-level ``rfind`` calls)."""
    k = len(text)
    for _ in range(count):
        k = max(text.rfind("\\boxed", 0, k), text.rfind("\\fbox", 0, k))
        if k < 0:
            return 0
    return k


def _boxed_spans(text: str, limit: int = MAX_BOXED, first_only: bool = False) -> list[str]:
    """Contents of every ``\\boxed{...}``/``\\fbox{...}`` in order of appearance (at most ``limit``, keeping the last).

    Handles nested braces, ``\\boxed {x}`` with spaces, and ``\\boxed 5`` (argument up to the next ``$`` or
    whitespace). An unbalanced final box is taken up to the end of the text.
    """
    if not isinstance(text, str):
        return []
    found: list[str] = []
    n = len(text)
    i = 0 if first_only else _start_of_last_boxes(text, limit + 1)
    while True:
        m = _BOX_RE.search(text, i)
        if m is None:
            break
        pos, cmd = m.start(), m.group(0)
        j = m.end()
        while j < n and text[j] in " \t\n":
            j += 1
        if j < n and text[j] == "{":
            depth = 0
            k = n
            for b in _BRACE_RE.finditer(text, j):  # jumps over plain text; an escaped brace \{ \} is skipped
                ch = b.group(0)
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        k = b.start()
                        break
            found.append(text[j + 1:k])
            i = k + 1
        elif cmd == "\\boxed" and j < n and text[pos + len(cmd)] == " ":
            k = j
            while k < n and text[k] not in "$ \n\t":
                k += 1
            found.append(text[j:k])
            i = k
        else:
            i = j
            continue
        if first_only:
            break
        if len(found) > limit:
            found.pop(0)
    return found


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, nested braces included, or None.

    >>> last_boxed(r"so $\\boxed{\\frac{1}{2}}$ and")
    '\\\\frac{1}{2}'
    """
    spans = _boxed_spans(text)
    if not spans:
        return None
    return spans[-1].strip()


def all_boxed(text: str) -> list[str]:
    """Contents of every boxed answer in the response (stripped), in order (the last ``MAX_BOXED``)."""
    return list(_all_boxed_cached(text)) if isinstance(text, str) else []


@functools.lru_cache(maxsize=8)
def _all_boxed_cached(text: str) -> tuple:
    # extraction and the hedge check both ask for the boxes of the same response: scan it once
    return tuple(s.strip() for s in _boxed_spans(text))




def distinct_boxed(text: str) -> list[str]:
    """The different non-empty boxed answers of ``text`` in order (whitespace-insensitive; repeats dropped)."""
    out, seen = [], set()
    for b in all_boxed(text):
        key = " ".join(b.split())
        if key and key not in seen:
            seen.add(key)
            out.append(b)
    return out


def _boxed_answer(text: str) -> str | None:
    """All different boxed answers as one answer (``3, 4`` for ``\\boxed{3}, \\boxed{4}``), or None."""
    boxes = distinct_boxed(text)
    if not boxes:
        return None
    return boxes[0] if len(boxes) == 1 else ", ".join(boxes)


# ---------------------------------------------------------------------------------------------------------------
# math spans

# (opener, closer, may span lines). Inline $...$ and \(...\) stay on one line, as in LaTeX prose.
_DELIMS = {"$$": ("$$", True), "\\[": ("\\]", True), "\\(": ("\\)", False), "$": ("$", False)}
_OPEN_PATTERNS = {"$$": r"\$\$", "$": r"\$", "\\[": r"\\\[", "\\(": r"\\\("}
_OPEN_RES: dict = {}
MAX_JOINED_SPANS = 5  # "$a$, $b$ and $c$": at most this many spans before the last one join it


def _open_re(kinds: frozenset):
    """The opener pattern for the kinds of span that can still close (cached; at most 15 sets)."""
    r = _OPEN_RES.get(kinds)
    if r is None:
        alts = "|".join(_OPEN_PATTERNS[k] for k in ("$$", "$", "\\[", "\\(") if k in kinds)
        r = _OPEN_RES[kinds] = re.compile(r"(?<!\\)(?:" + alts + ")")
    return r


_OPEN_RE = _open_re(frozenset(_DELIMS))


def _find_unescaped(text: str, sub: str, start: int, end: int) -> int:
    """Position of ``sub`` in text[start:end] not preceded by a backslash, or -1 (each position looked at once)."""
    while True:
        k = text.find(sub, start, end)
        if k <= 0 or text[k - 1] != "\\":
            return k
        start = k + 1


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """Every math span of ``text`` as (start, end, content): ``$$...$$``, ``\\[...\\]`` (may span lines), ``$...$``,
    ``\\(...\\)`` (one line), left to right, not nested; ``\\$`` is a dollar sign, not a delimiter.

    Linear time: positions only move forward; the next newline is searched once per line; a kind of span whose
    closer does not occur after the current position is dropped from the opener pattern for good; an inline
    opener that failed on a line makes every later opener of its kind on that line fail in O(1); a closer is
    searched once per opener and the scan continues after a found span.
    """
    if not isinstance(text, str):
        return []
    n = len(text)
    last_close = {c: text.rfind(c) for c, _ in _DELIMS.values()}
    kinds = frozenset(_DELIMS)
    no_close_before = {}  # closer -> a position before which (on the current line) that closer was not found
    next_nl = -1          # the first newline at or after the current position (n when there is none)
    out = []
    i = 0
    while i < n and kinds:
        m = _open_re(kinds).search(text, i)
        if m is None:
            break
        opener = m.group(0)
        closer, multiline = _DELIMS[opener]
        start = m.end()
        if last_close[closer] < start:
            kinds = kinds - {opener}  # no closer later in the text: this kind of span cannot occur any more
            i = m.start()
            continue
        if multiline:
            k = _find_unescaped(text, closer, start, n)
        else:
            if start < no_close_before.get(closer, -1):
                i = start
                continue
            if next_nl < start:
                next_nl = text.find("\n", start)
                if next_nl < 0:
                    next_nl = n
            k = _find_unescaped(text, closer, start, next_nl)
            if k < 0:
                no_close_before[closer] = next_nl
        if k < 0:
            i = start
            continue
        out.append((m.start(), k + len(closer), text[start:k]))
        i = k + len(closer)
    return out


_JOIN_RE = re.compile(r"[ \t]*(?:,|,?[ \t]*and|,?[ \t]*or)[ \t]*", re.IGNORECASE)
_PERCENT_AFTER = re.compile(r"\s*(?:\\?%|percent(?:age)?\b|pct\b)", re.IGNORECASE)


def _span_value(text: str, span: tuple[int, int, str]) -> str:
    content = span[2].strip()
    if "\\boxed" in content or "\\fbox" in content:
        return _boxed_answer(content) or ""  # "$\\boxed{x}$" reached without the boxed method: its box
    if _PERCENT_AFTER.match(text, span[1], span[1] + 20) and not content.endswith("%"):
        content += "\\%"  # "$28$ percent"
    return content


MAX_SPAN_SCAN = 20_000  # math spans are looked for in the last this many characters (from a line start)


def _span_window(text: str) -> str:
    """The end of ``text`` where the final math spans are looked for: the last ``MAX_SPAN_SCAN`` characters, from
    the first line start in them (inline spans never cross a line, so their pairing is the same as in the whole;
    a display span that began before the window is not seen)."""
    if len(text) <= MAX_SPAN_SCAN:
        return text
    nl = text.find("\n", len(text) - MAX_SPAN_SCAN)
    # a last line longer than the window is no readable final statement, and its spans cannot be paired from a
    # point inside it: no span is found there
    return text[nl + 1:] if nl >= 0 else ""


def _is_display(text: str, span: tuple[int, int, str]) -> bool:
    return text.startswith(("$$", "\\["), span[0])


def _last_math_span(text: str) -> str | None:
    text = _span_window(text)
    spans = [s for s in math_spans(text) if s[2].strip()]
    if not spans:
        return None
    last = spans[-1]
    # a bare number or bare LaTeX stated after the last span is the later statement: leave it to bare_math and
    # last_number
    after = text[last[1]:][-MAX_TAIL:]
    if _NUM_RE.search(after) or _bare_line(after) is not None:
        return None
    group = [last]
    for prev in reversed(spans[:-1]):
        if _is_display(text, group[-1]) or _is_display(text, prev) or len(group) > MAX_JOINED_SPANS \
                or not _JOIN_RE.fullmatch(text, prev[1], group[-1][0]):
            break  # only inline spans on one line join: "$x=1$ and $x=-2$"
        group.append(prev)
    return ", ".join(_span_value(text, s) for s in reversed(group))


# ---------------------------------------------------------------------------------------------------------------
# bare LaTeX: math written without delimiters ("\\frac{10}{9}", "The midpoint is \\left( 2, 3 \\right).")

_BARE_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]+|[{}]|\.(?=\s)|[;?!\"]")
# words that are math, not prose, when written without a backslash
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "arcsin", "arccos",
               "arctan", "sinh", "cosh", "tanh", "max", "min", "gcd", "lcm", "mod"}
# a line of its own that only opens or closes an environment, or a display delimiter: no statement
_ENV_LINE = re.compile(r"\s*(?:\\(?:begin|end)\{[A-Za-z*]+\}|\$\$|\\\[|\\\])\s*")
# what makes bare text math rather than a number in prose: a command (not one for text, layout or references), a
# power, or a variable given a value
_LATEX_MARK = re.compile(r"\\(?!(?:text|textbf|textit|textnormal|mbox|quad|qquad|hspace|vspace|ref|eqref|label|cite"
                         r"|item|newline|noindent|section|emph)(?![A-Za-z]))[A-Za-z]+|\^|(?<![A-Za-z])[A-Za-z]\s*=")
_SPAN_MARK = re.compile(r"\$|\\[()\[\]]")
# an expression cut off in the middle (a truncated response): an operator, or a command that needs more after it
_OPEN_END = re.compile(r"(?:[-+*/=^_&({\[,<>]|\\\\|\\(?:cdot|times|div|pm|mp|le|leq|ge|geq|ne|neq|approx|frac|"
                       r"dfrac|tfrac|sqrt|left|in|cup|cap|to|Rightarrow|implies|text|mathrm|begin|end))\s*$")
_BARE_START = re.compile(r"[\\\dA-Za-z(\[\-+{|.]")
_BARE_LEAD = " \t=:,&"
_BARE_ARROW = re.compile(r"(?:\\(?:Rightarrow|Longrightarrow|implies|therefore|rightarrow|to|iff)(?![A-Za-z])[\s=:,&]*)+")
MAX_BARE = 400  # a bare statement longer than this is no final answer
MAX_TERSE = 40  # a response that is one word of at most this many characters is its own answer
_TERSE = re.compile(r"\(?[A-Za-z][A-Za-z'\-]*\)?")


def _unit_tail(line: str) -> str:
    """``line`` without trailing unit words ("3\\pi square units" -> "3\\pi"), which are no prose statement."""
    words = line.rstrip().split(" ")
    while len(words) > 1 and is_unit_word(words[-1].strip(".,;")):
        words.pop()
    return " ".join(words)


def _math_suffix(line: str) -> str:
    """The end of ``line`` after its last prose word (a run of two or more letters outside braces that is not a
    command or a function name) or sentence break ('. ', ';', '?', '!', a quote). "and" and "or" after math join
    the next part to it ("x = 2 or x = 3" is one statement, a list)."""
    start, depth = 0, 0
    for m in _BARE_TOKEN.finditer(line):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(0, depth - 1)
        elif depth == 0 and not tok.startswith("\\") and (
                not tok[0].isalpha() or (len(tok) >= 2 and tok.lower() not in _MATH_WORDS)):
            if tok.lower() in ("and", "or") and line[start:m.start()].strip(" ,"):
                continue
            start = m.end()
    return line[start:]


def _bare_math(text: str) -> str | None:
    """A whole response that is one word (letters only, at most ``MAX_TERSE`` characters) is its own answer: "C",
    "(B)", "Evelyn", "e". Otherwise the math that ends the last line holding math (a digit, a command or a power),
    written without delimiters: "\\frac{10}{9}", "So the ratio is \\frac{10}{9}.", "d = \\sqrt{5}", "The midpoint
    is \\left( 2, 3 \\right)", "The polynomial is x^2 + 1", "The solution is x = 1, y = 2." The statement is what
    follows the line's last prose word, with trailing unit words, sentence punctuation and a leading "=", ":" or
    arrow dropped; it counts only when it holds a math command, a power or a variable given a value (a bare number
    is ``last_number``'s), has no math delimiters and balanced braces, and does not end in an operator (a response
    cut off mid-expression). Lines that only open or close an environment, and lines with a box (a phrase such as
    "within \\boxed{}"), hold no statement and are skipped."""
    terse = text.strip().strip("*").strip().rstrip(".").strip()
    if len(terse) <= MAX_TERSE and _TERSE.fullmatch(terse):
        return terse  # the whole response is its answer: "C", "(B)", "Evelyn", "e"
    return _bare_line(text)


def _bare_line(text: str) -> str | None:
    """The bare LaTeX statement that ends the last line of ``text`` holding math (see ``_bare_math``), or None."""
    tail = text[-MAX_TAIL:]
    for line in reversed(tail.split("\n")):
        if "\\boxed" in line or "\\fbox" in line or _ENV_LINE.fullmatch(line):
            continue
        if not (_LATEX_MARK.search(line) or any(ch.isdigit() for ch in line)):
            continue  # prose ("I hope this helps!") or an empty line
        stmt = _math_suffix(_unit_tail(line)).rstrip(" \t.,;:!").lstrip(_BARE_LEAD).strip()
        stmt = stmt[_BARE_ARROW.match(stmt).end():] if _BARE_ARROW.match(stmt) else stmt  # "\Rightarrow x = 2"
        if stmt.endswith("\\\\"):
            stmt = stmt[:-2].rstrip()
        ok = (0 < len(stmt) <= MAX_BARE and _LATEX_MARK.search(stmt) and not _SPAN_MARK.search(stmt)
              and _BARE_START.match(stmt) and not _OPEN_END.search(stmt) and _braces_balanced(stmt))
        return stmt if ok else None
    return None


def _braces_balanced(s: str) -> bool:
    depth = 0
    for m in _BRACE_RE.finditer(s):
        if m.group(0) == "{":
            depth += 1
        elif m.group(0) == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# ---------------------------------------------------------------------------------------------------------------
# textual answer markers. The regular expressions below only match short, bounded windows.

_NUM = r"-?[1-9]\d{0,2}(?: \d{3})+(?![\d,])(?:\.\d+)?|-?\d(?:[\d,]*\d)?(?:\.\d+)?|-?\.\d+"
_NUM_RE = re.compile(r"(?<![\w.])((?:" + _NUM + r")(?:[eE][-+]?\d{1,3}(?!\w|\.\d))?)(?:\s*/\s*(\d+))?")  # 3e8 too

_LEADING_NUMBER = re.compile(r"^(-?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*\\?%)?)[\s,;(]+[A-Za-z]{2,}")
# "The smallest $m$ is 17", "is $X$": the answer follows the first "is" of a line that starts with words
_IS_RE = re.compile(r"^(?:[^\n]{0,100}?\s)??(?:is|are|equals)(?=[\s:$\\]|$)\s*[:：]?", re.IGNORECASE)
MAX_TAIL = 2000  # textual markers are looked for only in this many characters of context after the marker


def _leading_span(s: str) -> str | None:
    """The content of a math span that starts ``s`` ('' for an empty one), or None when ``s`` starts otherwise.
    Inline spans that follow it on its line joined by ",", "and", "or" join it ("$12$ and $13$" is ``12, 13``)."""
    m = _OPEN_RE.match(s)
    if m is None:
        return None
    s = s[:MAX_TAIL]
    spans = math_spans(s)
    if not spans or spans[0][0] != 0:
        return None
    group = [spans[0]]
    for nxt in spans[1:]:
        if _is_display(s, group[-1]) or _is_display(s, nxt) or len(group) > MAX_JOINED_SPANS \
                or not _JOIN_RE.fullmatch(s, group[-1][1], nxt[0]):
            break
        group.append(nxt)
    return ", ".join(v for v in (_span_value(s, x) for x in group) if v) if len(group) > 1 else \
        _span_value(s, spans[0])


def _answer_after(tail: str, depth: int = 0) -> str | None:
    """The answer stated right after a marker (see the module docstring for the order of the rules)."""
    s = tail.lstrip(" :：*#\t\n")
    if not s:
        return None
    if s.startswith(("\\boxed", "\\fbox")):
        boxed = _boxed_spans(s, first_only=True)
        if boxed:
            # "the answer is \boxed{}": the marker's answer is the empty box, so there is none
            return boxed[0].strip() or None
    span = _leading_span(s)
    if span is not None:
        return span or None
    line = s.split("\n", 1)[0].strip()
    if depth < 2 and line[:1].isalpha():
        m = _IS_RE.match(line)
        if m:
            rest = line[m.end():]
            # "The final answer is" ending its line: what follows is on the next line, or there is no answer
            return _answer_after(rest if rest.strip() else s[m.end():], depth + 1)
    m = _OPEN_RE.search(line, 0, 50)
    if m is not None:
        span = _leading_span(line[m.start():])
        if span:
            return span
    # a sentence goes on after the answer: cut at ". " (not a decimal point) or at the end
    m = re.search(r"\.(\s|$)", line)
    if m:
        line = line[:m.start()]
    line = _BOLD.sub("", line).strip().rstrip(".").strip()
    # "42 because ..." / "12 apples, since ...": a leading number followed by prose is the answer
    m = _LEADING_NUMBER.match(line)
    if m:
        return m.group(1)
    return line or None


# markdown bold around an answer ("The answer is **10**.", "**Answer: C**"), not a power written 2**3
_BOLD = re.compile(r"(?<![\w)])\*\*|\*\*(?![\w(])")

_MARKERS = {
    "final_answer": re.compile(r"final answer", re.IGNORECASE),
    # "the answer is", and a choice in prose: "The correct option is (C).", "the best choice is B"
    "answer_is": re.compile(r"(?:answer|(?:correct|right|best)\s+(?:option|choice))\s+is\b", re.IGNORECASE),
    "answer_colon": re.compile(r"(?:^|\n)[ \t]*[*#]*[ \t]*answer\b[*]*[ \t]*([:：])?", re.IGNORECASE),
}
_WORDS = re.compile(r"^[A-Za-z][A-Za-z\s'\-]*$")
_STARTS_LIKE_ANSWER = re.compile(r"\s*(?:\$|\\\(|\\\[|\\boxed|\\fbox|-?\d)")


def _from_marker(text: str, name: str) -> str | None:
    recent = collections.deque(_MARKERS[name].finditer(text), maxlen=MAX_CHOICE_MARKERS)
    while recent:
        last = recent.pop()
        choice_marker = name == "answer_is" and not last.group(0).lower().startswith("answer")
        tail = text[last.end():last.end() + MAX_TAIL]
        if name == "answer_colon" and not last.group(1) and not _STARTS_LIKE_ANSWER.match(tail):
            return None  # "Answer" without a colon counts only when math or a number follows it directly
        ans = _answer_after(tail)
        if choice_marker:
            m = _LEADING_CHOICE.match(ans or "")
            if m:
                return m.group(1)  # "The correct option is (D) since 3 > 2."
            continue  # "the best option is to multiply ...": no choice named, an earlier marker may answer
        if name != "final_answer" and ans is not None and _WORDS.match(ans) and \
                _math_after_answer_line(text, last.end()):
            return None  # "... so our answer is correct.\n\\[ 44 \\]": words, and the later math is the statement
        if ans is not None:
            m = _CHOICE_WORD.fullmatch(ans)
            if m:
                return m.group(1)  # "the answer is option C": the choice C
        return ans
    return None


# a multiple-choice letter: "C", "(C)", "\textbf{(C)}"; "option C", "choice (B)" name one with its word
_CHOICE = re.compile(r"\(?[A-E]\)?|\\text(?:bf)?\{\(?[A-E]\)?\}")
_CHOICE_WORD = re.compile(r"(?:option|choice)\s+(" + _CHOICE.pattern + ")", re.IGNORECASE)
_LEADING_CHOICE = re.compile(r"(" + _CHOICE.pattern + r")(?:$|[\s,;:.])")
MAX_CHOICE_MARKERS = 8  # "the best option is ..." markers without a choice passed over, at most


# a choice declared right after it is named: "Thus (D) is the correct answer.", "option (B) is correct"
_CHOICE_IS_RIGHT = re.compile(r"(?:\b(?:[Oo]ption|[Cc]hoice|[Aa]nswer)\s+\(?([A-E])\)?|\(([A-E])\))\s+is\s+(?:the\s+)?"
                              r"(?:correct|right)\b")


def _answer_is(text: str) -> str | None:
    """The last "answer is" marker's answer, or the choice of a later "(D) is the correct answer"."""
    stated = None
    for stated in _CHOICE_IS_RIGHT.finditer(text):
        pass
    if stated is not None:
        marker = None
        for marker in _MARKERS["answer_is"].finditer(text, stated.end()):
            break
        if marker is None:
            return f"({stated.group(1) or stated.group(2)})"
    return _from_marker(text, "answer_is")


def _math_after_answer_line(text: str, pos: int) -> bool:
    """Whether a non-empty math span starts after the line that holds the answer following a marker at ``pos``
    (the marker's line, or the next non-empty one when the marker ends its line)."""
    k = pos
    while k < len(text) and text[k] in " \t:：*#\n":
        k += 1
    end = text.find("\n", k)
    if end < 0:
        return False
    return any(c.strip() for *_, c in math_spans(_span_window(text[end:])))


def _hashes(text: str) -> str | None:
    idx = text.rfind("####")
    if idx < 0:
        return None
    tail = text[idx + 4:idx + 4 + 200].strip().split("\n", 1)[0].strip()
    return tail or None


def _last_number(text: str) -> str | None:
    """The last number of the text (the last 2000 characters: the fallback is about the end of a response).

    A mixed number in prose is one number ("1 1/2 cups" is 1 1/2, not 1/2), and numbers that end the text
    joined by "and"/"or" right after "is"/"are"/"equals"/":" are a list ("The roots are 2 and 3." is ``2, 3``,
    never 3 alone: a single gold 3 is not the answer "2 and 3"; "we add 10 and 17" stays 17)."""
    tail = text[-MAX_TAIL:]
    items = []  # (start, end, text) of each number, a mixed number as one
    for m in _NUM_RE.finditer(tail):
        num = m.group(1).rstrip(",")
        if m.group(2):
            num = f"{num}/{m.group(2)}"
            prev = items[-1] if items else None
            if prev is not None and prev[2].isdigit() and _MIXED_GAP.fullmatch(tail, prev[1], m.start()) \
                    and _proper(num):
                items[-1] = (prev[0], m.end(), f"{prev[2]} {num}")
                continue
        items.append((m.start(), m.end(), num))
    if not items:
        return None
    chain = [items[-1]]
    if _END_OF_TEXT.fullmatch(tail, items[-1][1]):
        joined = False
        for item in reversed(items[:-1]):
            sep = _LIST_SEP.fullmatch(tail, item[1], chain[0][0])
            if sep is None or len(chain) >= MAX_LISTED:
                break
            joined = joined or bool(sep.group(1) or sep.group(2))
            chain.insert(0, item)
        if len(chain) > 1 and joined and _STATES_VALUES.search(tail, max(0, chain[0][0] - 20), chain[0][0]):
            return ", ".join(x[2] for x in chain)
    return chain[-1][2]


_MIXED_GAP = re.compile(r"[ \t]+")
_END_OF_TEXT = re.compile(r"[ \t]*[.!]?\s*")
_LIST_SEP = re.compile(r"[ \t]*(?:,[ \t]*(?:(and|or)[ \t]+)?|(and|or)[ \t]+)")
# what states the listed values: "The roots are 2 and 3", "x is 2 or 3", "solutions: 2 and 3" (not "add 10 and 17")
_STATES_VALUES = re.compile(r"(?:\b(?:are|is|were|was|be|equals?)|:)[ \t]+$", re.IGNORECASE)
MAX_LISTED = 8  # numbers joined into one list answer at most (as for several boxes)


def _proper(frac: str) -> bool:
    """Whether ``a/b`` is a proper fraction 0 < a < b (the fraction part of a mixed number)."""
    a, _, b = frac.partition("/")
    return a.isdigit() and b.isdigit() and 0 < int(a) < int(b)


def _answer_tag(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>`` (two rfind calls: linear on any input)."""
    end = text.rfind("</answer>")
    if end < 0:
        return None
    start = text.rfind("<answer>", 0, end)
    if start < 0:
        return None
    inner = text[start + len("<answer>"):end].strip()
    if not inner:
        return None
    return _boxed_answer(inner) or inner.strip("$ ").strip() or None


def answer_region(text: str) -> str:
    """The part of a response that states the answer: after the last ``</think>`` when there is one."""
    idx = text.rfind("</think>")
    return text[idx + len("</think>"):] if idx >= 0 else text


METHODS = {
    "boxed": _boxed_answer,
    "answer_tag": _answer_tag,
    "final_answer": lambda t: _from_marker(t, "final_answer"),
    "answer_is": lambda t: _answer_is(t),
    "answer_colon": lambda t: _from_marker(t, "answer_colon"),
    "hashes": _hashes,
    "math_span": _last_math_span,
    "bare_math": _bare_math,
    "last_number": _last_number,
}
DEFAULT_PRIORITY = ("boxed", "answer_tag", "final_answer", "answer_is", "answer_colon", "hashes", "math_span",
                    "bare_math", "last_number")


def check_priority(priority) -> tuple[str, ...]:
    """``priority`` as a tuple of method names (a single name or a comma-separated string is accepted);
    ValueError naming the valid methods when one is unknown or none is given."""
    if isinstance(priority, str):
        priority = [p.strip() for p in priority.split(",") if p.strip()]
    try:
        out = tuple(priority)
    except TypeError:
        raise ValueError(f"extraction priority must be a list of method names from {list(METHODS)}, "
                         f"got {priority!r}") from None
    if not out:
        raise ValueError(f"extraction priority is empty; give one or more of {list(METHODS)}")
    for name in out:
        if name not in METHODS:
            raise ValueError(f"unknown extraction method {name!r}; valid methods are {list(METHODS)}")
    return out


# What a method returns that is no answer (``is_non_answer``). An empty box anywhere in it: "within \\boxed{}",
# "not within \\boxed", "within a boxed{}, you need to ...".
_EMPTY_BOX = re.compile(r"(?<![A-Za-z])\\?(?:boxed|fbox)\s*(?:\{\s*\}|$|(?=[.,;:!?)\]]))")
# Words only (no digit, no math): only then can the text be a phrase about the answer instead of one
_PROSE = re.compile(r"[A-Za-z][A-Za-z\s'\-,;]*")
# a phrase that says where the answer is written, not what it is: "within the specified format", "inside the box",
# "not within the specified constraints", "as follows"
_PLACE_LEAD = re.compile(r"(?:not\s+)?(?:within|inside|enclosed|below|above|as\s+follows|the\s+following)\b",
                         re.IGNORECASE)
# a phrase naming the answer's layout ("a standard formatting", "the required format") or its container after a
# preposition ("in the box", "in square brackets"; "Box A" alone is an answer)
_PLACE_NOUN = re.compile(r"\b(?:format|formats|formatted|formatting|placeholder)\b"
                         r"|\b(?:in|into|within|inside|using|with)\s+(?:[A-Za-z'\-]+\s+){0,3}"
                         r"(?:box|boxed|boxes|fbox|brackets?)\b", re.IGNORECASE)
MAX_PHRASE = 200  # a phrase about the answer's place is short: longer words-only text is not looked at
# a judgement of the response: Minerva's trailer "I hope it is correct." read after the first "is"
_VERDICT = re.compile(r"(?:not\s+)?(?:correct|incorrect)", re.IGNORECASE)


def is_non_answer(ans: str) -> bool:
    """Whether an extracted ``ans`` only points at the answer's place or judges the response instead of stating
    an answer: it holds an empty box (``within \\boxed{}``), or it is words only (at most ``MAX_PHRASE``
    characters) and starts with a place ("within the specified format", "inside the box", "as follows"), names a
    layout ("a standard formatting") or a container after a preposition ("in the box", "in square brackets"),
    or is the verdict "correct" / "incorrect".

    Such a method has found nothing and the next one in the priority order is tried, as Math-Verify
    (``math_verify.parser.extract_target_from_pred``, ``extraction_mode="any_match"``) drops a candidate that does
    not parse and goes on to the next. Word answers stay answers: "yes", "twelve", "(B)", "Evelyn", "odd".
    """
    ans = ans.strip()
    if _EMPTY_BOX.search(ans):
        return True
    if len(ans) > MAX_PHRASE or not _PROSE.fullmatch(ans):
        return False
    return bool(_PLACE_LEAD.match(ans) or _PLACE_NOUN.search(ans) or _VERDICT.fullmatch(ans.rstrip(".")))


def extract_with_method(response: str, priority: tuple[str, ...] | list[str] = DEFAULT_PRIORITY):
    """(answer, method name) for the first method in ``priority`` that finds an answer, or (None, None).

    A method whose answer is no answer (``is_non_answer``: "within \\boxed{}", "within the specified format")
    counts as having found nothing."""
    priority = check_priority(priority)
    if not isinstance(response, str) or not response:
        return None, None
    response = answer_region(response)
    for name in priority:
        ans = METHODS[name](response)
        if ans is not None and ans.strip() and not is_non_answer(ans):
            if name == "boxed":
                later = _final_answer_after_boxes(response)
                if later is not None:
                    return later, "final_answer"
            return ans.strip(), name
    return None, None


_STATES_MATH = re.compile(r"\d|\\[A-Za-z]")


def _final_answer_after_boxes(text: str) -> str | None:
    """The answer of a final-answer line written after the last box, when it states math of its own (a digit or
    a LaTeX command, no box): "... $= \\boxed{200}$ ... $= \\boxed{255}$ ... Final Answer: The final answer is
    $10,455$." The boxes held steps and the line is the later statement, as Math-Verify ranks Minerva's "final
    answer is X. I hope" with the boxes and takes the rightmost. A line that says where the answer is, or words,
    leaves the boxes as the answer."""
    last_box = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    later = _from_marker(text[last_box:], "final_answer")
    if later is None or is_non_answer(later) or "\\boxed" in later or "\\fbox" in later:
        return None
    return later.strip() if _STATES_MATH.search(later) else None


def extract_answer(response: str, priority: tuple[str, ...] | list[str] = DEFAULT_PRIORITY) -> str | None:
    """The final answer in a model response (see the module docstring for the priority order), or None."""
    return extract_with_method(response, priority)[0]


_GOLD_MARKERS = re.compile(r"\\boxed|\\fbox|final answer|</answer>|answer is", re.IGNORECASE)


def gold_answer(gold: str, priority: tuple[str, ...] | list[str] = DEFAULT_PRIORITY) -> str:
    """The gold's answer: the gold itself when it is a bare answer (``\\frac{1}{2}``, ``x \\ge 2``), else what the
    extraction rules find in it when it has a box, an answer marker or a non-empty math span (a whole solution,
    ``$[0,1)$``, "Final Answer: ... $X$"), falling back to the gold itself when they find nothing."""
    head = gold[:MAX_SPAN_SCAN]
    if not _GOLD_MARKERS.search(head) and not any(c.strip() for *_, c in math_spans(head)):
        return gold
    found = extract_answer(gold, priority)
    return found if found is not None else gold
