"""tools.checker.recheck: committed responses checked again with the current checker (the real worker pool)."""
import json

import pytest

from tools.checker import recheck


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


ROWS = [
    # recorded by a checker that took the phrase after the marker (SmolLM2's output in results/cpu-demo-reference)
    {"id": "a", "sample": 0, "gold": "38", "response": "13 + 25 = 38\n\nThe answer is within \\boxed{}.",
     "extracted": "within \\boxed{}", "correct": False},
    {"id": "b", "sample": 0, "gold": "5", "response": "The answer is 5.", "extracted": "5", "correct": True},
    # a recorded verdict the current checker does not give: 4 is not 5
    {"id": "c", "sample": 0, "gold": "5", "response": "The answer is 4.", "extracted": "4", "correct": True},
    {"id": "d", "skipped": "gold answer cannot be parsed"},
]


def test_changes_against_the_recorded_verdicts(tmp_path, capsys):
    _write(tmp_path / "run" / "eval" / "arith.responses.jsonl", ROWS)
    out = tmp_path / "report.json"
    assert recheck.main([str(tmp_path), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    t = report["totals"]
    assert (t["responses"], t["extracted_changed"], t["wrong_to_right"], t["right_to_wrong"]) == (3, 1, 1, 1)
    f = report["files"]["run/eval/arith.responses.jsonl"]
    assert (f["accuracy_before"], f["accuracy_after"]) == (round(2 / 3, 4), round(2 / 3, 4))
    first = next(d for d in report["changed"] if d["line"] == 1)
    assert (first["extracted_before"], first["extracted_after"], first["method_after"]) == \
        ("within \\boxed{}", "38", "last_number")
    assert report["by_method_after"] == {"last_number": 1}
    assert "3 responses in 1 files" in capsys.readouterr().out


def test_a_saved_run_is_a_baseline(tmp_path):
    _write(tmp_path / "r" / "gsm8k.responses.jsonl", ROWS)
    saved, out = tmp_path / "before.json", tmp_path / "report.json"
    recheck.main([str(tmp_path / "r"), "--save", str(saved)])
    recheck.main([str(tmp_path / "r"), "--baseline", str(saved), "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["against"] == "baseline" and report["changed"] == []
    assert report["totals"]["responses"] == 3 and "extracted_changed" not in report["totals"]


def test_a_rescored_copy_holds_the_new_scores_and_leaves_the_source_alone(tmp_path):
    src = tmp_path / "cmp"
    rows = ROWS[:3]
    _write(src / "base" / "eval" / "arith.responses.jsonl", rows)
    summary = {"label": "base", "config": {"seed": 0, "bootstrap_samples": 200},
               "checker": {"fingerprint": "000000000000", "sympy": "1.0"},   # an older checker's verdicts
               "benches": {"arith": {"problems": 3, "k": 1, "avg@1": 2 / 3, "per_problem": [0.0, 1.0, 1.0]}}}
    (src / "base" / "eval" / "summary.json").write_text(json.dumps(summary))
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    dst = tmp_path / "copy"
    assert recheck.main([str(src), "--rescored-copy", str(dst)]) == 0
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    scores = json.loads((dst / "base" / "eval" / "summary.json").read_text())["benches"]["arith"]
    # row a: the phrase was wrong, 38 is right; row c: 4 is not 5
    assert scores["per_problem"] == [1.0, 1.0, 0.0] and scores["avg@1"] == 2 / 3
    assert scores["verdict_reasons"].get("no_answer") is None and sum(scores["verdict_reasons"].values()) == 3
    copied = [json.loads(x) for x in (dst / "base" / "eval" / "arith.responses.jsonl").read_text().splitlines()]
    assert [r["extracted"] for r in copied] == ["38", "5", "4"] and [r["correct"] for r in copied] == [True, True, False]
    # the copy records the checker that rescored it; a table of the source and the copy says they differ
    import rewards
    from harness import leaderboard
    from harness.leaderboard.verdicts import checker_note

    copy_summary = json.loads((dst / "base" / "eval" / "summary.json").read_text())
    assert copy_summary["checker"] == rewards.checker_record()
    assert checker_note(leaderboard.collect(dst)) is None
    note = checker_note(leaderboard.merge([src, dst]))
    assert "checker 000000000000" in note and f"checker {rewards.checker_fingerprint()}" in note
    # the copy is written once: a second call refuses to overwrite it
    with pytest.raises(SystemExit, match="exists"):
        recheck.main([str(src), "--rescored-copy", str(dst)])


def test_a_summary_rescored_in_part_records_no_checker(tmp_path, capsys):
    src = tmp_path / "ev"
    _write(src / "arith.responses.jsonl", ROWS[:3])
    summary = {"label": "m", "config": {"seed": 0, "bootstrap_samples": 50},
               "checker": {"fingerprint": "000000000000", "sympy": "1.0"},
               "benches": {"arith": {"problems": 3, "k": 1, "per_problem": [0.0, 1.0, 1.0]},
                           "gsm8k": {"problems": 2, "k": 1, "per_problem": [1.0, 0.0]}}}   # no responses file
    (src / "summary.json").write_text(json.dumps(summary))
    assert recheck.main([str(src), "--rescored-copy", str(tmp_path / "copy")]) == 0
    copied = json.loads((tmp_path / "copy" / "summary.json").read_text())
    assert "checker" not in copied and copied["benches"]["arith"]["per_problem"] == [1.0, 1.0, 0.0]
    assert "summary.json: 1 of 2 benchmarks rescored" in capsys.readouterr().err
