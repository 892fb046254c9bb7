"""Agreement of rlvr-zoo's answer checker with Math-Verify on model-style responses that do not box their answer.

The cases are generated from benchmark data (MATH-500 and Minerva golds and reference solutions, GSM8K golds),
so nothing from the data is stored in the repository: ``results/checker/agreement.json`` keeps each case's id and
Math-Verify's verdict, and the cases are rebuilt from the data by ``build_cases`` (deterministic).

Each case is a (gold, response) pair. The response is a reference solution with its ``\\boxed{}`` taken out (the
box's content left in place, so the text is full of math spans), followed by the answer in one of the phrasings
models write (``TEMPLATES``): Minerva's "Final Answer: The final answer is $X$. I hope it is correct.", a
labelled math span "so $x = X$.", the last display-math line, "Answer: $X$", an r1-style response whose thinking
part ends on a wrong draft, "Final Answer: The value is X." in prose, an inline ``\\(X\\)``, and an equivalent
rewriting of X. Every row gives one case with its own gold (expected right) and every second row one with
another problem's gold as the answer (expected wrong). Golds are written bare (``\\frac{1}{2}``) or, for every
third row, in a math span (``$\\frac{1}{2}$``) as Math-Verify's own tests write them.

Math-Verify (0.9, ``parse`` with ``LatexExtractionConfig(boxed_match_priority=0)`` and ``ExprExtractionConfig()``,
``verify`` with its defaults: the configuration of its own test suite) is the oracle. Run

    RLVR_ZOO_DATA_DIR=../shared/data .venv/bin/python -m tools.checker.agreement            # record + report
    RLVR_ZOO_DATA_DIR=../shared/data .venv/bin/python -m tools.checker.agreement --report   # ours vs the record

The first form needs math-verify (the ``compare`` extra) and rewrites the record; ``--report`` only needs the
record. Both print the agreement, every disagreement with its kind, and write the figures atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path

from harness.io import write_json
from tools.checker.rewrite import second_form

ROOT = Path(__file__).resolve().parents[2]

RECORD = ROOT / "results" / "checker" / "agreement.json"
_BOX = re.compile(r"\\boxed\s*\{")
_SCALAR = re.compile(r"^[^=,<>;]+$")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def unbox(solution: str) -> str:
    """The solution with every ``\\boxed{X}`` replaced by ``X`` (balanced braces; the text is otherwise kept)."""
    out, i = [], 0
    while True:
        m = _BOX.search(solution, i)
        if m is None:
            out.append(solution[i:])
            return "".join(out)
        out.append(solution[i:m.start()])
        depth, k = 1, m.end()
        while k < len(solution) and depth:
            depth += {"{": 1, "}": -1}.get(solution[k], 0)
            k += 1
        out.append(solution[m.end():k - 1])
        i = k


def _template(t: int, prose: str, x: str, other: str) -> str | None:
    scalar = bool(_SCALAR.match(x)) and "\\text" not in x and "\\begin" not in x
    if t == 0:
        return f"{prose}\nFinal Answer: The final answer is ${x}$. I hope it is correct."
    if t == 1:
        return f"{prose}\nTherefore $n = {x}$." if scalar else f"{prose}\nTherefore we get ${x}$."
    if t == 2:
        return f"{prose}\nSo\n\\[\n{x}\n\\]"
    if t == 3:
        return f"{prose}\n\nAnswer: ${x}$"
    if t == 4:
        return f"<think>\n{prose}\nmaybe it is {other}? Let me recheck.\n</think>\nThe answer is ${x}$."
    if t == 5:
        if _PLAIN_NUMBER.match(x):
            return f"{prose}\nFinal Answer: The value is {x}. I hope it is correct."
        return f"{prose}\nHence\n$$ {x} $$"
    if t == 6:
        return f"{prose} Hence the result is \\({x}\\)."
    if t == 7:
        alt = second_form(x)
        return None if alt is None else f"{prose}\nThe final answer is ${alt}$."
    raise ValueError(t)


TEMPLATES = ["minerva_final_answer", "labelled_span", "display_line", "answer_colon", "r1_think", "prose_final",
             "inline_paren", "rewritten_final"]
_PROSE_CHARS = 1200  # the end of each reference solution is enough context and keeps Math-Verify's side quick


def build_cases(data_dir: str | None) -> list[dict]:
    """The agreement cases (deterministic) from MATH-500, Minerva and the first 200 GSM8K test problems."""
    import benchmarks

    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sets = [(name, benchmarks.load(name, "test", data_dir=data_dir)) for name in ("math500", "minerva")]
        sets.append(("gsm8k", benchmarks.load("gsm8k", "test", data_dir=data_dir, limit=200)))
    for bench, rows in sets:
        golds = [str(r["answer"]).strip() for r in rows]
        for i, row in enumerate(rows):
            gold, other = golds[i], golds[(i + 1) % len(golds)]
            sol = str(row.get("solution") or "")
            if bench == "gsm8k":
                sol = sol.split("####")[0]
            prose = unbox(sol)[-_PROSE_CHARS:]
            t = i % len(TEMPLATES)
            gold_text = f"${gold}$" if i % 3 == 0 else gold
            for polarity, x in (("same", gold), ("other", other)):
                if polarity == "other" and (i % 2 or other.replace(" ", "") == gold.replace(" ", "")):
                    continue
                response = _template(t, prose, x, other if polarity == "same" else gold)
                if response is None:
                    continue
                cases.append({"id": f"{bench}/{i}/{TEMPLATES[t]}/{polarity}", "gold": gold_text,
                              "response": response, "expected": polarity == "same"})
    return cases


def math_verify_verdicts(cases, timeout: int = 5) -> tuple[list[bool], float]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    from tqdm.auto import tqdm

    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    out = []
    t0 = time.perf_counter()
    for c in tqdm(cases, desc="math-verify", unit="check"):
        try:
            gold = c["gold"] if "$" in c["gold"] else f"${c['gold']}$"
            g = parse(gold, config, parsing_timeout=timeout)
            a = parse(c["response"], config, parsing_timeout=timeout)
            out.append(bool(verify(g, a, timeout_seconds=timeout)))
        except Exception:  # noqa: BLE001 - counted as wrong, as its raise_on_error=False does
            out.append(False)
    return out, time.perf_counter() - t0


def our_verdicts(cases, timeout: float = 5.0):
    import rewards

    rewards.warmup()
    t0 = time.perf_counter()
    v = rewards.verify_batch_detailed([c["gold"] for c in cases], [c["response"] for c in cases], timeout=timeout,
                                      progress=True)
    return v, time.perf_counter() - t0


def load_record(path: Path = RECORD) -> dict[str, bool]:
    data = json.loads(Path(path).read_text())
    return {c["id"]: bool(c["math_verify"]) for c in data["cases"]}


def compare_with_record(cases, ours, mv: dict[str, bool]) -> dict:
    """Agreement figures of our verdicts against Math-Verify's recorded ones, with every disagreement."""
    rows = [(c, v) for c, v in zip(cases, ours) if c["id"] in mv]
    agree = sum(v.correct == mv[c["id"]] for c, v in rows)
    dis = [{"id": c["id"], "gold": c["gold"], "answer_ours": v.extracted, "ours": v.correct,
            "math_verify": mv[c["id"]], "expected_by_construction": c["expected"], "our_reason": v.reason}
           for c, v in rows if v.correct != mv[c["id"]]]
    by_template = {}
    for c, v in rows:
        t = c["id"].split("/")[2]
        a, n = by_template.get(t, (0, 0))
        by_template[t] = (a + (v.correct == mv[c["id"]]), n + 1)
    return {"n_cases": len(rows), "agreement": round(agree / max(len(rows), 1), 4),
            "ours_agrees_with_construction": round(sum(v.correct == c["expected"] for c, v in rows)
                                                   / max(len(rows), 1), 4),
            "math_verify_agrees_with_construction": round(sum(mv[c["id"]] == c["expected"] for c, v in rows)
                                                          / max(len(rows), 1), 4),
            "by_template": {t: round(a / n, 4) for t, (a, n) in sorted(by_template.items())},
            "disagreements": dis}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("RLVR_ZOO_DATA_DIR"))
    ap.add_argument("--report", action="store_true", help="compare with the recorded Math-Verify verdicts only")
    ap.add_argument("--record", default=str(RECORD))
    ap.add_argument("--out", default=None, help="where to write the report (default: the record itself, or "
                                                "results/checker/agreement_report.json with --report)")
    args = ap.parse_args(argv)
    cases = build_cases(args.data_dir)
    print(f"{len(cases)} cases")
    ours, t_ours = our_verdicts(cases)
    if args.report:
        mv = load_record(Path(args.record))
        mv_rate = None
    else:
        verdicts, t_mv = math_verify_verdicts(cases)
        mv = {c["id"]: v for c, v in zip(cases, verdicts)}
        mv_rate = round(len(cases) / t_mv, 1)
    fig = compare_with_record(cases, ours, mv)
    fig["ours_checks_per_s"] = round(len(cases) / t_ours, 1)
    if mv_rate is not None:
        fig["math_verify_checks_per_s"] = mv_rate
    for d in fig["disagreements"]:
        print(f"[{d['id']}] gold={d['gold'][:60]!r} ours={d['ours']} ({d['our_reason']}, "
              f"{str(d['answer_ours'])[:50]!r}) math_verify={d['math_verify']} "
              f"expected={d['expected_by_construction']}")
    for k, v in fig.items():
        if k != "disagreements":
            print(f"{k}: {v}")
    if args.report:
        out = Path(args.out or ROOT / "results" / "checker" / "agreement_report.json")
        write_json(out, fig, indent=1)
    else:
        fig["cases"] = [{"id": c["id"], "math_verify": mv[c["id"]]} for c in cases]
        fig["command"] = "RLVR_ZOO_DATA_DIR=../shared/data .venv/bin/python -m tools.checker.agreement"
        out = Path(args.out or args.record)
        write_json(out, fig, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
