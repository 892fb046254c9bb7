"""Check committed model responses again with the current answer checker: what a checker change does to results.

Every ``<bench>.responses.jsonl`` that ``harness.evaluate`` wrote under the given folders (default ``results/``)
holds each response with the answer extracted and the verdict given when the run was made. This script checks
every response again against its gold with ``harness.evaluate.check_responses`` (``verify_batch_detailed`` with the
default options and ``rewards.cost.batch_deadline``), and reports what changed:

* extracted answers that differ from the recorded (or baseline) ones, by the extraction method that gives the new
  answer;
* verdicts that flip (wrong -> right, right -> wrong), with the accuracy of each file before and after, so the
  runs and leaderboards that a change touches are named;
* with ``--math-verify`` (needs math-verify, the ``compare`` extra), Math-Verify's own verdict on every changed
  response (its test suite's configuration, as in ``tools.checker.agreement``), as an independent side.

The recorded fields are what the checker of the run's day said. To measure one change alone, save the verdicts of
the code before it (``--save``) and compare the code after it with them (``--baseline``)::

    mkdir /tmp/before && git archive <commit before the change> | tar -x -C /tmp/before
    cp tools/checker/recheck.py /tmp/before/tools/checker/     # if that commit predates this script
    (cd /tmp/before && PYTHONPATH=$PWD <repo>/.venv/bin/python -m tools.checker.recheck <repo>/results \\
        --save /tmp/before.json)
    .venv/bin/python -m tools.checker.recheck results --baseline /tmp/before.json --math-verify

Nothing under ``results/`` is rewritten; ``--out`` writes the report (JSON) atomically. ``--rescored-copy DIR``
copies the one folder given (a comparison or eval directory) to ``DIR`` and rewrites the copy's responses and
``summary.json`` scores from the new verdicts and records the current checker's fingerprint in them
(``rewards.checker_record()``), so ``rlvr-zoo leaderboard DIR`` shows what the committed responses score under the
current checker (the models were still trained with the rewards of the run's day)::

    .venv/bin/python -m tools.checker.recheck results/cpu-demo-reference/rerun-1 --rescored-copy /tmp/rerun-1
    .venv/bin/rlvr-zoo leaderboard /tmp/rerun-1
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from harness.io import write_json, write_text

ROOT = Path(__file__).resolve().parents[2]


def response_files(paths) -> list[Path]:
    """Every ``*.responses.jsonl`` under ``paths`` (files are taken as they are), sorted."""
    out = []
    for p in map(Path, paths):
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(p.rglob("*.responses.jsonl")))
        else:
            raise SystemExit(f"recheck: {p} is neither a responses file nor a folder; give results/ or a "
                             f"<bench>.responses.jsonl written by eval")
    return out


def read_records(path: Path) -> list[dict]:
    """The checked responses of one file (rows for skipped golds, which hold no response, are left out)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        if "response" in r and "gold" in r:
            r["line"] = n
            rows.append(r)
    return rows


def check_again(files: list[Path], base: Path) -> dict[str, list[dict]]:
    """{file (relative to ``base`` when under it): [{line, gold, response, extracted, correct, method}]} from the
    current checker, one batch per file as ``harness.evaluate`` checks them."""
    from tqdm.auto import tqdm

    from harness.evaluate import check_responses
    from rewards.extract import extract_with_method

    records = {f: read_records(f) for f in files}
    out = {}
    bar = tqdm(total=sum(map(len, records.values())), desc="recheck", unit="resp", dynamic_ncols=True)
    for f, rows in records.items():
        verdicts = check_responses([r["gold"] for r in rows], [r["response"] for r in rows],
                                   bench=f.name.split(".responses.jsonl")[0])
        key = _key(f, base)
        out[key] = [{"line": r["line"], "gold": r["gold"], "response": r["response"],
                     "recorded_extracted": r.get("extracted"), "recorded_correct": bool(r.get("correct")),
                     "extracted": v.extracted, "correct": bool(v.correct), "reason": v.reason,
                     "method": extract_with_method(r["response"])[1]} for r, v in zip(rows, verdicts)]
        bar.update(len(rows))
    bar.close()
    return out


