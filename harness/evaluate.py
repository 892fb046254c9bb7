"""Held-out evaluation: sample k responses per problem, check each with the sympy verifier, score the benchmark.

Per benchmark it reports
  avg@k   mean correctness over all k responses of all problems (the headline score),
  pass@k  the unbiased estimator 1 - C(n-c, k)/C(n, k) averaged over problems (for every k' = 1, 2, 4, ... <= k),
  maj@k   correctness of the majority-vote answer per problem,
  ci95    a bootstrap 95% interval of avg@k over problems (problems resampled with replacement),
and counts the benchmark rows whose gold answer cannot be parsed (they are excluded from the scores and reported,
never dropped silently). Every response is written with its extracted answer and verdict as JSON lines for audit.

The same function serves `rlvr-zoo eval`, `rlvr-zoo compare` (base model and trained models) and the trainer (as a
callback made by `make_train_callback`, using the trainer's own rollout engine).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from algorithms import fields
from harness import metric_keys as mk
from harness.errors import UserError
from harness.io import write_json, write_text
from harness.run_layout import SUMMARY_FILE, responses_file

_f = fields.field


@dataclass
class EvalConfig:
    """Settings of one held-out evaluation (fields, help and coercion: `algorithms.fields`)."""
    benches: list[str] = _f(["gsm8k", "math500"], "benchmark names (see `benchmarks.names()`); a comma-separated "
                                                  "text is split")
    k: int = _f(4, "responses sampled per problem")
    temperature: float = _f(0.6, "sampling temperature (0.6 with top-p 0.95 is the common setting of DeepSeek-R1 "
                                 "style evaluations)")
    top_p: float = _f(0.95, "nucleus sampling threshold")
    max_new_tokens: int = _f(1024, "generation budget per response; a response cut at this length is still checked")
    limit: int | None = _f(None, "evaluate only the first `limit` problems of each benchmark (None: all)")
    template: str = _f("boxed", "prompt template (see `benchmarks.template_names()`)")
    split: str = _f("test", "dataset split")
    seed: int = _f(0, "sampling seed (the same for every model, so that models are compared on the same random "
                      "stream)")
    data_dir: str | None = _f(None, "local benchmark files (layout of ../shared/data); None: RLVR_ZOO_DATA_DIR or the "
                                    "Hugging Face Hub")
    bench_params: dict[str, dict[str, Any]] = _f({}, "per-benchmark settings: loader parameters, e.g. {\"arith\": "
                                                     "{\"level\": 1}} for procedural tasks, and the evaluation "
                                                     "settings `limit` and `max_new_tokens`, which override the ones "
                                                     "above for that benchmark only (e.g. {\"gsm8k\": {\"limit\": "
                                                     "100, \"max_new_tokens\": 256}})")
    batch_size: int = _f(32, "prompts per call to the rollout engine")
    bootstrap_samples: int = _f(1000, "bootstrap resamples for the 95% interval")

    @classmethod
    def values(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Some or all fields (a preset's `eval:` section, `--set eval.FIELD=VALUE` texts) with each value coerced
        to its field's type (a comma-separated `benches` text is split); unknown keys raise ValueError listing the
        valid ones."""
        data = dict(data)
        if isinstance(data.get("benches"), str) and not data["benches"].lstrip().startswith("["):
            data["benches"] = [b.strip() for b in data["benches"].split(",") if b.strip()]
        return fields.from_mapping(cls, data, "EvalConfig")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalConfig":
        """A checked config from a mapping (see `values`)."""
        cfg = cls(**cls.values(data))
        cfg.check()
        return cfg

    def replace(self, **changes: Any) -> "EvalConfig":
        merged = asdict(self)
        merged.update(changes)
        return EvalConfig.from_dict(merged)

    def check(self) -> None:
        if not self.benches:
            raise ValueError("no benchmark given; pass at least one of " + ", ".join(_bench_names()))
        if self.k < 1:
            raise ValueError(f"k must be >= 1 (responses per problem), got {self.k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or None (all problems), got {self.limit}")
        from harness.rollout import Sampling

        Sampling(temperature=self.temperature, top_p=self.top_p)  # its own checks name the valid ranges
        for bench, params in (self.bench_params or {}).items():
            if not isinstance(params, dict):
                raise ValueError(f"bench_params[{bench!r}] must be a mapping of settings, got {params!r}")
            lim, mnt = params.get("limit"), params.get("max_new_tokens")
            if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 1):
                raise ValueError(f"bench_params[{bench!r}].limit must be an integer >= 1, got {lim!r}")
            if mnt is not None and (isinstance(mnt, bool) or not isinstance(mnt, int) or mnt < 1):
                raise ValueError(f"bench_params[{bench!r}].max_new_tokens must be an integer >= 1, got {mnt!r}")

    def for_bench(self, bench: str) -> tuple[int | None, int, dict[str, Any]]:
        """(limit, max_new_tokens, loader parameters) of one benchmark, with its bench_params overrides."""
        params = dict(self.bench_params.get(bench, {}))
        limit = params.pop("limit", self.limit)
        max_new_tokens = params.pop("max_new_tokens", self.max_new_tokens)
        return limit, max_new_tokens, params


