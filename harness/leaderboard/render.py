"""Text of a view in one of the formats: md, csv, latex, html, json; and `write_all`, every view in every format.

md, latex and html print human tables (scores in percent, one decimal); csv and json carry full-precision fractions
and the identity of each row (label, directory, registry name, overrides, seeds).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable

from harness.leaderboard import verdicts
from harness.leaderboard.collect import (ACCURACY_STEPS, BUDGET, DYNAMICS_KEYS, ENTROPY_STEPS, RUN_MEANS, Cell, Row,
                                         benches_of)
from harness.leaderboard.views import (DEFAULT_VIEW, VIEWS, analysis, delta_rows, dynamics_rows, scores_rows,
                                       verdict_record)
from harness.timing import STEP_KEY, phase_keys

FORMATS = ("md", "csv", "latex", "html", "json")
EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "html": "html", "json": "json"}
IDENTITY_CSV = ["algorithm", "run", "algo", "overrides", "seeds"]


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _signed(x: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if x is None else f"{scale * x:+.{digits}f}"


def _fixed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _cell(c: Cell | None, pm: str) -> str:
    if c is None:
        return "-"
    half = (c.hi - c.lo) / 2 if c.lo is not None and c.hi is not None else None
    return _pct(c.score) + ("" if half is None else f" {pm} {_pct(half)}")


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _ks(rows: list[Row], benches: list[str]) -> dict[str, int | None]:
    """k of each benchmark: that of the first row with a result for it."""
    return {b: next((r.benches[b].k for r in rows if r.benches.get(b)), None) for b in benches}


def _bench_header(bench: str, k: int | None) -> str:
    return f"{bench} avg@{k}" if k else bench


# ----------------------------------------------------------------------------------------------------------------
# human tables (md, latex, html): headers and string cells


def table(rows: list[Row], pm: str = "±") -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of the human-readable scores table (md, latex, html)."""
    benches = benches_of(rows)
    ks = _ks(rows, benches)
    headers = ["algorithm"] + [_bench_header(b, ks[b]) for b in benches] + \
        ["average", "Δ base", "final entropy", "wall time"]
    body = []
    for r in rows:
        body.append([r.label] + [_cell(r.benches.get(b), pm) for b in benches] +
                    [_pct(r.average), _signed(r.delta_vs_base, 100, 1), _fixed(r.final_entropy),
                     _wall(r.wall_time_s)])
    return headers, body


def _delta_cells(c: dict[str, Any] | None) -> list[str]:
    """Score, seeds' scores, Δ base [95% CI] and the Holm-corrected verdict, of one delta-view cell."""
    if c is None:
        return ["-"] * 4
    seeds = " / ".join(_pct(s) for s in c["per_seed"]) if len(c["per_seed"]) > 1 else "-"
    if c["delta"] is None:
        return [_pct(c["score"]), seeds, "-", "-"]
    delta = f"{_signed(c['delta'], 100, 1)} [{_signed(c['lo'], 100, 1)}, {_signed(c['hi'], 100, 1)}]"
    return [_pct(c["score"]), seeds, delta, c["verdict"]]


