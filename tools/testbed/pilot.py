"""The testbed pilot: power against CPU time for a grid of comparison settings.

Each setting of a grid file is one `rlvr-zoo compare` (the same objectives and seeds, settings changed with `--set`)
run in its own process into ``OUT/<setting>/``; its wall time, the machine and its load go to
``OUT/<setting>/pilot.json``. A finished setting is skipped when the command is run again, so a pilot survives an
interruption. Then every finished setting is summarised from its own leaderboard files (``leaderboard-verdicts.json``,
the statistics of `rlvr-zoo leaderboard`) and its runs' metrics:

* **gain**: each objective's held-out score minus its starting model's (points), with the Holm-corrected verdict;
* **seed SD**: the seed-to-seed standard deviation of one objective (points);
* **MDD**: the minimum detectable difference between two objectives at the run's seeds and problems (80% power,
  two-sided alpha 0.05; `harness.leaderboard.stats.minimum_detectable_difference`);
* **zero-adv**: the share of prompt groups whose responses all got the same reward (no gradient);
* **minutes**: wall time of the whole comparison (base evaluation, every run, every evaluation).

and written as ``OUT/table.md``, ``table.csv``, ``table.json`` and the frontier plot ``OUT/frontier.png`` (MDD
against minutes).

    python -m tools.testbed.pilot results/testbed-pilot/grid.yaml --out results/testbed-pilot
    python -m tools.testbed.pilot results/testbed-pilot/grid.yaml --out results/testbed-pilot --only qa-t07
    python -m tools.testbed.pilot results/testbed-pilot/grid.yaml --out results/testbed-pilot --summarize

Grid file (YAML, read with the project's limited loader):

    preset: harness/presets/cpu-demo.yaml   # the settings every row starts from (a preset name or file)
    algos: [grpo, ce-gppo]
    seeds: [0, 1, 2]
    settings:
      qa-t07:
        about: "qa template, T 0.7"          # one line for the table
        set: {train.template: qa, train.temperature: 0.7, eval.template: qa}
      today:
        about: "the demo before the pilot"
        preset: bench-compare               # a setting may name its own preset
        reference: results/cpu-demo-reference/rerun-1   # or summarise a comparison that already exists
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.io import write_file, write_json, write_text
from harness.presets import load_yaml
from harness.run_layout import read_metrics

REPO = Path(__file__).resolve().parents[2]
PILOT_FILE = "pilot.json"
GRID_KEYS = ("preset", "algos", "seeds", "settings")
SETTING_KEYS = ("about", "set", "preset", "algos", "seeds", "reference")


class GridError(ValueError):
    """A grid file that cannot be run (one line)."""


def read_grid(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    grid = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(grid, dict) or not isinstance(grid.get("settings"), dict) or not grid["settings"]:
        raise GridError(f"{path}: a grid needs a `settings:` mapping of setting name -> {{about, set, ...}}")
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise GridError(f"{path}: unknown key(s) {unknown}; valid: {list(GRID_KEYS)}")
    for name, setting in grid["settings"].items():
        if not isinstance(setting, dict):
            raise GridError(f"{path}: setting {name!r} must be a mapping (about, set, preset, algos, seeds, reference)")
        bad = sorted(set(setting) - set(SETTING_KEYS))
        if bad:
            raise GridError(f"{path}: setting {name!r} has unknown key(s) {bad}; valid: {list(SETTING_KEYS)}")
    return grid


def command(grid: dict[str, Any], name: str, out: Path) -> list[str]:
    """The `rlvr-zoo compare` command line of one setting."""
    setting = grid["settings"][name]
    preset = setting.get("preset") or grid.get("preset")
    if not preset:
        raise GridError(f"setting {name!r}: no preset (give `preset:` in the grid or the setting)")
    algos = setting.get("algos") or grid.get("algos")
    seeds = setting.get("seeds") or grid.get("seeds")
    cmd = [sys.executable, "-m", "harness.cli", "compare", "--preset", str(preset), "--out", str(out / name),
           "--no-progress"]
    if algos:
        cmd += ["--algos", ",".join(map(str, algos))]
    if seeds:
        cmd += ["--seeds", ",".join(map(str, seeds))]
    for key, value in (setting.get("set") or {}).items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        cmd += ["--set", f"{key}={text}"]
    return cmd


def machine() -> dict[str, Any]:
    """The processor model (lscpu), core count and the load average."""
    model = platform.processor() or ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "load_avg": list(os.getloadavg())}


def run_setting(grid: dict[str, Any], name: str, out: Path, threads: int | None) -> dict[str, Any]:
    """Run one setting's comparison (resumed if it was interrupted) and record its wall time."""
    cmd = command(grid, name, out)
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    record = {"setting": name, "about": grid["settings"][name].get("about", ""), "command": cmd[1:],
              "threads": threads, "machine_start": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"pilot: setting {name!r} stopped (exit {proc.returncode}); run the same command again to "
                         f"resume it")
    record.update(minutes=(time.perf_counter() - start) / 60, machine_end=machine(),
                  finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    write_json(out / name / PILOT_FILE, record)
    return record


def _zero_adv_share(comparison: Path) -> float | None:
    """Share of prompt groups with no reward variation over every run's steps (from the last metrics record)."""
    zero = groups = 0.0
    for metrics in sorted(comparison.glob("runs/*/seed-*/metrics.jsonl")):
        records = [r for r in read_metrics(metrics) if "budget/zero_adv_groups" in r]
        if records:
            zero += records[-1]["budget/zero_adv_groups"]
            groups += records[-1].get("budget/prompts", 0)
    return zero / groups if groups else None


def projected_mdd(comparison: Path, bench: str) -> tuple[float, float, int, int] | None:
    """For a setting with one objective: the minimum detectable difference two such arms would have, projected from
    that objective's own seeds x problems table (points), with its seed-to-seed SD, seeds and problems (the first
    objective, by name, with two or more finished seeds).

    Two arms whose seeds vary independently, on the same problems, differ by twice each variance component that
    varies with the seed (``seed`` and ``resid``); the problem component cancels in the paired difference. Measured
    against the real two-objective figure of the old demo's reruns (the projection from CE-GPPO's seeds): 29.5
    against 29.8, 15.4 against 15.8, and 42.1 against 6.9 in rerun 3, where the two objectives' seeds moved together
    (a comparison pairs arms by seed: the same prompts in the same order). So it is an estimate, not a bound. None with fewer than two finished seeds."""
    from harness.leaderboard.stats import VarianceComponents, minimum_detectable_difference, variance_components

    rows = []
    for arm in sorted(p for p in (comparison / "runs").glob("*") if p.is_dir()):
        rows = []
        for summary in sorted(arm.glob("seed-*/eval/summary.json")):
            per_problem = json.loads(summary.read_text(encoding="utf-8"))["benches"].get(bench, {}).get("per_problem")
            if per_problem:
                rows.append(per_problem)
        if len(rows) >= 2:
            break
    if len(rows) < 2 or len({len(r) for r in rows}) != 1:
        return None
    c = variance_components(rows)
    pair = VarianceComponents(seed=2 * c.seed, problem=0.0, resid=2 * c.resid, n_seeds=c.n_seeds,
                              n_problems=c.n_problems)
    means = [sum(r) / len(r) for r in rows]
    mean = sum(means) / len(means)
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1))
    return 100 * minimum_detectable_difference(pair), 100 * sd, c.n_seeds, c.n_problems


