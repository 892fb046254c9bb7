"""The model card of a trained model: ``final/README.md`` in the Hugging Face Hub's format.

YAML metadata first (``base_model``, ``library_name``, ``tags`` with ``rlvr-zoo`` and the objective's name,
``datasets``, ``pipeline_tag``), then the objective and its hyperparameters (those that differ from the shared recipe
marked), the training budget, the held-out scores when an evaluation ran (``<run>/eval/summary.json``, else the last
``eval/accuracy`` in ``metrics.jsonl``) and the ``rlvr-zoo train`` command that reproduces the run. ``huggingface-cli
upload`` of the ``final/`` folder then gives a usable Hub page (TRL writes one for its trainers the same way).
"""
from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from typing import Any

import yaml

from harness import metric_keys as mk
from harness import run_layout
from harness.io import read_json, write_text

__all__ = ["render", "write"]

#: Hub ids of the built-in model names (tiny-random is random weights: no base model on the Hub)
BASE_MODELS = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def _base_model(spec: str) -> str | None:
    if spec in BASE_MODELS:
        return BASE_MODELS[spec]
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not Path(spec).exists():
        return spec  # a Hub id
    return None


def _dataset(task: str) -> str | None:
    from benchmarks.sources import BENCHMARKS

    bench = BENCHMARKS.get(task)
    return bench.hub_id if bench is not None else None


def _flow(value: Any) -> str:
    """A --set value as YAML flow text (what TrainConfig.with_overrides reads back)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...")


def reproduce_command(config: dict[str, Any]) -> str:
    """``rlvr-zoo train ...`` with every TrainConfig field that differs from its default."""
    from harness.training.config import TrainConfig

    defaults = TrainConfig().to_dict()
    args = ["rlvr-zoo", "train", "--algo", config["algo"], "--model", str(config["model"]), "--task",
            str(config["task"]), "--steps", str(config["steps"])]
    for key, value in config.items():
        if key in ("algo", "model", "task", "steps", "out_dir") or defaults.get(key) == value:
            continue
        args += ["--set", f"{key}={_flow(value)}"]
    return " ".join(shlex.quote(a) for a in args) + " --out OUT"


def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _summary(path: Path) -> dict | None:
    """The run's eval/summary.json as data, None (with a warning) when it is not an evaluation summary: the card is
    written from the training curve then, and the finished run is not turned into a failed one."""
    try:
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("benches"), dict) and all(
                isinstance(s, dict) for s in data["benches"].values()):
            return data
        problem = "not of the shape `rlvr-zoo eval` writes"
    except (OSError, ValueError) as exc:
        problem = " ".join(str(exc).split())[:200]
    warnings.warn(f"{path} is left out of the model card ({problem})", stacklevel=3)
    return None


def _scores(run_dir: Path) -> list[str]:
    summary = run_dir / run_layout.EVAL_DIR / run_layout.SUMMARY_FILE
    data = _summary(summary) if summary.is_file() else None
    if data is not None:
        lines = ["| benchmark | problems | k | avg@k (%) | 95% interval (%) |", "|---|---|---|---|---|"]
        for bench, s in data.get("benches", {}).items():
            k = s.get("k")
            avg, ci = s.get(f"avg@{k}"), s.get("ci95")
            ci = ci if isinstance(ci, list) and len(ci) == 2 else [None, None]
            lines.append(f"| {bench} | {s.get('problems')} | {k} | {_pct(avg)} | [{_pct(ci[0])}, {_pct(ci[1])}] |")
        return lines
    records = run_layout.read_metrics(run_dir / run_layout.METRICS_FILE)
    curve = [r for r in records if r.get(mk.EVAL_ACCURACY) is not None]
    if curve:
        last = curve[-1]
        return [f"Held-out accuracy measured during training, at step {last[mk.STEP]}: "
                f"{100 * last[mk.EVAL_ACCURACY]:.1f}% (`{mk.EVAL_ACCURACY}` in metrics.jsonl)."]
    return ["No held-out evaluation ran with this training (`rlvr-zoo eval --model <this folder>` scores it)."]


def render(config: dict[str, Any], run_dir: str | Path, steps_done: int | None = None,
           wall_time_s: float | None = None) -> str:
    """The card's text for a run of ``config`` (a TrainConfig.to_dict()) written to ``run_dir``."""
    import algorithms
    from harness.objective_info import objective

    run_dir = Path(run_dir)
    algo = config["algo"]
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "text-generation",
                            "tags": ["rlvr-zoo", algo, "reinforcement-learning", "rlvr"]}
    if _base_model(str(config["model"])):
        meta["base_model"] = _base_model(str(config["model"]))
    if _dataset(config["task"]):
        meta["datasets"] = [_dataset(config["task"])]
    info = objective(algo) if algo in algorithms.names() else None
    hp = {**(info["fields"] if info else {}), **config.get("algo_overrides", {})}
    changed = set(info["differs"]) if info else set()
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
             f"# {algo} on {config['task']} from {config['model']}", "",
             "Trained with rlvr-zoo (reinforcement learning with verifiable rewards), objective "
             f"`{algo}`" + (f": {info['summary']}" if info and info["summary"] else "."), ""]
    if info and info["paper"] != "-":
        lines += [f"Objective paper: {info['paper']}.", ""]
    lines += ["## Objective hyperparameters", "", "Fields without a note hold the recipe every objective shares.", "",
              "| field | value |", "|---|---|"]
    overrides = config.get("algo_overrides", {})

    def note(k: str) -> str:
        if k in overrides:
            return f" (set for this run; {algo}'s default `{info['fields'].get(k) if info else '?'}`)"
        return f" ({algo}'s own setting)" if k in changed else ""
    lines += [f"| {k}{note(k)} | `{v}` |" for k, v in hp.items()]
    budget = [("steps", steps_done if steps_done is not None else config["steps"]),
              ("prompts per step", config.get("prompts_per_step")),
              ("responses per prompt", config.get("responses_per_prompt")),
              ("max new tokens", config.get("max_new_tokens")), ("learning rate", config.get("lr")),
              ("epochs per step", config.get("epochs")), ("temperature", config.get("temperature")),
              ("reward", config.get("reward")), ("prompt template", config.get("template")),
              ("seed", config.get("seed")), ("dtype", config.get("dtype"))]
    if wall_time_s is not None:
        budget.append(("wall time", f"{wall_time_s:.0f} s"))
    lines += ["", "## Training budget", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in budget]
    lines += ["", "## Held-out scores", ""] + _scores(run_dir)
    lines += ["", "## Reproduce", "", "```bash", reproduce_command(config), "```", ""]
    return "\n".join(lines)


def write(final_dir: str | Path, config: dict[str, Any], steps_done: int | None = None,
          wall_time_s: float | None = None) -> Path:
    """Write ``final_dir/README.md`` (atomically) for a run whose folder is ``final_dir``'s parent."""
    path = Path(final_dir) / "README.md"
    write_text(path, render(config, Path(final_dir).parent, steps_done, wall_time_s))
    return path
