"""Speed and agreement of the rlvr-zoo answer checker, side by side with Math-Verify, on the MATH-500 golds.

Pairs (all built from the 500 MATH-500 gold answers), with the verdict expected by construction:
  * identity   : gold vs "The final answer is $\\boxed{gold}$."                  correct
  * rewritten  : gold vs the gold rewritten by tools.checker.rewrite.second_form      correct
  * labelled   : gold vs "x = gold" (scalar golds)                              correct
  * decimal    : gold vs its value to 6 significant digits (real non-integers)  correct
  * other_gold : gold vs the next problem's gold (a different string)           wrong
  * hedge      : gold vs "\\boxed{gold} or \\boxed{other gold}"                    wrong (two different answers)
  * plus_minus : integer gold vs "\\pm gold"                                     wrong
  * solution   : gold vs the problem's reference solution (real long text)     correct
  * other_solution : the next problem's gold vs this solution                   wrong
  * trap       : hand-written hard cases (TRAPS below), each with its expected verdict and a note
  * unboxed_final / unboxed_display : each reference solution of MATH-500 and Minerva rewritten out of \\boxed{}
    (the box's content left in place, see tools.checker.agreement.unbox), then the answer restated once as
    "The final answer is $X$." and once as the last display-math line "\\[ X \\]"        correct
  * unboxed_final_other / unboxed_display_other : the same rewritings against the next problem's gold    wrong

Prints checks/second for our checker with one worker process and with the default pool (all cores), for
Math-Verify (in this process, its own signal-based timeouts), the agreement rate between the two on the same pairs,
and every disagreement with the expectation by construction, so the reader can see which side is right. Writes the
figures to results/checker/checker_bench.json (atomically).

    RLVR_ZOO_DATA_DIR=../shared/data .venv/bin/python -m tools.checker.checker_bench

Math-Verify is a development-only dependency of this script (the ``compare`` extra); rlvr-zoo never imports it.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from pathlib import Path

import benchmarks
import rewards
from harness.io import write_json
from rewards.pool import configure_pool
from tools.checker.rewrite import second_form

ROOT = Path(__file__).resolve().parents[2]


_LABEL = re.compile(r"^[A-Za-z]\s*=\s*")


def _decimal_form(gold: str) -> str | None:
    """The gold's value to 6 significant digits when it is a real non-integer number (sympy on the trusted gold)."""
    import sympy

    from rewards.parse import ParseError, parse_answer
    try:
        v = parse_answer(gold).value
    except (ParseError, RecursionError):
        return None
    if not isinstance(v, sympy.Expr) or v.free_symbols or not v.is_real or v.is_Integer:
        return None
    x = sympy.N(v, 30)
    if not x.is_finite or abs(x) < 1e-3 or abs(x) > 1e6:
        return None
    text = f"{float(x):#.6g}"  # '#' keeps trailing zeros: 6366.20, not 6366.2 (5 significant digits)
    return None if text.endswith(".") else text  # 123457. would be an integer, not a decimal