def _key(f: Path, base: Path) -> str:
    try:
        return str(f.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(f)


def compare(now: dict[str, list[dict]], baseline: dict[str, list[dict]] | None = None) -> dict:
    """Figures of ``now`` against the recorded fields, or against ``baseline`` (a ``--save`` file of other code)
    where it has the same file and line."""
    files, changed = {}, []
    totals = Counter()
    for key, rows in now.items():
        before = {b["line"]: b for b in (baseline or {}).get(key, [])}
        c = Counter()
        for r in rows:
            b = before.get(r["line"])
            old_x, old_ok = ((b["extracted"], b["correct"]) if b is not None
                             else (r["recorded_extracted"], r["recorded_correct"]))
            c["responses"] += 1
            c["correct_before"] += old_ok
            c["correct_after"] += r["correct"]
            if old_x != r["extracted"] or old_ok != r["correct"]:
                c["extracted_changed"] += old_x != r["extracted"]
                c["wrong_to_right"] += r["correct"] and not old_ok
                c["right_to_wrong"] += old_ok and not r["correct"]
                changed.append({"file": key, "line": r["line"], "gold": r["gold"], "response": r["response"],
                                "extracted_before": old_x, "extracted_after": r["extracted"],
                                "method_after": r["method"], "correct_before": old_ok, "correct_after": r["correct"],
                                "reason_after": r["reason"]})
        totals.update(c)
        files[key] = dict(c, accuracy_before=round(c["correct_before"] / c["responses"], 4) if c["responses"] else None,
                          accuracy_after=round(c["correct_after"] / c["responses"], 4) if c["responses"] else None)
    return {"against": "baseline" if baseline is not None else "recorded", "totals": dict(totals),
            "by_method_after": dict(Counter(d["method_after"] for d in changed if d["extracted_before"]
                                            != d["extracted_after"])),
            "files": files, "changed": changed}


def rescored_copy(src: Path, dst: Path, now: dict[str, list[dict]]) -> int:
    """Copy ``src`` to ``dst`` and rewrite, in the copy, every responses file's verdicts and its ``summary.json``
    scores (``harness.evaluate.score_problems``, the run's own k, bootstrap samples and seed) from ``now`` (keys
    relative to ``src``). A summary whose every benchmark was rescored gets the current ``"checker"`` record
    (``rewards.checker_record()``); one rescored in part loses its record (its scores come from two checkers) and is
    named on stderr. Returns how many benchmark scores were rewritten."""
    import shutil

    from harness.evaluate import score_problems
    from harness.run_layout import SUMMARY_FILE, responses_file
    from rewards import checker_record

    if dst.exists():
        raise SystemExit(f"recheck: {dst} exists; give --rescored-copy a new folder (the copy is written there)")
    shutil.copytree(src, dst)
    done = 0
    for summary_path in sorted(dst.rglob(SUMMARY_FILE)):
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        benches = summary.get("benches", {})
        rescored = 0
        for bench, scores in benches.items():
            rel = (summary_path.parent / responses_file(bench)).relative_to(dst)
            rows = now.get(str(rel))
            k = scores.get("k")
            if not rows and scores.get("problems") == 0:
                rescored += 1   # no response was checked: no verdict of any checker in this score
                continue
            if not rows or not k or len(rows) % k:
                continue
            cfg = summary.get("config", {})
            correct = [[r["correct"] for r in rows[i:i + k]] for i in range(0, len(rows), k)]
            answers = [[r["extracted"] for r in rows[i:i + k]] for i in range(0, len(rows), k)]
            scores.update(score_problems(correct, answers, k, bootstrap_samples=cfg.get("bootstrap_samples", 1000),
                                         seed=cfg.get("seed", 0)))
            scores["verdict_reasons"] = dict(Counter(r["reason"] for r in rows))
            by_line = {r["line"]: r for r in rows}
            lines = (dst / rel).read_text(encoding="utf-8").splitlines()
            for n, r in by_line.items():
                rec = json.loads(lines[n - 1])
                rec.update(extracted=r["extracted"], correct=r["correct"], reason=r["reason"])
                lines[n - 1] = json.dumps(rec, ensure_ascii=False)
            write_text(dst / rel, "\n".join(lines) + "\n")
            rescored += 1
            done += 1
        if rescored and rescored == len(benches):
            summary["checker"] = checker_record()
        elif rescored:
            summary.pop("checker", None)
            print(f"recheck: {summary_path.relative_to(dst)}: {rescored} of {len(benches)} benchmarks rescored (the "
                  f"others have no matching responses file); its checker is left unrecorded", file=sys.stderr)
        write_json(summary_path, summary)   # the format harness.evaluate writes, so a diff shows only scores
    return done


def add_math_verify(changed: list[dict]) -> None:
    """Math-Verify's verdict on each changed response, in place (``math_verify`` key)."""
    try:
        import math_verify  # noqa: F401
    except ImportError:
        raise SystemExit("recheck: --math-verify needs math-verify (pip install '.[compare]'); "
                         "run without it for our verdicts alone") from None
    from tools.checker.agreement import math_verify_verdicts

    verdicts, _ = math_verify_verdicts(changed)
    for d, v in zip(changed, verdicts):
        d["math_verify"] = v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "results")],
                    help="folders searched for *.responses.jsonl, or such files (default: results/)")
    ap.add_argument("--baseline", help="compare with a --save file of other code instead of the recorded fields")
    ap.add_argument("--save", help="write this code's per-response verdicts here (for a later --baseline)")
    ap.add_argument("--out", help="write the report (JSON) here")
    ap.add_argument("--math-verify", action="store_true", help="add Math-Verify's verdict on every changed response")
    ap.add_argument("--rescored-copy", metavar="DIR",
                    help="copy the one folder given to DIR and rescore the copy's responses and summaries")
    ap.add_argument("--show", type=int, default=20, help="print this many changed responses (default 20)")
    args = ap.parse_args(argv)

    if args.rescored_copy and (len(args.paths) != 1 or not Path(args.paths[0]).is_dir()):
        raise SystemExit("recheck: --rescored-copy takes exactly one folder (a comparison or eval directory)")
    files = response_files(args.paths)
    if not files:
        raise SystemExit(f"recheck: no *.responses.jsonl under {', '.join(args.paths)}")
    base = Path(os.path.commonpath([str(Path(p).resolve()) for p in args.paths]))
    if base.is_file():
        base = base.parent
    now = check_again(files, base)
    if args.save:
        write_json(Path(args.save), now, indent=1)
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    report = compare(now, baseline)
    if args.math_verify and report["changed"]:
        add_math_verify(report["changed"])
    t = report["totals"]
    print(f"{t.get('responses', 0)} responses in {len(files)} files, against the {report['against']} verdicts: "
          f"{t.get('extracted_changed', 0)} extracted answers changed, {t.get('wrong_to_right', 0)} verdicts "
          f"wrong -> right, {t.get('right_to_wrong', 0)} right -> wrong")
    print(f"methods giving the changed answers now: {report['by_method_after']}")
    for key, f in report["files"].items():
        if f.get("wrong_to_right") or f.get("right_to_wrong"):
            print(f"  {key}: accuracy {f['accuracy_before']:.4f} -> {f['accuracy_after']:.4f} "
                  f"(+{f.get('wrong_to_right', 0)} / -{f.get('right_to_wrong', 0)})")
    if "math_verify" in (report["changed"][:1] or [{}])[0]:
        agree = sum(d["math_verify"] == d["correct_after"] for d in report["changed"])
        print(f"Math-Verify agrees with the new verdict on {agree} of {len(report['changed'])} changed responses")
    for d in report["changed"][:args.show]:
        print(f"  {d['file']}:{d['line']} gold {d['gold']!r}: {d['extracted_before']!r} -> {d['extracted_after']!r} "
              f"({d['method_after']}), {d['correct_before']} -> {d['correct_after']}"
              + (f", Math-Verify {d['math_verify']}" if "math_verify" in d else ""))
    if args.out:
        write_json(Path(args.out), report, indent=1)
    if args.rescored_copy:
        n = rescored_copy(Path(args.paths[0]), Path(args.rescored_copy), now)
        print(f"{args.rescored_copy}: a copy of {args.paths[0]} with {n} benchmark score(s) rescored; "
              f"rlvr-zoo leaderboard {args.rescored_copy} shows them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
