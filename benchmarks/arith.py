"""``arith``: a procedural, seeded, offline arithmetic task with difficulty levels (the embedded default task).

Problems read ``What is <expression>?`` and the gold answer is the exact integer value of the expression. Each row
also carries ``answer_prefix``, ``"<expression> ="``: the start of the answer that the ``complete`` prompt template
ends with.

Levels (operands, operand range, operators, shape):

====  ==========  =============  ===========  ==============================================================
level operands    range          operators    shape
====  ==========  =============  ===========  ==============================================================
1     2           0..25          + -          ``a + b`` / ``a - b`` with a non-negative result ("What is 7 + 5?")
2     3           1..50          + -          flat, left to right
3     3           1..20          + - *        flat, operator precedence matters
4     3-4         -20..20        + - *        random tree, at least one pair of grouping parentheses, negatives
5     4-5         -30..30        + - *        random tree, parentheses, negatives
6     5-6         -99..99        + - *        random tree, parentheses, negatives
====  ==========  =============  ===========  ==============================================================

Negative operands are written in parentheses, ``3 - (-4)``. Answers are capped in magnitude per level (rejection
sampling) so that they stay readable.

Train and test are disjoint by construction: a problem belongs to the test split exactly when the SHA-256 hash of
its expression text falls in the lowest 20% of the hash range, whatever the seed, level or curriculum. Within a split
the problems are distinct (duplicates are re-drawn). Everything is deterministic given the parameters: each level
draws from its own ``random.Random`` seeded with a string built from (split, level, seed), which Python hashes with
SHA-512, so the sequence is the same in every process and on every platform.

Parameters (``benchmarks.load("arith", split, **params)``):

* ``level`` (int, default 1): difficulty level 1..6, used when ``curriculum`` is not given.
* ``n`` (int, default 1000 for train, 100 for test): number of problems.
* ``seed`` (int, default 0).
* ``curriculum``: a mix of levels instead of one level: ``"1-3"``, ``"1,2,3"``, ``[1, 2, 3]`` (equal weights),
  or weights ``"1:0.5,2:0.3,3:0.2"`` / ``{1: 0.5, 2: 0.3, 3: 0.2}``. Each problem's level is drawn with these
  weights.
* ``order``: ``"shuffle"`` (default; levels interleaved as drawn) or ``"ascending"`` (easy to hard: the trainer,
  which consumes prompts in order, then sees a difficulty curriculum).
* ``max_operand`` (int, optional): the largest operand, instead of the level's (at least the level's smallest one).
  Level 1 holds about 200 distinct test problems; ``level=1, max_operand=50`` (two numbers up to 50, added or
  subtracted) holds about 760, enough for held-out scores whose problem-to-problem noise does not swamp a
  comparison. The problems of a given ``max_operand`` are drawn from their own random stream, so the default
  problems do not change.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

__all__ = ["LEVELS", "TEST_FRACTION", "generate", "split_of", "parse_curriculum", "PARAMS"]

TEST_FRACTION = 0.2
PARAMS = ("level", "n", "seed", "curriculum", "order", "max_operand")
DEFAULT_N = {"train": 1000, "test": 100}


@dataclass(frozen=True)
class LevelSpec:
    operands: tuple[int, int]   # min, max number of operands
    low: int                    # operand range, inclusive
    high: int
    ops: str                    # operators drawn from
    tree: bool                  # random tree with parentheses (else a flat left-to-right chain)
    nonneg: bool = False        # reject negative results
    max_abs: int = 10_000       # reject answers larger in magnitude


LEVELS: dict[int, LevelSpec] = {
    1: LevelSpec((2, 2), 0, 25, "+-", tree=False, nonneg=True),
    2: LevelSpec((3, 3), 1, 50, "+-", tree=False),
    3: LevelSpec((3, 3), 1, 20, "+-*", tree=False),
    4: LevelSpec((3, 4), -20, 20, "+-*", tree=True, max_abs=5_000),
    5: LevelSpec((4, 5), -30, 30, "+-*", tree=True, max_abs=20_000),
    6: LevelSpec((5, 6), -99, 99, "+-*", tree=True, max_abs=100_000),
}

_PREC = {"+": 1, "-": 1, "*": 2}


def split_of(expression: str) -> str:
    """``"test"`` for the expressions whose SHA-256 falls in the lowest ``TEST_FRACTION`` of the range, else train."""
    h = int.from_bytes(hashlib.sha256(("arith|" + expression).encode()).digest()[:8], "big")
    return "test" if h < TEST_FRACTION * 2 ** 64 else "train"


# ------------------------------------------------------------------------------- expressions as small trees
# A node is an int (leaf) or a tuple (op, left, right).
def _value(node) -> int:
    if isinstance(node, int):
        return node
    op, a, b = node
    x, y = _value(a), _value(b)
    return x + y if op == "+" else x - y if op == "-" else x * y


def _render(node, parent_op: str | None = None, right: bool = False) -> tuple[str, bool]:
    """Text of ``node`` with the parentheses precedence needs; also whether grouping parentheses were written."""
    if isinstance(node, int):
        return (f"({node})" if node < 0 else str(node)), False
    op, a, b = node
    left_txt, gl = _render(a, op, False)
    right_txt, gr = _render(b, op, True)
    txt = f"{left_txt} {op} {right_txt}"
    need = parent_op is not None and (_PREC[op] < _PREC[parent_op]
                                      or (right and _PREC[op] == _PREC[parent_op] and parent_op == "-"))
    return (f"({txt})" if need else txt), (need or gl or gr)


def _random_tree(rng: random.Random, leaves: list[int], ops: str):
    if len(leaves) == 1:
        return leaves[0]
    cut = rng.randint(1, len(leaves) - 1)
    return (rng.choice(ops), _random_tree(rng, leaves[:cut], ops), _random_tree(rng, leaves[cut:], ops))


def _precedence_tree(leaves: list[int], ops: list[str]):
    """The tree of the flat text ``l0 o0 l1 o1 l2 ...`` under the usual precedence (* before +,-; left to right)."""
    # first fold '*' runs into products, then fold + and - left to right
    terms: list = [leaves[0]]
    add_ops: list[str] = []
    for op, leaf in zip(ops, leaves[1:]):
        if op == "*":
            terms[-1] = ("*", terms[-1], leaf)
        else:
            add_ops.append(op)
            terms.append(leaf)
    node = terms[0]
    for op, t in zip(add_ops, terms[1:]):
        node = (op, node, t)
    return node


def _draw(rng: random.Random, spec: LevelSpec) -> tuple[str, int] | None:
    k = rng.randint(*spec.operands)
    leaves = [rng.randint(spec.low, spec.high) for _ in range(k)]
    if spec.tree:
        node = _random_tree(rng, leaves, spec.ops)
        text, grouped = _render(node)
        if not grouped:
            return None
    else:
        ops = [rng.choice(spec.ops) for _ in range(k - 1)]
        text = " ".join(x for pair in zip([str(v) for v in leaves], ops + [""]) for x in pair).strip()
        node = _precedence_tree(leaves, ops)
    value = _value(node)
    if (spec.nonneg and value < 0) or abs(value) > spec.max_abs:
        return None
    return text, value


# ----------------------------------------------------------------------------------------- parameters
def parse_curriculum(curriculum: Any) -> dict[int, float]:
    """Level weights from ``"1-3"``, ``"1,2,3"``, ``"1:0.5,2:0.5"``, a list of levels or a dict level -> weight."""
    def bad(why: str) -> ValueError:
        return ValueError(f"arith: curriculum={curriculum!r} is not valid ({why}); use e.g. '1-3', '1,2,3', "
                          f"'1:0.5,2:0.3,3:0.2', [1, 2, 3] or {{1: 0.5, 2: 0.5}} with levels in {sorted(LEVELS)}")

    weights: dict[int, float] = {}
    try:
        if isinstance(curriculum, Mapping):
            weights = {int(k): float(v) for k, v in curriculum.items()}
        elif isinstance(curriculum, str):
            s = curriculum.replace(" ", "")
            if "-" in s and ":" not in s and "," not in s:
                lo, hi = (int(x) for x in s.split("-", 1))
                weights = {lv: 1.0 for lv in range(lo, hi + 1)}
            else:
                for part in filter(None, s.split(",")):
                    if ":" in part:
                        lv, w = part.split(":", 1)
                        weights[int(lv)] = weights.get(int(lv), 0.0) + float(w)
                    else:
                        weights[int(part)] = weights.get(int(part), 0.0) + 1.0
        elif isinstance(curriculum, Sequence):
            for lv in curriculum:
                weights[int(lv)] = weights.get(int(lv), 0.0) + 1.0
        else:
            raise bad(f"unsupported type {type(curriculum).__name__}")
    except (TypeError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith("arith:"):
            raise
        raise bad(str(e)) from None
    if not weights:
        raise bad("no levels")
    unknown = [lv for lv in weights if lv not in LEVELS]
    if unknown:
        raise bad(f"unknown level(s) {unknown}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise bad("weights must be non-negative and not all zero")
    return {lv: w for lv, w in sorted(weights.items()) if w > 0}


class _LevelStream:
    """Distinct problems of one level and split, in a deterministic order."""

    def __init__(self, split: str, level: int, seed: int, taken: set[str], max_operand: int | None = None):
        self.split, self.level, self.spec = split, level, LEVELS[level]
        key = f"arith|{split}|level={level}|seed={seed}"
        if max_operand is not None:
            self.spec = replace(self.spec, high=max_operand)
            key += f"|max_operand={max_operand}"
        self.rng = random.Random(key)
        self.taken = taken  # shared across levels of one call: distinct problems in the whole result
        self.found = 0

    def next(self) -> tuple[str, int]:
        budget = 20_000
        for _ in range(budget):
            got = _draw(self.rng, self.spec)
            if got is None:
                continue
            text, value = got
            if text in self.taken or split_of(text) != self.split:
                continue
            self.taken.add(text)
            self.found += 1
            return text, value
        raise ValueError(f"arith: level {self.level} has run out of distinct {self.split} problems after "
                         f"{self.found} (no new one in {budget} draws); ask for fewer problems (n) or mix in "
                         f"harder levels with curriculum=")


def generate(split: str = "train", level: int = 1, n: int | None = None, seed: int = 0, curriculum: Any = None,
             order: str = "shuffle", max_operand: int | None = None) -> list[dict]:
    """``n`` distinct arithmetic problems of ``split`` as rows (id, problem, answer, level, expression)."""
    if split not in DEFAULT_N:
        raise ValueError(f"arith: unknown split {split!r}; choose one of {sorted(DEFAULT_N)}")
    take_all = n is None  # the default size is capped at what the levels hold; an explicit n is a promise
    if n is None:
        n = DEFAULT_N[split]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"arith: n must be a non-negative integer (number of problems), got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"arith: seed must be an integer, got {seed!r}")
    if order not in ("shuffle", "ascending"):
        raise ValueError(f"arith: order={order!r} is not valid; use 'shuffle' or 'ascending'")
    if curriculum is None:
        if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
            raise ValueError(f"arith: level={level!r} is not valid; choose an integer in {sorted(LEVELS)}")
        weights = {level: 1.0}
    else:
        weights = parse_curriculum(curriculum)
    levels = list(weights)
    if max_operand is not None and (isinstance(max_operand, bool) or not isinstance(max_operand, int)
                                    or any(max_operand < LEVELS[lv].low for lv in levels)):
        raise ValueError(f"arith: max_operand={max_operand!r} is not valid; give an integer at least the levels' "
                         f"smallest operand ({max(LEVELS[lv].low for lv in levels)})")
    mix = random.Random(f"arith|{split}|mix={sorted(weights.items())}|seed={seed}")
    taken: set[str] = set()
    streams = {lv: _LevelStream(split, lv, seed, taken, max_operand) for lv in levels}
    rows = []
    for _ in range(n):
        lv = levels[0] if len(levels) == 1 else mix.choices(levels, weights=[weights[x] for x in levels])[0]
        try:
            text, value = streams[lv].next()
        except ValueError:
            if take_all and len(levels) == 1:
                break  # default n: every distinct problem of this level's split
            raise
        digest = hashlib.sha256(("arith|" + text).encode()).hexdigest()[:12]
        rows.append({"id": f"arith/{split}/L{lv}/{digest}", "problem": f"What is {text}?", "answer": str(value),
                     "level": lv, "expression": text, "answer_prefix": f"{text} ="})
    if order == "ascending":
        rows.sort(key=lambda r: r["level"])  # stable: the drawn order within a level is kept
    return rows
