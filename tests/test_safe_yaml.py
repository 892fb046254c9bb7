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
