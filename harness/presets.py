"""Comparison presets: plain YAML files that users can read, copy and edit.

A preset fixes everything a head-to-head comparison holds constant. Its top-level keys:

    description   one line shown by `rlvr-zoo list`
    algos         the default algorithms (registry names, or variants such as `ce-gppo:beta1=0.75,beta2=1`)
    seeds         the default seeds (list of ints); every algorithm runs once per seed
    train         fields of `harness.training.TrainConfig` (model, task, steps, lr, ...); `algo`, `seed`, `out_dir`
                  are filled in per run by `compare` and may not be set here
    eval          fields of `harness.evaluate.EvalConfig` for the final held-out evaluation of the base model and of
                  every trained model (benches, k, temperature, top_p, max_new_tokens, limit, ...)
    train_eval    fields of `EvalConfig` that override `eval` for the held-out accuracy curve measured during
                  training every `train.eval_every` steps (usually a smaller `limit` and `k: 1`)
    compare       options of the comparison itself: keep_checkpoints (bool, default false: delete a run's
                  `checkpoints/` once it is finished and evaluated), keep_final (bool, default true),
                  share_engine (bool, default true: one rollout engine, started once, serves every run and
                  evaluation of the comparison when the engine is not "hf"; false starts one per run),
                  init_from (a model, a model directory, a run directory with `final/` or a comparison directory
                  with one trained model: every arm and the base evaluation start from it instead of
                  `train.model`; `compare --init-from` sets it), warm_start (a mapping of TrainConfig fields, `algo`
                  included, laid over `train`: a shared warm start trained once from its seed, cached, its weights'
                  digest recorded in OUT/warm_start.json and checked when it is rebuilt; harness/compare/warm_start.py),
                  warm_start_mismatch (refuse | warn: what a rebuilt warm start with another digest does)

Unknown keys are errors. The files shipped with the package live in `harness/presets/`; `--preset` also accepts a
path to any YAML file with the same layout.

Presets and `rlvr-zoo train --config` files are read with :func:`load_yaml`: PyYAML's safe loader (plain data only,
no Python objects) plus two limits checked on the parsed node graph before any Python object is built: at most
``MAX_YAML_ALIASES`` aliases (``*name``) and at most ``MAX_YAML_NODES`` nodes once every alias is expanded. An
"alias bomb" (nine anchors each repeating the previous one nine times: 9^9 nodes in a few hundred bytes) is refused
at once instead of being expanded by whatever walks the data later. Errors are one line naming the file, the line
and the column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algorithms import fields
from harness.errors import UserError

PRESET_DIR = Path(__file__).parent / "presets"
MAX_YAML_ALIASES = fields.MAX_YAML_ALIASES
MAX_YAML_NODES = fields.MAX_YAML_NODES


class ConfigFileError(UserError, ValueError):
    """A preset or config file that is not valid YAML, or exceeds the alias / size limits (one line)."""


def load_yaml(text: str, source: str) -> Any:
    """Plain data from YAML ``text`` (``source`` names it in errors), refusing alias bombs: the project's one YAML
    loader (`algorithms.fields.load_yaml`, module notes). Raises :class:`ConfigFileError` (a ValueError and a
    UserError) in one line."""
    try:
        return fields.load_yaml(text, source)
    except fields.YAMLDataError as exc:
        raise ConfigFileError(str(exc)) from None


TOP_LEVEL_KEYS = ("description", "algos", "seeds", "train", "eval", "train_eval", "compare")
COMPARE_OPTIONS = {"keep_checkpoints": False, "keep_final": True, "share_engine": True, "init_from": None,
                   "warm_start": None, "warm_start_mismatch": "refuse"}
PER_RUN_TRAIN_FIELDS = ("algo", "algo_overrides", "seed", "out_dir")


@dataclass
class Preset:
    """A parsed preset (see the module docstring for the meaning of each field)."""
    name: str
    path: Path
    description: str = ""
    algos: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    train_eval: dict[str, Any] = field(default_factory=dict)
    compare: dict[str, Any] = field(default_factory=lambda: dict(COMPARE_OPTIONS))


def names() -> list[str]:
    """Names of the presets shipped with the package (file stems in harness/presets/)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def path_of(name_or_path: str | Path) -> Path:
    """The YAML file of a preset given by name (`cpu-demo`) or by path (`my/preset.yaml`)."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or candidate.is_file():
        if not candidate.is_file():
            raise ValueError(f"preset file {text!r} does not exist; give an existing YAML file or one of the "
                             f"presets {', '.join(names())}")
        return candidate
    shipped = PRESET_DIR / f"{text}.yaml"
    if not shipped.is_file():
        raise ValueError(f"unknown preset {text!r}; valid presets: {', '.join(names())} "
                         f"(or a path to a YAML file)")
    return shipped


def load(name_or_path: str | Path) -> Preset:
    """Read and check a preset. Raises ValueError naming the bad key and the valid ones."""
    path = path_of(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"preset {path}: cannot be read as text ({exc})") from None
    data = load_yaml(text, f"preset {path}") or {}
    if not isinstance(data, dict):
        raise ValueError(f"preset {path}: the top level must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ValueError(f"preset {path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
    for key in ("train", "eval", "train_eval", "compare"):
        if not isinstance(data.get(key) or {}, dict):
            raise ValueError(f"preset {path}: `{key}` must be a mapping of field: value")
    train = dict(data.get("train") or {})
    per_run = sorted(set(train) & set(PER_RUN_TRAIN_FIELDS))
    if per_run:
        raise ValueError(f"preset {path}: train.{per_run[0]} is set per run by `compare` (use `algos:` and "
                         f"`seeds:` instead, and --out for the output directory)")
    compare = dict(COMPARE_OPTIONS)
    extra = sorted(set(data.get("compare") or {}) - set(COMPARE_OPTIONS))
    if extra:
        raise ValueError(f"preset {path}: unknown compare option(s) {', '.join(extra)}; valid: "
                         f"{', '.join(COMPARE_OPTIONS)}")
    compare.update(data.get("compare") or {})
    algos = data.get("algos") or []
    if isinstance(algos, str):
        algos = [a.strip() for a in algos.split(";") if a.strip()]
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int):
        seeds = [seeds]
    if not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"preset {path}: seeds must be a list of integers, got {seeds!r}")
    return Preset(name=path.stem, path=path, description=str(data.get("description") or ""),
                  algos=[str(a) for a in algos], seeds=list(seeds), train=train,
                  eval=dict(data.get("eval") or {}), train_eval=dict(data.get("train_eval") or {}), compare=compare)


def describe_all() -> list[dict[str, Any]]:
    """One dict per shipped preset (name, description, algos, model, task, steps) for `rlvr-zoo list`."""
    out = []
    for name in names():
        p = load(name)
        out.append({"name": name, "description": p.description, "algos": p.algos,
                    "model": p.train.get("model"), "task": p.train.get("task"), "steps": p.train.get("steps")})
    return out
