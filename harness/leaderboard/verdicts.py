"""Seed-level comparison statistics of leaderboard rows: hierarchical intervals, verdicts and the minimum detectable
difference (the `verdicts` view of `rlvr-zoo leaderboard`, and the Δ base figures of its `delta` view).

Input: `Row`s of `collect`/`merge`, each holding per benchmark the table of its seeds' per-problem scores
(``row.tables[bench]``, one list per seed, the seed numbers in ``row.table_seeds[bench]``). Every
statistic comes from `harness.leaderboard.stats` (see docs/benchmarks.md for the definitions and references):

* **scores**: per row and benchmark the mean over seeds, each seed's score, and the hierarchical bootstrap interval
  (seeds, then problems; one problem draw shared by the seeds when they were scored on the same problems), widened
  to the seed-level t interval with 2+ seeds and cut to the score range [0, 1] (``SCORE_RANGE``).
* **every interval of a difference** is the bootstrap's widened to the t interval of the t-test in its p-value
  where one applies, so an interval excludes 0 only where that unadjusted test rejects; the verdicts are
  Holm-adjusted, the intervals are not.
* **against the base model**: per trained row and benchmark, the row minus the base model of the same directory
  (one untrained evaluation, subtracted from every seed), paired by problem; p-value = the largest of the bootstrap
  p, the exact sign test's (0/1 cells) and the seed-level t-test's (2+ seeds): `stats.paired_hierarchical_bootstrap`.
  Holm-adjusted over every comparison of this family
  (all trained rows x benchmarks of the table); verdict "row > base", "row < base" or "indistinguishable".
* **between objectives**: every pair of trained rows, per benchmark, A - B paired by problem and by seed where both
  come from the same directory with the same seeds (else the seeds are drawn independently). A pair in which either
  row has a single seed gets no verdict ("no verdict: 1 seed"): one training run says nothing about an objective's
  seed-to-seed variation, which in results/cpu-smollm2 reached 36 points between two seeds of one objective. When no
  row has two seeds the whole section is replaced by the sentence that no ranking between objectives is supported.
  Holm over every pair x benchmark that has a verdict.
* **minimum detectable difference** (per benchmark, printed under the tables): the ANOVA variance components of
  every paired-by-seed difference table between two trained rows, averaged, give the standard error of a difference
  at the run's seeds and problems; MDD = 2.80 SE (80% power, two-sided alpha = 0.05 before the Holm correction;
  Bloom 1995), with the seed SD of a single objective and the seeds per arm a 10-point MDD would need.
* **mixed answer checkers** (a note above the others): when the summaries behind the rows record different
  answer-checker fingerprints (`rewards.checker_fingerprint`), or some record one and some none, the note names
  each fingerprint with its rows and the command that rescores a directory (`checker_note`; every view prints it).

All bootstraps use ``BOOT`` replicates and numpy seed 0, so a table is reproducible to the digit.
"""
from __future__ import annotations

import math
from typing import Any

from harness.leaderboard import stats
from harness.leaderboard.collect import BOOTSTRAP_SAMPLES, Row, benches_of

BOOT = BOOTSTRAP_SAMPLES   # 10000 replicates: the smallest bootstrap p is 2/10001, enough for Holm over ~200 tests
ALPHA = 0.05
SCORE_RANGE = (0.0, 1.0)   # a per-problem score is a fraction of correct samples
TARGET_MDD = 0.10      # "seeds per arm for a 10-point MDD" under the table
ONE_SEED = "no verdict: 1 seed"
NO_RANKING = ("One seed: no ranking between objectives is supported. The intervals cover the choice of problems "
              "only, not the variation between training seeds, which is often larger; verdicts against the base "
              "model describe this seed's trained model. Run several seeds (`--seeds 0,1,2,...`) to compare "
              "objectives.")


RECHECK = "python -m tools.checker.recheck DIR --rescored-copy NEW_DIR"


def checker_note(rows: list[Row]) -> str | None:
    """The note under a table whose rows were scored by more than one answer checker, else None.

    Each row carries the checker fingerprint of every summary it pools (`Row.checkers`, None where a summary
    records none). The note is printed when the table holds two or more different fingerprints, or fingerprints
    and summaries without one: those scores may differ only because the checker changed. A table whose summaries
    all record the same fingerprint, or all record none (results written before summaries recorded it), gets no
    note: nothing there is mixed."""
    groups: dict[str | None, list[str]] = {}
    for r in rows:
        for fp in dict.fromkeys(r.checkers):
            groups.setdefault(fp, []).append(r.label)
    if len(groups) < 2:
        return None
    named = [f"checker {fp} ({', '.join(groups[fp])})" for fp in sorted(fp for fp in groups if fp is not None)]
    if None in groups:
        named.append(f"no recorded checker ({', '.join(groups[None])}; written before summaries recorded it)")
    listed = ", ".join(named[:-1]) + " and " + named[-1]
    return (f"Scored by different answer checkers: {listed}. Their scores may differ because the checker changed, "
            f"not the model; rescore each directory with the current checker (`{RECHECK}`) and make the table from "
            f"the copies.")


