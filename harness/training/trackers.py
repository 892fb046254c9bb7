"""Experiment trackers fed by the metrics logger: TensorBoard, Weights & Biases and MLflow.

``TrainConfig.report_to`` (``--report-to`` on the command line) names the trackers of a run; each one gets the run's
config once and every numeric value of every ``metrics.jsonl`` record at that record's ``step``
(:class:`harness.training.logger.MetricsLogger` calls :func:`open_trackers` and ``log``). None of the packages is a
dependency: ``tensorboard`` is skipped when it is not installed (it is the default), while naming ``wandb`` or
``mlflow`` without the package installed is an error before anything loads (``pip install 'rlvr-zoo[trackers]'``).

- **Grouping.** A run of a comparison (``<OUT>/runs/<label>/seed-<s>``) belongs to the comparison ``<OUT>``: its W&B
  group and its MLflow experiment are named after that folder, and the run is named ``<label>/seed-<s>``. A lone
  ``train`` run is in W&B project ``$WANDB_PROJECT`` (default ``rlvr-zoo``) without a group, and in the MLflow
  experiment ``rlvr-zoo``.
- **W&B** writes under ``<run>/wandb``. Without ``WANDB_MODE`` it runs online only when an API key is configured
  (``WANDB_API_KEY`` or a ``~/.netrc`` entry for api.wandb.ai) and offline otherwise, so no network is needed;
  ``wandb sync <run>/wandb/offline-run-*`` uploads an offline run later.
- **MLflow** uses its own settings (``MLFLOW_TRACKING_URI``; e.g. ``file:/path/mlruns`` for a local store, which
  MLflow 3 accepts with ``MLFLOW_ALLOW_FILE_STORE=true``). Metric names there use ``.`` for ``/`` (the file store
  keeps ``entropy`` and ``entropy/probe`` as paths, which would collide) and ``_`` for characters MLflow refuses
  (``eval/arith/avg@4`` is logged as ``eval.arith.avg_4``; :func:`mlflow_key`).
- **Resume.** The tracker run ids are kept in ``<run>/trackers.json``; a resumed run (``--resume``) logs into the same
  W&B and MLflow runs, from the checkpoint's step on.
- **Failures.** :func:`check` with ``probe_stores=True`` (what ``TrainConfig.validate`` and ``compare`` call before
  any model loads) also opens the MLflow store once, so an unusable one (a path under a file, an unreachable
  server) stops the command with one line. A tracker that fails later, while it starts, logs or closes, is
  dropped with a one-line warning (:class:`TrackerWarning`): the run and its own files (``metrics.jsonl``,
  ``run.json``, checkpoints, ``DONE``) go on.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import warnings

from harness import run_layout
from harness.io import UnsafePathError, ensure_dir, read_json, write_text

__all__ = ["TRACKERS", "STATE_FILE", "check", "open_trackers", "mlflow_key", "run_identity", "TrackerWarning"]

TRACKERS = ("tensorboard", "wandb", "mlflow")
#: where a run keeps its tracker run ids (for --resume)
STATE_FILE = "trackers.json"
_EXTRA = "pip install 'rlvr-zoo[trackers]'"


class TrackerWarning(UserWarning):
    """A tracker that failed during a run and was dropped; the run's own files are unaffected."""


