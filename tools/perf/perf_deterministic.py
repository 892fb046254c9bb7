"""What `deterministic: true` costs, and whether a training step repeats itself bit for bit.

Runs the same short SmolLM2 training (``--steps`` steps of ``--prompts`` x ``--n`` responses, two updates a step)
in fresh processes, alternating ``deterministic=false`` and ``deterministic=true`` (``--repeats`` of each), and for
every process records the step times and a SHA-256 of the trained weights. It prints:

* the median step time of each setting and their ratio (true / false), measured side by side in one invocation;
* whether every process of one setting ended with the same weights (run-to-run repeatability), and whether the two
  settings agree with each other.

    .venv/bin/python -m tools.perf.perf_deterministic --repeats 2          # writes results/perf/deterministic.json

Speed on a shared 2-core machine is noisy: read the ratio, not the seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _child(args) -> None:
    """One process: train, print a JSON line with step times and the weights' hash."""
    import torch

    from harness.training import TrainConfig, Trainer

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(algo=args.algo, model=args.model, dtype="float32", task="arith",
                          task_params={"level": 1, "n": 400}, template="boxed", engine="hf", steps=args.steps,
                          prompts_per_step=args.prompts, responses_per_prompt=args.n, max_new_tokens=32,
                          temperature=1.0, lr=5e-5, minibatch_size=args.prompts * args.n // 2, save_every=0,
                          save_final=False, tensorboard=False, entropy_probe_prompts=0, out_dir=out,
                          deterministic=args.deterministic == "true")
        trainer = Trainer(cfg)
        times = []
        for _ in range(args.steps):
            times.append(trainer.train_step()["time/step_s"])
        h = hashlib.sha256()
        for p in trainer.model.parameters():
            h.update(p.detach().contiguous().numpy().tobytes())
    print(json.dumps({"step_s": times, "weights_sha256": h.hexdigest(), "threads": torch.get_num_threads()}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algo", default="grpo")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="processes per setting, alternating")
    ap.add_argument("--out", default=str(REPO / "results" / "perf" / "deterministic.json"))
    ap.add_argument("--child", choices=["false", "true"], dest="deterministic", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.deterministic:
        _child(args)
        return 0
    runs: dict[str, list[dict]] = {"false": [], "true": []}
    for i in range(args.repeats):
        for setting in ("false", "true"):
            cmd = [sys.executable, "-m", "tools.perf.perf_deterministic", "--child", setting, "--algo", args.algo,
                   "--model", args.model, "--steps", str(args.steps), "--prompts", str(args.prompts),
                   "--n", str(args.n)]
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if done.returncode or not lines:
                print(f"deterministic={setting} run {i + 1} failed (exit {done.returncode}):\n{done.stderr[-2000:]}",
                      file=sys.stderr)
                return 1
            runs[setting].append(json.loads(lines[-1]))
            print(f"deterministic={setting:5s} run {i + 1}: steps {[round(t, 1) for t in runs[setting][-1]['step_s']]} "
                  f"s, weights {runs[setting][-1]['weights_sha256'][:12]}", flush=True)
    median = {k: statistics.median(t for r in v for t in r["step_s"]) for k, v in runs.items()}
    hashes = {k: sorted({r["weights_sha256"] for r in v}) for k, v in runs.items()}
    report = {"algo": args.algo, "model": args.model, "steps": args.steps, "prompts": args.prompts, "n": args.n,
              "repeats": args.repeats, "median_step_s": median,
              "ratio_true_over_false": median["true"] / median["false"],
              "repeatable": {k: len(v) == 1 for k, v in hashes.items()},
              "settings_agree": hashes["false"] == hashes["true"], "runs": runs}
    print(f"median step: false {median['false']:.1f} s, true {median['true']:.1f} s, ratio "
          f"{report['ratio_true_over_false']:.3f}; repeatable: {report['repeatable']}; "
          f"same weights under both settings: {report['settings_agree']}")
    from harness.io import write_json
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=1)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