def _table(row: Row | None, bench: str) -> list[list[float]] | None:
    return None if row is None else row.tables.get(bench) or None


def _seed_labels(row: Row, bench: str) -> list[Any]:
    """Seed identities for pairing: (directory, seed number); rows of different directories never pair by seed."""
    return [(row.run, s) for s in row.table_seeds.get(bench) or []]


def _same_problems(*tables: list[list[float]]) -> bool:
    return len({len(seed) for t in tables for seed in t}) == 1


def _score_entries(rows: list[Row], benches: list[str], n_boot: int, alpha: float) -> list[dict[str, Any]]:
    """Per row and benchmark: mean over seeds, hierarchical interval, each seed's score."""
    out = []
    for r in rows:
        cells: dict[str, Any] = {}
        for b in benches:
            t = _table(r, b)
            ci = None if t is None else stats.hierarchical_bootstrap(t, n_boot=n_boot, alpha=alpha, seed=0,
                                                                        bounds=SCORE_RANGE)
            cells[b] = None if ci is None else {"score": ci.mean, "lo": ci.low, "hi": ci.high,
                                                "per_seed": list(ci.per_seed), "seeds": ci.n_seeds,
                                                "problems": ci.n_problems}
        out.append({"label": r.label, "run": r.run, "is_base": r.is_base, "benches": cells})
    return out


def _against_base(r: Row, base: Row | None, b: str, n_boot: int, alpha: float) -> dict[str, Any] | None:
    """One comparison of a trained row with the base model of its directory (None: no result for `b`)."""
    mine, ref = _table(r, b), _table(base, b)
    if mine is None:
        return None
    entry: dict[str, Any] = {"a": r.label, "b": base.label if base else None, "bench": b, "note": None}
    if base is None:
        entry["note"] = "no base model in this directory"
    elif ref is None:
        entry["note"] = f"the base model has no per-problem results for {b}"
    elif not _same_problems(mine, ref):
        entry["note"] = "scored on different numbers of problems than the base model: no pairing"
    else:
        entry["diff"] = stats.paired_hierarchical_bootstrap(mine, ref[:1], reference=True, n_boot=n_boot,
                                                            alpha=alpha, seed=0, bounds=SCORE_RANGE)
    return entry


def _between(ra: Row, rb: Row, b: str, n_boot: int, alpha: float) -> dict[str, Any] | None:
    """One comparison of two trained rows (None: one of them has no result for `b`)."""
    ta, tb = _table(ra, b), _table(rb, b)
    if ta is None or tb is None:
        return None
    entry: dict[str, Any] = {"a": ra.label, "b": rb.label, "bench": b, "note": None}
    if len(ta) < 2 or len(tb) < 2:
        entry["note"] = ONE_SEED
    elif not _same_problems(ta, tb):
        entry["note"] = "scored on different numbers of problems: no pairing"
    else:
        entry["diff"] = stats.paired_hierarchical_bootstrap(ta, tb, seeds_a=_seed_labels(ra, b),
                                                            seeds_b=_seed_labels(rb, b), n_boot=n_boot, alpha=alpha,
                                                            seed=0, bounds=SCORE_RANGE)
        if entry["diff"].paired_seeds:
            entry["components"] = stats.variance_components([[x - y for x, y in zip(sa, sb)]
                                                             for sa, sb in zip(ta, tb)])
    return entry


def _holm_verdicts(family: list[dict[str, Any]], alpha: float, b_name: str | None = None) -> None:
    """Holm over the comparisons of one family that have a test; verdict and adjusted p into each entry."""
    tested = [e for e in family if "diff" in e]
    names = [(e["a"], b_name or e["b"]) for e in tested]
    for e, (word, p) in zip(tested, stats.holm_verdicts([e["diff"] for e in tested], names, alpha)):
        e["verdict"], e["p_holm"] = word, p
    for e in family:
        e.setdefault("verdict", e["note"] or "-")
        e.setdefault("p_holm", None)
        e.setdefault("diff", None)


