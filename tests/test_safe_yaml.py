"""Safe YAML for presets and `train --config` (harness.presets.load_yaml): plain data only, an alias limit and an
expanded-size limit (the "billion laughs" alias bomb), one-line errors naming the file, line and column."""
from __future__ import annotations

import pytest

from harness import presets
from harness.cli import main
from harness.errors import UserError

# nine anchors, each a list of nine aliases of the previous one: 9^9 (about 3.9e8) leaves in 600 bytes
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def test_alias_bomb_is_refused_before_it_is_expanded():
    # expanded size: the root, 9 keys, and list sizes s_0 = 10, s_i = 1 + 9 s_(i-1)
    sizes = [10]
    for _ in range(8):
        sizes.append(1 + 9 * sizes[-1])
    expected = f"{1 + 9 + sum(sizes):.3g}".replace("+", r"\+").replace(".", r"\.")
    with pytest.raises(presets.ConfigFileError, match=rf"cfg\.yaml: expands to {expected} YAML nodes") as err:
        presets.load_yaml(BOMB, "cfg.yaml")
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_too_many_aliases_are_refused():
    text = "base: &b {lr: 1}\n" + "".join(f"r{i}: *b\n" for i in range(presets.MAX_YAML_ALIASES + 1))
    with pytest.raises(presets.ConfigFileError, match=r"more than 100 YAML aliases"):
        presets.load_yaml(text, "cfg.yaml")


def test_ordinary_anchors_and_plain_data_still_load():
    text = "defaults: &d {lr: 1.0e-5, steps: 3}\ntrain: {<<: *d, steps: 5}\nseeds: [0, 1]\n"
    assert presets.load_yaml(text, "x") == {"defaults": {"lr": 1e-5, "steps": 3}, "train": {"lr": 1e-5, "steps": 5},
                                            "seeds": [0, 1]}
    assert presets.load_yaml("", "x") is None
    # a node that contains itself is refused neither by recursion nor by size; it is just data
    assert presets.load_yaml("a: &a [1, *a]\n", "x")["a"][0] == 1


@pytest.mark.parametrize("text, expected", [
    ("train:\n  lr: [1, 2\n", r"f\.yaml: not valid YAML at line 3, column 1"),
    ("a: 1\n b: 2\n", r"f\.yaml: not valid YAML at line 2, column 3"),
    ("x: !!python/object/apply:os.system ['touch /tmp/pwned']\n", r"f\.yaml: not valid YAML at line 1"),
])
def test_broken_or_unsafe_yaml_is_one_line(text, expected):
    with pytest.raises(presets.ConfigFileError, match=expected) as err:
        presets.load_yaml(text, "f.yaml")
    assert "\n" not in str(err.value)


def test_cli_refuses_an_alias_bomb_config_and_preset_in_one_line(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert main(["train", "--config", str(bomb), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "alias bomb" in err and str(bomb) in err
    assert main(["compare", "--preset", str(bomb), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "alias bomb" in err



YAML_LOADS = {"load", "safe_load", "full_load", "unsafe_load", "load_all", "safe_load_all", "full_load_all",
              "unsafe_load_all", "compose", "compose_all", "parse"}


def _yaml_reads(text: str, loader_module: bool = False) -> list[str]:
    """Lines of Python ``text`` that read YAML without `algorithms.fields.load_yaml`: a call of PyYAML's loading
    functions, or (outside the module that holds the limited loader) a loader class of PyYAML's."""
    import ast

    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "yaml":
            names = {a.name for a in node.names}
            if names & YAML_LOADS or (not loader_module and any("Loader" in n for n in names)):
                found.append(f"{node.lineno}: from yaml import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml":
            if node.attr in YAML_LOADS or (not loader_module and "Loader" in node.attr):
                found.append(f"{node.lineno}: yaml.{node.attr}")
    return found


def test_no_yaml_is_read_without_the_limits_anywhere_in_the_project():
    """Every YAML the project reads (presets, --config, --set values, a results folder's config.yaml read by
    `leaderboard` and `compare`) goes through `algorithms.fields.load_yaml`: any other YAML read in the project's
    packages fails this test."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    loader = repo / "algorithms" / "fields.py"
    found = [f"{path.relative_to(repo)}:{hit}"
             for package in ("algorithms", "rewards", "benchmarks", "harness", "tools", "examples")
             for path in sorted((repo / package).rglob("*.py"))
             for hit in _yaml_reads(path.read_text(encoding="utf-8"), loader_module=path == loader)]
    assert not found, f"YAML read without the limits of algorithms.fields.load_yaml: {found}"


@pytest.mark.parametrize("text", ["import yaml\nyaml.safe_load(x)\n", "from yaml import full_load\n",
                                  "yaml.load(x, Loader=yaml.SafeLoader)\n", "class L(yaml.SafeLoader):\n    pass\n"])
def test_the_lint_reports_each_kind_of_unlimited_yaml_read(text):
    assert _yaml_reads(text)
