"""Leaderboards from comparison directories: one row per algorithm (and per variant), a column per benchmark.

A comparison directory (written by `harness.compare`) holds `base/eval/summary.json` for the initial model and, per
finished run, `runs/<slug>/seed-<s>/` with a `DONE` marker (JSON: label, algo, overrides, seed, wall times),
`metrics.jsonl` (the trainer's per-step metrics) and `eval/summary.json`. A directory written by `rlvr-zoo eval
--out` (a bare `summary.json`) also counts: it becomes one row.

Scores are avg@k in percent. Over several seeds the per-problem fractions correct are averaged first and the 95%
interval is a bootstrap over problems of those pooled fractions. "Δ base" is the row's average minus the average of
the base model of the same directory. Several directories merge into one table; when two rows share a label the
directory name is added to it.

Three views of the same rows (`render(rows, fmt, view=...)`):

* ``scores``: the table above.
* ``delta``: per row and benchmark the pooled score, the score of each seed, and the difference to the base model
  of the same directory in points with a *paired* 95% bootstrap interval over problems (`stats.paired_bootstrap`:
  the row's per-problem fractions, averaged over seeds, minus the base's on the same problems, resampled together),
  and whether that interval excludes 0.
* ``dynamics``: training dynamics from metrics.jsonl, per seed then averaged over seeds: entropy at the start (mean
  of the first 3 logged steps) and at the end (last 3), their difference, training `accuracy` over the first 5 and
  the last 5 steps, the run means of `gradshare/low_neg`, `gradshare/high_pos`, `clipfrac/low_neg`,
  `clipfrac/high_pos`, and the last `eval/accuracy`. Rows without training (the base model) are left out.

Rows carry the data of the views under keys starting with "_" (per-problem fractions, metrics.jsonl paths); they
are never rendered.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import json
from pathlib import Path
from typing import Any

from harness.evaluate import SUMMARY_FILE, read_json, read_summary

FORMATS = ("md", "csv", "latex", "html", "json")
VIEWS = ("scores", "delta", "dynamics")
EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "html": "html", "json": "json"}
DONE_FILE = "DONE"
BOOTSTRAP_SAMPLES = 1000
ENTROPY_STEPS = 3     # entropy at the start / end: mean of the first / last 3 logged steps
ACCURACY_STEPS = 5    # training accuracy: mean of the first / last 5 logged steps
RUN_MEANS = ("gradshare/low_neg", "gradshare/high_pos", "clipfrac/low_neg", "clipfrac/high_pos")  # means over a run
DYNAMICS_KEYS = ("steps", "entropy_start", "entropy_end", "entropy_change", "accuracy_first", "accuracy_last",
                 *RUN_MEANS, "eval_accuracy_final")


def _same_problems(parts: list[dict[str, Any]]) -> bool:
    return len({len(p["per_problem"]) for p in parts}) == 1


def _pool(summaries: list[dict[str, Any]], bench: str, bootstrap_samples: int = BOOTSTRAP_SAMPLES
          ) -> dict[str, Any] | None:
    from harness import stats

    parts = _parts(summaries, bench)
    if not parts:
        return None
    k = parts[0]["k"]
    if _same_problems(parts):
        pooled = [sum(vals) / len(vals) for vals in zip(*(p["per_problem"] for p in parts))]
    else:  # seeds evaluated on different problem sets: treat every (seed, problem) as a problem
        pooled = [x for p in parts for x in p["per_problem"]]
    score = sum(pooled) / len(pooled)
    if len(parts) == 1 and parts[0].get("ci95") and parts[0]["ci95"][0] is not None:
        lo, hi = parts[0]["ci95"]
    else:
        ci = stats.bootstrap_ci(pooled, n_boot=bootstrap_samples, seed=0)
        lo, hi = ci.low, ci.high

    def mean_of(key: str) -> float | None:
        vals = [p.get(key) for p in parts if p.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    return {"score": score, "lo": lo, "hi": hi, "k": k, "problems": len(pooled) if _same_problems(parts) else
            parts[0]["problems"], f"pass@{k}": mean_of(f"pass@{k}"), f"maj@{k}": mean_of(f"maj@{k}"),
            "gold_unparsable": max(p.get("gold_unparsable", 0) for p in parts), "seeds": len(parts)}


def _parts(summaries: list[dict[str, Any]], bench: str) -> list[dict[str, Any]]:
    """The per-seed results of `bench` that hold per-problem fractions."""
    parts = [s["benches"][bench] for s in summaries if bench in s.get("benches", {})]
    return [p for p in parts if p.get("per_problem")]


def _pooled_problems(summaries: list[dict[str, Any]], bench: str) -> list[float] | None:
    """Per-problem fractions correct averaged over seeds; None when the seeds were scored on different problem
    counts (then no problem-by-problem pairing exists)."""
    parts = _parts(summaries, bench)
    if not parts or not _same_problems(parts):
        return None
    return [sum(vals) / len(vals) for vals in zip(*(p["per_problem"] for p in parts))]


def _mean(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _run_dynamics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Training-dynamics figures of one seed's metrics records (None where the key was never logged)."""
    from harness.curves import values

    def vals(key: str) -> list[float]:
        return [v for _, v in values(records, key)]

    ent, acc = vals("entropy"), vals("accuracy")
    start = _mean(ent[:ENTROPY_STEPS])
    end = _mean(ent[-ENTROPY_STEPS:])
    evals = vals("eval/accuracy")
    out = {"steps": int(records[-1]["step"]) if records else None, "entropy_start": start, "entropy_end": end,
           "entropy_change": None if start is None else end - start,
           "accuracy_first": _mean(acc[:ACCURACY_STEPS]), "accuracy_last": _mean(acc[-ACCURACY_STEPS:]),
           "eval_accuracy_final": evals[-1] if evals else None, "final_entropy": ent[-1] if ent else None}
    for key in RUN_MEANS:
        out[key] = _mean(vals(key))
    return out


