"""A comparison that starts from a shared warm start (compare.warm_start; harness/compare/warm_start.py): built once
from its seed into the cache, its digest recorded in OUT/warm_start.json, the base row is the warm start and the
untouched model is reported beside it; a fresh clone that holds only the committed files (no cache, no weights, no
checkpoints) resumes the comparison, rebuilding the warm start bit for bit and checking its digest."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.compare import warm_start
from harness.leaderboard import collect

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

WARM = '{algo: grpo, steps: 1, seed: 7, lr: 0.01}'


def _compare(out: Path, seeds: str, *extra: str) -> int:
    return main(["compare", "--preset", "tiny-test", "--algos", "grpo", "--seeds", seeds, "--out", str(out),
                 "--no-progress", "--set", f"compare.warm_start={WARM}", "--set", "train.steps=1", *extra])


def _committed_copy(src: Path, dst: Path) -> None:
    """What a study commits: metrics, evaluations, summaries and records; no weights, no checkpoints."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("final", "checkpoints"))


def test_warm_start_base_row_untouched_row_and_a_fresh_clone_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path / "cache-a"))
    out = tmp_path / "cmp"
    assert _compare(out, "0") == 0
    record = json.loads((out / "warm_start.json").read_text())
    assert record["spec"]["algo"] == "grpo" and record["spec"]["steps"] == 1 and len(record["weights_sha256"]) == 64
    rows = collect(out)
    assert [(r.label, r.is_base, r.is_reference) for r in rows] == [
        ("base (warm start: grpo 1 steps from tiny-random)", True, False),
        ("untouched base (tiny-random)", True, True), ("grpo", False, False)]
    verdicts = json.loads((out / "leaderboard-verdicts.json").read_text())
    assert [(e["a"], e["b"]) for e in verdicts["vs_base"]] == [("grpo", "base (warm start: grpo 1 steps from tiny-random)")]
    run = json.loads((out / "runs" / "grpo" / "seed-0" / "run.json").read_text())
    assert str(tmp_path / "cache-a" / "warm-starts") in json.dumps(run)   # the arm trained from the warm start
    # the untouched model differs from the warm start (the warm start did train)
    cached = Path(warm_start.build(record["spec"])[0])
    assert warm_start.weights_digest(cached) == record["weights_sha256"]

    # a fresh clone: only the committed files, an empty cache; one more seed to run
    clone = tmp_path / "clone"
    _committed_copy(out, clone)
    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path / "cache-b"))
    capsys.readouterr()
    assert _compare(clone, "0,1") == 0
    said = capsys.readouterr().out
    assert "grpo seed 0: finished earlier, skipped" in said and "warm start" in said
    rebuilt = json.loads(next((tmp_path / "cache-b" / "warm-starts").glob("*/warm_start.json")).read_text())
    assert rebuilt["weights_sha256"] == record["weights_sha256"]             # rebuilt here from its seed, same bits
    assert json.loads((clone / "warm_start.json").read_text()) == record
    assert (clone / "runs" / "grpo" / "seed-1" / "DONE").is_file()
    assert [r.label for r in collect(clone)][-1] == "grpo" and collect(clone)[-1].seeds == [0, 1]


def test_a_rebuilt_warm_start_with_other_weights_is_refused_or_warned(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp"
    assert _compare(out, "0") == 0
    path = out / "warm_start.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "weights_sha256": "0" * 64}))   # as if recorded on another processor
    capsys.readouterr()
    assert _compare(out, "0,1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warm start rebuilt here has weights" in err and "warm_start_mismatch=warn" in err
    assert not (out / "runs" / "grpo" / "seed-1").exists()
    with pytest.warns(UserWarning, match="warm_start_mismatch is warn"):
        assert _compare(out, "0,1", "--set", "compare.warm_start_mismatch=warn") == 0
    assert (out / "runs" / "grpo" / "seed-1" / "DONE").is_file()
    path.write_text('{"key": "x", "weights_sha256": [1]}')                # a damaged record is data, not a crash
    capsys.readouterr()
    assert _compare(out, "0,1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a warm-start record" in err


def test_warm_start_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp"
    for value, words in (("{steps: 1}", "with an `algo`"), ("{algo: grpo, model: x}", "may not set model"),
                         ("{algo: grpo, stepz: 1}", "stepz")):
        assert main(["compare", "--preset", "tiny-test", "--out", str(out), "--no-progress", "--set",
                     f"compare.warm_start={value}"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert main(["compare", "--preset", "tiny-test", "--out", str(out), "--no-progress", "--init-from", "tiny-random",
                 "--set", f"compare.warm_start={WARM}"]) == 2
    assert "not both" in capsys.readouterr().err
