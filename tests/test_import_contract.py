"""The package dependency rules of the design (../shared/DESIGN.md, "Dependencies run one way") hold for this tree,
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