def summarize_setting(name: str, comparison: Path, about: str = "", minutes: float | None = None) -> dict[str, Any]:
    """The pilot's figures of one finished comparison (see the module docstring)."""
    verdicts = json.loads((comparison / "leaderboard-verdicts.json").read_text(encoding="utf-8"))
    bench = verdicts["benches"][0]
    gains = {e["a"]: {"gain": 100 * e["diff"]["diff"], "low": 100 * e["diff"]["low"], "high": 100 * e["diff"]["high"],
                      "verdict": e["verdict"], "p_holm": e["p_holm"]}
             for e in verdicts["vs_base"] if e["bench"] == bench}
    base = next((s for s in verdicts["scores"] if s.get("is_base")), None)
    mdd = (verdicts.get("mdd") or {}).get(bench) or {}
    pilot = comparison / PILOT_FILE
    if minutes is None and pilot.is_file():
        minutes = json.loads(pilot.read_text(encoding="utf-8")).get("minutes")
    if minutes is None:   # a comparison run without the pilot: its evaluations' and runs' own wall times
        walls = [json.loads(p.read_text(encoding="utf-8")).get("wall_time_s") or 0.0
                 for p in [comparison / "base" / "eval" / "summary.json", *comparison.glob("runs/*/seed-*/DONE")]
                 if p.is_file()]
        minutes = sum(walls) / 60 if walls else None
    seeds = max((s["benches"][bench].get("seeds") or 1 for s in verdicts["scores"] if not s.get("is_base")), default=0)
    seed_sd = 100 * mdd["seed_sd"] if mdd.get("seed_sd") is not None else None
    mdd_points = 100 * mdd["mdd"] if mdd.get("mdd") is not None else None
    projected = projected_mdd(comparison, bench) if mdd_points is None else None
    if projected is not None:
        mdd_points, seed_sd = projected[0], projected[1]
    return {"setting": name, "about": about, "bench": bench, "seeds": seeds,
            "problems": mdd.get("problems") or (base["benches"][bench].get("problems") if base else None),
            "base": 100 * base["benches"][bench]["score"] if base else None, "gains": gains,
            "all_beat_base": bool(gains) and all(g["verdict"].endswith("> base") for g in gains.values()),
            "seed_sd": seed_sd, "mdd": mdd_points, "mdd_projected": projected is not None,
            "pairwise": [f"{e['a']} vs {e['b']}: {e['verdict']}" for e in verdicts.get("pairwise", [])
                         if e["bench"] == bench],
            "zero_adv_share": _zero_adv_share(comparison), "minutes": minutes}


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def table_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| setting | what | seeds x problems | base | gain per objective (Holm verdict) | seed SD | MDD | "
             "zero-adv | minutes |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gains = "; ".join(f"{a} {g['gain']:+.1f} [{g['low']:+.1f}, {g['high']:+.1f}] ({g['verdict']})"
                          for a, g in r["gains"].items())
        lines.append(f"| {r['setting']} | {r['about']} | {r['seeds']} x {r['problems']} | {_fmt(r['base'])} | {gains} | "
                     f"{_fmt(r['seed_sd'])} | {_fmt(r['mdd'])}{'*' if r.get('mdd_projected') else ''} | "
                     f"{_fmt(None if r['zero_adv_share'] is None else 100 * r['zero_adv_share'], 0)}% | "
                     f"{_fmt(r['minutes'])} |")
    if any(r.get("mdd_projected") for r in rows):
        lines.append("")
        lines.append("\\* one objective only: the MDD two such arms would have, projected from its seeds x problems "
                     "table (twice its seed and residual variance, as if the arms' seeds varied independently; an "
                     "estimate: arms paired by seed can do better).")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["setting", "about", "seeds", "problems", "base", "objective", "gain", "low", "high", "verdict",
                "seed_sd", "mdd", "mdd_projected", "zero_adv_share", "minutes"])
    for r in rows:
        for a, g in r["gains"].items():
            w.writerow([r["setting"], r["about"], r["seeds"], r["problems"], r["base"], a, g["gain"], g["low"],
                        g["high"], g["verdict"], r["seed_sd"], r["mdd"], r.get("mdd_projected", False),
                        r["zero_adv_share"], r["minutes"]])
    return buf.getvalue()