def analyse(rows: list[Row], n_boot: int = BOOT, alpha: float = ALPHA) -> dict[str, Any]:
    """Every figure of the verdicts view (fractions, not percent). Keys: benches, scores (one entry per row),
    vs_base and pairwise (one entry per comparison), mdd (per benchmark), max_seeds, notes, checker_note
    (`checker_note`), family_sizes."""
    benches = benches_of(rows)
    trained = [r for r in rows if not r.is_base]
    base_of = {r.run: r for r in rows if r.is_base and not r.is_reference}
    vs_base = [e for r in trained for b in benches
               if (e := _against_base(r, base_of.get(r.run), b, n_boot, alpha)) is not None]
    pairwise = [e for i, ra in enumerate(trained) for rb in trained[i + 1:] for b in benches
                if (e := _between(ra, rb, b, n_boot, alpha)) is not None]
    _holm_verdicts(vs_base, alpha, b_name="base")
    _holm_verdicts(pairwise, alpha)
    max_seeds = max((len(t) for r in trained for b in benches if (t := _table(r, b))), default=0)
    return {"benches": benches, "scores": _score_entries(rows, benches, n_boot, alpha), "vs_base": vs_base,
            "pairwise": pairwise, "mdd": {b: _mdd(b, trained, pairwise, alpha) for b in benches},
            "max_seeds": max_seeds, "n_boot": n_boot, "alpha": alpha,
            "notes": [NO_RANKING] if trained and max_seeds < 2 else [], "checker_note": checker_note(rows),
            "family_sizes": {"vs_base": sum(1 for e in vs_base if e["p_holm"] is not None),
                             "pairwise": sum(1 for e in pairwise if e["p_holm"] is not None)}}


def _mdd(bench: str, trained: list[Row], pairwise: list[dict[str, Any]], alpha: float
         ) -> dict[str, Any] | None:
    """Pooled variance components of the paired difference tables of one benchmark -> MDD at their seeds and
    problems; None when no pair has two paired seeds."""
    comps = [e["components"] for e in pairwise if e["bench"] == bench and e.get("components") is not None]
    if not comps:
        return None
    pooled = stats.VarianceComponents(seed=sum(c.seed for c in comps) / len(comps),
                                      problem=sum(c.problem for c in comps) / len(comps),
                                      resid=sum(c.resid for c in comps) / len(comps),
                                      n_seeds=min(c.n_seeds for c in comps), n_problems=comps[0].n_problems)
    arm = [stats.variance_components(t).seed for r in trained
           if (t := _table(r, bench)) is not None and len(t) >= 2 and _same_problems(t)]
    return {"mdd": stats.minimum_detectable_difference(pooled, alpha=alpha), "seeds": pooled.n_seeds,
            "problems": pooled.n_problems, "pairs": len(comps), "components": pooled.as_dict(),
            "seed_sd": math.sqrt(sum(arm) / len(arm)) if arm else None,
            "seeds_for_target": stats.seeds_for_difference(pooled, TARGET_MDD, alpha=alpha), "target": TARGET_MDD}


# ----------------------------------------------------------------------------------------------------------------
# rendering


