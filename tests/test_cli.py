"""The CLI: help on every command, one-line user errors (exit 2, no traceback), `rlvr-zoo list`, --plugin."""
import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import algorithms
from harness.cli import build_parser, load_plugin, main
from harness.commands import COMMANDS
from harness.errors import UserError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "my_objective.py"


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *argv], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


# ------------------------------------------------------------------------------------------------------ help
@pytest.mark.parametrize("argv", [["--help"], []] + [[name, "--help"] for name in COMMANDS],
                         ids=lambda a: " ".join(a) or "(no arguments)")
def test_help_of_every_command_runs_as_a_user_types_it(argv):
    done = _cli(*argv)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("usage: rlvr-zoo")
    if len(argv) < 2:  # the top-level help lists every command
        for name in COMMANDS:
            assert re.search(rf"^\s+{name}\s", done.stdout, re.M), name


def _actions(parser):
    """Every (parser, action) of the CLI, sub-commands and their entries in the command list included."""
    for action in parser._actions:
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield parser, choice
            for sub in action.choices.values():
                yield from _actions(sub)


def test_no_help_string_has_an_unescaped_percent():
    """argparse %-formats every help string: a bare % ("95% interval") crashes `--help` with a TypeError."""
    bad = []
    for parser, action in _actions(build_parser()):
        text = action.help or ""
        # allowed: %% (a literal %) and %(name)s (argparse's own substitutions)
        if re.search(r"%(?!%|\(\w+\)[sdr])", text.replace("%%", "")):
            bad.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}: {text!r}")
    assert not bad, bad