def _pool_dynamics(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of each figure (seeds without it left out), plus the per-seed entropy changes."""
    out: dict[str, Any] = {key: _mean([d[key] for d in per_seed]) for key in DYNAMICS_KEYS if key != "steps"}
    steps = [d["steps"] for d in per_seed if d["steps"] is not None]
    out["steps"] = max(steps) if steps else None
    out["entropy_change_per_seed"] = [d["entropy_change"] for d in per_seed]
    return out


def _row(label: str, run: str, summaries: list[dict[str, Any]], benches: list[str], *, is_base: bool = False,
         algo: str | None = None, overrides: dict | None = None, seeds: list[int] | None = None,
         metrics: list[Path] | None = None, wall_time_s: float | None = None) -> dict[str, Any]:
    from harness.curves import read_metrics

    cells = {b: _pool(summaries, b) for b in benches}
    scores = [c["score"] for c in cells.values() if c is not None]
    per_seed_dynamics = [_run_dynamics(read_metrics(p)) for p in metrics or []]
    return {"label": label, "run": run, "algo": algo, "overrides": overrides or {}, "seeds": seeds or [],
            "is_base": is_base, "benches": cells,
            "average": sum(scores) / len(scores) if scores and len(scores) == len(benches) else None,
            "delta_vs_base": None, "final_entropy": _mean([d["final_entropy"] for d in per_seed_dynamics]),
            "wall_time_s": wall_time_s,
            # data of the delta and dynamics views (never rendered)
            "_per_problem": {b: _pooled_problems(summaries, b) for b in benches},
            "_per_seed": {b: [sum(p["per_problem"]) / len(p["per_problem"]) for p in _parts(summaries, b)]
                          for b in benches},
            "_base_per_problem": None, "_metrics": list(metrics or []),
            "_dynamics": _pool_dynamics(per_seed_dynamics) if per_seed_dynamics else None}


def collect(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows (base first, then one per algorithm/variant, seeds pooled) of one comparison or evaluation directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such directory; give a directory written by `rlvr-zoo compare --out` "
                         f"or `rlvr-zoo eval --out`")
    name = run_dir.resolve().name
    if (run_dir / SUMMARY_FILE).is_file() and not (run_dir / "runs").is_dir():
        summary = read_summary(run_dir / SUMMARY_FILE)
        benches = list(summary["benches"])
        label = summary.get("label") or summary.get("model") or name
        return [_row(label, name, [summary], benches, wall_time_s=summary.get("wall_time_s"))]
    base_summary = run_dir / "base" / "eval" / SUMMARY_FILE
    runs: dict[str, list[tuple[dict, Path]]] = {}
    for done in sorted(run_dir.glob(f"runs/*/*/{DONE_FILE}")):
        info = read_json(done)
        runs.setdefault(info["label"], []).append((info, done.parent))
    if not runs and not base_summary.is_file():
        raise ValueError(f"{run_dir}: no finished run (no runs/*/seed-*/{DONE_FILE}) and no base evaluation; is it a "
                         f"directory written by `rlvr-zoo compare --out`?")
    benches: list[str] = []
    base = read_summary(base_summary) if base_summary.is_file() else None
    if base:
        benches = list(base["benches"])
    for entries in runs.values():
        for _, path in entries:
            s = path / "eval" / SUMMARY_FILE
            if s.is_file():
                for b in read_summary(s)["benches"]:
                    if b not in benches:
                        benches.append(b)
    rows = []
    if base:
        rows.append(_row(f"base ({base.get('model', 'initial model')})", name, [base], benches, is_base=True,
                         wall_time_s=base.get("wall_time_s")))
    order = _label_order(run_dir, list(runs))
    for label in order:
        entries = sorted(runs[label], key=lambda e: e[0].get("seed", 0))
        summaries = [read_summary(p / "eval" / SUMMARY_FILE) for _, p in entries if (p / "eval" / SUMMARY_FILE).is_file()]
        walls = [info.get("wall_time_s") for info, _ in entries if info.get("wall_time_s") is not None]
        info0 = entries[0][0]
        rows.append(_row(label, name, summaries, benches, algo=info0.get("algo"), overrides=info0.get("overrides"),
                         seeds=[info.get("seed") for info, _ in entries],
                         metrics=[p / "metrics.jsonl" for _, p in entries],
                         wall_time_s=sum(walls) / len(walls) if walls else None))
    if rows and rows[0]["is_base"]:
        for row in rows[1:]:
            row["_base_per_problem"] = rows[0]["_per_problem"]
            if row["average"] is not None and rows[0]["average"] is not None:
                row["delta_vs_base"] = row["average"] - rows[0]["average"]
        if rows[0]["average"] is not None:
            rows[0]["delta_vs_base"] = 0.0
    return rows


def _label_order(run_dir: Path, labels: list[str]) -> list[str]:
    """Rows in the order of the compare's algos list (config.yaml), unknown labels after, alphabetically."""
    cfg = run_dir / "config.yaml"
    order: list[str] = []
    if cfg.is_file():
        import yaml
        try:
            order = [str(a) for a in (yaml.safe_load(cfg.read_text()) or {}).get("algos", [])]
        except Exception:  # noqa: BLE001 - a damaged config.yaml only affects the row order
            order = []
    known = [label for label in order if label in labels]
    return known + sorted(label for label in labels if label not in known)


def merge(run_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """Rows of several directories in one list; labels that collide get ` [<directory name>]` appended."""
    rows = [r for d in run_dirs for r in collect(d)]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    for r in rows:
        if counts[r["label"]] > 1:
            r["label"] = f"{r['label']} [{r['run']}]"
    # still colliding (two directories with the same name): number them
    seen: dict[str, int] = {}
    for r in rows:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
        if seen[r["label"]] > 1:
            r["label"] = f"{r['label']} #{seen[r['label']]}"
    return rows


def select(rows: list[dict[str, Any]], patterns: list[str] | None) -> list[dict[str, Any]]:
    """The rows whose label matches one of the shell-style `patterns` (fnmatch, case-sensitive), base rows kept.
    A pattern that matches no row is an error listing the labels (a typo would otherwise drop rows silently)."""
    if not patterns:
        return rows
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(r["label"], pattern) for r in rows):
            labels = ", ".join(repr(r["label"]) for r in rows)
            raise ValueError(f"--only {pattern!r} matches no row; the labels are: {labels} (shell-style patterns: "
                             f"'ce-gppo*' matches every CE-GPPO variant, '[' starts a character set)")
    return [r for r in rows if r["is_base"] or any(fnmatch.fnmatchcase(r["label"], p) for p in patterns)]


def metrics_files(rows: list[dict[str, Any]]) -> dict[str, list[Path]]:
    """{label: [metrics.jsonl of each seed]} of the trained rows, in row order (what `curves.plot` takes)."""
    return {r["label"]: r["_metrics"] for r in rows if r["_metrics"]}


def benches_of(rows: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in rows:
        for b in r["benches"]:
            if b not in out:
                out.append(b)
    return out


def _identity(r: dict[str, Any]) -> dict[str, Any]:
    return {"label": r["label"], "run": r["run"], "algo": r["algo"], "overrides": r["overrides"], "seeds": r["seeds"]}


def delta_rows(rows: list[dict[str, Any]], bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> list[dict[str, Any]]:
    """The delta view: per row and benchmark the pooled score, each seed's score, and score minus the base model's
    (same directory) with its paired 95% bootstrap interval over problems and whether it excludes 0. Fractions."""
    from harness import stats

    out = []
    for r in rows:
        benches = {}
        for b, cell in r["benches"].items():
            d: dict[str, Any] = {"score": None if cell is None else cell["score"], "k": None if cell is None else
                                 cell["k"], "per_seed": r["_per_seed"].get(b, []), "delta": None, "lo": None,
                                 "hi": None, "p_value": None, "excludes_zero": None, "problems": None, "note": None}
            mine, base = r["_per_problem"].get(b), (r["_base_per_problem"] or {}).get(b)
            if r["is_base"] or cell is None:
                pass
            elif r["_base_per_problem"] is None:
                d["note"] = "no base model in this directory"
            elif base is None:
                d["note"] = f"the base model has no per-problem results for {b}"
            elif mine is None:
                d["note"] = "the seeds were scored on different numbers of problems: no pairing"
            elif len(mine) != len(base):
                d["note"] = f"scored on {len(mine)} problems, the base model on {len(base)}: no pairing"
            else:
                p = stats.paired_bootstrap(mine, base, n_boot=bootstrap_samples, seed=0)
                d.update(delta=p.diff, lo=p.low, hi=p.high, p_value=p.p_value, problems=p.n,
                         excludes_zero=bool(p.low > 0 or p.high < 0))
            benches[b] = d
        out.append({**_identity(r), "is_base": r["is_base"], "benches": benches})
    return out


def dynamics_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dynamics view: one entry per row with training metrics (base rows left out)."""
    empty = {key: None for key in DYNAMICS_KEYS}
    return [{**_identity(r), **empty, "entropy_change_per_seed": [], **(r["_dynamics"] or {})}
            for r in rows if not r["is_base"]]


# ----------------------------------------------------------------------------------------------------------------
# rendering


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _signed(x: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if x is None else f"{scale * x:+.{digits}f}"


def _fixed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _cell(c: dict[str, Any] | None, pm: str) -> str:
    if c is None:
        return "-"
    half = (c["hi"] - c["lo"]) / 2 if c.get("lo") is not None and c.get("hi") is not None else None
    return _pct(c["score"]) + ("" if half is None else f" {pm} {_pct(half)}")


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _ks(rows: list[dict[str, Any]], benches: list[str]) -> dict[str, int | None]:
    return {b: next((r["benches"][b]["k"] for r in rows if r["benches"].get(b)), None) for b in benches}


def table(rows: list[dict[str, Any]], pm: str = "±") -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of the human-readable scores table (md, latex, html)."""
    benches = benches_of(rows)
    ks = _ks(rows, benches)
    headers = ["algorithm"] + [f"{b} avg@{ks[b]}" if ks[b] else b for b in benches] + \
        ["average", "Δ base", "final entropy", "wall time"]
    body = []
    for r in rows:
        delta = r["delta_vs_base"]
        body.append([r["label"]] + [_cell(r["benches"].get(b), pm) for b in benches] +
                    [_pct(r["average"]), "-" if delta is None else f"{100 * delta:+.1f}",
                     "-" if r["final_entropy"] is None else f"{r['final_entropy']:.3f}", _wall(r["wall_time_s"])])
    return headers, body


def delta_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the delta view: per benchmark the pooled score, the seeds' scores, Δ base [95% CI]
    in points and whether the interval excludes 0."""
    data = delta_rows(rows)
    benches = benches_of(rows)
    ks = _ks(rows, benches)
    headers = ["algorithm"]
    for b in benches:
        name = f"{b} avg@{ks[b]}" if ks[b] else b
        headers += [name, f"{b} per seed", f"{b} Δ base [95% CI]", f"{b} CI excludes 0"]
    body = []
    for d in data:
        line = [d["label"]]
        for b in benches:
            c = d["benches"].get(b)
            if c is None:
                line += ["-"] * 4
                continue
            seeds = " / ".join(_pct(s) for s in c["per_seed"]) if len(c["per_seed"]) > 1 else "-"
            if c["delta"] is None:
                delta, excl = "-", "-"
            else:
                delta = f"{_signed(c['delta'], 100, 1)} [{_signed(c['lo'], 100, 1)}, {_signed(c['hi'], 100, 1)}]"
                excl = "yes" if c["excludes_zero"] else "no"
            line += [_pct(c["score"]), seeds, delta, excl]
        body.append(line)
    return headers, body


def dynamics_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the dynamics view (entropy in nats, accuracies and fractions in percent)."""
    headers = ["algorithm", "seeds", "steps", f"entropy start (first {ENTROPY_STEPS})",
               f"entropy end (last {ENTROPY_STEPS})", "Δ entropy (per seed)",
               f"train acc first {ACCURACY_STEPS} (%)", f"train acc last {ACCURACY_STEPS} (%)",
               "gradshare low_neg (%)", "gradshare high_pos (%)", "clipfrac low_neg (%)", "clipfrac high_pos (%)",
               "final held-out acc (%)"]
    body = []
    for d in dynamics_rows(rows):
        change = _signed(d["entropy_change"])
        if len(d["entropy_change_per_seed"]) > 1:
            change += " (" + " / ".join(_signed(x) for x in d["entropy_change_per_seed"]) + ")"
        body.append([d["label"], str(len(d["seeds"])) if d["seeds"] else "-",
                     "-" if d["steps"] is None else str(d["steps"]), _fixed(d["entropy_start"]),
                     _fixed(d["entropy_end"]), change, _pct(d["accuracy_first"]), _pct(d["accuracy_last"])] +
                    [_pct(d[k], 2) for k in RUN_MEANS] + [_pct(d["eval_accuracy_final"])])
    return headers, body


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("{", r"\{"), ("}", r"\}"), ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}")):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def _csv(header: list[str], lines: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(lines)
    return buf.getvalue()


def _identity_csv(r: dict[str, Any]) -> list[str]:
    return [r["label"], r["run"], r["algo"] or "", json.dumps(r["overrides"]) if r["overrides"] else "",
            " ".join(str(s) for s in r["seeds"])]


IDENTITY_CSV = ["algorithm", "run", "algo", "overrides", "seeds"]


def _scores_csv(rows: list[dict[str, Any]]) -> str:
    benches = benches_of(rows)
    header = list(IDENTITY_CSV)
    for b in benches:
        header += [b, f"{b}_ci_low", f"{b}_ci_high", f"{b}_k"]
    header += ["average", "delta_vs_base", "final_entropy", "wall_time_s"]
    lines = []
    for r in rows:
        line = _identity_csv(r)
        for b in benches:
            c = r["benches"].get(b)
            line += ([_num(c["score"]), _num(c["lo"]), _num(c["hi"]), c["k"]] if c else ["", "", "", ""])
        line += [_num(r["average"]), _num(r["delta_vs_base"]), _num(r["final_entropy"]), _num(r["wall_time_s"])]
        lines.append(line)
    return _csv(header, lines)


def _delta_csv(rows: list[dict[str, Any]]) -> str:
    benches = benches_of(rows)
    fields = ["score", "per_seed", "delta", "lo", "hi", "p_value", "excludes_zero", "problems"]
    header = IDENTITY_CSV + [f"{b}_{f}" for b in benches for f in fields]
    lines = []
    for d in delta_rows(rows):
        line = _identity_csv(d)
        for b in benches:
            c = d["benches"].get(b)
            if c is None:
                line += [""] * len(fields)
                continue
            line += [_num(c["score"]), " ".join(_num(s) for s in c["per_seed"]), _num(c["delta"]), _num(c["lo"]),
                     _num(c["hi"]), _num(c["p_value"]),
                     "" if c["excludes_zero"] is None else str(c["excludes_zero"]).lower(),
                     "" if c["problems"] is None else c["problems"]]
        lines.append(line)
    return _csv(header, lines)


def _dynamics_csv(rows: list[dict[str, Any]]) -> str:
    keys = list(DYNAMICS_KEYS)
    header = IDENTITY_CSV + [k.replace("/", "_") for k in keys] + ["entropy_change_per_seed"]
    lines = [_identity_csv(d) + [_num(d[k]) for k in keys] +
             [" ".join(_num(x) for x in d["entropy_change_per_seed"])] for d in dynamics_rows(rows)]
    return _csv(header, lines)


def _public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


VIEW_FUNCTIONS = {  # view: (json data, csv text, human table)
    "scores": (_public, _scores_csv, table),
    "delta": (delta_rows, _delta_csv, delta_table),
    "dynamics": (dynamics_rows, _dynamics_csv, dynamics_table),
}


def render(rows: list[dict[str, Any]], fmt: str, view: str = "scores") -> str:
    """The leaderboard in one of FORMATS, as one of VIEWS."""
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if view not in VIEWS:
        raise ValueError(f"unknown leaderboard view {view!r}; valid views: {', '.join(VIEWS)}")
    data_of, csv_of, table_of = VIEW_FUNCTIONS[view]
    if fmt == "json":
        return json.dumps(data_of(rows), indent=2) + "\n"
    if fmt == "csv":
        return csv_of(rows)
    headers, body = table_of(rows)
    if fmt == "md":
        return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True) + "\n"
    if fmt == "html":
        return tabulate(body, headers=headers, tablefmt="html", disable_numparse=True) + "\n"
    headers = [_latex_escape(h) for h in headers]
    body = [[_latex_escape(c) for c in row] for row in body]
    return tabulate(body, headers=headers, tablefmt="latex_raw", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(headers) - 1)) + "\n"


