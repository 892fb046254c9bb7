"""Head-to-head comparison: train several objectives under identical conditions and score them on held-out sets.

Every run of a comparison uses the same initial model, the same seed (per seed of the list), the same task, prompts
and budget (all `TrainConfig` fields except `algo` and `algo_overrides`); only the objective differs. The base model
is evaluated once, every trained model on the same held-out sets with the same sampling seed.

Output layout of `--out OUT`:

    OUT/config.yaml                        the resolved settings (preset, algos, seeds, train, eval, train_eval)
    OUT/base/eval/summary.json             scores of the initial model (+ <bench>.responses.jsonl)
    OUT/runs/<algo>/seed-<s>/              the trainer's out_dir: metrics.jsonl, run.json, checkpoints/, final/
    OUT/runs/<algo>/seed-<s>/eval/         final held-out evaluation of the trained model (summary + responses)
    OUT/runs/<algo>/seed-<s>/DONE          written atomically when the run is trained and evaluated
    OUT/leaderboard.{md,csv,json,tex,html} OUT/curves.png

Resuming: running the same command again skips runs with a DONE marker and resumes an unfinished run from its last
checkpoint; adding algorithms or seeds to a finished comparison trains only the new runs. Changing any other setting
for an existing OUT is an error (use a new --out).
"""
from __future__ import annotations

import dataclasses
import gc
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from harness import presets as presets_mod
from harness import run_layout
from harness.compare import warm_start
from harness.compare.time_report import COMPARE_PHASES, timed, write_timing
from harness.evaluate import EvalConfig, check_benches, evaluate, make_train_callback
from harness.io import check_dir, ensure_dir, read_text, write_json, write_text
from harness.run_layout import CONFIG_FILE, DONE_FILE, SUMMARY_FILE
from harness.timing import PhaseTimer


class CompareInterrupted(Exception):
    """A run stopped before its last step (SIGINT/SIGTERM); finished runs and checkpoints are kept."""


# ----------------------------------------------------------------------------------------------------------------
# parsing


@dataclass
class AlgoSpec:
    """One row of a comparison: a registered objective, optionally with hyperparameter overrides (a variant)."""
    label: str                      # as written by the user, e.g. "ce-gppo:beta1=0.75,beta2=1"
    algo: str                       # registry name, e.g. "ce-gppo"
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """Directory name: the label with characters other than letters, digits, '.', '-', '=' replaced by '_'."""
        return run_layout.slug(self.label)


def _parse_value(text: str) -> Any:
    try:
        return presets_mod.load_yaml(text, "value")
    except presets_mod.ConfigFileError:
        return text


def parse_algo_spec(text: str) -> AlgoSpec:
    """`name` or `name:field=value,field=value` -> AlgoSpec (values parsed as YAML scalars)."""
    text = text.strip()
    name, _, rest = text.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"algorithm variant {text!r}: expected name:field=value[,field=value...], "
                             f"got {item!r}")
        overrides[key.strip()] = _parse_value(value.strip())
    label = name.strip() if not overrides else f"{name.strip()}:" + ",".join(f"{k}={v}" for k, v in overrides.items())
    return AlgoSpec(label=label, algo=name.strip(), overrides=overrides)


def split_algos(items: list[str] | str) -> list[str]:
    """Split `ppo,grpo,ce-gppo:beta1=0.75,beta2=1` into specs: a `field=value` piece without ':' continues the
    variant before it. Several items (repeated --algos or a preset list) are concatenated."""
    if isinstance(items, str):
        items = [items]
    specs: list[str] = []
    for item in items:
        for piece in filter(None, (p.strip() for p in re.split(r"[;,]", item))):
            if "=" in piece and ":" not in piece and specs and ":" in specs[-1]:
                specs[-1] += "," + piece
            else:
                specs.append(piece)
    return specs