def _pts(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def _interval(d: stats.HierDiff | None) -> str:
    if d is None:
        return "-"
    return f"{_pts(d.diff, True)} [{_pts(d.low, True)}, {_pts(d.high, True)}]"


def scores_table(a: dict[str, Any], ks: dict[str, int | None]) -> tuple[list[str], list[list[str]]]:
    headers = ["algorithm", "seeds"]
    for b in a["benches"]:
        name = f"{b} avg@{ks[b]}" if ks.get(b) else b
        headers += [f"{name} [95% CI]", f"{b} per seed"]
    body = []
    for s in a["scores"]:
        seeds = max((c["seeds"] for c in s["benches"].values() if c), default=0)
        line = [s["label"], "-" if s["is_base"] else str(seeds)]
        for b in a["benches"]:
            c = s["benches"][b]
            if c is None:
                line += ["-", "-"]
                continue
            line += [f"{_pts(c['score'])} [{_pts(c['lo'])}, {_pts(c['hi'])}]",
                     " / ".join(_pts(x) for x in c["per_seed"]) if len(c["per_seed"]) > 1 else "-"]
        body.append(line)
    return headers, body


def comparison_table(entries: list[dict[str, Any]], benches: list[str], pairwise: bool
                     ) -> tuple[list[str], list[list[str]]]:
    """One line per row (vs base) or per pair (pairwise), per benchmark: Δ [95% CI] in points, Holm p, verdict."""
    headers = ["A", "B"] if pairwise else ["algorithm"]
    for b in benches:
        headers += [f"{b} Δ{'' if pairwise else ' base'} [95% CI]", f"{b} p (Holm)", f"{b} verdict"]
    lines: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
    for e in entries:
        lines.setdefault((e["a"], e["b"]), {})[e["bench"]] = e
    body = []
    for (la, lb), per_bench in lines.items():
        line = [la, lb] if pairwise else [la]
        for b in benches:
            e = per_bench.get(b)
            line += ["-", "-", "-"] if e is None else [_interval(e["diff"]), _p(e["p_holm"]), e["verdict"]]
        body.append(line)
    return headers, body


def notes(a: dict[str, Any]) -> list[str]:
    """The sentences printed under the tables: mixed answer checkers, the no-ranking rule and the minimum detectable
    differences."""
    out = ([a["checker_note"]] if a.get("checker_note") else []) + list(a["notes"])
    for b in a["benches"]:
        m = a["mdd"][b]
        if m is None:
            if a["max_seeds"] >= 2:
                out.append(f"{b}: no minimum detectable difference (no two objectives share two or more seeds).")
            elif a["notes"]:
                out.append(f"{b}: minimum detectable difference not estimable with one seed (the seed variance "
                           f"is unknown).")
            continue
        n = m["seeds_for_target"]
        seeds_needed = (f"{n} seed{'s' if n != 1 else ''} per arm would bring it to {100 * m['target']:.0f} points"
                        if m["seeds_for_target"] else
                        f"no number of seeds brings it to {100 * m['target']:.0f} points at {m['problems']} problems")
        sd = "" if m["seed_sd"] is None else f"; seed-to-seed SD of one objective {100 * m['seed_sd']:.1f} points"
        out.append(f"{b}: minimum detectable difference between two objectives {100 * m['mdd']:.1f} points at "
                   f"{m['seeds']} seeds x {m['problems']} problems (80% power, two-sided alpha = "
                   f"{a['alpha']:g} before correction, large-sample multiplier 2.80: with few seeds the true figure is "
                   f"larger; Bloom 1995; from {m['pairs']} paired difference tables{sd}); "
                   f"{seeds_needed}.")
    return out


def headings(a: dict[str, Any]) -> dict[str, str]:
    return {
        "scores": f"Scores (percent; mean over seeds; 95% interval: hierarchical bootstrap, seeds then problems, "
                  f"{a['n_boot']} replicates, widened to the seed-level t interval with 2+ seeds)",
        "vs_base": f"Against the base model (Δ in points, paired by problem; p: the largest of the bootstrap, the "
                   f"exact sign test (0/1 outcomes) and the seed-level t-test (2+ seeds); the interval covers that t-test's; Holm "
                   f"over {a['family_sizes']['vs_base']} comparisons, intervals unadjusted)",
        "pairwise": f"Between objectives (Δ = A - B in points, paired by problem and, within one directory, by seed; "
                    f"p as above; Holm over {a['family_sizes']['pairwise']} comparisons)",
    }


def _diff_dict(d: stats.HierDiff | None) -> dict[str, Any] | None:
    return None if d is None else d.as_dict()


def as_json(a: dict[str, Any]) -> dict[str, Any]:
    """The analysis as plain JSON-able data (fractions)."""
    def comp(e: dict[str, Any]) -> dict[str, Any]:
        return {"a": e["a"], "b": e["b"], "bench": e["bench"], "diff": _diff_dict(e["diff"]), "p_holm": e["p_holm"],
                "verdict": e["verdict"], "note": e["note"]}

    return {"benches": a["benches"], "scores": a["scores"], "vs_base": [comp(e) for e in a["vs_base"]],
            "pairwise": [comp(e) for e in a["pairwise"]], "mdd": a["mdd"], "max_seeds": a["max_seeds"],
            "n_boot": a["n_boot"], "alpha": a["alpha"], "notes": notes(a)}


CSV_HEADER = ["kind", "a", "b", "bench", "estimate", "low", "high", "per_seed", "p_boot", "p_sign", "n_pos",
              "n_neg", "p_t", "t_df", "p_holm", "verdict", "seeds_a", "seeds_b", "problems"]


def csv_lines(a: dict[str, Any]) -> list[list[Any]]:
    """One line per score and per comparison (fractions; empty where not applicable)."""
    def num(x: Any) -> str:
        return "" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))

    out = []
    for s in a["scores"]:
        for b, c in s["benches"].items():
            if c is not None:
                out.append(["score", s["label"], "", b, num(c["score"]), num(c["lo"]), num(c["hi"]),
                            " ".join(num(x) for x in c["per_seed"]), "", "", "", "", "", "", "", "", c["seeds"], "",
                            c["problems"]])
    for kind in ("vs_base", "pairwise"):
        for e in a[kind]:
            d = e["diff"]
            if d is None:
                out.append([kind, e["a"], e["b"] or "", e["bench"]] + [""] * 11 + [e["verdict"], "", "", ""])
                continue
            out.append([kind, e["a"], e["b"], e["bench"], num(d.diff), num(d.low), num(d.high), "", num(d.p_boot),
                        num(d.p_sign), num(d.n_pos), num(d.n_neg), num(d.p_t), num(d.t_df), num(e["p_holm"]),
                        e["verdict"], d.n_seeds_a,
                        d.n_seeds_b, d.n_problems])
    return out
