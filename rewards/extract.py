"""Answer extraction from a model response (pure string processing, no sympy, bounded time).

Everything here is linear in the length of the text (single scans, no backtracking regular expressions on
unbounded input), so it is safe to run in the trainer's own process on untrusted model output.

Priority order (``DEFAULT_PRIORITY``; callers may pass their own tuple of names to ``extract_answer``):

1. ``boxed``        the last ``\\boxed{...}`` / ``\\boxed ...`` / ``\\fbox{...}`` (nested braces handled)
   ``answer_tag``   the last ``<answer>...</answer>`` (its own boxed answer if it has one)
2. ``final_answer`` "final answer is $...$" / "final answer is: ..." / "final answer: ..."
3. ``answer_is``    "the answer is ..." (last occurrence)
4. ``answer_colon`` a line starting with "Answer:" (last occurrence)
5. ``hashes``       "#### n" (GSM8K style)
6. ``last_number``  the last number in the text (fallback)

The first method that finds something wins. When the response contains ``</think>``, only the text after the last
``</think>`` is searched (``answer_region``): drafts inside the thinking part are scratch work. Reward hacking by hedging is detected by ``all_boxed``: a response with
several *different* boxed answers is flagged by the checker (see ``rewards.equivalence``) and counts as wrong.
"""
from __future__ import annotations

import re

__all__ = ["last_boxed", "all_boxed", "extract_answer", "extract_with_method", "answer_region", "DEFAULT_PRIORITY",
           "METHODS"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
MAX_BOXED = 64  # at most this many boxed answers are collected from one response


def _boxed_spans(text: str, limit: int = MAX_BOXED, first_only: bool = False) -> list[str]:
    """Contents of every ``\\boxed{...}``/``\\fbox{...}`` in order of appearance (at most ``limit``, keeping the last).

    Handles nested braces, ``\\boxed {x}`` with spaces, and ``\\boxed 5`` (argument up to the next ``$`` or
    whitespace). An unbalanced final box is taken up to the end of the text.
    """
    if not isinstance(text, str):
        return []
    found: list[str] = []
    i = 0
    n = len(text)
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
            k = j
            while k < n:
                ch = text[k]
                if ch == "\\" and k + 1 < n:  # escaped brace \{ \} does not change depth
                    k += 2
                    continue
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
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
    """Contents of every boxed answer in the response (stripped), in order."""
    return [s.strip() for s in _boxed_spans(text)]


# ---------------------------------------------------------------------------------------------------------------
# textual answer markers. The regular expressions below only match short, bounded windows.

_NUM = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_NUM_RE = re.compile(r"(?<![\w.])(" + _NUM + r")(?:\s*/\s*(\d+))?")


_LEADING_NUMBER = re.compile(r"^(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*\\?%)?)[\s,;]+[A-Za-z]{2,}")


def _dollar_or_line(s: str) -> str | None:
    """Take ``$...$`` / ``\\(...\\)`` / ``\\[...\\]`` math if the text starts with it, else the rest of the line."""
    s = s.lstrip(" :\t*")
    if not s:
        return None
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(open_):
            end = s.find(close, len(open_))
            if end > len(open_):
                return s[len(open_):end].strip()
            return None
    line = s.split("\n", 1)[0].strip()
    # a sentence goes on after the answer: cut at ". " (not a decimal point) or at the end
    m = re.search(r"\.(\s|$)", line)
    if m:
        line = line[:m.start()]
    line = line.strip().rstrip(".")
    # "42 because ..." / "12 apples, since ...": a leading number followed by prose is the answer
    m = _LEADING_NUMBER.match(line)
    if m:
        return m.group(1)
    return line or None


_MARKERS = {
    "final_answer": re.compile(r"final answer(?: is)?\s*[:：]?", re.IGNORECASE),
    "answer_is": re.compile(r"the answer is\s*[:：]?", re.IGNORECASE),
    "answer_colon": re.compile(r"(?:^|\n)[ \t]*\**answer\**[ \t]*[:：]\**", re.IGNORECASE),
}

MAX_TAIL = 2000  # textual markers are looked for only in this many characters of context after the marker


def _from_marker(text: str, name: str) -> str | None:
    last = None
    for m in _MARKERS[name].finditer(text):
        last = m
    if last is None:
        return None
    tail = text[last.end():last.end() + MAX_TAIL]
    head = tail.lstrip(" :$*\t\n")
    if head.startswith(("\\boxed", "\\fbox")):
        boxed = _boxed_spans(head, first_only=True)
        if boxed:
            # "the answer is \boxed{}": the marker's answer is the empty box, so there is none (the box's own text
            # is not an answer to parse)
            return boxed[0].strip() or None
    return _dollar_or_line(tail)


def _hashes(text: str) -> str | None:
    idx = text.rfind("####")
    if idx < 0:
        return None
    tail = text[idx + 4:idx + 4 + 200].strip().split("\n", 1)[0].strip()
    return tail or None


def _last_number(text: str) -> str | None:
    # look only at the last 2000 characters: the fallback is about the end of a response
    tail = text[-MAX_TAIL:]
    last = None
    for m in _NUM_RE.finditer(tail):
        last = m
    if last is None:
        return None
    num = last.group(1)
    if last.group(2):
        num = f"{num}/{last.group(2)}"
    return num


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
    return last_boxed(inner) or inner.strip("$ ").strip() or None


def answer_region(text: str) -> str:
    """The part of a response that states the answer: after the last ``</think>`` when there is one."""
    idx = text.rfind("</think>")
    return text[idx + len("</think>"):] if idx >= 0 else text


METHODS = {
    "boxed": last_boxed,
    "answer_tag": _answer_tag,
    "final_answer": lambda t: _from_marker(t, "final_answer"),
    "answer_is": lambda t: _from_marker(t, "answer_is"),
    "answer_colon": lambda t: _from_marker(t, "answer_colon"),
    "hashes": _hashes,
    "last_number": _last_number,
}
DEFAULT_PRIORITY = ("boxed", "answer_tag", "final_answer", "answer_is", "answer_colon", "hashes", "last_number")


def extract_with_method(response: str, priority: tuple[str, ...] | list[str] = DEFAULT_PRIORITY):
    """(answer, method name) for the first method in ``priority`` that finds an answer, or (None, None)."""
    if not isinstance(response, str) or not response:
        return None, None
    response = answer_region(response)
    for name in priority:
        if name not in METHODS:
            raise ValueError(f"unknown extraction method {name!r}; valid methods are {sorted(METHODS)}")
        ans = METHODS[name](response)
        if ans is not None and ans.strip():
            return ans.strip(), name
    return None, None


def extract_answer(response: str, priority: tuple[str, ...] | list[str] = DEFAULT_PRIORITY) -> str | None:
    """The final answer in a model response (see the module docstring for the priority order), or None."""
    return extract_with_method(response, priority)[0]