def parse_sets(items: list[str], train: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """--set eval.field=value / train_eval.field=value (each value coerced to its EvalConfig field's type, as
    `algorithms.fields` does for every config), compare.field=value (values parsed as YAML scalars) and the training
    fields, field=value or field.key=value (or train.field=value): applied to ``train`` (the preset's training
    fields) as ``train --set`` applies them (harness.training.config.apply_sets)."""
    from harness.training.config import TrainConfig, apply_sets

    out: dict[str, dict[str, Any]] = {"train": {}, "eval": {}, "train_eval": {}, "compare": {}}
    train_sets = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set {item!r}: expected field=value (a TrainConfig field) or eval.field=value, "
                             f"train_eval.field=value, compare.field=value")
        section, dot, name = key.strip().partition(".")
        if section == "train" and dot:
            train_sets.append(f"{name}={value}")
        elif dot and section in ("eval", "train_eval"):
            out[section][name] = value.strip()
        elif dot and section in out:
            out[section][name] = _parse_value(value.strip())
        elif not dot or section in TrainConfig.field_names():
            train_sets.append(item)
        else:
            raise ValueError(f"--set {item!r}: unknown section {section!r}; use field=value for training fields or "
                             f"one of eval., train_eval., compare.")
    out["train"] = apply_sets(dict(train or {}), train_sets)
    out["eval"], out["train_eval"] = EvalConfig.values(out["eval"]), EvalConfig.values(out["train_eval"])
    return out


# ----------------------------------------------------------------------------------------------------------------
# the plan


@dataclass
class Plan:
    """Everything a comparison will do, checked before any model is loaded."""
    preset: presets_mod.Preset
    algos: list[AlgoSpec]
    seeds: list[int]
    train: dict[str, Any]
    eval: EvalConfig
    train_eval: EvalConfig
    out: Path
    options: dict[str, Any]
    start_model: str | None = None   # the warm start's model directory once built (run); None: train.model

    def model_for_runs(self) -> str:
        """The model every arm and the base evaluation start from: the warm start, else `train.model`."""
        return self.start_model or self.train.get("model") or _train_default("model")

    def config_dict(self) -> dict[str, Any]:
        return {"preset": self.preset.name, "preset_file": str(self.preset.path),
                "algos": [a.label for a in self.algos], "seeds": list(self.seeds), "train": dict(self.train),
                "eval": dataclasses.asdict(self.eval), "train_eval": dataclasses.asdict(self.train_eval),
                "compare": dict(self.options)}

    def run_dir(self, spec: AlgoSpec, seed: int) -> Path:
        return run_layout.run_dir(self.out, spec.slug, seed)


def train_config_fields() -> list[str]:
    from harness.training.config import TrainConfig
    return [f.name for f in dataclasses.fields(TrainConfig)]


def check_algos(specs: list[AlgoSpec]) -> None:
    """Unknown names and fields are errors that list the valid ones (algorithms.get does the field check)."""
    import algorithms

    valid = algorithms.names()
    for spec in specs:
        if spec.algo not in valid:
            raise ValueError(f"unknown algorithm {spec.algo!r}; valid algorithms: {', '.join(valid)} "
                             f"(a plugin registering more can be loaded with --plugin FILE)")
        algorithms.get(spec.algo, **spec.overrides)


def resolve_init_from(spec: str | Path) -> str:
    """The model every arm of a comparison starts from (`compare --init-from`, preset `compare.init_from`): a model
    directory (with config.json), a run directory (its `final/`), a comparison directory holding exactly one trained
    model (`runs/<algo>/seed-<s>/final/`), or a model name / Hub id (returned as given, checked when loaded)."""
    text = str(spec)
    path = Path(text).expanduser()
    if not path.exists():
        if text.startswith(("/", ".", "~")):
            raise ValueError(f"--init-from {text}: no such directory; give a model directory, a run directory with "
                             f"{run_layout.FINAL_DIR}/, a comparison directory, or a model name")
        return text
    if not path.is_dir():
        raise ValueError(f"--init-from {text}: not a directory; give a model directory, a run directory with "
                         f"{run_layout.FINAL_DIR}/, a comparison directory, or a model name")
    for candidate in (path, path / run_layout.FINAL_DIR):
        if (candidate / "config.json").is_file():
            return str(candidate.resolve())
    finals = sorted(p.parent for p in path.glob(f"{run_layout.RUNS_DIR}/*/*/{run_layout.FINAL_DIR}/config.json"))
    if len(finals) == 1:
        return str(finals[0].resolve())
    if finals:
        listed = ", ".join(str(f) for f in finals)
        raise ValueError(f"--init-from {text}: the comparison holds {len(finals)} trained models; give one of them: "
                         f"{listed}")
    raise ValueError(f"--init-from {text}: no model found (no config.json, no {run_layout.FINAL_DIR}/, no trained "
                     f"model under {run_layout.RUNS_DIR}/; keep_final: false deletes them)")