def _bench_names() -> list[str]:
    import benchmarks
    return list(benchmarks.names())


def check_benches(benches: Iterable[str]) -> None:
    """Raise ValueError naming an unknown benchmark and listing the valid ones."""
    valid = _bench_names()
    for b in benches:
        if b not in valid:
            raise ValueError(f"unknown benchmark {b!r}; valid benchmarks: {', '.join(valid)}")


def check_data(cfg: EvalConfig) -> None:
    """Read every benchmark of ``cfg`` once, so that a missing or unreadable data file is reported (as the loader's
    ``BenchmarkDataError``) before a model is loaded; rows are not kept."""
    import benchmarks

    for bench in cfg.benches:
        limit, _, params = cfg.for_bench(bench)
        benchmarks.load_with_report(bench, split=cfg.split, data_dir=cfg.data_dir, limit=limit, **params)


# ----------------------------------------------------------------------------------------------------------------
# scoring


def _pass_ks(k: int) -> list[int]:
    ks, j = [], 1
    while j < k:
        ks.append(j)
        j *= 2
    ks.append(k)
    return ks


def gold_is_parsable(answer: Any) -> bool:
    """A gold answer is usable when it is a non-empty string after stripping (numbers are accepted as text)."""
    if answer is None:
        return False
    if isinstance(answer, float) and math.isnan(answer):
        return False
    return bool(str(answer).strip())


