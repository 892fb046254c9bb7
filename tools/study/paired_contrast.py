"""The paired contrast of CE-GPPO's claim (d): what β1 and β2 do to entropy, on the same batches.

CE-GPPO's paper says a larger β1 (the weight of the clipped r < 1-ε, A < 0 tokens) speeds entropy collapse and a
larger β2 (r > 1+ε, A > 0) slows it. Across training runs that effect drowns in seed-to-seed noise, so this
experiment holds everything else fixed: from one starting model (the study's warm start), it samples ``--batches``
rollout batches, and applies to each batch, from the same starting weights and a fresh optimiser, the same updates
(the study's epochs x mini-batches) under each arm:

    β1 contrast: (β1, β2) = (1, 1) against (0, 1)        β2 contrast: (1, 1) against (1, 0)

It measures the entropy probe (`entropy/probe`: teacher-forced mean entropy on the run's fixed held-out probe
responses) after each arm's updates, so that each batch gives a paired difference per contrast. Reported: the mean
paired difference with its t interval (df = batches - 1), the exact sign test, the share of tokens in each clip
region and their gradient share per arm (the regions β acts on), in ``OUT/contrast.jsonl`` (one line per batch,
appended as each finishes: an interrupted run resumes at the next batch) and ``OUT/summary.json`` /
``OUT/summary.md`` / ``OUT/contrast.png``.

    python -m tools.study.paired_contrast --preset results/cpu-study-v2/preset.yaml \\
        --model <warm start dir> --batches 40 --out results/cpu-study-v2/contrast
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from harness.io import read_text, write_file, write_json, write_text

ARMS = {"b1=0,b2=1": (0.0, 1.0), "b1=1,b2=1": (1.0, 1.0), "b1=1,b2=0": (1.0, 0.0)}
CONTRASTS = {"beta1": ("b1=1,b2=1", "b1=0,b2=1"), "beta2": ("b1=1,b2=1", "b1=1,b2=0")}
"""contrast name -> (arm with the larger β, arm with β = 0); the paper predicts beta1 < 0 and beta2 > 0"""
REGION_KEYS = ("clipfrac/low_neg", "clipfrac/high_pos", "gradshare/low_neg", "gradshare/high_pos",
               "offpolicy/clipfrac/low_neg", "offpolicy/clipfrac/high_pos", "offpolicy/gradshare/low_neg",
               "offpolicy/gradshare/high_pos", "kl/old")
"""the step's figures per arm: the β-weighted regions over all its mini-batches and over its off-policy ones"""


def _trainer(train: dict[str, Any], model: str, out: Path):
    import algorithms
    from harness.training import TrainConfig, Trainer

    cfg = TrainConfig(**{**train, "model": model, "algo": "ce-gppo", "out_dir": str(out / "trainer"),
                         "save_final": False, "tensorboard": False, "eval_every": 0, "save_every": 0})
    return Trainer(cfg, algorithm=algorithms.get("ce-gppo", beta1=1.0, beta2=1.0), progress=False)


def _apply(trainer, batch, arm: tuple[float, float], theta0: dict, step: int) -> dict[str, float]:
    """From theta0 with a fresh optimiser: the run's updates on ``batch`` under CE-GPPO(arm); the probe entropy and
    the region figures after."""
    import algorithms
    from harness.training.update import OldLogprobs, StepData, old_logprob_source

    cfg = trainer.cfg
    trainer.model.load_state_dict(theta0)
    trainer.optimizer.state.clear()
    algo = algorithms.get("ce-gppo", beta1=arm[0], beta2=arm[1])
    trainer.algo = trainer.updater.algo = algo
    n_mb = max(1, math.ceil(batch.num_seqs / cfg.minibatch_size)) if cfg.minibatch_size else 1
    source = old_logprob_source(cfg.old_logprobs, trainer.recipe, single_update=cfg.epochs == 1 and n_mb == 1)
    old = OldLogprobs.prepare(source, trainer.forward, trainer.model, batch)
    adv, returns = algo.compute_advantages(mask=batch.mask, scores=batch.scores, group_ids=batch.group_ids,
                                           old_logp=old.full)
    stats = trainer.updater.run(step, StepData(batch, adv.detach().float(), returns, old, None, None), n_mb)
    record = stats.record()
    out = {k: float(record[k]) for k in REGION_KEYS if k in record}
    out["entropy/probe"] = float(trainer.probe.entropy(trainer.forward, trainer.model, trainer.pad_id,
                                                       trainer.device))
    return out


def _t_interval(xs: list[float]) -> dict[str, float]:
    from harness.leaderboard.stats import t_critical, t_two_sided

    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "p_t": float("nan"), "n": n}
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_critical(0.05, n - 1) * se
    p = t_two_sided(mean / se, n - 1) if se > 0 else (0.0 if mean else 1.0)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "p_t": p, "n": n}


def _sign_test(xs: list[float]) -> float:
    from harness.leaderboard.stats import sign_test   # exact two-sided binomial test on the signs

    pos, neg = sum(x > 0 for x in xs), sum(x < 0 for x in xs)
    return sign_test(pos, neg)