def plot_frontier(rows: list[dict[str, Any]], path: Path) -> None:
    """MDD (points) against minutes, one labelled point per setting; filled where every objective beat its start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r["mdd"] is not None and r["minutes"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in pts:
        ax.scatter(r["minutes"], r["mdd"], s=60, facecolors="C0" if r["all_beat_base"] else "none",
                   edgecolors="C0")
        ax.annotate(r["setting"], (r["minutes"], r["mdd"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axhline(10, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("minutes for the whole comparison (this machine)")
    ax.set_ylabel("minimum detectable difference (points)")
    ax.set_title("testbed pilot: power against CPU time (filled: every objective > its start)", fontsize=9)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    write_file(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def summarize(grid: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    rows = []
    for name, setting in grid["settings"].items():
        comparison = Path(setting["reference"]) if setting.get("reference") else out / name
        if not (comparison / "leaderboard-verdicts.json").is_file():
            continue
        rows.append(summarize_setting(name, comparison, setting.get("about", "")))
    write_text(out / "table.md", table_markdown(rows))
    write_text(out / "table.csv", table_csv(rows))
    write_json(out / "table.json", rows)
    if rows:
        plot_frontier(rows, out / "frontier.png")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", help="the grid file (YAML)")
    parser.add_argument("--out", required=True, help="where each setting's comparison and the tables go")
    parser.add_argument("--only", help="comma-separated setting names to run (default: every setting)")
    parser.add_argument("--threads", type=int, default=None, help="OMP/MKL threads per comparison (default: torch's)")
    parser.add_argument("--summarize", action="store_true", help="only write the tables of finished settings")
    args = parser.parse_args(argv)
    try:
        grid = read_grid(args.grid)
    except (GridError, ValueError, OSError) as exc:
        print(f"pilot: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    out = Path(args.out)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(grid["settings"])
    unknown = [n for n in names if n not in grid["settings"]]
    if unknown:
        print(f"pilot: error: unknown setting(s) {unknown}; the grid has {list(grid['settings'])}", file=sys.stderr)
        return 2
    if not args.summarize:
        for name in names:
            setting = grid["settings"][name]
            if setting.get("reference") or (out / name / PILOT_FILE).is_file():
                print(f"[pilot] {name}: finished earlier, skipped")
                continue
            print(f"[pilot] {name}: {' '.join(command(grid, name, out)[1:])}", flush=True)
            record = run_setting(grid, name, out, args.threads)
            print(f"[pilot] {name}: {record['minutes']:.1f} min", flush=True)
    rows = summarize(grid, out)
    print(table_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
