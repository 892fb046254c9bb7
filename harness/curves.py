"""Training curves of a comparison: one line per algorithm, mean over seeds with a ±1 standard deviation band.

Panels (metric keys of the trainer's `metrics.jsonl`): reward (`reward/mean`), held-out accuracy (`eval/accuracy`,
measured every `eval_every` steps), entropy (`entropy`), the clip-region fractions `clipfrac/low_neg` (ratio below
1-ε with A<0) and `clipfrac/high_pos` (ratio above 1+ε with A>0), and the mean response length
(`response_length/mean`), each against `step`. matplotlib with the Agg backend: no display needed.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

PANELS = [
    ("reward/mean", "reward (mean)"),
    ("eval/accuracy", "held-out accuracy"),
    ("entropy", "entropy"),
    ("clipfrac/low_neg", "clip fraction: r<1-ε, A<0"),
    ("clipfrac/high_pos", "clip fraction: r>1+ε, A>0"),
    ("response_length/mean", "response length (tokens)"),
]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl file, one per step in step order; a line cut by an interruption is skipped.
    Later records of the same step (a resumed run repeats steps after its last checkpoint) replace earlier ones."""
    from harness import metrics_log

    by_step: dict[int, dict[str, Any]] = {}
    for rec in metrics_log.read_metrics(path):
        if "step" in rec:
            by_step.setdefault(int(rec["step"]), {}).update(rec)
    return [by_step[s] for s in sorted(by_step)]


def series(records_per_seed: list[list[dict[str, Any]]], key: str):
    """(steps, mean, std) of `key` over seeds, at the steps where at least one seed has a value."""
    import numpy as np

    values: dict[int, list[float]] = {}
    for records in records_per_seed:
        for rec in records:
            v = rec.get(key)
            if isinstance(v, (int, float)) and v == v:  # skips None and NaN
                values.setdefault(int(rec["step"]), []).append(float(v))
    steps = sorted(values)
    mean = np.array([np.mean(values[s]) for s in steps])
    std = np.array([np.std(values[s]) if len(values[s]) > 1 else 0.0 for s in steps])
    return np.array(steps), mean, std


def plot(runs: dict[str, list[str | Path]], out_path: str | Path, title: str = "") -> Path:
    """Draw the curves of `runs` ({label: [metrics.jsonl of each seed]}) into `out_path` (PNG), atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = {label: [read_metrics(p) for p in paths] for label, paths in runs.items()}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, name) in zip(axes.flat, PANELS):
        drawn = False
        for i, (label, per_seed) in enumerate(records.items()):
            steps, mean, std = series(per_seed, key)
            if not len(steps):
                continue
            color = colors[i % len(colors)]
            n_seeds = sum(1 for r in per_seed if r)
            ax.plot(steps, mean, marker="o" if len(steps) < 30 else None, ms=3, color=color,
                    label=f"{label}" + (f" ({n_seeds} seeds)" if n_seeds > 1 else ""))
            if n_seeds > 1:
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
            drawn = True
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, f"no `{key}` recorded", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6))
    if title:
        fig.suptitle(title)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".png", dir=out_path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out_path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path