def write_all(rows: list[dict[str, Any]], out_dir: str | Path, stem: str = "leaderboard") -> list[Path]:
    """Write every view in every format atomically into `out_dir`: leaderboard.{md,csv,json,tex,html} (scores),
    leaderboard-delta.* and leaderboard-dynamics.*; returns the paths."""
    from harness.evaluate import write_atomic

    paths = []
    for view in VIEWS:
        name = stem if view == "scores" else f"{stem}-{view}"
        for fmt in FORMATS:
            path = Path(out_dir) / f"{name}.{EXTENSIONS[fmt]}"
            write_atomic(path, render(rows, fmt, view))
            paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------------------------
# tables kept inside Markdown files

BLOCK_OPEN = "<!-- rlvr-zoo leaderboard "
BLOCK_CLOSE = "<!-- /rlvr-zoo leaderboard -->"


def _block_table(args_text: str, base_dir: Path) -> str:
    import shlex

    tokens = shlex.split(args_text)
    dirs: list[str] = []
    view, only = "scores", []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("--view", "--only"):
            if i + 1 >= len(tokens):
                raise ValueError(f"block '{args_text}': {tok} needs a value")
            if tok == "--view":
                view = tokens[i + 1]
            else:
                only.append(tokens[i + 1])
            i += 2
        elif tok.startswith("-"):
            raise ValueError(f"block '{args_text}': option {tok} is not supported in a Markdown block "
                             f"(use RUN_DIR..., --view and --only; the format is always md)")
        else:
            dirs.append(tok)
            i += 1
    if not dirs:
        raise ValueError(f"block '{args_text}': no RUN_DIR given")
    rows = select(merge([base_dir / d for d in dirs]), only)
    return render(rows, "md", view)


