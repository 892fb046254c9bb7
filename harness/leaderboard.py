"""Leaderboards from comparison directories: one row per algorithm (and per variant), a column per benchmark.

A comparison directory (written by `harness.compare`) holds `base/eval/summary.json` for the initial model and, per
finished run, `runs/<slug>/seed-<s>/` with a `DONE` marker (JSON: label, algo, overrides, seed, wall times),
`metrics.jsonl` (the trainer's per-step metrics) and `eval/summary.json`. A directory written by `rlvr-zoo eval
--out` (a bare `summary.json`) also counts: it becomes one row.

Scores are avg@k in percent. Over several seeds the per-problem fractions correct are averaged first and the 95%
interval is a bootstrap over problems of those pooled fractions. "Δ base" is the row's average minus the average of
the base model of the same directory. Several directories merge into one table; when two rows share a label the
directory name is added to it.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from harness.evaluate import SUMMARY_FILE, read_json

FORMATS = ("md", "csv", "latex", "html", "json")
EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "html": "html", "json": "json"}
DONE_FILE = "DONE"


def _last_metric(metrics_path: Path, key: str) -> float | None:
    """The last value of ``key`` in a metrics.jsonl file (None when absent)."""
    from harness.metrics_log import read_metrics

    values = [rec[key] for rec in read_metrics(metrics_path) if rec.get(key) is not None]
    return values[-1] if values else None


def _pool(summaries: list[dict[str, Any]], bench: str, bootstrap_samples: int = 1000) -> dict[str, Any] | None:
    from harness import stats

    parts = [s["benches"][bench] for s in summaries if bench in s.get("benches", {})]
    parts = [p for p in parts if p.get("per_problem")]
    if not parts:
        return None
    k = parts[0]["k"]
    lengths = {len(p["per_problem"]) for p in parts}
    if len(lengths) == 1:
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

    return {"score": score, "lo": lo, "hi": hi, "k": k, "problems": len(pooled) if len(lengths) == 1 else
            parts[0]["problems"], f"pass@{k}": mean_of(f"pass@{k}"), f"maj@{k}": mean_of(f"maj@{k}"),
            "gold_unparsable": max(p.get("gold_unparsable", 0) for p in parts), "seeds": len(parts)}


def _row(label: str, run: str, summaries: list[dict[str, Any]], benches: list[str], *, is_base: bool = False,
         algo: str | None = None, overrides: dict | None = None, seeds: list[int] | None = None,
         final_entropy: float | None = None, wall_time_s: float | None = None) -> dict[str, Any]:
    cells = {b: _pool(summaries, b) for b in benches}
    scores = [c["score"] for c in cells.values() if c is not None]
    return {"label": label, "run": run, "algo": algo, "overrides": overrides or {}, "seeds": seeds or [],
            "is_base": is_base, "benches": cells,
            "average": sum(scores) / len(scores) if scores and len(scores) == len(benches) else None,
            "delta_vs_base": None, "final_entropy": final_entropy, "wall_time_s": wall_time_s}


def collect(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows (base first, then one per algorithm/variant, seeds pooled) of one comparison or evaluation directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such directory; give a directory written by `rlvr-zoo compare --out` "
                         f"or `rlvr-zoo eval --out`")
    name = run_dir.resolve().name
    if (run_dir / SUMMARY_FILE).is_file() and not (run_dir / "runs").is_dir():
        summary = read_json(run_dir / SUMMARY_FILE)
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
    base = read_json(base_summary) if base_summary.is_file() else None
    if base:
        benches = list(base["benches"])
    for entries in runs.values():
        for _, path in entries:
            s = path / "eval" / SUMMARY_FILE
            if s.is_file():
                for b in read_json(s)["benches"]:
                    if b not in benches:
                        benches.append(b)
    rows = []
    if base:
        rows.append(_row(f"base ({base.get('model', 'initial model')})", name, [base], benches, is_base=True,
                         wall_time_s=base.get("wall_time_s")))
    order = _label_order(run_dir, list(runs))
    for label in order:
        entries = sorted(runs[label], key=lambda e: e[0].get("seed", 0))
        summaries = [read_json(p / "eval" / SUMMARY_FILE) for _, p in entries if (p / "eval" / SUMMARY_FILE).is_file()]
        entropies = [_last_metric(p / "metrics.jsonl", "entropy") for _, p in entries]
        entropies = [e for e in entropies if e is not None]
        walls = [info.get("wall_time_s") for info, _ in entries if info.get("wall_time_s") is not None]
        info0 = entries[0][0]
        rows.append(_row(label, name, summaries, benches, algo=info0.get("algo"), overrides=info0.get("overrides"),
                         seeds=[info.get("seed") for info, _ in entries],
                         final_entropy=sum(entropies) / len(entropies) if entropies else None,
                         wall_time_s=sum(walls) / len(walls) if walls else None))
    if rows and rows[0]["is_base"] and rows[0]["average"] is not None:
        for row in rows[1:]:
            if row["average"] is not None:
                row["delta_vs_base"] = row["average"] - rows[0]["average"]
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


def benches_of(rows: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in rows:
        for b in r["benches"]:
            if b not in out:
                out.append(b)
    return out


# ----------------------------------------------------------------------------------------------------------------
# rendering


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _cell(c: dict[str, Any] | None, pm: str) -> str:
    if c is None:
        return "-"
    half = (c["hi"] - c["lo"]) / 2 if c.get("lo") is not None and c.get("hi") is not None else None
    return _pct(c["score"]) + ("" if half is None else f" {pm} {_pct(half)}")


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def table(rows: list[dict[str, Any]], pm: str = "±") -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of the human-readable table (md, latex, html)."""
    benches = benches_of(rows)
    ks = {b: next((r["benches"][b]["k"] for r in rows if r["benches"].get(b)), None) for b in benches}
    headers = ["algorithm"] + [f"{b} avg@{ks[b]}" if ks[b] else b for b in benches] + \
        ["average", "Δ base", "final entropy", "wall time"]
    body = []
    for r in rows:
        delta = r["delta_vs_base"]
        body.append([r["label"]] + [_cell(r["benches"].get(b), pm) for b in benches] +
                    [_pct(r["average"]), "-" if delta is None else f"{100 * delta:+.1f}",
                     "-" if r["final_entropy"] is None else f"{r['final_entropy']:.3f}", _wall(r["wall_time_s"])])
    return headers, body


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("{", r"\{"), ("}", r"\}"), ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}")):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$")


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """The leaderboard in one of FORMATS."""
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        benches = benches_of(rows)
        buf = io.StringIO()
        writer = csv.writer(buf)
        header = ["algorithm", "run", "algo", "overrides", "seeds"]
        for b in benches:
            header += [b, f"{b}_ci_low", f"{b}_ci_high", f"{b}_k"]
        header += ["average", "delta_vs_base", "final_entropy", "wall_time_s"]
        writer.writerow(header)
        num = (lambda x: "" if x is None else f"{x:.6g}")
        for r in rows:
            line = [r["label"], r["run"], r["algo"] or "", json.dumps(r["overrides"]) if r["overrides"] else "",
                    " ".join(str(s) for s in r["seeds"])]
            for b in benches:
                c = r["benches"].get(b)
                line += ([num(c["score"]), num(c["lo"]), num(c["hi"]), c["k"]] if c else ["", "", "", ""])
            line += [num(r["average"]), num(r["delta_vs_base"]), num(r["final_entropy"]), num(r["wall_time_s"])]
            writer.writerow(line)
        return buf.getvalue()
    headers, body = table(rows)
    if fmt == "md":
        return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True) + "\n"
    if fmt == "html":
        return tabulate(body, headers=headers, tablefmt="html", disable_numparse=True) + "\n"
    headers = [_latex_escape(h) for h in headers]
    body = [[_latex_escape(c) for c in row] for row in body]
    return tabulate(body, headers=headers, tablefmt="latex_raw", disable_numparse=True, colalign=["left"] + ["right"] * (len(headers) - 1)) \
        + "\n"


def write_all(rows: list[dict[str, Any]], out_dir: str | Path, stem: str = "leaderboard") -> list[Path]:
    """Write leaderboard.{md,csv,json,tex,html} atomically into `out_dir`; returns the paths."""
    from harness.evaluate import write_atomic

    paths = []
    for fmt in FORMATS:
        path = Path(out_dir) / f"{stem}.{EXTENSIONS[fmt]}"
        write_atomic(path, render(rows, fmt))
        paths.append(path)
    return paths
