"""The frozen comparison workload (harness/presets/bench-compare.yaml) timed side by side with an older commit.

    python -m tools.perf.bench_compare [--baseline d59bddb] [--current HEAD] [--rounds 2] \
        [--out results/perf/bench-compare.json]

Both commits are checked out with ``git worktree add`` at temporary paths (so the working tree can change while the
measurement runs) and run with the same Python and virtual environment, ``PYTHONPATH`` pointing at each. The
baseline runs its own copy of the preset the workload was frozen from (``--baseline-preset``, default
``harness/presets/cpu-demo.yaml``: the commit has no bench-compare preset); the current commit runs
``harness/presets/bench-compare.yaml``. Each round runs both, one after the other, in alternating
order (round 1: baseline first, round 2: current first, ...), each ``rlvr-zoo compare`` in its own process with its
own output folder; the wall time of the whole command, its peak RSS (``ru_maxrss`` of that child) and the load
average before and after are recorded, with the machine (``lscpu``'s model name) and the date. The ratio is the
median wall time of the current tree over the baseline's. The current runs' ``timing.json`` (where the time went,
harness.timing) is kept in the result, and both sides' leaderboard scores, so that the two can be checked to do the
same work.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lscpu_model() -> str:
    """``lscpu``'s model name (the CPU the figures were measured on)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown"


def run_compare(tree: Path, preset: Path, out: Path, env: dict, log: Path) -> dict:
    """One ``rlvr-zoo compare`` of ``preset`` with the code of ``tree``: wall time, peak RSS, exit status, load."""
    cmd = [sys.executable, "-m", "harness.cli", "compare", "--preset", str(preset), "--out", str(out),
           "--no-progress"]
    load_before = os.getloadavg()
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=tree, env={**env, "PYTHONPATH": str(tree)}, stdout=fh,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    rec = {"tree": str(tree), "preset": str(preset), "command": " ".join(cmd), "wall_s": wall,
           "exit_status": os.waitstatus_to_exitcode(status), "peak_rss_mb": usage.ru_maxrss / 1024,
           "load_before": load_before, "load_after": os.getloadavg(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - wall))}
    board = out / "leaderboard.json"
    if board.is_file():
        rows = json.loads(board.read_text())
        rec["scores"] = {r["label"]: r.get("average") for r in rows} if isinstance(rows, list) else None
    timing = out / "timing.json"
    if timing.is_file():
        rec["timing"] = json.loads(timing.read_text())
    if rec["exit_status"] != 0:
        rec["log_tail"] = log.read_text()[-3000:]
    return rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default="d59bddb", help="the commit to compare against")
    p.add_argument("--current", default="HEAD", help="the commit to measure")
    p.add_argument("--baseline-preset", default="harness/presets/cpu-demo.yaml",
                   help="the preset file of the baseline commit that holds the same work")
    p.add_argument("--preset", default="harness/presets/bench-compare.yaml", help="the current tree's preset")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="JSON result (default: print only)")
    p.add_argument("--keep", type=Path, default=None, help="keep the comparison folders here (default: deleted)")
    p.add_argument("--baseline-passive", action="store_true",
                   help="also run the baseline with OMP_WAIT_POLICY=PASSIVE in its environment each round (side "
                        "'baseline+passive'), to tell that setting's share of the ratio from the rest")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    trees, commits = {"baseline": work / "baseline", "current": work / "current"}, {}
    for side, rev in (("baseline", args.baseline), ("current", args.current)):
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(trees[side]), rev],
                       check=True, capture_output=True)
        commits[side] = subprocess.run(["git", "-C", str(trees[side]), "rev-parse", "HEAD"], capture_output=True,
                                       text=True, check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_WAIT_POLICY")}
    sides = {"baseline": (trees["baseline"], trees["baseline"] / args.baseline_preset, env),
             "current": (trees["current"], trees["current"] / args.preset, env)}
    if args.baseline_passive:
        sides["baseline+passive"] = (trees["baseline"], trees["baseline"] / args.baseline_preset,
                                     {**env, "OMP_WAIT_POLICY": "PASSIVE"})
    runs: dict[str, list] = {side: [] for side in sides}
    try:
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for side in order:
                tree, preset, side_env = sides[side]
                out = work / f"{side}-{r}"
                rec = run_compare(tree, preset, out, side_env, work / f"{side}-{r}.log")
                rec["round"] = r
                runs[side].append(rec)
                print(f"round {r} {side}: {rec['wall_s']:.0f} s, peak RSS {rec['peak_rss_mb']:.0f} MB, exit "
                      f"{rec['exit_status']}, load {rec['load_before'][0]:.2f} -> {rec['load_after'][0]:.2f}",
                      flush=True)
                if args.keep is not None:
                    shutil.copytree(out, args.keep / out.name, dirs_exist_ok=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    ok = {s: [x["wall_s"] for x in v if x["exit_status"] == 0] for s, v in runs.items()}
    med = {s: statistics.median(v) if v else None for s, v in ok.items()}
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": lscpu_model(),
              "cpus": os.cpu_count(), "baseline_commit": commits["baseline"], "current_commit": commits["current"],
              "command": "python -m tools.perf.bench_compare " + " ".join(sys.argv[1:] if argv is None else argv),
              "median_wall_s": med,
              "ratio": med["current"] / med["baseline"] if med["current"] and med["baseline"] else None,
              "runs": runs}
    if med.get("baseline+passive") and med["current"]:
        result["ratio_vs_baseline_passive"] = med["current"] / med["baseline+passive"]
    print(json.dumps({k: result[k] for k in ("date", "machine", "median_wall_s", "ratio")}, indent=1))
    if args.out is not None:
        from harness.io import write_json

        write_json(args.out, result)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