def score_problems(correct: list[list[bool]], answers: list[list[str | None]], k: int,
                   bootstrap_samples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores of one benchmark from per-problem verdicts (`correct[i][j]`) and extracted answers.

    Returns avg@k, pass@k' for k' in 1, 2, 4, ..., k (unbiased estimator), maj@k, the bootstrap 95% interval of
    avg@k and the per-problem fraction correct (kept so that runs over several seeds can be pooled later).
    """
    from harness import scores

    n_problems = len(correct)
    per_problem = [sum(c) / len(c) for c in correct] if n_problems else []
    out: dict[str, Any] = {"problems": n_problems, "k": k}
    if not n_problems:
        out.update({f"avg@{k}": None, f"maj@{k}": None, "ci95": [None, None], "per_problem": [],
                    "pass@": {}})
        return out
    out[f"avg@{k}"] = sum(per_problem) / n_problems
    out["pass@"] = {str(kk): sum(scores.pass_at_k(len(c), sum(c), kk) for c in correct) / n_problems
                    for kk in _pass_ks(k)}
    out[f"pass@{k}"] = out["pass@"][str(k)]
    out[f"maj@{k}"] = scores.maj_at_k(answers, correct, k=k)
    ci = scores.bootstrap_ci(per_problem, n_boot=bootstrap_samples, seed=seed)
    out["ci95"] = [ci.low, ci.high]
    out["per_problem"] = per_problem
    return out


# ----------------------------------------------------------------------------------------------------------------
# the evaluation itself



def check_responses(golds: list[str], texts: list[str], bench: str | None = None) -> list:
    """The checker's verdicts (``rewards.verify_batch_detailed``) on (gold, response) pairs, the way an evaluation
    checks them: one batch under the per-batch deadline of ``rewards.cost.batch_deadline``, with the answer options
    of ``bench`` (``benchmarks.answer_options``: arith takes only numbers written out)."""
    import benchmarks
    from rewards import Options, verify_batch_detailed
    from rewards.cost import batch_deadline

    opts = benchmarks.answer_options(bench) if bench in benchmarks.names() else {}
    return verify_batch_detailed(golds, texts, total_timeout=batch_deadline(len(texts)),
                                 options=Options(**opts) if opts else None) if texts else []

def evaluate(engine, tokenizer, cfg: EvalConfig, out_dir: str | Path | None = None, *, progress: bool = True,
             label: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate whatever `engine` generates (a `harness.rollout` engine) on `cfg.benches`.

    Writes, when `out_dir` is given, `<bench>.responses.jsonl` (every response, its extracted answer and verdict)
    and `summary.json` (all scores, the config, the checker and the wall time), both atomically. Returns the
    summary dict: {"config": {...}, "checker": {"fingerprint", "sympy"}, "benches": {bench: scores},
    "wall_time_s": float, ...}; "checker" is `rewards.checker_record()`, the answer checker that gave the verdicts.
    """
    import benchmarks
    from harness.rollout import Sampling, stop_token_ids_for
    from rewards import checker_record

    cfg.check()
    check_benches(cfg.benches)
    start = time.time()
    # which checker gave the verdicts: the leaderboard warns when the rows of one table were scored by different ones
    summary: dict[str, Any] = {"label": label, "config": asdict(cfg), "checker": checker_record(), "benches": {}}
    if extra:
        summary.update(extra)
    for bench in cfg.benches:
        limit, max_new_tokens, params = cfg.for_bench(bench)
        rows, report = benchmarks.load_with_report(bench, split=cfg.split, data_dir=cfg.data_dir, limit=limit,
                                                   **params)
        usable = [r for r in rows if gold_is_parsable(r.get("answer"))]
        # rows the loader could not read a gold answer (or problem) from, and any left with an empty gold here
        skipped = [str(i) for i in report.bad_gold_ids] + [str(i) for i in report.bad_problem_ids] + \
            [str(r.get("id")) for r in rows if not gold_is_parsable(r.get("answer"))]
        if skipped and progress:
            tqdm.write(f"[eval] {bench}: {len(skipped)} row(s) without a parsable gold answer or problem are left "
                       f"out of the scores: {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}")
        if cfg.template == "complete" and usable and not isinstance(usable[0].get("answer_prefix"), str):
            raise UserError(f"template 'complete' needs rows with an answer_prefix (arith rows have one); {bench} "
                            f"has none: evaluate it with another template")
        prompts = [benchmarks.render_prompt(tokenizer, r["problem"], template=cfg.template,
                                            answer_prefix=r.get("answer_prefix")) for r in usable]
        sampling = Sampling(n=cfg.k, max_new_tokens=max_new_tokens, temperature=cfg.temperature,
                            top_p=cfg.top_p, seed=cfg.seed,
                            stop_token_ids=stop_token_ids_for(tokenizer, benchmarks.template_stop(cfg.template)))
        rollouts = []
        chunks = range(0, len(prompts), cfg.batch_size)
        bar = tqdm(total=len(prompts) * cfg.k, desc=f"eval {label + ' ' if label else ''}{bench}", unit="resp",
                   disable=not progress, leave=False, dynamic_ncols=True)
        for lo in chunks:
            got = engine.generate(prompts[lo:lo + cfg.batch_size], sampling)
            expected = len(prompts[lo:lo + cfg.batch_size]) * cfg.k
            if len(got) != expected:
                raise RuntimeError(f"rollout engine returned {len(got)} responses for {expected} requested "
                                   f"({cfg.k} per prompt); the engine contract is len(prompts) * n, grouped by prompt")
            rollouts.extend(got)
            bar.update(len(got))
        bar.close()
        golds = [str(r["answer"]) for r in usable for _ in range(cfg.k)]
        texts = [ro.text for ro in rollouts]
        verdicts = check_responses(golds, texts, bench)
        correct = [[bool(v.correct) for v in verdicts[i * cfg.k:(i + 1) * cfg.k]] for i in range(len(usable))]
        answers = [[v.extracted for v in verdicts[i * cfg.k:(i + 1) * cfg.k]] for i in range(len(usable))]
        scores = score_problems(correct, answers, cfg.k, bootstrap_samples=cfg.bootstrap_samples, seed=cfg.seed)
        scores["rows"] = len(rows) + len(report.bad_gold_ids) + len(report.bad_problem_ids)
        scores["source"] = report.source
        scores["gold_unparsable"] = len(skipped)
        scores["gold_unparsable_ids"] = skipped[:50]
        scores["truncated_frac"] = (sum(ro.finish_reason == "length" for ro in rollouts) / len(rollouts)
                                    if rollouts else 0.0)
        scores["response_tokens_mean"] = (sum(len(ro.response_ids) for ro in rollouts) / len(rollouts)
                                          if rollouts else 0.0)
        reasons: dict[str, int] = {}
        for v in verdicts:
            reasons[v.reason] = reasons.get(v.reason, 0) + 1
        scores["verdict_reasons"] = reasons
        summary["benches"][bench] = scores
        if out_dir is not None:
            lines = []
            for i, row in enumerate(usable):
                for j in range(cfg.k):
                    ro, v = rollouts[i * cfg.k + j], verdicts[i * cfg.k + j]
                    lines.append(json.dumps({
                        "id": str(row.get("id")), "sample": j, "problem": row["problem"], "gold": str(row["answer"]),
                        "response": ro.text, "extracted": v.extracted, "correct": bool(v.correct),
                        "reason": v.reason, "finish_reason": ro.finish_reason,
                        "response_tokens": len(ro.response_ids)}, ensure_ascii=False))
            for rid in skipped:
                lines.append(json.dumps({"id": rid, "skipped": "gold answer cannot be parsed"}))
            write_text(Path(out_dir) / responses_file(bench), "\n".join(lines) + ("\n" if lines else ""))
    summary["wall_time_s"] = time.time() - start
    if out_dir is not None:
        write_json(Path(out_dir) / SUMMARY_FILE, summary)
    return summary


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """{bench: avg@k} of an evaluation summary."""
    return {b: s.get(f"avg@{s['k']}") for b, s in summary["benches"].items()}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def format_summary(summary: dict[str, Any]) -> str:
    """A small plain-text table of an evaluation summary (one line per benchmark)."""
    from tabulate import tabulate

    rows = []
    for bench, s in summary["benches"].items():
        k = s["k"]
        avg = s.get(f"avg@{k}")
        lo, hi = s.get("ci95") or [None, None]
        rows.append([bench, s["problems"], _pct(avg), f"[{_pct(lo)}, {_pct(hi)}]", _pct(s.get(f"pass@{k}")),
                     _pct(s.get(f"maj@{k}")), s.get("gold_unparsable", 0), f"{100 * s.get('truncated_frac', 0):.0f}%"])
    k = next(iter(summary["benches"].values()))["k"] if summary["benches"] else "k"
    return tabulate(rows, headers=["bench", "problems", f"avg@{k} %", "95% CI", f"pass@{k} %", f"maj@{k} %",
                                   "gold unparsable", "truncated"], tablefmt="github")


# ----------------------------------------------------------------------------------------------------------------
# trainer callback


def make_train_callback(curve_cfg: EvalConfig, final_cfg: EvalConfig | None = None,
                        final_dir: str | Path | None = None, progress: bool = False, *, final_label: str | None = None,
                        final_extra: dict[str, Any] | None = None):
    """A trainer callback `cb(step, trainer) -> dict` measuring held-out accuracy with the trainer's engine.

    Every call evaluates `curve_cfg` and returns {"eval/<bench>/avg@<k>": ..., "eval/accuracy": mean over benches},
    which the trainer merges into that step's metrics record. At the last step (`step == trainer.cfg.steps`), when
    `final_cfg` and `final_dir` are given, it also runs the final evaluation and writes its files into `final_dir`
    (so the trained model is evaluated without reloading it or starting another engine), with `final_label`
    (default "final <algo>") and the entries of `final_extra` in its summary.
    """
    def callback(step: int, trainer) -> dict[str, float]:
        summary = evaluate(trainer.engine, trainer.tokenizer, curve_cfg, None, progress=progress, label=f"step {step}")
        out: dict[str, float] = {}
        values = []
        for bench, s in summary["benches"].items():
            v = s.get(f"avg@{s['k']}")
            if v is not None:
                out[mk.key(mk.EVAL_BENCH, bench=bench, k=s["k"])] = v
                values.append(v)
        if values:
            out[mk.EVAL_ACCURACY] = sum(values) / len(values)
        if final_cfg is not None and final_dir is not None and step >= trainer.cfg.steps:
            evaluate(trainer.engine, trainer.tokenizer, final_cfg, final_dir, progress=progress,
                     label=final_label or f"final {trainer.cfg.algo}", extra={**(final_extra or {}), "step": step})
        return out

    return callback