# Hand-written traps (gold, response, expected, note): known false positives of float comparison and hard categories.
TRAPS = [
    (r"\frac{1}{2004!}", r"$\boxed{\frac{1}{2006!}}$", False, "different tiny rationals; equal only as floats"),
    (r"\pm 2021", r"$\boxed{2021}$", False, "\\pm 2021 names two values"),
    ("2021", r"$\boxed{\pm 2021}$", False, "a hedge over two values"),
    ("x+y=3", r"$\boxed{x+y=4}$", False, "different right sides"),
    ("y=2x+1", r"$\boxed{2x-y+1=0}$", True, "the same line rearranged"),
    ("[0,9)", r"$\boxed{(0,9)}$", False, "closed vs open end"),
    ("(1,2)", r"$\boxed{(2,1)}$", False, "an ordered pair"),
    (r"\{1,2\}", r"$\boxed{\{2,1\}}$", True, "a set is unordered"),
    ("1, 2", r"$\boxed{2, 1}$", True, "a list of solutions is unordered"),
    ("x^2-1", r"$\boxed{(x-1)(x+1)}$", True, "factored form"),
    (r"\frac{\sqrt{2}}{2}", r"$\boxed{\frac{1}{\sqrt{2}}}$", True, "rationalised form"),
    (r"(-\infty, 3)", r"$\boxed{x<3}$", True, "interval and inequality"),
    ("4.5e33", r"$\boxed{4.5 \times 10^{33}}$", True, "scientific notation"),
    ("0", r"$\boxed{\sin^2(1)+\cos^2(1)-1}$", True, "an identity that cancels numerically"),
    ("5", r"$\boxed{x = 5 = 6}$", False, "a chain ending in a wrong value"),
    ("5", r"$\boxed{5}$ or maybe $\boxed{6}$", False, "two different boxed answers"),
    ("10", r"$\boxed{10\%}$", True, "percent sign dropped"),
    (r"\text{even}", r"$\boxed{\text{odd}}$", False, "different words"),
    (r"\frac{1}{3}", r"$\boxed{0.33}$", False, "two significant digits are not the exact third"),
    (r"\frac{1}{3}", r"$\boxed{0.333}$", False, "three significant digits do not stand for the exact third"),
    (r"\frac{1}{3}", r"$\boxed{0.333333}$", True, "six significant digits, correctly rounded"),
    ("e^{-200}", r"$\boxed{e^{-201}}$", False, "tiny values differ relatively"),
    ("2", r"$\boxed{9^{9^{9^{9}}}}$", False, "a number too large to compute is not 2"),
    ("1000000", r"$\boxed{1,000,000}$", True, "thousands separators"),
    ("7/2", r"$\boxed{3\frac{1}{2}}$", True, "a mixed number"),
    ("6+9i", r"$\boxed{9i+6}$", True, "complex numbers"),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"$\boxed{\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}}$",
     False, "a transposed matrix"),
    ("5", r"<think>maybe \boxed{4}</think> The answer is $\boxed{5}$.", True, "drafts in the thinking part"),
]


def build_pairs(rows):
    """Pairs with the answer expected by construction (see the module docstring)."""
    pairs = []
    golds = [r["answer"] for r in rows]

    def add(kind, gold, pred, expected):
        pairs.append({"kind": kind, "gold": gold, "response": pred, "expected": expected})

    for i, g in enumerate(golds):
        other = golds[(i + 1) % len(golds)]
        add("identity", g, f"The final answer is $\\boxed{{{g}}}$.", True)
        alt = second_form(g)
        if alt is not None:
            add("rewritten", g, f"So we get $\\boxed{{{alt}}}$.", True)
        simple = not any(c in g for c in "=,<>") and "\\text" not in g and "\\begin" not in g
        if simple:
            add("labelled", g, f"Thus $\\boxed{{x = {g}}}$.", True)
        dec = _decimal_form(g)
        if dec is not None:
            add("decimal", g, f"The answer is approximately $\\boxed{{{dec}}}$.", True)
        if _LABEL.sub("", other).replace(" ", "") != _LABEL.sub("", g).replace(" ", ""):
            add("other_gold", g, f"The final answer is $\\boxed{{{other}}}$.", False)
            add("hedge", g, f"It is either $\\boxed{{{g}}}$ or $\\boxed{{{other}}}$.", False)
        if simple and g.lstrip("-").isdigit() and g != "0":
            add("plus_minus", g, f"$\\boxed{{\\pm {g}}}$", False)
    # real long responses: the reference solutions (their final \boxed{} answer)
    sols = [r.get("solution") for r in rows]
    for i, (g, sol) in enumerate(zip(golds, sols)):
        if isinstance(sol, str) and sol.strip():
            add("solution", g, sol, True)
            other = golds[(i + 1) % len(golds)]
            if _LABEL.sub("", other).replace(" ", "") != _LABEL.sub("", g).replace(" ", ""):
                add("other_solution", other, sol, False)
    for g, r, expected, note in TRAPS:
        add("trap", g, r, expected)
        pairs[-1]["note"] = note
    return pairs


