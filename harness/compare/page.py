"""A comparison's page: ``index.html`` in the comparison folder, one self-contained file.

It holds the verdicts (per-seed scores with hierarchical intervals, each objective against the base model and, with
two or more seeds, every pair of objectives, Holm-corrected, and the notes with the minimum detectable difference),
the scores table, the delta table, the training-dynamics table and the training curves, built from the leaderboard's
public functions (``collect``, ``verdict_parts``, ``table``, ``delta_table``, ``dynamics_table``, ``metrics_files``)
and ``harness.leaderboard.curves.plot``. Nothing is fetched: the style and
the sorting script are inline and the curves are a PNG embedded as a data URI, so the file opens from disk anywhere
and can be mailed or attached. Clicking a column header sorts a table by it (numbers by value, ``-`` last; again
reverses the order).
"""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from harness import leaderboard
from harness.io import write_text

__all__ = ["PAGE_FILE", "render", "write"]

PAGE_FILE = "index.html"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
p.note { color: #555; max-width: 60em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tr.base td { background: #fafaf0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
"""

# Sorts a table by the clicked column: cells that start with a number sort by it, "-" and empty cells last.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var text = row.cells[col].textContent.trim().replace("\\u2212", "-");
        var num = parseFloat(text);
        return isNaN(num) ? (text === "-" || text === "" ? null : text) : num;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null) return y === null ? 0 : 1;
        if (y === null) return -1;
        var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _table(table_id: str, headers: list[str], body: list[list[str]], base_rows: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    lines = []
    for i, cells in enumerate(body):
        cls = ' class="base"' if i in base_rows else ""
        lines.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return (f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table>')


VERDICT_TABLE_IDS = ("verdict-scores", "verdict-vs-base", "verdict-pairwise")


def _verdict_html(rows: list) -> list[str]:
    """The verdicts view (what the comparison supports) as headings, sortable tables and the notes under them."""
    out, ids = [], iter(VERDICT_TABLE_IDS)
    for part in leaderboard.verdict_parts(rows):
        if part[0] == "heading":
            out.append(f"<h3>{html.escape(part[1])}</h3>")
        elif part[0] == "table":
            out.append(_table(next(ids), part[1], part[2], set()))
        else:
            out.append(f'<p class="note verdict-note">{html.escape(part[1])}</p>')
    return out


def _curves_png(compare_dir: Path, rows: list) -> bytes | None:
    """compare's curves.png when it is there, else the same figure drawn now."""
    existing = compare_dir / "curves.png"
    if existing.is_file():
        return existing.read_bytes()
    runs = leaderboard.metrics_files(rows)
    if not any(runs.values()):
        return None
    from harness.leaderboard import curves

    with tempfile.TemporaryDirectory() as tmp:
        return curves.plot(runs, Path(tmp) / "curves.png").read_bytes()


def render(rows: list, title: str, curves_png: bytes | None) -> str:
    """The page's HTML for leaderboard ``rows`` (base row first when there is one)."""
    base = {i for i, r in enumerate(rows) if r.is_base}
    trained = [r for r in rows if not r.is_base]
    sections = [
        ("scores", "Scores",
         "avg@k in percent with the half-width of its 95% interval (hierarchical bootstrap: seeds, then problems); "
         "Δ base in points.",
         leaderboard.table(rows), base),
        ("delta", "Difference to the base model",
         "Per benchmark: the score, each seed's score, the difference to the base model with its paired hierarchical "
         "95% interval, the Holm-adjusted p-value and the verdict.", leaderboard.delta_table(rows), base),
        ("dynamics", "Training dynamics",
         "From each run's metrics.jsonl, averaged over seeds: entropy at the start and end, training accuracy, the "
         "share of the gradient and of the tokens in the two clipped regions, the last held-out accuracy.",
         leaderboard.dynamics_table(trained), set()),
    ]
    parts = [f"<h1>{html.escape(title)}</h1>",
             '<p class="note">Click a column header to sort by it.</p>', "<h2>Verdicts</h2>"]
    parts += _verdict_html(rows)
    for table_id, heading, note, (headers, body), base_rows in sections:
        parts += [f"<h2>{heading}</h2>", f'<p class="note">{html.escape(note)}</p>',
                  _table(table_id, headers, body, base_rows)]
    parts.append("<h2>Training curves</h2>")
    if curves_png is not None:
        data = base64.b64encode(curves_png).decode("ascii")
        parts.append(f'<figure id="curves"><img alt="training curves: reward, held-out accuracy, entropy, clip '
                     f'fractions and response length against step" src="data:image/png;base64,{data}"></figure>')
    else:
        parts.append('<p class="note">No run has logged a training step yet.</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + f"<script>{_SCRIPT}</script></body></html>\n")


def write(compare_dir: str | Path, rows: list | None = None) -> Path:
    """Write ``compare_dir/index.html`` (atomically) from the folder's runs (or the given leaderboard rows)."""
    compare_dir = Path(compare_dir)
    rows = leaderboard.collect(compare_dir) if rows is None else rows
    path = compare_dir / PAGE_FILE
    write_text(path, render(rows, f"rlvr-zoo comparison: {compare_dir.resolve().name}", _curves_png(compare_dir, rows)))
    return path