def check(names: list[str] | tuple[str, ...], probe_stores: bool = False) -> list[str]:
    """``names`` as a list, or ValueError naming an unknown tracker or a missing package (wandb, mlflow); with
    ``probe_stores`` also one naming an MLflow store that cannot be opened (module notes)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"report_to: unknown tracker {name!r}; valid: {', '.join(TRACKERS)}")
        if name != "tensorboard" and importlib.util.find_spec(name) is None:
            raise ValueError(f"report_to: {name} needs the {name} package, which is not installed: {_EXTRA} "
                             f"(or pip install {name})")
    if probe_stores and "mlflow" in names:
        _probe_mlflow()
    return list(names)


def _probe_mlflow() -> None:
    """Open the MLflow store of ``MLFLOW_TRACKING_URI`` and read from it once; ValueError in one line if it fails."""
    try:
        from mlflow.tracking import MlflowClient

        MlflowClient().search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - whatever the store's client raises: one line naming the store
        uri = os.environ.get("MLFLOW_TRACKING_URI") or "the default ./mlruns"
        raise ValueError(f"report_to: mlflow cannot use its tracking store {uri} ({_first_line(exc)}); set "
                         f"MLFLOW_TRACKING_URI to a writable store (file:/path/mlruns with "
                         f"MLFLOW_ALLOW_FILE_STORE=true, or a reachable server), or leave mlflow out") from None


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def run_identity(out_dir: str | os.PathLike) -> tuple[str | None, str]:
    """(group, run name): a comparison's run folder ``<OUT>/runs/<label>/seed-<s>`` is in group ``<OUT>``'s name."""
    out = Path(out_dir).resolve()
    if out.parent.parent.name == run_layout.RUNS_DIR:
        return out.parents[2].name, f"{out.parent.name}/{out.name}"
    return None, out.name


def mlflow_key(key: str) -> str:
    """The MLflow name of a metrics key: ``/`` becomes ``.`` (MLflow's file store keeps a metric as a file under
    its name as a path, so ``entropy`` and ``entropy/probe`` could not both exist) and characters MLflow refuses
    become ``_``."""
    return re.sub(r"[^\w.\- :]", "_", key.replace("/", "."))


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class TensorBoardTracker:
    def __init__(self, out_dir: Path, **_):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(ensure_dir(out_dir / "tensorboard", out_dir)))

    def log(self, step: int, record: dict[str, Any]) -> None:
        for key, value in _scalars(record).items():
            self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _wandb_mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (
        netrc.is_file() and "api.wandb.ai" in netrc.read_text(encoding="utf-8", errors="replace"))
    return "online" if has_key else "offline"


class WandbTracker:
    def __init__(self, out_dir: Path, config: dict[str, Any], run_id: str, resumed: bool):
        import wandb

        group, name = run_identity(out_dir)
        ensure_dir(out_dir / "wandb", out_dir)   # W&B writes there: never into a link planted at its name
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "rlvr-zoo"), group=group, name=name,
                              id=run_id, resume="allow" if resumed else None, dir=str(out_dir), config=config,
                              mode=_wandb_mode(), reinit="create_new",
                              settings=wandb.Settings(console="off", silent=True))
        self.run_id = run_id

    def log(self, step: int, record: dict[str, Any]) -> None:
        self.run.log(_scalars(record), step=step)

    def close(self) -> None:
        self.run.finish()


class MlflowTracker:
    def __init__(self, out_dir: Path, config: dict[str, Any], run_id: str | None, resumed: bool):
        from mlflow.tracking import MlflowClient

        group, name = run_identity(out_dir)
        self.client = MlflowClient()
        experiment = group or "rlvr-zoo"
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        if resumed and run_id:
            self.run_id = run_id
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=name).info.run_id
            for key, value in _flat(config).items():
                self.client.log_param(self.run_id, mlflow_key(key), json.dumps(value, default=str)[:6000])

    def log(self, step: int, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(mlflow_key(k), v, now, step) for k, v in _scalars(record).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class _Guarded:
    """A started tracker whose failures become one warning each, after which it is dropped (module notes)."""

    def __init__(self, name: str, tracker):
        self.name, self.tracker = name, tracker

    def _failed(self, what: str, exc: BaseException) -> None:
        warnings.warn(f"tracker {self.name} failed while it {what} ({_first_line(exc)}); it gets nothing more from "
                      f"this run, whose own files are kept as usual", TrackerWarning, stacklevel=3)
        self.tracker = None

    def log(self, step: int, record: dict[str, Any]) -> None:
        if self.tracker is not None:
            try:
                self.tracker.log(step, record)
            except Exception as exc:  # noqa: BLE001 - any failure of a tracker's client
                self._failed(f"logged step {step}", exc)

    def close(self) -> None:
        if self.tracker is not None:
            try:
                self.tracker.close()
            except Exception as exc:  # noqa: BLE001 - any failure of a tracker's client
                self._failed("closed its run", exc)
            self.tracker = None


def _read_state(path: Path) -> dict[str, str]:
    """trackers.json as {tracker: run id}; a damaged one is warned about and ignored (new tracker runs start)."""
    try:
        state = read_json(path, 2**20)
        if isinstance(state, dict) and all(isinstance(v, str) for v in state.values()):
            return state
        problem = "not a mapping of tracker names to run ids"
    except (OSError, ValueError) as exc:
        problem = _first_line(exc)
    warnings.warn(f"{path} is damaged ({problem}); the trackers start new runs", TrackerWarning, stacklevel=3)
    return {}


def open_trackers(names: list[str], out_dir: str | os.PathLike, config: dict[str, Any], resumed: bool) -> list:
    """Started trackers for ``names`` (each with ``log(step, record)`` and ``close()``, a failure of either a
    warning that drops the tracker); TensorBoard is left out when it is not installed, and a tracker that fails to
    start is left out with a warning. ``resumed``: continue the tracker runs recorded in ``out_dir/trackers.json``."""
    out_dir = Path(out_dir)
    state_path = out_dir / STATE_FILE
    state = _read_state(state_path) if resumed and state_path.is_file() else {}
    trackers = []
    for name in check(names):
        try:
            if name == "tensorboard":
                if importlib.util.find_spec("tensorboard") is not None:
                    trackers.append(_Guarded(name, TensorBoardTracker(out_dir)))
            elif name == "wandb":
                trackers.append(_Guarded(name, WandbTracker(out_dir, config, state.get("wandb") or
                                                            uuid.uuid4().hex[:12], resumed and "wandb" in state)))
                state["wandb"] = trackers[-1].tracker.run_id
            elif name == "mlflow":
                trackers.append(_Guarded(name, MlflowTracker(out_dir, config, state.get("mlflow"),
                                                             resumed and "mlflow" in state)))
                state["mlflow"] = trackers[-1].tracker.run_id
        except UnsafePathError:   # a link planted where the tracker writes: refused like every other
            raise
        except Exception as exc:  # noqa: BLE001 - a tracker that cannot start never stops the run
            warnings.warn(f"tracker {name} could not start ({_first_line(exc)}); the run goes on without it",
                          TrackerWarning, stacklevel=2)
    if state:
        write_text(state_path, json.dumps(state, indent=2) + "\n")
    return trackers
