"""The study's lr pilot as a table: per lr and step, `kl/old` and how much of the off-policy mini-batches the two
β-weighted regions hold (r < 1-ε with A < 0 and r > 1+ε with A > 0: their share of tokens, `offpolicy/clipfrac/*`,
and of the gradient, `offpolicy/gradshare/*`), with the rollout entropy and the training accuracy.

    .venv/bin/python -m tools.study.lr_pilot results/cpu-study-v2/lr-pilot

Each run is a folder ``lr-<lr>`` holding the `metrics.jsonl` of `rlvr-zoo train`. A step without a figure (no
off-policy mini-batch, or no gradient: every group had equal rewards) shows "-".
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _pct(record: dict, family: str) -> str:
    keys = (f"{family}/low_neg", f"{family}/high_pos")
    return f"{100 * sum(record[k] for k in keys):.1f}" if all(k in record for k in keys) else "-"


def table(root: Path) -> str:
    lines = ["| lr | step | kl/old | off-policy tokens in the two regions (%) | their gradient share (%) | "
             "rollout entropy | train accuracy |", "|---|---|---|---|---|---|---|"]
    for run in sorted(root.glob("lr-*"), key=lambda p: float(p.name[3:])):
        for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if "kl/old" not in r:
                continue
            lines.append(f"| {run.name[3:]} | {r['step']} | {r['kl/old']:.3f} | {_pct(r, 'offpolicy/clipfrac')} | "
                         f"{_pct(r, 'offpolicy/gradshare')} | {r['entropy']:.2f} | {r['accuracy']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="the folder holding lr-<lr>/metrics.jsonl")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not any(root.glob("lr-*/metrics.jsonl")):
        parser.exit(2, f"lr_pilot: no lr-<lr>/metrics.jsonl under {root}\n")
    print(table(root), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