def make_plan(preset: str | Path, algos: list[str] | str | None = None, seeds: list[int] | None = None,
              out: str | Path | None = None, sets: list[str] = (), init_from: str | Path | None = None) -> Plan:
    """Resolve the preset, the command-line choices and --set overrides into a checked Plan. ``init_from``
    (or the preset's `compare.init_from`) replaces `train.model` for every arm and the base evaluation."""
    p = presets_mod.load(preset)
    changes = parse_sets(list(sets), train=p.train)
    specs = [parse_algo_spec(s) for s in split_algos(algos if algos else p.algos)]
    if not specs:
        raise ValueError(f"no algorithm given: pass --algos (e.g. ppo,grpo) or set `algos:` in the preset {p.path}")
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"algorithm {dupes[0]!r} is listed twice; give each algorithm or variant once")
    check_algos(specs)
    seeds = list(seeds) if seeds else list(p.seeds)
    train = changes["train"]
    # equal budgets: a dynamic-sampling objective may not draw more responses than the others (TrainConfig.budget)
    train.setdefault("budget", "equal-rollouts")
    # repeatable arms: deterministic kernels wherever torch has a choice (TrainConfig.deterministic)
    train.setdefault("deterministic", True)
    valid = train_config_fields()
    unknown = sorted(set(train) - set(valid))
    if unknown:
        raise ValueError(f"unknown training field(s) {', '.join(unknown)}; valid TrainConfig fields: "
                         f"{', '.join(valid)}")
    from harness.training import trackers   # as `train` does: a tracker that cannot work stops before any work

    trackers.check(train.get("report_to", _train_default("report_to")), probe_stores=True)
    per_run = sorted(set(train) & set(presets_mod.PER_RUN_TRAIN_FIELDS))
    if per_run:
        raise ValueError(f"{per_run[0]} is set per run by compare; use --algos / --seeds / --out instead")
    eval_dict = EvalConfig.values({**p.eval, **changes["eval"]})
    task = train.get("task") or _train_default("task")
    eval_dict.setdefault("benches", [task])
    params = dict(eval_dict.get("bench_params") or {})
    if task in eval_dict["benches"] and task not in params and train.get("task_params"):
        # the held-out split of the training task with the same parameters, except its size (eval.limit decides)
        params[task] = {k: v for k, v in train["task_params"].items() if k != "n"}
    eval_dict["bench_params"] = params
    eval_cfg = EvalConfig.from_dict(eval_dict)
    check_benches(eval_cfg.benches)
    te = dict(p.train_eval)
    te.update(changes["train_eval"])
    train_eval_cfg = eval_cfg.replace(**te)
    options = dict(p.compare)
    unknown = sorted(set(changes["compare"]) - set(presets_mod.COMPARE_OPTIONS))
    if unknown:
        raise ValueError(f"unknown compare option(s) {', '.join(unknown)}; valid: "
                         f"{', '.join(presets_mod.COMPARE_OPTIONS)}")
    options.update(changes["compare"])
    if init_from is not None:
        options["init_from"] = str(init_from)
    if options.get("init_from"):
        if options.get("warm_start"):
            raise ValueError("give either compare.init_from (--init-from) or compare.warm_start, not both")
        train["model"] = resolve_init_from(options["init_from"])
    if options.get("warm_start"):
        warm_start.spec_of({**{"model": _train_default("model")}, **train}, options["warm_start"])  # checked now
    from harness.model_files import check_local_spec   # a damaged local model stops here, before any work
    from harness.models import SMOLLM2_SPEC, TINY_SPEC

    if (train.get("model") or _train_default("model")) not in (SMOLLM2_SPEC, TINY_SPEC):   # names, not folders
        check_local_spec(train.get("model") or _train_default("model"))
    out = Path(out) if out else Path("results") / p.name
    return Plan(preset=p, algos=specs, seeds=seeds, train=train, eval=eval_cfg, train_eval=train_eval_cfg, out=out,
                options=options)


def _train_default(name: str) -> Any:
    from harness.training.config import TrainConfig
    for f in dataclasses.fields(TrainConfig):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                return f.default_factory()  # type: ignore[misc]
    return None


