"""The CLI dispatcher: --plugin before or after the sub-command imports the user's objective."""
from pathlib import Path

import pytest

import algorithms
from harness.cli import load_plugin, main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_objective.py"


@pytest.fixture
def clean_registry():
    yield
    if "truncated-is" in algorithms.names():
        algorithms.unregister("truncated-is")


@pytest.mark.parametrize("argv", [["--plugin", str(EXAMPLE), "list"], ["list", "--plugin", str(EXAMPLE)]])
def test_plugin_before_or_after_the_command(argv, capsys, clean_registry):
    assert "truncated-is" not in algorithms.names()
    assert main(argv) == 0
    assert "truncated-is" in capsys.readouterr().out


def test_missing_plugin_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(SystemExit, match="nope.py: no such file"):
        load_plugin(str(missing))


def test_unimportable_module_says_what_would_be_right():
    with pytest.raises(SystemExit, match="importable module name"):
        load_plugin("no_such_module_for_rlvr_zoo")
