"""`--no-progress` silences every progress bar of a command, including the ones transformers draws itself while it
loads a checkpoint ("Loading weights"), and leaves the libraries' own settings as they were afterwards."""
import pytest

from harness.cli import main

pytest.importorskip("transformers")


def _eval(tmp_path, name, *flags):
    return main(["eval", "--model", "tiny-random", "--bench", "arith", "--k", "1", "--limit", "2",
                 "--max-new-tokens", "4", "--out", str(tmp_path / name), *flags])


def test_no_progress_also_silences_transformers_loading_bar(tmp_path, capsys):
    from transformers.utils import logging as tf_logging

    assert _eval(tmp_path, "bars") == 0
    shown = capsys.readouterr().err
    assert "Loading weights" in shown          # the bar exists, so its absence below means something
    assert _eval(tmp_path, "quiet", "--no-progress") == 0
    quiet = capsys.readouterr().err
    assert "Loading weights" not in quiet and "it/s" not in quiet, quiet[-2000:]
    assert tf_logging.is_progress_bar_enabled()   # restored for whatever runs next in this process