def summarize(lines: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"batches": len(lines), "entropy_before": None, "contrasts": {}, "arms": {}}
    if not lines:
        return out
    out["entropy_before"] = sum(x["entropy_before"] for x in lines) / len(lines)
    for name, (hi, lo) in CONTRASTS.items():
        diffs = [x["arms"][hi]["entropy/probe"] - x["arms"][lo]["entropy/probe"] for x in lines]
        out["contrasts"][name] = {**_t_interval(diffs), "p_sign": _sign_test(diffs), "larger": hi, "zero": lo,
                                  "positive": sum(d > 0 for d in diffs), "negative": sum(d < 0 for d in diffs)}
    for arm in ARMS:
        keys = lines[0]["arms"][arm].keys()
        out["arms"][arm] = {k: sum(x["arms"][arm][k] for x in lines) / len(lines) for k in keys}
        out["arms"][arm]["entropy_change"] = out["arms"][arm]["entropy/probe"] - out["entropy_before"]
    return out


def summary_markdown(s: dict[str, Any]) -> str:
    rows = ["| contrast | mean paired Δ probe entropy [95% t interval] | batches up / down | p (t) | p (sign) |",
            "|---|---|---|---|---|"]
    for name, c in s["contrasts"].items():
        rows.append(f"| {name}: {c['larger']} minus {c['zero']} | {c['mean']:+.4f} [{c['low']:+.4f}, "
                    f"{c['high']:+.4f}] | {c['positive']} / {c['negative']} | {c['p_t']:.3g} | {c['p_sign']:.3g} |")
    rows += ["", "| arm | probe entropy after (before: %.4f) | " % (s["entropy_before"] or float("nan")) +
             " | ".join(k.replace("/", " ") for k in REGION_KEYS) + " |", "|---|---|" + "---|" * len(REGION_KEYS)]
    for arm, a in s["arms"].items():
        rows.append(f"| {arm} | {a['entropy/probe']:.4f} | " + " | ".join(
            f"{a.get(k, float('nan')):.4f}" for k in REGION_KEYS) + " |")
    return "\n".join(rows) + "\n"


def plot(lines: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, (name, (hi, lo)) in zip(axes, CONTRASTS.items()):
        for x in lines:
            ax.plot([0, 1], [x["arms"][lo]["entropy/probe"], x["arms"][hi]["entropy/probe"]], color="C0", alpha=0.35,
                    lw=0.8)
        ax.set_xticks([0, 1], [lo, hi])
        ax.set_ylabel("probe entropy after the updates")
        ax.set_title(f"{name}: one line per batch ({len(lines)})", fontsize=9)
    fig.tight_layout()
    write_file(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True, help="the study's preset (its train section is used)")
    parser.add_argument("--model", required=True, help="the starting model (the study's warm start directory)")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig overrides, as compare --set")
    parser.add_argument("--plugin", action="append", default=[], help="user code to import first (as rlvr-zoo)")
    args = parser.parse_args(argv)
    import torch

    from harness.cli import load_plugin

    for plugin in args.plugin:
        load_plugin(plugin)

    from harness import presets
    from harness.training.batch import collate

    preset = presets.load(args.preset)
    train = dict(preset.train)
    for item in args.set:
        key, _, value = item.partition("=")
        train[key.removeprefix("train.")] = presets.load_yaml(value, f"--set {key}")
    out = Path(args.out)
    log = out / "contrast.jsonl"
    lines = [json.loads(x) for x in read_text(log).splitlines() if x.strip()] if log.is_file() else []
    trainer = _trainer(train, args.model, out)
    theta0 = copy.deepcopy(trainer.model.state_dict())
    before = trainer.probe.entropy(trainer.forward, trainer.model, trainer.pad_id, trainer.device)
    for b in range(args.batches):
        trainer.model.load_state_dict(theta0)
        trainer._sync_engine()
        collected = trainer.collector.collect(b + 1)          # the same batches on every run: seeded by step
        if b < len(lines):
            continue
        start = time.perf_counter()
        batch = collate(collected.groups, collected.spare, trainer.pad_id, trainer.device)
        arms = {name: _apply(trainer, batch, arm, theta0, b + 1) for name, arm in ARMS.items()}
        lines.append({"batch": b, "entropy_before": before, "arms": arms,
                      "reward_mean": float(torch.as_tensor(batch.scores).float().mean()),
                      "seconds": time.perf_counter() - start})
        write_text(log, "".join(json.dumps(x) + "\n" for x in lines))
        print(f"[contrast] batch {b + 1}/{args.batches}: " + ", ".join(
            f"{k} {v['entropy/probe']:.4f}" for k, v in arms.items()), flush=True)
    s = summarize(lines)
    write_json(out / "summary.json", s)
    write_text(out / "summary.md", summary_markdown(s))
    plot(lines, out / "contrast.png")
    print(summary_markdown(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
