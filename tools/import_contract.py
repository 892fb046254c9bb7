"""Check the one-way dependencies between the project's packages (the design's layout paragraph) by reading imports.

    algorithms   imports none of the project's other packages
    rewards      imports none of the project's other packages
    benchmarks   may import rewards (to read gold answers out of reference solutions)
    harness      may import algorithms, rewards and benchmarks
    tools        may import anything

and nothing but tools (and the tests and examples, which are users) imports harness or tools. Inside harness the
wings keep their own direction (`WING_RULES`): training imports neither compare nor leaderboard, and the
leaderboard does not import training (compare may import both). And no module imports itself through others: an
import cycle between modules of the project (A imports B, ..., which imports A) is reported with the line of each
import on it.

Every `import` and `from ... import` statement counts, at module level or inside a function (a lazy import is
still a dependency); ``from package import name`` is an import of the submodule ``package.name`` where one exists,
else of the package (its ``__init__``). Imports built from strings (`importlib.import_module`) are not seen.

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


WING_RULES: dict[str, tuple[str, ...]] = {
    "harness.training": ("harness.compare", "harness.leaderboard"),
    "harness.leaderboard": ("harness.training",),
}
"""module prefix -> the module prefixes its modules may not import"""

def imported_packages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level module name) of every absolute import in a parsed module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages under `root`."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an import of `name` loads: `name` itself, else its longest prefix that is a module."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def module_imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, project module) of every import in `module` (lazy ones included; see the module notes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[:len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            target = _resolve(name, modules)
            if target is not None and target != module:
                out.append((node.lineno, target))
    return out


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a cycle through all of its
    members where one exists, else its members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(c, graph) for c in sorted(components)]


def _cycle_through(component: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return component


def violations(root: str | Path) -> list[str]:
    """`FILE:LINE: ...` for every import that breaks the contract under `root` (module notes): a package imported
    against the one-way rule, a wing rule broken, an import cycle."""
    root = Path(root)
    modules = _modules(root)
    found = []
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        package = module.split(".")[0]
        where = path.relative_to(root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_packages(tree):
            if name in PACKAGES and name != package and name not in ALLOWED[package]:
                allowed = ", ".join(sorted(ALLOWED[package])) or "none of the project's packages"
                found.append(f"{where}:{line}: {package} imports {name}; {package} may import {allowed}")
        for line, target in module_imports(module, path, modules):
            graph.setdefault(module, {}).setdefault(target, line)
            for wing, forbidden in WING_RULES.items():
                if _within(module, wing) and any(_within(target, f) for f in forbidden):
                    found.append(f"{where}:{line}: {module} imports {target}; {wing} may not import "
                                 f"{' or '.join(forbidden)}")
    cycles = _cycles(graph)
    for cycle in cycles:
        steps = ", ".join(f"{modules[a].relative_to(root)}:{graph[a][b]} imports {b}" for a, b in zip(cycle, cycle[1:]))
        found.append(f"{modules[cycle[0]].relative_to(root)}:{graph[cycle[0]][cycle[1]]}: import cycle "
                     f"{' -> '.join(cycle)} ({steps}); one of these imports has to go (move the shared piece into a "
                     f"module both can import)")
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


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
