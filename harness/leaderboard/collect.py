"""Read comparison and evaluation directories into `Row`s: one per algorithm or variant, seeds pooled.

A comparison directory (layout in `harness.run_layout`) holds `base/eval/summary.json` for the initial model and,
per finished run, `runs/<slug>/seed-<s>/` with a `DONE` marker, `metrics.jsonl` and `eval/summary.json`. A directory
written by `rlvr-zoo eval --out` (a bare `summary.json`) also counts: it becomes one row.

Scores are fractions (avg@k): the mean over seeds of each seed's score. The 95% interval is the hierarchical
bootstrap (`stats.hierarchical_bootstrap`: seeds, then problems; with one seed, problems only). `delta_vs_base` is
the row's average minus the average of the base model of the same directory. Each row keeps its seeds x problems
tables (`Row.tables`) for the verdicts view, and the answer-checker fingerprint each summary records
(`Row.checkers`) for the note on tables that mix checkers.

Damaged or partial run files are never used silently. Run files are read as data: a `summary.json` or `DONE`
that is not valid JSON (a cut write, a bad copy), not a regular file, larger than `harness.io.MAX_READ_BYTES`, or
holds a field of the wrong type or out of its range (a text where a score, a seed or a wall time belongs; a NaN; a
negative count) is an error naming the file and the field. With a warning (`PartialRunWarning`) naming each file:
a benchmark whose `per_problem` list does not hold one value per problem is left out of that row (shown as "-"); a
finished run without `eval/summary.json` shows "-"; a `metrics.jsonl` that is missing, has lines that are not
records (`run_layout.scan_metrics`), or ends before the step its `run.json` records is reported (its readable
records are used); a `config.yaml` that cannot be read only loses the row order.

Evidence is counted once (`DuplicateRunWarning`, one line per duplicate): a run folder that repeats the label and
seed of another (``cp -r runs/grpo runs/grpo-backup``) and a run whose `eval/summary.json` is byte for byte another
run's are left out, keeping the folder `compare` named for that label and seed (else the first by path). The same
directory given twice to `merge` is read once; a byte-identical evaluation in two directories is named in a warning
(their rows are never pooled).
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import metric_keys as mk
from harness import run_layout
from harness.io import read_text
from harness.leaderboard.result_files import (DuplicateRunWarning, check_metrics, checker_of,
                                              complete_summary, digest_of, read_done, readable_or_missing, warn)
from harness.timing import STEP_KEY, phase_keys


BOOTSTRAP_SAMPLES = 10_000   # every interval and verdict: the hierarchical bootstrap, numpy seed 0
ENTROPY_STEPS = 3     # rollout entropy at the start / end: mean of the first / last 3 logged steps
PROBE_KEY = mk.ENTROPY_PROBE
"""entropy on the run's fixed probe tokens (harness.training.probe): the dynamics view's start is its first logged
value (step 0, the initial model), its end the last; rows whose seeds did not all log it use rollout `entropy`"""
ACCURACY_STEPS = 5    # training accuracy: mean of the first / last 5 logged steps
RUN_MEANS = tuple(mk.key(family, region=r) for family in (mk.GRADSHARE, mk.CLIPFRAC)  # means over a run
                  for r in ("low_neg", "high_pos"))
BUDGET = tuple(mk.key(mk.BUDGET, counter=c) for c in ("prompts", "responses", "tokens", "zero_adv_groups", "updates"))
"""the trainer's cumulative budget counters: the dynamics view shows each run's last value (mean over seeds)"""
TIME_KEYS = (STEP_KEY, *phase_keys())
"""the step's wall time and its phases (harness.timing): the dynamics view shows each run's mean per step"""
DYNAMICS_KEYS = ("steps", "entropy_source", "entropy_start", "entropy_end", "entropy_change", "accuracy_first", "accuracy_last",
                 *RUN_MEANS, "eval_accuracy_final", *BUDGET, *TIME_KEYS)


@dataclass
class Cell:
    """The pooled score of one row on one benchmark (fractions)."""
    score: float
    lo: float | None            # 95% interval of `score`
    hi: float | None
    k: int                      # responses per problem
    problems: int
    pass_at_k: float | None     # mean over seeds
    maj_at_k: float | None      # mean over seeds
    gold_unparsable: int        # most over seeds
    seeds: int                  # seeds with per-problem results

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "lo": self.lo, "hi": self.hi, "k": self.k, "problems": self.problems,
                f"pass@{self.k}": self.pass_at_k, f"maj@{self.k}": self.maj_at_k,
                "gold_unparsable": self.gold_unparsable, "seeds": self.seeds}


@dataclass
class Row:
    """One leaderboard row: an algorithm or variant of one directory (seeds pooled), or its base model."""
    label: str
    run: str                                    # name of the directory the row comes from
    benches: dict[str, Cell | None]             # None: no result for that benchmark
    algo: str | None = None                     # registry name (None for the base model or an eval directory)
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    is_base: bool = False
    is_reference: bool = False                  # a base-type row shown beside the base, never compared (the
    #                                             untouched model of a comparison that starts from a warm start)
    average: float | None = None                # mean over benchmarks, when every benchmark has a score
    delta_vs_base: float | None = None
    final_entropy: float | None = None          # last logged entropy, mean over seeds
    wall_time_s: float | None = None            # per seed, mean over seeds
    # the data of the delta and dynamics views; not columns of the scores table
    per_problem: dict[str, list[float] | None] = field(default_factory=dict, repr=False)
    """per benchmark: per-problem fractions averaged over seeds; None when the seeds saw different problem counts"""
    per_seed: dict[str, list[float]] = field(default_factory=dict, repr=False)
    """per benchmark: each seed's score"""
    base_per_problem: dict[str, list[float] | None] | None = field(default=None, repr=False)
    """`per_problem` of the base row of the same directory (None: the directory has no base model)"""
    metrics: list[Path] = field(default_factory=list, repr=False)
    """metrics.jsonl of each seed"""
    dynamics: dict[str, Any] | None = field(default=None, repr=False)
    """training-dynamics figures pooled over seeds (keys DYNAMICS_KEYS and entropy_change_per_seed)"""
    tables: dict[str, list[list[float]]] = field(default_factory=dict, repr=False)
    """per benchmark: one list of per-problem fractions per seed (the seeds x problems table)"""
    table_seeds: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    """per benchmark: the seed number of each line of `tables` (pairs rows by seed)"""
    checkers: list[str | None] = field(default_factory=list, repr=False)
    """the answer checker's fingerprint (`rewards.checker_fingerprint`) of each summary the row pools, None for a
    summary written before summaries recorded it"""
    evaluations: dict[str, Path] = field(default_factory=dict, repr=False)
    """SHA-256 of each summary.json the row pools -> its path (`merge` names a byte-identical one in two directories)"""

    PUBLIC = ("label", "run", "algo", "overrides", "seeds", "is_base", "is_reference", "benches", "average", "delta_vs_base",
              "final_entropy", "wall_time_s")

    def identity(self) -> dict[str, Any]:
        return {"label": self.label, "run": self.run, "algo": self.algo, "overrides": self.overrides,
                "seeds": self.seeds}

    def to_dict(self) -> dict[str, Any]:
        """The scores-view record (the public fields; cells as dicts)."""
        out = {name: getattr(self, name) for name in self.PUBLIC}
        out["benches"] = {b: None if c is None else c.to_dict() for b, c in self.benches.items()}
        return out


