"""Training curves of a comparison: one line per algorithm, mean over seeds with a ±1 standard deviation band.

`plot` draws one panel per metric key of the trainer's `metrics.jsonl` against `step`. Its default panels (what
`rlvr-zoo compare` writes to curves.png): reward (`reward/mean`), held-out accuracy (`eval/accuracy`, measured every
`eval_every` steps), rollout entropy (`entropy`), the probe entropy (`entropy/probe`: fixed teacher-forced
tokens, harness.training.probe; its panel only when a run logged it), the clip-region fractions `clipfrac/low_neg` (ratio below 1-ε with A<0) and
`clipfrac/high_pos` (ratio above 1+ε with A>0), and the mean response length (`response_length/mean`).
`rlvr-zoo curves` draws any keys with the same function. With `smooth=N` each seed's values are replaced by the mean
of its last N logged values (fewer at the start) before the mean and band over seeds are taken. matplotlib with the
Agg backend: no display needed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness import metric_keys as mk
from harness.run_layout import read_metrics

PANELS = [
    (mk.REWARD_MEAN, "reward (mean)"),
    (mk.EVAL_ACCURACY, "held-out accuracy"),
    (mk.ENTROPY, "entropy (rollouts)"),
    (mk.ENTROPY_PROBE, "entropy (fixed probe set)"),
    (mk.key(mk.CLIPFRAC, region="low_neg"), "clip fraction: r<1-ε, A<0"),
    (mk.key(mk.CLIPFRAC, region="high_pos"), "clip fraction: r>1+ε, A>0"),
    (mk.RESPONSE_LENGTH, "response length (tokens)"),
]
PANEL_TITLES = dict(PANELS)
OPTIONAL_PANELS = (mk.ENTROPY_PROBE,)
"""default panels drawn only when some run logged the key (runs without the probe get no empty panel)"""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # NaN != NaN


def values(records: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(step, value) of ``key`` in one run's records, in step order; records without a number for it are skipped."""
    return [(int(rec[mk.STEP]), float(rec[key])) for rec in records if _is_number(rec.get(key))]


def numeric_keys(records_per_run: list[list[dict[str, Any]]]) -> list[str]:
    """The metric keys (other than `step`) that hold a number in at least one record, sorted."""
    return sorted({k for records in records_per_run for rec in records for k, v in rec.items()
                   if k != mk.STEP and _is_number(v)})


def default_metrics(records_per_run: list[list[dict[str, Any]]]) -> list[str]:
    """The keys of the default panels (PANELS) for these runs: the OPTIONAL_PANELS only where a run logged them."""
    logged = set(numeric_keys(records_per_run))
    return [k for k, _ in PANELS if k not in OPTIONAL_PANELS or k in logged]


def series(records_per_seed: list[list[dict[str, Any]]], key: str, smooth: int = 1):
    """(steps, mean, std) of `key` over seeds, at the steps where at least one seed has a value. With ``smooth=N``
    each seed's value at a step is first replaced by the mean of its last N logged values (fewer at the start)."""
    import numpy as np

    if smooth < 1:
        raise ValueError(f"smooth must be a whole number of logged values >= 1 (1 = no smoothing), got {smooth}")
    by_step: dict[int, list[float]] = {}
    for records in records_per_seed:
        points = values(records, key)
        for i, (step, _) in enumerate(points):
            window = [v for _, v in points[max(0, i - smooth + 1):i + 1]]
            by_step.setdefault(step, []).append(sum(window) / len(window))
    steps = sorted(by_step)
    mean = np.array([np.mean(by_step[s]) for s in steps])
    std = np.array([np.std(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps])
    return np.array(steps), mean, std


def plot(runs: dict[str, list[str | Path]], out_path: str | Path, title: str = "",
         metrics: list[str] | None = None, smooth: int = 1) -> Path:
    """Draw the curves of `runs` ({label: [metrics.jsonl of each seed]}) into `out_path` (PNG), atomically: one
    panel per key of `metrics` (default: the PANELS of compare's curves.png), one line per label. A key no run
    recorded gets a panel that says so."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metrics is not None and not metrics:
        raise ValueError("no metric to plot; give at least one metrics.jsonl key")
    records = {label: [read_metrics(p) for p in paths] for label, paths in runs.items()}
    keys = list(metrics) if metrics is not None else \
        default_metrics([r for per_seed in records.values() for r in per_seed])
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.6 * nrows + 0.8), constrained_layout=True,
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, keys):
        drawn = False
        for i, (label, per_seed) in enumerate(records.items()):
            steps, mean, std = series(per_seed, key, smooth=smooth)
            if not len(steps):
                continue
            color = colors[i % len(colors)]
            n_seeds = sum(1 for r in per_seed if r)
            ax.plot(steps, mean, marker="o" if len(steps) < 30 else None, ms=3, color=color,
                    label=f"{label}" + (f" ({n_seeds} seeds)" if n_seeds > 1 else ""))
            if n_seeds > 1:
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
            drawn = True
        ax.set_title(PANEL_TITLES.get(key, key) + (f" (moving average of {smooth})" if smooth > 1 else ""))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, f"no `{key}` recorded", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
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
    from harness.io import write_file

    try:
        return write_file(out_path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