# ---------------------------------------------------------------------------------------------- user errors
@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Files a careless user could point the CLI at."""
    d = tmp_path_factory.mktemp("bad")
    (d / "afile").write_text("x\n")
    (d / "broken.yaml").write_text("steps: [1, 2\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    malformed = d / "malformed" / "gsm8k"
    malformed.mkdir(parents=True)
    (malformed / "test.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\nnot json\n')
    binary = d / "binary" / "gsm8k"
    binary.mkdir(parents=True)
    (binary / "test.jsonl").write_bytes(bytes(range(128, 256)) * 4)
    wrong = d / "wrong-shape"
    wrong.mkdir()
    (wrong / "summary.json").write_text(json.dumps({"benches": {"arith": {"k": "four", "problems": 3}}}))
    not_json = d / "not-json"
    not_json.mkdir()
    (not_json / "summary.json").write_text('{"benches": {"arith": ')
    return d


# each: (argv with {d} for the fixture folder, words the one line must contain)
BAD_INVOCATIONS = [
    (["eval", "--model", "no-such-model-xyz", "--bench", "arith"], ["no-such-model-xyz", "tiny-random"]),
    (["eval", "--model", "{d}/no/such/dir", "--bench", "arith"], ["looks like a local path", "tiny-random"]),
    (["eval", "--model", "tiny-random", "--bench", "gsm8k,aime2024"], ["'aime2024'", "aime24"]),
    (["eval", "--model", "tiny-random", "--bench", "arith", "--temperature", "-1"], ["temperature", ">= 0"]),
    (["eval", "--model", "tiny-random", "--bench", "arith", "--top-p", "2"], ["top_p", "(0, 1]"]),
    (["eval", "--model", "tiny-random", "--bench", "gsm8k", "--data-dir", "{d}/missing"],
     ["data directory", "does not exist"]),
    (["eval", "--model", "tiny-random", "--bench", "gsm8k", "--data-dir", "{d}/malformed"],
     ["test.jsonl:2", "not valid JSON"]),
    (["eval", "--model", "tiny-random", "--bench", "gsm8k", "--data-dir", "{d}/binary"], ["not UTF-8"]),
    (["eval", "--model", "tiny-random", "--bench", "arith", "--out", "{d}/afile"], ["is a file"]),
    (["eval", "--model", "tiny-random", "--bench", "arith", "--out", "{d}/afile/sub"], ["no directory can be made"]),
    (["eval", "--model", "tiny-random", "--bench", "arith", "--out", "/proc/rlvr-zoo-out"], ["cannot write"]),
    (["eval", "--model", "tiny-random", "--k", "abc"], ["--k", "invalid int"]),
    (["train", "--algo", "no-such-algo"], ["no-such-algo", "ce-gppo"]),
    (["train", "--model", "tiny-random", "--task", "nope"], ["'nope'", "gsm8k"]),
    (["train", "--model", "tiny-random", "--set", "no_field=1"], ["no_field", "valid fields"]),
    (["train", "--model", "tiny-random", "--set", "lr=fast"], ["lr", "float"]),
    (["train", "--model", "tiny-random", "--config", "{d}/broken.yaml"], ["not valid YAML at line 2"]),
    (["train", "--model", "tiny-random", "--config", "{d}/list.yaml"], ["expected a YAML mapping"]),
    (["train", "--model", "tiny-random", "--out", "{d}/afile"], ["is a file"]),
    (["compare", "--preset", "no-such-preset"], ["no-such-preset", "tiny-test"]),
    (["compare", "--preset", "{d}/broken.yaml"], ["YAML"]),
    (["compare", "--preset", "tiny-test", "--algos", "grpo,nope"], ["'nope'", "ce-gppo"]),
    (["compare", "--preset", "tiny-test", "--algos", "ce-gppo:beta9=1"], ["beta9", "beta1"]),
    (["compare", "--preset", "tiny-test", "--algos", "ce-gppo:beta1=high"], ["beta1", "float"]),
    (["compare", "--preset", "tiny-test", "--set", "no_field=1"], ["no_field"]),
    (["compare", "--preset", "tiny-test", "--seeds", "a,b"], ["--seeds", "integers"]),
    (["compare", "--preset", "tiny-test", "--out", "{d}/afile/sub"], ["no directory can be made"]),
    (["leaderboard", "{d}/wrong-shape"], ["summary.json", "benches.arith.k"]),
    (["leaderboard", "{d}/not-json"], ["summary.json", "cannot be read as JSON"]),
    (["leaderboard", "{d}/missing"], ["no such directory"]),
    (["curves", "{d}/missing", "-o", "{d}/c.png"], ["no such directory"]),
    (["list", "no-such-objective"], ["no-such-objective", "ce-gppo"]),
    (["--plugin", "{d}/nope.py", "list"], ["nope.py", "no such file"]),
]


@pytest.mark.parametrize("argv,words", BAD_INVOCATIONS, ids=[" ".join(a[:4]) for a, _ in BAD_INVOCATIONS])
def test_a_user_error_is_one_line_and_exit_2(argv, words, bad_inputs, capfd, monkeypatch, tmp_path):
    if "/proc/rlvr-zoo-out" in argv and not Path("/proc").is_dir():
        pytest.skip("no /proc: no read-only location to point --out at")
    monkeypatch.chdir(tmp_path)   # commands without --out write under ./results: keep the checkout clean
    argv = [a.replace("{d}", str(bad_inputs)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("rlvr-zoo"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_user_errors_in_a_subprocess_have_no_traceback(bad_inputs):
    """The table above runs in-process; one case end to end, as the installed command prints it."""
    done = _cli("eval", "--model", "tiny-random", "--bench", "arith", "--top-p", "2")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "rlvr-zoo eval: error: Sampling.top_p must be in (0, 1], got 2.0"]


def test_output_dir_is_checked_before_the_model_loads(bad_inputs, monkeypatch):
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(harness.models, "load_policy", refuse)
    assert main(["eval", "--model", "tiny-random", "--bench", "arith", "--out", str(bad_inputs / "afile")]) == 2


# ------------------------------------------------------------------------------------------------------ list
def _width_ok(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 120]


def test_list_tables_fit_120_columns_and_show_what_differs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert not _width_ok(out)
    ce_row = next(line for line in out.splitlines() if line.startswith("ce-gppo "))
    assert "beta1=0.5" in ce_row and "beta2=1" in ce_row and "arXiv:2509.20712" in ce_row
    # a field at the shared default is not repeated on an objective's row
    assert "clip_ratio_low" not in ce_row
    for section in ("advantage estimators:", "rollout corrections:", "aggregation modes:",
                    "benchmarks", "presets", "templates:", "rewards:"):
        assert section in out


def test_list_stays_within_120_columns_with_a_verbose_objective(capsys):
    @algorithms.register("a-rather-long-objective-name")
    class Verbose(algorithms.Algorithm):
        """An objective with many changed fields (Someone et al. 2031, arXiv 3101.00001)."""

        clip_ratio_low: float = algorithms.hp(0.123456, "x")
        clip_ratio_high: float = algorithms.hp(0.654321, "x")
        advantage_estimator: str = algorithms.hp("rloo", "x")
        loss_agg_mode: str = algorithms.hp("seq-mean-token-sum-norm", "x")
        an_unusually_long_hyperparameter_name_for_testing: float = algorithms.hp(1.5, "x " * 200)

        def policy_loss(self, x):
            return -x.ratio * x.advantages

    try:
        assert main(["list"]) == 0
        assert not _width_ok(capsys.readouterr().out)
        assert main(["list", "a-rather-long-objective-name"]) == 0
        assert not _width_ok(capsys.readouterr().out)
    finally:
        algorithms.unregister("a-rather-long-objective-name")


def test_list_one_objective_shows_every_field_with_its_doc(capsys):
    assert main(["list", "ce-gppo"]) == 0
    out = capsys.readouterr().out
    assert not _width_ok(out)
    described = algorithms.describe("ce-gppo")
    for name, info in described.items():
        line = next((ln for ln in out.splitlines() if ln[:1].strip() and ln.split()[0].rstrip("*") == name), None)
        assert line is not None, name
        assert info["doc"].split()[0] in line
    assert re.search(r"^beta1\*\s+float\s+0\.5\s", out, re.M)


def test_list_json_for_scripts(capsys):
    assert main(["list", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["algorithms"]["ce-gppo"]["differs"]["beta2"] == 1.0
    assert "clip_ratio_low" not in info["algorithms"]["ce-gppo"]["differs"]
    assert info["algorithms"]["ce-gppo"]["fields"]["clip_ratio_low"] == 0.2
    assert {b["name"] for b in info["benchmarks"]} >= {"gsm8k", "arith"}
    assert main(["list", "grpo", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["kl_coef"] == 0.04


def test_list_json_holds_every_kind_of_zoo_item(capsys):
    """Issue 31's items, each where its kind lives, and the sizes of the registries."""
    assert main(["list", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    objectives = set(info["algorithms"])
    estimators = {e["name"] for e in info["advantage_estimators"]}
    corrections = {e["name"]: e for e in info["rollout_corrections"]}
    modes = {e["name"] for e in info["aggregation_modes"]}
    assert {"m2po", "topr", "kimi-1.5", "prime-dppo", "ipo", "fec"} <= objectives
    assert {"maxrl", "gdpo"} <= estimators and {"kl-rs", "outlier-token", "opsm"} <= set(corrections)
    assert {"token_k1", "seq_sum_k2", "seq_mean_k3", "seq_max_k3"} <= set(corrections["kl-rs"]["params"])
    assert "prompt-mean" in modes and len(modes) == len(algorithms.AGG_MODES)
    assert len(objectives) >= 22 and len(estimators) >= 13 and len(corrections) >= 9


def test_benchmark_sizes_are_counted_from_the_data_directory(data_dir, capsys):
    assert main(["list", "--format", "json"]) == 0
    info = {b["name"]: b for b in json.loads(capsys.readouterr().out)["benchmarks"]}
    with open(data_dir / "math500" / "test.jsonl", encoding="utf-8") as fh:
        assert info["math500"]["splits"]["test"] == sum(1 for line in fh if line.strip())


# ---------------------------------------------------------------------------------------------------- plugin
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
    with pytest.raises(UserError, match="nope.py: no such file"):
        load_plugin(str(missing))


def test_unimportable_module_says_what_would_be_right():
    with pytest.raises(UserError, match="importable module name"):
        load_plugin("no_such_module_for_rlvr_zoo")


def test_the_cli_lets_openmp_threads_sleep_unless_the_environment_says_otherwise():
    """`rlvr-zoo` sets OMP_WAIT_POLICY=PASSIVE before torch is imported (harness.cli.passive_openmp_waits); a policy
    the user set is kept. Checked in the command's own process, as torch's OpenMP runtime sees it."""
    code = "import harness.cli, os, torch; print(os.environ['OMP_WAIT_POLICY'])"
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(repo)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE"]
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ACTIVE"]