def refresh_markdown(path: str | Path, check: bool = False) -> tuple[int, list[str]]:
    """Regenerate every leaderboard block of a Markdown file (see `rlvr-zoo leaderboard --refresh`). Returns the
    number of blocks and the argument strings of the blocks whose content changed; with ``check`` the file is not
    written."""
    from harness.evaluate import write_atomic

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such Markdown file")
    lines = path.read_text().splitlines(keepends=True)
    out: list[str] = []
    changed: list[str] = []
    blocks = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(BLOCK_OPEN) and stripped.endswith("-->"):
            args_text = stripped[len(BLOCK_OPEN):-3].strip()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == BLOCK_CLOSE), None)
            if end is None:
                raise ValueError(f"{path}:{i + 1}: block '{args_text}' has no closing line '{BLOCK_CLOSE}'")
            table = _block_table(args_text, path.parent)
            blocks += 1
            if "".join(lines[i + 1:end]) != table:
                changed.append(args_text)
            out.append(line)
            out.append(table)
            out.append(lines[end])
            i = end + 1
        else:
            out.append(line)
            i += 1
    if not blocks:
        raise ValueError(f"{path}: no table block; mark one with a line '{BLOCK_OPEN}RUN_DIR --view VIEW -->' "
                         f"and a closing line '{BLOCK_CLOSE}'")
    if changed and not check:
        write_atomic(path, "".join(out))
    return blocks, changed
