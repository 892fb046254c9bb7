"""The package dependency rules (docs/INTERFACES.md, "Dependencies run one way") hold for this tree,
and the checker that enforces them in `make test` does catch each kind of violation."""
from __future__ import annotations

from pathlib import Path

from tools import import_contract

ROOT = Path(__file__).resolve().parents[1]


def test_this_tree_keeps_the_contract():
    assert import_contract.violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_each_forbidden_direction_is_reported_and_allowed_ones_are_not(tmp_path):
    root = _tree(tmp_path, {
        "algorithms/a.py": "import torch\nfrom algorithms.base import x\nfrom . import y\nimport rewards.verify\n",
        "rewards/r.py": "def f():\n    from algorithms import kl\n",          # a lazy import counts too
        "benchmarks/b.py": "from rewards import verify\nimport harness.io\n",
        "harness/h.py": "import algorithms, rewards, benchmarks\nfrom tools.perf import perf_parts\n",
        "tools/t.py": "import harness, algorithms, rewards, benchmarks\n",
    })
    found = import_contract.violations(root)
    assert [line.split(":")[0] + ":" + line.split(":")[1] for line in found] == [
        "algorithms/a.py:4", "rewards/r.py:2", "benchmarks/b.py:2", "harness/h.py:2"]
    assert "benchmarks imports harness; benchmarks may import rewards" in found[2]
    assert import_contract.main([str(root)]) == 1
    assert import_contract.main([str(_tree(tmp_path / "clean", {"tools/t.py": "import harness\n"}))]) == 0


def test_wing_rules_inside_harness(tmp_path):
    """training imports neither compare nor leaderboard; the leaderboard does not import training; compare may
    import both; a lazy import counts."""
    root = _tree(tmp_path, {
        "harness/training/__init__.py": "",
        "harness/training/config.py": "X = 1\n",
        "harness/training/trainer.py": "def f():\n    from harness.leaderboard import collect\n",
        "harness/leaderboard/__init__.py": "",
        "harness/leaderboard/collect.py": "import harness.training.config\n",
        "harness/compare/__init__.py": "",
        "harness/compare/runner.py": "from harness.training import config\nfrom harness.leaderboard import collect\n",
    })
    found = import_contract.violations(root)
    assert found == [
        "harness/leaderboard/collect.py:1: harness.leaderboard.collect imports harness.training.config; "
        "harness.leaderboard may not import harness.training",
        "harness/training/trainer.py:2: harness.training.trainer imports harness.leaderboard.collect; "
        "harness.training may not import harness.compare or harness.leaderboard"]


def test_an_import_cycle_is_reported_with_each_import_on_it(tmp_path):
    """The two circles this tree had: a module and the package whose __init__ imports it (model_card <-> training,
    through a lazy import), and two tool scripts that import each other."""
    root = _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/card.py": "def write():\n    from harness.training import Config\n",
        "harness/training/__init__.py": "from harness.training.trainer import Trainer\nConfig = 1\n",
        "harness/training/trainer.py": "from harness import card\nfrom . import helper\n",
        "harness/training/helper.py": "import os\n",
        "tools/__init__.py": "",
        "tools/a.py": "from tools.b import g\n",
        "tools/b.py": "def g():\n    from tools import a\n",
    })
    found = import_contract.violations(root)
    assert len(found) == 2
    assert found[0].startswith("harness/card.py:2: import cycle harness.card -> harness.training -> "
                               "harness.training.trainer -> harness.card (harness/card.py:2 imports "
                               "harness.training, harness/training/__init__.py:1 imports harness.training.trainer, "
                               "harness/training/trainer.py:1 imports harness.card)")
    assert found[1].startswith("tools/a.py:1: import cycle tools.a -> tools.b -> tools.a")


def test_a_lazy_import_back_into_the_package_is_a_cycle(tmp_path):
    """A function-level import of the package from one of its modules closes a cycle like any other import; the
    same piece taken from the module that defines it does not."""
    files = {"rewards/__init__.py": "from rewards.spec import S\nfrom rewards.pool import get_pool\n",
             "rewards/spec.py": "def f():\n    from rewards import get_pool\n",
             "rewards/pool.py": "def get_pool():\n    pass\n"}
    found = import_contract.violations(_tree(tmp_path / "cycle", files))
    assert len(found) == 1 and "import cycle rewards -> rewards.spec -> rewards" in found[0], found
    files["rewards/spec.py"] = "def f():\n    from rewards.pool import get_pool\n"
    assert import_contract.violations(_tree(tmp_path / "fixed", files)) == []
