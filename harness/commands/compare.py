"""`rlvr-zoo compare`: train several objectives under identical conditions and write leaderboards and curves."""
from __future__ import annotations

import sys

NAME = "compare"
HELP = "head-to-head comparison of objectives: same model, seed, prompts and budget; leaderboard and curves"


def add_arguments(parser) -> None:
    parser.add_argument("--preset", required=True, metavar="NAME_OR_FILE",
                        help="a preset name (see `rlvr-zoo list`) or a path to a preset YAML file")
    parser.add_argument("--algos", action="append", default=None, metavar="A1,A2",
                        help="comma-separated algorithms, variants as name:field=value,field=value "
                             "(default: the preset's algos)")
    parser.add_argument("--seeds", default=None, metavar="S1,S2", help="comma-separated seeds (default: preset's)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output directory (default results/<preset>)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a TrainConfig field (steps=3), or eval.FIELD / train_eval.FIELD / "
                             "compare.FIELD (repeatable)")
    parser.add_argument("--init-from", default=None, metavar="RUN_DIR_OR_MODEL",
                        help="start every arm (and the base evaluation) from this model instead of the preset's: a "
                             "model directory, a run directory (its final/), a comparison directory with one "
                             "trained model, or a model name; recorded in config.yaml")
    parser.add_argument("--report-to", default=None, metavar="T1,T2",
                        help="trackers for every run: tensorboard, wandb, mlflow (comma-separated); each comparison "
                             "is one W&B group / one MLflow experiment")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from harness import leaderboard
    from harness.compare import page, runner
    from harness.run_lock import check_out_dir, lock_run_folder
    from harness.errors import UserError

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()] if args.seeds else None
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: expected comma-separated integers such as 0,1") from None
    if args.out is not None:
        check_out_dir(args.out)
    try:
        sets = list(args.sets)
        if args.report_to is not None:
            sets.append(f"report_to=[{args.report_to}]")
        plan = runner.make_plan(args.preset, algos=args.algos, seeds=seeds, out=args.out, sets=sets,
                                init_from=args.init_from)
        runner.check_data(plan)   # the task's and benchmarks' data are read before any model loads
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    check_out_dir(plan.out)
    try:
        runner._check_existing(plan)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    runner.check_folders(plan)   # no link planted where the comparison writes (harness.io.UnsafePathError)
    lock_run_folder(plan.out, "compare")  # one writer per run folder (after check_out_dir's checks)
    print(f"[compare] preset {plan.preset.name}: {', '.join(a.label for a in plan.algos)} x seeds "
          f"{plan.seeds} -> {plan.out}")
    try:
        rows = runner.run(plan, progress=not args.no_progress)
    except runner.CompareInterrupted as exc:
        print(f"rlvr-zoo compare: interrupted: {exc}", file=sys.stderr)
        return 130
    index = page.write(plan.out, rows)
    print()
    print(leaderboard.render(rows, "md"))
    print(f"written: {plan.out}/leaderboard.{{md,csv,json,tex,html}}, {plan.out}/curves.png; open {index}")
    return 0
