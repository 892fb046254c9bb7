"""tools.checker.recheck: committed responses checked again with the current checker (the real worker pool)."""
import json

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