def build_unboxed_pairs(benches):
    """The reference solutions of each benchmark rewritten out of \\boxed{} (see the module docstring)."""
    from rewards.extract import last_boxed
    from tools.checker.agreement import unbox

    pairs = []
    for name, rows in benches:
        golds = [str(r["answer"]) for r in rows]
        for i, row in enumerate(rows):
            sol = row.get("solution")
            x = last_boxed(sol) if isinstance(sol, str) else None
            if not x:
                continue
            body = unbox(sol).rstrip()
            other = golds[(i + 1) % len(golds)]
            differs = _LABEL.sub("", other).replace(" ", "") != _LABEL.sub("", golds[i]).replace(" ", "")
            for kind, resp in (("unboxed_final", f"{body}\nThe final answer is ${x}$."),
                               ("unboxed_display", f"{body}\n\\[\n{x}\n\\]")):
                pairs.append({"kind": kind, "bench": name, "gold": golds[i], "response": resp, "expected": True})
                if differs:
                    pairs.append({"kind": kind + "_other", "bench": name, "gold": other, "response": resp,
                                  "expected": False})
    return pairs


NOTES = {
    "decimal": "policy difference, not an error on either side: we accept a decimal of >= 6 significant digits "
               "that is the exact gold rounded or truncated to the places shown; Math-Verify compares after "
               "rounding both to 6 decimal places, so a 6-significant-digit approximation of a value >= 1 fails "
               "there",
    "labelled": "a labelled answer x = gold should equal the gold",
    "hedge": "two different boxed answers are reward hacking and must be wrong",
    "plus_minus": "\\pm g names two values; it must not equal g",
    "other_gold": "another problem's gold; wrong unless equal in value",
    "identity": "the gold itself must verify",
    "rewritten": "an equivalent rewriting must verify",
    "solution": "the reference solution ends with the gold in \\boxed{}",
    "other_solution": "the next problem's gold; wrong unless equal in value",
    "unboxed_final": "a reference solution without its box, ending 'The final answer is $X$.'",
    "unboxed_display": "a reference solution without its box, ending with the display line \\[ X \\]",
    "unboxed_final_other": "the same rewriting against the next problem's gold",
    "unboxed_display_other": "the same rewriting against the next problem's gold",
}


def run_ours(pairs, workers, timeout):
    configure_pool(size=workers)
    rewards.warmup()
    rewards.verify("1", "\\boxed{1}")
    t0 = time.perf_counter()
    verdicts = rewards.verify_batch_detailed([p["gold"] for p in pairs], [p["response"] for p in pairs],
                                             timeout=timeout, progress=True)
    dt = time.perf_counter() - t0
    return verdicts, dt


def run_math_verify(pairs, timeout):
    from math_verify import parse, verify
    from tqdm.auto import tqdm

    out = []
    t0 = time.perf_counter()
    for p in tqdm(pairs, desc="math-verify", unit="check"):
        try:
            g = parse(f"$\\boxed{{{p['gold']}}}$", parsing_timeout=int(timeout))
            a = parse(p["response"], parsing_timeout=int(timeout))
            out.append(bool(verify(g, a, timeout_seconds=int(timeout))))
        except Exception:  # noqa: BLE001 - count as wrong, as its own raise_on_error=False does
            out.append(False)
    return out, time.perf_counter() - t0