def _check_existing(plan: Plan) -> list[str]:
    """Refuse an OUT that holds a comparison with other settings; return the algos recorded there (kept in
    config.yaml so that the leaderboard lists earlier rows too)."""
    path = plan.out / CONFIG_FILE
    if not path.is_file():
        return []
    try:
        old = presets_mod.load_yaml(read_text(path, 2**20), str(path)) or {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read ({' '.join(str(exc).split())}); it should be the config.yaml "
                         f"`rlvr-zoo compare` writes: use another --out") from None
    problem = ("the top level is not a mapping" if not isinstance(old, dict) else
               "algos is not a list of labels" if not (isinstance(old.get("algos", []), list) and
                                                       all(isinstance(a, str) for a in old.get("algos", []))) else
               next((f"{k} is not a mapping" for k in ("train", "eval", "train_eval")
                     if not isinstance(old.get(k) or {}, dict)), None))
    if problem:
        raise ValueError(f"{path}: {problem}; not the settings `rlvr-zoo compare` writes: use another --out")
    new = plan.config_dict()
    for section in ("train", "eval", "train_eval"):
        if section == "train":  # where the metrics are also reported does not change the runs
            old["train"], new = {k: v for k, v in (old.get("train") or {}).items() if k != "report_to"}, \
                {**new, "train": {k: v for k, v in new["train"].items() if k != "report_to"}}
        if _normal(old.get(section)) != _normal(new[section]):
            keys = sorted(set(old.get(section) or {}) | set(new[section]))
            diff = [k for k in keys if _normal((old.get(section) or {}).get(k)) != _normal(new[section].get(k))]
            raise ValueError(f"{plan.out} already holds a comparison with different {section} settings "
                             f"({', '.join(f'{k}: {(old.get(section) or {}).get(k)!r} -> {new[section].get(k)!r}' for k in diff)}); "
                             f"use another --out, or the same preset and --set options to resume it")
    return list(old.get("algos", []))


def _normal(obj: Any) -> Any:
    return presets_mod.load_yaml(yaml.safe_dump(obj, sort_keys=True), "settings") if obj is not None else {}


def check_data(plan: Plan) -> None:
    """Read the training task's rows and every benchmark of the evaluations once, so that a bad task parameter
    (``--set task_params={levl: 2}``) or a missing data file stops the comparison before a model loads (ValueError or
    the loader's BenchmarkDataError, one line), as `train` and `eval` do."""
    import benchmarks

    from harness.evaluate import check_data as check_eval_data

    train = plan.train
    benchmarks.load(train.get("task") or _train_default("task"), split=train.get("split") or _train_default("split"),
                    data_dir=train.get("data_dir"), **(train.get("task_params") or {}))
    for cfg in (plan.eval, plan.train_eval):
        check_eval_data(cfg)


def check_folders(plan: Plan) -> None:
    """Every folder the comparison writes into below ``plan.out`` (base/eval/, runs/<slug>/seed-<s>/ and their
    eval/ and checkpoints/) is a real directory or not there yet: a symbolic link planted there is refused
    (harness.io.UnsafePathError, one line) before anything is loaded or written."""
    folders = [run_layout.base_eval_dir(plan.out), run_layout.untouched_eval_dir(plan.out)]
    for spec in plan.algos:
        for seed in plan.seeds:
            run = plan.run_dir(spec, seed)
            folders += [run / run_layout.EVAL_DIR, run / run_layout.CHECKPOINTS_DIR]
    for folder in folders:
        check_dir(folder, plan.out)


# ----------------------------------------------------------------------------------------------------------------
# running


def _make_engine(train: dict[str, Any], model, tokenizer):
    """The comparison's rollout engine for `model`: `engine` with the compute dtype and `engine_params`."""
    from harness.rollout import make_engine

    engine_kw = {"dtype": train.get("dtype") or _train_default("dtype"),
                 **(train.get("engine_params") or _train_default("engine_params") or {})}
    return make_engine(train.get("engine") or _train_default("engine") or "hf", model, tokenizer, **engine_kw)