def delta_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the delta view: per benchmark the score, the seeds' scores, Δ base [95% CI] in points
    and the verdict against the base model (Holm over the table's comparisons)."""
    benches = benches_of(rows)
    ks = _ks(rows, benches)
    headers = ["algorithm"]
    for b in benches:
        headers += [_bench_header(b, ks[b]), f"{b} per seed", f"{b} Δ base [95% CI]", f"{b} verdict (Holm)"]
    body = [[d["label"]] + [x for b in benches for x in _delta_cells(d["benches"].get(b))] for d in delta_rows(rows)]
    return headers, body


ROLLOUT_MARK = "†"   # a dynamics row whose entropy is the rollouts' in a table with probe-entropy rows


def dynamics_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the dynamics view (entropy in nats, accuracies and fractions in percent)."""
    records = dynamics_rows(rows)
    sources = {d["entropy_source"] for d in records}
    marked = len(sources) > 1   # rows of both kinds: rollout-entropy rows are marked
    if sources == {"probe"}:
        start, end = "probe entropy start (step 0)", "probe entropy end (last step)"
    elif "probe" in sources:
        start, end = (f"entropy start (probe: step 0; {ROLLOUT_MARK}rollouts: first {ENTROPY_STEPS})",
                      f"entropy end (probe: last step; {ROLLOUT_MARK}rollouts: last {ENTROPY_STEPS})")
    else:
        start, end = f"rollout entropy start (first {ENTROPY_STEPS})", f"rollout entropy end (last {ENTROPY_STEPS})"
    headers = ["algorithm", "seeds", "steps", start, end, "Δ entropy (per seed)",
               f"train acc first {ACCURACY_STEPS} (%)", f"train acc last {ACCURACY_STEPS} (%)",
               "gradshare low_neg (%)", "gradshare high_pos (%)", "clipfrac low_neg (%)", "clipfrac high_pos (%)",
               "final held-out acc (%)", "prompts", "responses", "tokens", "zero-adv groups", "updates", "s/step",
               "where a step goes"]
    body = []
    for d in records:
        change = _signed(d["entropy_change"])
        if len(d["entropy_change_per_seed"]) > 1:
            change += " (" + " / ".join(_signed(x) for x in d["entropy_change_per_seed"]) + ")"
        mark = ROLLOUT_MARK if marked and d["entropy_source"] == "rollout" else ""
        body.append([d["label"], str(len(d["seeds"])) if d["seeds"] else "-",
                     "-" if d["steps"] is None else str(d["steps"]), mark + _fixed(d["entropy_start"]),
                     mark + _fixed(d["entropy_end"]), mark + change, _pct(d["accuracy_first"]), _pct(d["accuracy_last"])] +
                    [_pct(d[k], 2) for k in RUN_MEANS] + [_pct(d["eval_accuracy_final"])] +
                    ["-" if d[k] is None else f"{d[k]:.0f}" for k in BUDGET] +
                    [_fixed(d.get(STEP_KEY), 1), _step_shares(d)])
    return headers, body


def _step_shares(d: dict) -> str:
    """The three phases that took the most of a mean step, as shares of its wall time ("update 52% rollout 31%
    eval 9%"); "-" without timers."""
    step = d.get(STEP_KEY)
    if not step:
        return "-"
    shares = sorted(((d.get(k) or 0.0) / step, k) for k in phase_keys())[::-1][:3]
    return " ".join(f"{k[len('time/'):-len('_s')]} {100 * v:.0f}%" for v, k in shares if v > 0) or "-"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("{", r"\{"), ("}", r"\}"), ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}")):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("†", r"\textdagger{}")


# ----------------------------------------------------------------------------------------------------------------
# csv: full-precision fractions


def _num(x: float | str | None) -> str:
    return "" if x is None else x if isinstance(x, str) else f"{x:.6g}"


def _csv(header: list[str], lines: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(lines)
    return buf.getvalue()


def _identity_csv(r: dict[str, Any]) -> list[str]:
    return [r["label"], r["run"], r["algo"] or "", json.dumps(r["overrides"]) if r["overrides"] else "",
            " ".join(str(s) for s in r["seeds"])]


def _scores_csv(rows: list[Row]) -> str:
    benches = benches_of(rows)
    header = list(IDENTITY_CSV)
    for b in benches:
        header += [b, f"{b}_ci_low", f"{b}_ci_high", f"{b}_k"]
    header += ["average", "delta_vs_base", "final_entropy", "wall_time_s"]
    lines = []
    for r in rows:
        line = _identity_csv(r.identity())
        for b in benches:
            c = r.benches.get(b)
            line += ([_num(c.score), _num(c.lo), _num(c.hi), c.k] if c else ["", "", "", ""])
        line += [_num(r.average), _num(r.delta_vs_base), _num(r.final_entropy), _num(r.wall_time_s)]
        lines.append(line)
    return _csv(header, lines)


DELTA_CSV_FIELDS = ("score", "per_seed", "delta", "lo", "hi", "p_value", "p_sign", "p_t", "p_holm", "verdict",
                    "excludes_zero", "problems")


def _delta_csv_cells(c: dict[str, Any] | None) -> list[Any]:
    if c is None:
        return [""] * len(DELTA_CSV_FIELDS)
    return [_num(c["score"]), " ".join(_num(s) for s in c["per_seed"]), _num(c["delta"]), _num(c["lo"]),
            _num(c["hi"]), _num(c["p_value"]), _num(c["p_sign"]), _num(c["p_t"]), _num(c["p_holm"]),
            c["verdict"] or "", "" if c["excludes_zero"] is None else str(c["excludes_zero"]).lower(),
            "" if c["problems"] is None else c["problems"]]


def _delta_csv(rows: list[Row]) -> str:
    benches = benches_of(rows)
    header = IDENTITY_CSV + [f"{b}_{f}" for b in benches for f in DELTA_CSV_FIELDS]
    lines = [_identity_csv(d) + [x for b in benches for x in _delta_csv_cells(d["benches"].get(b))]
             for d in delta_rows(rows)]
    return _csv(header, lines)


def _dynamics_csv(rows: list[Row]) -> str:
    keys = list(DYNAMICS_KEYS)
    header = IDENTITY_CSV + [k.replace("/", "_") for k in keys] + ["entropy_change_per_seed"]
    lines = [_identity_csv(d) + [_num(d[k]) for k in keys] +
             [" ".join(_num(x) for x in d["entropy_change_per_seed"])] for d in dynamics_rows(rows)]
    return _csv(header, lines)


def _verdicts_csv(rows: list[Row]) -> str:
    return _csv(verdicts.CSV_HEADER, verdicts.csv_lines(analysis(rows)))


# ----------------------------------------------------------------------------------------------------------------
# one entry point

Table = tuple[list[str], list[list[str]]]
Part = tuple  # ("heading" | "note", text) or ("table", headers, body)


def verdict_parts(rows: list[Row]) -> list[Part]:
    """Headings, tables and the notes under them, of the verdicts view."""
    a = analysis(rows)
    head = verdicts.headings(a)
    parts: list[Part] = [("heading", head["scores"]), ("table", *verdicts.scores_table(a, _ks(rows, a["benches"])))]
    if a["vs_base"]:
        parts += [("heading", head["vs_base"]),
                  ("table", *verdicts.comparison_table(a["vs_base"], a["benches"], pairwise=False))]
    if a["pairwise"] and a["max_seeds"] >= 2:
        parts += [("heading", head["pairwise"]),
                  ("table", *verdicts.comparison_table(a["pairwise"], a["benches"], pairwise=True))]
    return parts + [("note", n) for n in verdicts.notes(a)]


def _one(table_of: Callable[[list[Row]], Table]) -> Callable[[list[Row]], list[Part]]:
    """The parts of a one-table view: the table, and under it the mixed-checker note when there is one (the verdicts
    view has it among its notes)."""
    def parts(rows: list[Row]) -> list[Part]:
        note = verdicts.checker_note(rows)
        return [("table", *table_of(rows))] + ([("note", note)] if note else [])
    return parts


VIEW_FUNCTIONS: dict[str, tuple[Callable[[list[Row]], Any], Callable[[list[Row]], str],
                                Callable[[list[Row]], list[Part]]]] = {  # view: (json data, csv text, human parts)
    "verdicts": (verdict_record, _verdicts_csv, verdict_parts),
    "scores": (scores_rows, _scores_csv, _one(table)),
    "delta": (delta_rows, _delta_csv, _one(delta_table)),
    "dynamics": (dynamics_rows, _dynamics_csv, _one(dynamics_table)),
}


def _render_table(headers: list[str], body: list[list[str]], fmt: str) -> str:
    from tabulate import tabulate

    if fmt == "md":   # a '|' in a label or benchmark name would otherwise start a new column
        headers = [str(h).replace("|", "\\|") for h in headers]
        body = [[str(c).replace("|", "\\|") for c in row] for row in body]
    if fmt in ("md", "html"):
        return tabulate(body, headers=headers, tablefmt="github" if fmt == "md" else "html",
                        disable_numparse=True) + "\n"
    headers = [_latex_escape(h) for h in headers]
    body = [[_latex_escape(c) for c in row] for row in body]
    return tabulate(body, headers=headers, tablefmt="latex_raw", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(headers) - 1)) + "\n"


def _render_text(kind: str, text: str, fmt: str) -> str:
    """A heading or a note: bold / plain paragraph in md and html, \\paragraph / plain text in latex."""
    if fmt == "md":
        return f"**{text}**\n" if kind == "heading" else f"{text}\n"
    if fmt == "html":
        import html
        return f"<p><b>{html.escape(text)}</b></p>\n" if kind == "heading" else f"<p>{html.escape(text)}</p>\n"
    return f"\\paragraph{{{_latex_escape(text)}}}\n" if kind == "heading" else f"{_latex_escape(text)}\n"


def render(rows: list[Row], fmt: str, view: str = DEFAULT_VIEW) -> str:
    """The leaderboard in one of FORMATS, as one of VIEWS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if view not in VIEWS:
        raise ValueError(f"unknown leaderboard view {view!r}; valid views: {', '.join(VIEWS)}")
    data_of, csv_of, parts_of = VIEW_FUNCTIONS[view]
    if fmt == "json":
        return json.dumps(data_of(rows), indent=2) + "\n"
    if fmt == "csv":
        return csv_of(rows)
    return "\n".join(_render_table(p[1], p[2], fmt) if p[0] == "table" else _render_text(p[0], p[1], fmt)
                     for p in parts_of(rows))


def write_all(rows: list[Row], out_dir: str | Path, stem: str = "leaderboard") -> list[Path]:
    """Write every view in every format atomically into `out_dir`: leaderboard.{md,csv,json,tex,html} (scores),
    leaderboard-verdicts.*, leaderboard-delta.* and leaderboard-dynamics.*; returns the paths."""
    from harness.io import write_text

    paths = []
    for view in VIEWS:
        name = stem if view == "scores" else f"{stem}-{view}"
        for fmt in FORMATS:
            paths.append(write_text(Path(out_dir) / f"{name}.{EXTENSIONS[fmt]}", render(rows, fmt, view)))
    return paths