def first_start_cost() -> float:
    """Seconds from nothing to the first sympy check answered (fork server + one worker), in a fresh process."""
    import subprocess
    code = ("import time; t=time.perf_counter(); import rewards; "
            "rewards.verify('x^2-1', r'\\boxed{(x-1)(x+1)}'); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("RLVR_ZOO_DATA_DIR"),
                    help="benchmark data directory (default $RLVR_ZOO_DATA_DIR; without it MATH-500 comes from the Hub)")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--out", default=str(ROOT / "results" / "checker" / "checker_bench.json"))
    ap.add_argument("--no-math-verify", action="store_true", help="skip the Math-Verify side")
    args = ap.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = benchmarks.load("math500", "test", data_dir=args.data_dir)
        minerva = benchmarks.load("minerva", "test", data_dir=args.data_dir)
    pairs = build_pairs(rows) + build_unboxed_pairs([("math500", rows), ("minerva", minerva)])
    print(f"{len(pairs)} pairs from {len(rows)} MATH-500 golds and {len(minerva)} Minerva solutions "
          f"({sum(p['kind'] == 'rewritten' for p in pairs)} rewritten, "
          f"{sum(p['kind'] == 'other_gold' for p in pairs)} other-gold negatives)")

    start = first_start_cost()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ours1, t1 = run_ours(pairs, 1, args.timeout)
    oursn, tn = run_ours(pairs, ncpu, args.timeout)
    assert [v.correct for v in ours1] == [v.correct for v in oursn], "results depend on the pool size"
    latencies = []
    # one verify() call at a time on a warm pool, on pairs that need sympy (not the in-process fast path)
    for p in [p for p in pairs if p["kind"] in ("labelled", "decimal")][:60]:
        t0 = time.perf_counter()
        rewards.verify(p["gold"], p["response"], timeout=args.timeout)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    ours = [v.correct for v in oursn]
    ours_acc = sum(o == p["expected"] for o, p in zip(ours, pairs)) / len(pairs)
    fig = {
        "pairs": len(pairs), "golds": len(rows), "cpus": ncpu, "timeout_s": args.timeout,
        "first_call_s": round(start, 3),
        "single_sympy_verify_median_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "ours_1_worker_checks_per_s": round(len(pairs) / t1, 1),
        f"ours_{ncpu}_workers_checks_per_s": round(len(pairs) / tn, 1),
        "ours_agrees_with_construction": round(ours_acc, 4),
        "ours_reasons": _count(v.reason.split(":")[0] for v in oursn),
    }
    disagreements = []
    if not args.no_math_verify:
        mv, tmv = run_math_verify(pairs, args.timeout)
        fig["math_verify_checks_per_s"] = round(len(pairs) / tmv, 1)
        fig["math_verify_agrees_with_construction"] = round(
            sum(m == p["expected"] for m, p in zip(mv, pairs)) / len(pairs), 4)
        fig["agreement_rate"] = round(sum(a == b for a, b in zip(ours, mv)) / len(pairs), 4)
        fig["ours_speedup_1_worker"] = round(fig["ours_1_worker_checks_per_s"] / fig["math_verify_checks_per_s"], 1)
        fig["by_kind"] = _by_kind(pairs, ours, mv)
        for p, o, m, v in zip(pairs, ours, mv, oursn):
            if o != m:
                disagreements.append({"kind": p["kind"], "gold": p["gold"], "response": p["response"],
                                      "ours": o, "math_verify": m, "expected_by_construction": p["expected"],
                                      "right_side": "ours" if o == p["expected"] else "math_verify",
                                      "our_reason": v.reason, "note": p.get("note") or NOTES.get(p["kind"], "")})
    fig["disagreements"] = disagreements
    for k, v in fig.items():
        if k != "disagreements":
            print(f"{k}: {v}")
    for d in disagreements:
        print(f"[{d['kind']}] gold={d['gold']!r} response={d['response'][-70:]!r} ours={d['ours']} "
              f"math_verify={d['math_verify']} expected={d['expected_by_construction']} ({d['our_reason']})")
    if disagreements:
        print("notes by kind:")
        for kind in sorted({d["kind"] for d in disagreements} - {"trap"}):
            print(f"  {kind}: {NOTES.get(kind, '')}")
        for d in disagreements:
            if d["kind"] == "trap":
                print(f"  trap {d['gold']!r} vs {d['response']!r}: {d['note']}; right side: {d['right_side']}")
    fig["command"] = "RLVR_ZOO_DATA_DIR=../shared/data .venv/bin/python -m tools.checker.checker_bench"
    write_json(Path(args.out), fig, indent=1)
    print(f"wrote {args.out}")
    return 0


def _by_kind(pairs, ours, mv):
    """Per kind of pair: count, our and Math-Verify's agreement with the expectation, and with each other."""
    out = {}
    for p, o, m in zip(pairs, ours, mv):
        k = out.setdefault(p["kind"], [0, 0, 0, 0])
        k[0] += 1
        k[1] += o == p["expected"]
        k[2] += m == p["expected"]
        k[3] += o == m
    return {kind: {"pairs": n, "ours_right": round(a / n, 4), "math_verify_right": round(b / n, 4),
                   "agreement": round(c / n, 4)} for kind, (n, a, b, c) in sorted(out.items())}


def _count(items):
    out = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