def evaluate_model(model_spec: str, train: dict[str, Any], cfg: EvalConfig, out_dir: Path, label: str,
                   progress: bool = True, shared: "SharedEngine | None" = None,
                   display: str | None = None, timer=None, phase: str = "base_eval") -> dict[str, Any]:
    """Load a model (spec or path) in float32, build the comparison's engine for it (the configured compute dtype
    and `engine_params`, as the trainer builds it) or load its weights into the shared engine, and evaluate; files
    go to out_dir. ``display`` names the model in the summary (default: the spec). ``timer``: the comparison's
    PhaseTimer, which gets the load as ``load``, the engine as ``engine_start`` and the evaluation as ``phase``."""
    from harness.models import load_policy

    with timed(timer, "load"):
        model, tokenizer = load_policy(model_spec, dtype="float32")
        model.eval()
    if shared is not None:
        with timed(timer, "engine_start"):
            engine = shared.get(model, tokenizer)
        try:
            with timed(timer, phase):
                return evaluate(engine, tokenizer, cfg, out_dir, progress=progress, label=label,
                                extra={"model": display or str(model_spec)})
        finally:
            del model
            gc.collect()
    with timed(timer, "engine_start"):
        engine = _make_engine(train, model, tokenizer)
    try:
        with timed(timer, phase):
            return evaluate(engine, tokenizer, cfg, out_dir, progress=progress, label=label,
                            extra={"model": display or str(model_spec)})
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
        del model, engine
        gc.collect()


class SharedEngine:
    """One rollout engine for every run of a comparison (compare option `share_engine`, on by default for engines
    other than "hf"): vLLM's start-up (30-80 s on a 2-core CPU) is paid once, and each run or evaluation pushes its
    own weights in with `sync_weights` before generating. Built lazily, on first use."""

    def __init__(self, train: dict[str, Any]):
        self.train = train
        self.engine = None
        self.startup_s: float | None = None

    def get(self, model, tokenizer):
        if self.engine is None:
            start = time.perf_counter()
            self.engine = _make_engine(self.train, model, tokenizer)
            self.startup_s = time.perf_counter() - start
        else:
            self.engine.sync_weights(model)
        return self.engine

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()
        self.engine = None


def _wants_shared_engine(plan: "Plan") -> bool:
    kind = plan.train.get("engine") or _train_default("engine")
    return bool(plan.options.get("share_engine", True)) and kind != "hf"