def _same_problems(parts: list[dict[str, Any]]) -> bool:
    return len({len(p["per_problem"]) for p in parts}) == 1


def _parts(summaries: list[dict[str, Any]], bench: str) -> list[dict[str, Any]]:
    """The per-seed results of `bench` that hold per-problem fractions."""
    parts = [s["benches"][bench] for s in summaries if bench in s.get("benches", {})]
    return [p for p in parts if p.get("per_problem")]


def _mean(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _pooled_problems(parts: list[dict[str, Any]]) -> list[float] | None:
    """Per-problem fractions correct averaged over seeds; None when the seeds were scored on different problem
    counts (then no problem-by-problem pairing exists)."""
    if not parts or not _same_problems(parts):
        return None
    return [sum(vals) / len(vals) for vals in zip(*(p["per_problem"] for p in parts))]


def _pool(summaries: list[dict[str, Any]], bench: str, bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> Cell | None:
    from harness.leaderboard import stats

    parts = _parts(summaries, bench)
    if not parts:
        return None
    k = parts[0]["k"]
    ci = stats.hierarchical_bootstrap([p["per_problem"] for p in parts], n_boot=bootstrap_samples, seed=0)
    return Cell(score=ci.mean, lo=ci.low, hi=ci.high, k=k, problems=ci.n_problems,
                pass_at_k=_mean([p.get(f"pass@{k}") for p in parts]), maj_at_k=_mean([p.get(f"maj@{k}") for p in parts]),
                gold_unparsable=max(p.get("gold_unparsable", 0) for p in parts), seeds=len(parts))


def _run_dynamics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Training-dynamics figures of one seed's metrics records (None where the key was never logged)."""
    from harness.leaderboard.curves import values

    def vals(key: str) -> list[float]:
        return [v for _, v in values(records, key)]

    ent, acc, probe = vals(mk.ENTROPY), vals(mk.ACCURACY), vals(PROBE_KEY)
    evals = vals(mk.EVAL_ACCURACY)
    out = {"steps": int(records[-1][mk.STEP]) if records else None,
           "rollout": (_mean(ent[:ENTROPY_STEPS]), _mean(ent[-ENTROPY_STEPS:])),
           "probe": (probe[0], probe[-1]) if probe else None,
           "accuracy_first": _mean(acc[:ACCURACY_STEPS]), "accuracy_last": _mean(acc[-ACCURACY_STEPS:]),
           "eval_accuracy_final": evals[-1] if evals else None, "final_entropy": ent[-1] if ent else None}
    for key in RUN_MEANS:
        out[key] = _mean(vals(key))
    for key in TIME_KEYS:
        out[key] = _mean([v for s, v in values(records, key) if s > 0])
    for key in BUDGET:
        spent = vals(key)
        out[key] = spent[-1] if spent else None
    return out


def _pool_dynamics(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of each figure (seeds without it left out), plus the per-seed entropy changes. Entropy is the
    probe's (`PROBE_KEY`) when every seed logged it, else the rollouts' (``entropy_source``: "probe" | "rollout")."""
    source = "probe" if all(d["probe"] for d in per_seed) else "rollout"
    for d in per_seed:
        start, end = d[source]
        d.update(entropy_start=start, entropy_end=end, entropy_change=None if start is None else end - start)
    out: dict[str, Any] = {key: _mean([d[key] for d in per_seed]) for key in DYNAMICS_KEYS
                           if key not in ("steps", "entropy_source")}
    out["entropy_source"] = source
    steps = [d["steps"] for d in per_seed if d["steps"] is not None]
    out["steps"] = max(steps) if steps else None
    out["entropy_change_per_seed"] = [d["entropy_change"] for d in per_seed]
    return out


def _seed_parts(summaries: list[dict[str, Any]], seeds: list[Any] | None, bench: str) -> list[tuple[Any, dict]]:
    """(seed, result) of each summary that holds per-problem fractions of `bench` (seeds numbered 0.. when the
    seed list does not match the summaries)."""
    seeds = list(seeds) if seeds is not None and len(seeds) == len(summaries) else list(range(len(summaries)))
    return [(s, x["benches"][bench]) for s, x in zip(seeds, summaries)
            if x.get("benches", {}).get(bench, {}).get("per_problem")]


def _row(label: str, run: str, summaries: list[dict[str, Any]], benches: list[str], *, is_base: bool = False,
         algo: str | None = None, overrides: dict | None = None, seeds: list[int] | None = None,
         summary_seeds: list[Any] | None = None, metrics: list[Path] | None = None,
         wall_time_s: float | None = None) -> Row:
    cells = {b: _pool(summaries, b) for b in benches}
    scores = [c.score for c in cells.values() if c is not None]
    per_seed_dynamics = [_run_dynamics(run_layout.read_metrics(p)) for p in metrics or []]
    return Row(label=label, run=run, benches=cells, algo=algo, overrides=overrides or {}, seeds=seeds or [],
               is_base=is_base,
               average=sum(scores) / len(scores) if scores and len(scores) == len(benches) else None,
               final_entropy=_mean([d["final_entropy"] for d in per_seed_dynamics]), wall_time_s=wall_time_s,
               per_problem={b: _pooled_problems(_parts(summaries, b)) for b in benches},
               per_seed={b: [sum(p["per_problem"]) / len(p["per_problem"]) for p in _parts(summaries, b)]
                         for b in benches},
               metrics=list(metrics or []),
               dynamics=_pool_dynamics(per_seed_dynamics) if per_seed_dynamics else None,
               tables={b: [p["per_problem"] for _, p in _seed_parts(summaries, summary_seeds, b)] for b in benches},
               table_seeds={b: [s for s, _ in _seed_parts(summaries, summary_seeds, b)] for b in benches},
               checkers=[checker_of(s) for s in summaries])


# ----------------------------------------------------------------------------------------------------------------


def _eval_dir_rows(run_dir: Path, name: str) -> list[Row]:
    """The one row of a directory written by `rlvr-zoo eval --out`."""
    path = run_dir / run_layout.SUMMARY_FILE
    summary = complete_summary(path)
    label = summary.get("label") or summary.get("model") or name
    row = _row(label, name, [summary], list(summary["benches"]), wall_time_s=summary.get("wall_time_s"))
    row.evaluations = _evaluations([path])
    return [row]


def _evaluations(paths: list[Path]) -> dict[str, Path]:
    return {digest: path for path in paths if (digest := digest_of(path)) is not None}


def _finished_runs(run_dir: Path, seen: dict[str, Path]) -> dict[str, list[tuple[dict[str, Any], Path]]]:
    """{label: [(DONE record, run folder) per seed, by seed]} of the finished runs of a comparison, each (label,
    seed) and each evaluation once (module notes). ``seen``: summary digest -> path of the evaluations already
    counted (the base model's), filled in."""
    found = [(read_done(done), done.parent) for done in run_layout.done_files(run_dir)]
    # the folder compare wrote for a (label, seed) first, then path order
    found.sort(key=lambda e: (e[1] != run_layout.run_dir(run_dir, run_layout.slug(e[0]["label"]), e[0]["seed"]),
                              str(e[1])))
    runs: dict[str, list[tuple[dict[str, Any], Path]]] = {}
    kept: dict[tuple[str, int], Path] = {}
    for info, folder in found:
        key = (info["label"], info["seed"])
        if key in kept:
            warn(f"{folder} repeats {kept[key]} (label {info['label']!r}, seed {info['seed']}): a copied run folder "
                  f"is counted once, as {kept[key]}", DuplicateRunWarning)
            continue
        digest = digest_of(_run_summary(folder)) if _run_summary(folder).is_file() else None
        if digest is not None and digest in seen:
            warn(f"{_run_summary(folder)} is byte for byte {seen[digest]}: the same evaluation is counted once, "
                  f"{folder} is left out", DuplicateRunWarning)
            continue
        if digest is not None:
            seen[digest] = _run_summary(folder)
        kept[key] = folder
        runs.setdefault(info["label"], []).append((info, folder))
    return {label: sorted(entries, key=lambda e: e[0]["seed"]) for label, entries in runs.items()}


def _run_summary(folder: Path) -> Path:
    return folder / run_layout.EVAL_DIR / run_layout.SUMMARY_FILE


def _bench_order(base: dict[str, Any] | None, runs: dict[str, list[tuple[dict[str, Any], Path]]]) -> list[str]:
    """The base model's benchmarks first, then any other benchmark of a run, in order of appearance."""
    benches: list[str] = list(base["benches"]) if base else []
    for entries in runs.values():
        for _, folder in entries:
            if _run_summary(folder).is_file():
                benches += [b for b in complete_summary(_run_summary(folder))["benches"] if b not in benches]
    return benches


def _trained_row(label: str, entries: list[tuple[dict[str, Any], Path]], name: str, benches: list[str]) -> Row:
    scored, summaries = [], []
    for info, folder in entries:
        check_metrics(folder)
        if _run_summary(folder).is_file():
            scored.append((info, folder))
            summaries.append(complete_summary(_run_summary(folder)))
        else:
            warn(f"{folder} is finished ({run_layout.DONE_FILE}) but has no "
                  f"{run_layout.EVAL_DIR}/{run_layout.SUMMARY_FILE}: its scores are left out (shown as '-')")
    walls = [info.get("wall_time_s") for info, _ in entries if info.get("wall_time_s") is not None]
    info0 = entries[0][0]
    row = _row(label, name, summaries, benches, algo=info0.get("algo"), overrides=info0.get("overrides"),
               seeds=[info.get("seed") for info, _ in entries], summary_seeds=[info.get("seed") for info, _ in scored],
               metrics=[p / run_layout.METRICS_FILE for _, p in entries if readable_or_missing(p / run_layout.METRICS_FILE)],
               wall_time_s=sum(walls) / len(walls) if walls else None)
    row.evaluations = _evaluations([_run_summary(folder) for _, folder in scored])
    return row


def collect(run_dir: str | Path) -> list[Row]:
    """Rows (base first, then one per algorithm/variant, seeds pooled) of one comparison or evaluation directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = ("a symbolic link that leads nowhere (a loop, or its target is gone)" if os.path.islink(run_dir)
                else "no such directory")
        raise ValueError(f"{run_dir}: {what}; give a directory written by `rlvr-zoo compare --out` "
                         f"or `rlvr-zoo eval --out`")
    name = run_dir.resolve().name
    if (run_dir / run_layout.SUMMARY_FILE).is_file() and not (run_dir / run_layout.RUNS_DIR).is_dir():
        return _eval_dir_rows(run_dir, name)
    base_summary = run_layout.base_eval_dir(run_dir) / run_layout.SUMMARY_FILE
    seen = _evaluations([base_summary]) if base_summary.is_file() else {}
    runs = _finished_runs(run_dir, seen)
    if not runs and not base_summary.is_file():
        raise ValueError(f"{run_dir}: no finished run (no {run_layout.RUNS_DIR}/*/seed-*/{run_layout.DONE_FILE}) "
                         f"and no base evaluation; is it a directory written by `rlvr-zoo compare --out`?")
    base = complete_summary(base_summary) if base_summary.is_file() else None
    benches = _bench_order(base, runs)
    rows = []
    if base:
        rows.append(_row(f"base ({base.get('model', 'initial model')})", name, [base], benches, is_base=True,
                         wall_time_s=base.get("wall_time_s")))
        rows[0].evaluations = _evaluations([base_summary])
    untouched = run_layout.untouched_eval_dir(run_dir) / run_layout.SUMMARY_FILE
    if base and untouched.is_file():   # a warm start's comparison: the model it was trained from, beside the base
        model = complete_summary(untouched)
        rows.append(_row(f"untouched base ({model.get('model', 'initial model')})", name, [model], benches,
                         is_base=True, wall_time_s=model.get("wall_time_s")))
        rows[-1].is_reference = True
        rows[-1].evaluations = _evaluations([untouched])
    trained = [_trained_row(label, runs[label], name, benches) for label in _label_order(run_dir, list(runs))]
    if rows and rows[0].is_base:
        _relate_to_base(rows[0], trained)
    return rows + trained


def _relate_to_base(base: Row, rows: list[Row]) -> None:
    """Give each trained row its base model's per-problem results and its difference to the base average."""
    for row in rows:
        row.base_per_problem = base.per_problem
        if row.average is not None and base.average is not None:
            row.delta_vs_base = row.average - base.average
    if base.average is not None:
        base.delta_vs_base = 0.0


def _label_order(run_dir: Path, labels: list[str]) -> list[str]:
    """Rows in the order of the compare's algos list (config.yaml), unknown labels after, alphabetically."""
    from harness.presets import load_yaml

    cfg = run_dir / run_layout.CONFIG_FILE
    order: list[str] = []
    if cfg.is_file():
        try:
            algos = (load_yaml(read_text(cfg, 2**20), str(cfg)) or {}).get("algos", [])
            if not (isinstance(algos, list) and all(isinstance(a, str) for a in algos)):
                raise ValueError("algos is not a list of labels")
            order = algos
        except (OSError, ValueError, AttributeError) as exc:   # a damaged config.yaml only affects the row order
            warn(f"{cfg} cannot be read ({' '.join(str(exc).split())[:300]}); rows are in alphabetical order")
    known = [label for label in order if label in labels]
    return known + sorted(label for label in labels if label not in known)


def merge(run_dirs: list[str | Path]) -> list[Row]:
    """Rows of several directories in one list; labels that collide get ` [<directory name>]` appended. A directory
    given twice is read once, and an evaluation found byte for byte in two directories is named in a warning."""
    unique: dict[Path, str | Path] = {}
    for d in run_dirs:
        key = Path(d).resolve() if Path(d).is_dir() else Path(d)
        if key in unique:
            warn(f"{d} is {unique[key]} again: it is read once", DuplicateRunWarning)
        else:
            unique[key] = d
    rows = [r for d in unique.values() for r in collect(d)]
    first: dict[str, Path] = {}   # one directory holds each evaluation once (collect): a repeat is another one's
    for r in rows:
        for digest, path in r.evaluations.items():
            if digest in first:
                warn(f"{path} is byte for byte {first[digest]}: the same evaluation appears in two directories "
                      f"(rows of different directories are never pooled)", DuplicateRunWarning)
            first.setdefault(digest, path)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.label] = counts.get(r.label, 0) + 1
    for r in rows:
        if counts[r.label] > 1:
            r.label = f"{r.label} [{r.run}]"
    # still colliding (two directories with the same name): number them
    seen: dict[str, int] = {}
    for r in rows:
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label = f"{r.label} #{seen[r.label]}"
    return rows


def select(rows: list[Row], patterns: list[str] | None) -> list[Row]:
    """The rows whose label matches one of the shell-style `patterns` (fnmatch, case-sensitive), base rows kept.
    A pattern that matches no row is an error listing the labels (a typo would otherwise drop rows silently)."""
    if not patterns:
        return rows
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(r.label, pattern) for r in rows):
            labels = ", ".join(repr(r.label) for r in rows)
            raise ValueError(f"--only {pattern!r} matches no row; the labels are: {labels} (shell-style patterns: "
                             f"'ce-gppo*' matches every CE-GPPO variant, '[' starts a character set)")
    return [r for r in rows if r.is_base or any(fnmatch.fnmatchcase(r.label, p) for p in patterns)]


def metrics_files(rows: list[Row]) -> dict[str, list[Path]]:
    """{label: [metrics.jsonl of each seed]} of the trained rows, in row order (what `curves.plot` takes)."""
    return {r.label: r.metrics for r in rows if r.metrics}


def benches_of(rows: list[Row]) -> list[str]:
    """Every benchmark of the rows, in order of first appearance."""
    out: list[str] = []
    for r in rows:
        out += [b for b in r.benches if b not in out]
    return out

