"""`rlvr-zoo train`: train one objective on one task with the shared trainer (docs/trainer.md).

    rlvr-zoo train --algo ce-gppo --model smollm2-135m --task arith --steps 50 --out runs/ce-gppo \\
        [--set field=value ...] [--config FILE.yaml] [--resume]

Writes OUT/metrics.jsonl, OUT/run.json, OUT/checkpoints/step-N/ and OUT/final/. The same command runs
data-parallel under `torchrun --nproc_per_node=N -m harness.cli train ...`. SIGINT/SIGTERM write a checkpoint and
exit with status 128 + the signal number; `--resume` continues from the newest checkpoint.
"""
from __future__ import annotations

import sys

NAME = "train"
HELP = "train one objective on a task with the shared rollout/optimisation backbone"


def add_arguments(parser) -> None:
    parser.add_argument("--algo", default=None, metavar="NAME", help="objective name (`rlvr-zoo list`); default grpo")
    parser.add_argument("--model", default=None, metavar="SPEC",
                        help="smollm2-135m (default), tiny-random, a local directory, a .gguf file or a Hub id")
    parser.add_argument("--task", default=None, metavar="TASK", help="benchmark or procedural task; default arith")
    parser.add_argument("--steps", type=int, default=None, metavar="N", help="training steps (default 100)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/train)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="YAML mapping of TrainConfig fields (flags and --set override it)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                        help="set any TrainConfig field, e.g. --set lr=1e-5 --set algo_overrides.beta1=0.75 "
                             "(repeatable; `--set help=1` lists the fields)")
    parser.add_argument("--report-to", default=None, metavar="T1,T2",
                        help="trackers for the config and metrics: tensorboard, wandb, mlflow (comma-separated; "
                             "default tensorboard when installed; W&B runs offline without an API key)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _print_fields() -> None:
    from harness.training import TrainConfig

    for name, info in TrainConfig.describe().items():
        print(f"{name} ({info['type']}, default {info['default']!r}): {info['doc']}")


def build_config(args):
    """TrainConfig from --config, then the flags, then --set (later wins)."""
    from harness.commands._checks import yaml_mapping
    from harness.training import TrainConfig

    data: dict = {}
    if args.config:
        data.update(yaml_mapping(args.config, "--config", "TrainConfig fields"))
    for flag, field_name in (("algo", "algo"), ("model", "model"), ("task", "task"), ("steps", "steps"),
                             ("out", "out_dir")):
        value = getattr(args, flag)
        if value is not None:
            data[field_name] = value
    if args.report_to is not None:
        data["report_to"] = [t.strip() for t in args.report_to.split(",") if t.strip()]
    cfg = TrainConfig.from_dict(data)
    return cfg.with_overrides(args.sets)


def run(args) -> int:
    if any(s.split("=", 1)[0].strip() == "help" for s in args.sets):
        _print_fields()
        return 0
    import benchmarks
    from harness.training.checkpoint_files import CheckpointError
    from harness.run_lock import check_out_dir, lock_run_folder
    from harness.errors import UserError
    from harness.training import TrainingError, train

    try:
        cfg = build_config(args)
        cfg.validate()
        # the task's rows are read before the model loads, so that a bad task name or data file stops at once
        dataset = benchmarks.load(cfg.task, split=cfg.split, data_dir=cfg.data_dir, **cfg.task_params)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    check_out_dir(cfg.out_dir)
    lock_run_folder(cfg.out_dir, "train")  # one writer per run folder, before the model loads
    try:
        result = train(cfg, resume=args.resume, progress=not args.no_progress, dataset=dataset)
    except (TrainingError, CheckpointError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        print("rlvr-zoo train: stopped at once by a second signal (no checkpoint for the current step)",
              file=sys.stderr)
        return 130
    if result.status == "interrupted":
        import signal

        code = getattr(result, "signal", None) or signal.SIGTERM
        print(f"rlvr-zoo train: interrupted after step {result.steps_done}; checkpoint in {result.out_dir}/"
              f"checkpoints (continue with --resume)", file=sys.stderr)
        return 128 + int(code)
    print(f"done: {result.steps_done} steps in {result.wall_time_s:.1f}s; metrics {result.metrics_path}; "
          f"final model {result.final_model_dir}")
    return 0
