"""`rlvr-zoo eval`: score one model on benchmarks (avg@k, pass@k, maj@k, bootstrap 95% interval)."""
from __future__ import annotations

import re
from pathlib import Path

NAME = "eval"
HELP = "evaluate a model on math benchmarks: avg@k, pass@k, maj@k with a bootstrap 95% interval"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="SPEC",
                        help="model name (e.g. smollm2-135m, tiny-random), Hub id or local directory")
    parser.add_argument("--bench", default="gsm8k,math500", metavar="B1,B2",
                        help="comma-separated benchmarks (see `rlvr-zoo list`; default gsm8k,math500)")
    parser.add_argument("--k", type=int, default=4, help="responses per problem (default 4)")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (default 0.6)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling threshold (default 0.95)")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="tokens per response (default 1024)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    parser.add_argument("--engine", default="hf", choices=["hf", "vllm"], help="rollout engine (default hf)")
    parser.add_argument("--template", default="boxed", help="prompt template (default boxed)")
    parser.add_argument("--split", default="test", help="dataset split (default test)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--dtype", default="float32", help="compute dtype of generation: float32 or bfloat16 (autocast; default float32)")
    parser.add_argument("--data-dir", default=None,
                        help="local benchmark files (default: $RLVR_ZOO_DATA_DIR, else the Hugging Face Hub)")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per engine call (default 32)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where summary.json and <bench>.responses.jsonl go (default results/eval/<model>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from harness.run_lock import check_out_dir, lock_run_folder
    from harness.errors import UserError
    from harness.evaluate import EvalConfig, check_benches, check_data, evaluate, format_summary
    from harness.models import load_policy
    from harness.rollout import make_engine

    try:
        cfg = EvalConfig.from_dict({
            "benches": args.bench, "k": args.k, "temperature": args.temperature, "top_p": args.top_p,
            "max_new_tokens": args.max_new_tokens, "limit": args.limit, "template": args.template,
            "split": args.split, "seed": args.seed, "data_dir": args.data_dir, "batch_size": args.batch_size})
        check_benches(cfg.benches)
        check_data(cfg)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    out = check_out_dir(args.out if args.out is not None
                        else Path("results") / "eval" / re.sub(r"[^A-Za-z0-9.\-]+", "_", args.model))
    lock_run_folder(out, "eval")  # one writer per run folder, before the model loads
    model, tokenizer = load_policy(args.model, dtype="float32")
    model.eval()
    engine = make_engine(args.engine, model, tokenizer, dtype=args.dtype)
    summary = evaluate(engine, tokenizer, cfg, out, progress=not args.no_progress, label=args.model,
                       extra={"model": args.model, "engine": args.engine})
    print(format_summary(summary))
    for bench, s in summary["benches"].items():
        if s.get("gold_unparsable"):
            print(f"note: {bench}: {s['gold_unparsable']} of {s['rows']} rows have a gold answer that cannot be "
                  f"parsed; they are excluded from the scores (ids in {out / 'summary.json'})")
    print(f"responses and summary written to {out}/")
    return 0
