"""The procedural arith task: determinism, disjoint splits, correct answers, levels and curriculum."""
import ast
import operator

import pytest

import benchmarks
from benchmarks import arith

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _independent_value(expr: str) -> int:
    """Evaluate the expression text with Python's own parser (precedence, parentheses, unary minus)."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        raise AssertionError(f"unexpected syntax in {expr!r}")
    return ev(ast.parse(expr, mode="eval"))


def test_deterministic_per_seed():
    a = benchmarks.load("arith", "train", level=3, n=50, seed=7)
    b = benchmarks.load("arith", "train", level=3, n=50, seed=7)
    c = benchmarks.load("arith", "train", level=3, n=50, seed=8)
    assert a == b
    assert [r["problem"] for r in a] != [r["problem"] for r in c]


@pytest.mark.parametrize("level", sorted(arith.LEVELS))
def test_splits_are_disjoint_and_answers_correct(level):
    n = 150 if level == 1 else 300
    train = benchmarks.load("arith", "train", level=level, n=n, seed=0)
    test = benchmarks.load("arith", "test", level=level, n=100, seed=0)
    other_seed = benchmarks.load("arith", "test", level=level, n=100, seed=1)
    train_p = {r["problem"] for r in train}
    assert len(train_p) == n and len({r["problem"] for r in test}) == 100      # distinct within a split
    assert train_p.isdisjoint(r["problem"] for r in test)
    assert train_p.isdisjoint(r["problem"] for r in other_seed)                 # whatever the seeds
    for r in train + test:
        assert r["problem"] == f"What is {r['expression']}?"
        assert r["answer"] == str(_independent_value(r["expression"]))
        assert r["level"] == level and r["id"].startswith(f"arith/{'test' if r in test else 'train'}/L{level}/")
        assert arith.split_of(r["expression"]) == ("test" if r in test else "train")


def test_level_shapes():
    l1 = benchmarks.load("arith", "train", level=1, n=200)
    for r in l1:
        assert "(" not in r["expression"] and int(r["answer"]) >= 0
        assert len(r["expression"].split()) == 3                              # "a op b"
    assert any("+" in r["expression"] for r in l1) and any("-" in r["expression"] for r in l1)
    l3 = benchmarks.load("arith", "train", level=3, n=200)
    assert any("*" in r["expression"] for r in l3)
    for lv in (4, 5, 6):
        rows = benchmarks.load("arith", "train", level=lv, n=100)
        assert all("(" in r["expression"] for r in rows)
        assert any("(-" in r["expression"] for r in rows)                     # negative operands appear
        assert all(abs(int(r["answer"])) <= arith.LEVELS[lv].max_abs for r in rows)


def test_test_split_fraction_is_about_a_fifth():
    # the hash split sends about TEST_FRACTION of all level-1 problems to test (the level-1 space is small and
    # enumerable: a + b and a - b (a >= b) for a, b in 0..25)
    exprs = [f"{a} + {b}" for a in range(26) for b in range(26)] + \
            [f"{a} - {b}" for a in range(26) for b in range(a + 1)]
    frac = sum(arith.split_of(e) == "test" for e in exprs) / len(exprs)
    assert 0.15 < frac < 0.25


def test_running_out_of_problems_is_an_error_not_a_duplicate():
    with pytest.raises(ValueError, match="run out of distinct test problems"):
        benchmarks.load("arith", "test", level=1, n=400)


def test_curriculum_mix_and_order():
    rows = benchmarks.load("arith", "train", curriculum="1:2,3:1", n=300, seed=0)
    levels = [r["level"] for r in rows]
    assert set(levels) == {1, 3}
    assert 150 < levels.count(1) < 250                                        # weights 2:1
    assert len({r["problem"] for r in rows}) == 300
    asc = benchmarks.load("arith", "train", curriculum=[1, 2, 3], n=60, seed=0, order="ascending")
    assert [r["level"] for r in asc] == sorted(r["level"] for r in asc)
    same = benchmarks.load("arith", "train", curriculum="1-3", n=60, seed=0, order="ascending")
    assert same == asc
    assert arith.parse_curriculum({2: 1, 4: 3}) == {2: 1.0, 4: 3.0}


def test_bad_parameters_are_explained():
    with pytest.raises(ValueError, match=r"level=9 .*\[1, 2, 3, 4, 5, 6\]"):
        benchmarks.load("arith", level=9)
    with pytest.raises(ValueError, match="unknown parameter.*levle"):
        benchmarks.load("arith", levle=2)
    with pytest.raises(ValueError, match="curriculum"):
        benchmarks.load("arith", curriculum="1-9")
    with pytest.raises(ValueError, match="order"):
        benchmarks.load("arith", order="random")
    with pytest.raises(ValueError, match="unknown split"):
        benchmarks.load("arith", "validation")


def test_defaults_and_limit():
    assert len(benchmarks.load("arith", "test")) == arith.DEFAULT_N["test"]
    assert len(benchmarks.load("arith", "train", limit=12)) == 12
    first = benchmarks.load("arith", "test", level=1, n=3)[0]
    assert first["problem"].startswith("What is ") and first["problem"].endswith("?")


def test_max_operand_widens_a_level_without_changing_its_default_problems():
    import benchmarks

    default = benchmarks.load("arith", "test", level=1, n=50)
    assert default == benchmarks.load("arith", "test", level=1, n=50)   # unchanged by the option's existence
    wide = benchmarks.load("arith", "test", level=1, n=700, max_operand=50)
    train = benchmarks.load("arith", "train", level=1, n=800, max_operand=50)
    assert len({r["expression"] for r in wide}) == 700                  # distinct, and far more than level 1's ~200
    assert not {r["expression"] for r in wide} & {r["expression"] for r in train}
    operands = [int(x) for r in wide for x in r["expression"].replace("-", "+").split("+")]
    assert max(operands) == 50 and min(operands) >= 0 and all(int(r["answer"]) >= 0 for r in wide)
    with pytest.raises(ValueError, match="max_operand"):
        benchmarks.load("arith", "test", level=4, max_operand=-30)
