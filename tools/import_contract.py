"""Check the one-way dependencies between the project's packages (the design's layout paragraph) by reading imports.

    algorithms   imports none of the project's other packages
    rewards      imports none of the project's other packages
    benchmarks   may import rewards (to read gold answers out of reference solutions)
    harness      may import algorithms, rewards and benchmarks
    tools        may import anything

and nothing but tools (and the tests and examples, which are users) imports harness or tools. Every `import` and
`from ... import` statement counts, at module level or inside a function (a lazy import is still a dependency);
relative imports stay inside their own package. Imports built from strings (`importlib.import_module`) are not seen.

    python -m tools.import_contract [ROOT]      # prints each violation as FILE:LINE; exit status 1 if any
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

PACKAGES = ("algorithms", "rewards", "benchmarks", "harness", "tools")
ALLOWED: dict[str, frozenset[str]] = {
    "algorithms": frozenset(),
    "rewards": frozenset(),
    "benchmarks": frozenset({"rewards"}),
    "harness": frozenset({"algorithms", "rewards", "benchmarks"}),
    "tools": frozenset({"algorithms", "rewards", "benchmarks", "harness"}),
}


def imported_packages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level module name) of every absolute import in a parsed module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(root: str | Path) -> list[str]:
    """`FILE:LINE: <package> imports <package> ...` for every import that breaks the contract, under `root`."""
    root = Path(root)
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, name in imported_packages(tree):
                if name in PACKAGES and name != package and name not in ALLOWED[package]:
                    allowed = ", ".join(sorted(ALLOWED[package])) or "none of the project's packages"
                    found.append(f"{path.relative_to(root)}:{line}: {package} imports {name}; {package} may import "
                                 f"{allowed}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    found = violations(root)
    for line in found:
        print(line)
    if found:
        print(f"import contract: {len(found)} violation(s); the allowed dependencies are in {__file__}",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