def _train_one(plan: Plan, spec: AlgoSpec, seed: int, progress: bool, shared: SharedEngine | None = None,
               timer=None) -> dict[str, Any]:
    from harness.training import TrainConfig, train

    run_dir = ensure_dir(plan.run_dir(spec, seed), plan.out)
    eval_dir = check_dir(run_dir / run_layout.EVAL_DIR, plan.out)
    checkpoints = run_dir / run_layout.CHECKPOINTS_DIR
    if eval_dir.exists():  # from an interrupted attempt: the final evaluation is redone for the final model
        shutil.rmtree(eval_dir)
    cfg = TrainConfig(**{**plan.train, "model": plan.model_for_runs()}, algo=spec.algo,
                      algo_overrides=dict(spec.overrides), seed=seed, out_dir=str(run_dir))
    # torch: imported when a run starts
    from harness.training.checkpoint_files import list_checkpoints, remove_stale_temporaries

    remove_stale_temporaries(run_dir)   # a killed writer's half-written .step-N.tmp-* is not a checkpoint
    resume = bool(list_checkpoints(run_dir))
    final_model = run_dir / run_layout.FINAL_DIR  # where the trainer saves the trained model
    callback = make_train_callback(plan.train_eval, plan.eval, eval_dir, progress=False, final_label=spec.label,
                                   final_extra={"model": str(final_model)})
    start = time.time()
    kw: dict[str, Any] = {}
    if shared is not None:
        if shared.engine is None:  # resumed comparison: the base model was evaluated by an earlier process
            from harness.models import load_policy

            with timed(timer, "engine_start"):
                base_model, base_tok = load_policy(plan.model_for_runs(), dtype="float32")
                shared.get(base_model, base_tok)
                del base_model
        kw["engine"] = shared.engine
    with timed(timer, "train"):
        result = train(cfg, resume=resume, callbacks=[callback], progress=progress, **kw)
    if result.status != "completed" or not result.final_model_dir:
        raise CompareInterrupted(f"{spec.label} seed {seed} stopped after step {result.steps_done} "
                                 f"({result.status}); its checkpoint is in "
                                 f"{checkpoints}: run the same command again to resume")
    if not (eval_dir / SUMMARY_FILE).is_file():  # the trainer did not call back at the last step
        evaluate_model(str(result.final_model_dir), plan.train, plan.eval, eval_dir, label=spec.label,
                       progress=progress, shared=shared, timer=timer, phase="final_eval")
    info = {"label": spec.label, "algo": spec.algo, "overrides": spec.overrides, "seed": seed,
            "train_wall_time_s": result.wall_time_s,
            "wall_time_s": time.time() - start, "resumed": resume,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if resume:
        info["wall_time_s"] = max(info["wall_time_s"], float(info["train_wall_time_s"]))
    with timed(timer, "cleanup"):
        write_json(run_dir / DONE_FILE, info)
        if not plan.options.get("keep_checkpoints", False) and checkpoints.is_dir():
            shutil.rmtree(checkpoints)
        if not plan.options.get("keep_final", True) and Path(result.final_model_dir).is_dir():
            shutil.rmtree(result.final_model_dir)
        del result
        gc.collect()
    return info


def run(plan: Plan, progress: bool = True, echo=print) -> list[dict[str, Any]]:
    """Execute a plan (skipping finished runs), then write the leaderboards and curves. Returns the leaderboard
    rows."""
    from harness import leaderboard
    from harness.leaderboard import curves

    timer = PhaseTimer(COMPARE_PHASES)
    previous = _check_existing(plan)
    check_folders(plan)
    labels = previous + [a.label for a in plan.algos if a.label not in previous]
    config = plan.config_dict()
    config["algos"] = labels
    plan.out.mkdir(parents=True, exist_ok=True)
    write_text(plan.out / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))
    jobs = [(spec, seed) for spec in plan.algos for seed in plan.seeds]
    base_dir = run_layout.base_eval_dir(plan.out)
    bar = tqdm(total=len(jobs) + 1, desc="compare", unit="run", disable=not progress, position=0,
               dynamic_ncols=True)
    shared = SharedEngine(plan.train) if _wants_shared_engine(plan) else None
    timed_runs: dict[str, Path] = {}
    try:
        bar.set_postfix_str("base model")
        ensure_dir(base_dir, plan.out)
        display = None
        if plan.options.get("warm_start"):
            with timed(timer, "warm_start"):
                plan.start_model, record = warm_start.ensure(plan.out, plan.train, plan.options, progress, echo)
            display = warm_start.label(record)
            untouched = ensure_dir(run_layout.untouched_eval_dir(plan.out), plan.out)
            if not (untouched / SUMMARY_FILE).is_file():   # reported beside the warm start
                evaluate_model(plan.train.get("model") or _train_default("model"), plan.train, plan.eval, untouched,
                               label="untouched base", progress=progress, shared=shared, timer=timer)
        if (base_dir / SUMMARY_FILE).is_file():
            echo(f"[compare] base model: already evaluated ({base_dir / SUMMARY_FILE})")
        else:
            evaluate_model(plan.model_for_runs(), plan.train, plan.eval, base_dir, label="base", progress=progress,
                           shared=shared, display=display, timer=timer)
        bar.update(1)
        for spec, seed in jobs:
            run_dir = plan.run_dir(spec, seed)
            bar.set_postfix_str(f"{spec.label} seed {seed}")
            if (run_dir / DONE_FILE).is_file():
                echo(f"[compare] {spec.label} seed {seed}: finished earlier, skipped ({run_dir / DONE_FILE})")
            else:
                _train_one(plan, spec, seed, progress, shared, timer)
                timed_runs[f"{spec.slug}/seed-{seed}"] = run_dir
            bar.update(1)
    finally:
        bar.close()
        if shared is not None:
            if shared.startup_s is not None:
                echo(f"[compare] one {plan.train.get('engine')} engine served every run (start-up "
                     f"{shared.startup_s:.0f} s, paid once)")
            shared.close()
    with timed(timer, "leaderboard"):
        rows = leaderboard.collect(plan.out)
        leaderboard.write_all(rows, plan.out)
        curves.plot(leaderboard.metrics_files(rows), plan.out / "curves.png", title=f"{plan.preset.name}: "
                    f"{plan.train.get('model', '')} on {plan.train.get('task', '')}")
    write_timing(plan.out, timer, timed_runs)
    return rows
