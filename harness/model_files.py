"""A model's files checked as data before a library reads them, and one line for what a library refuses.

A user points rlvr-zoo at a model folder, a `.gguf` file or a Hub snapshot; any of them can be damaged (a copy cut
short, a hand-edited config) or need code rlvr-zoo never runs. Without these checks each case ends in a library's
traceback, and a folder that needs remote code makes transformers ask on stdin whether to run it. Here:

- :func:`check_model_dir` (called by `harness.models.resolve` for a local folder or a Hub snapshot): `config.json`
  must be a JSON object with a `model_type` that transformers has built in (a config whose architecture comes as
  code, `auto_map` with an unknown `model_type`, is refused: rlvr-zoo never passes ``trust_remote_code``); every
  `*.safetensors` weight file must hold the bytes its header describes (a file cut short is named with its size);
  a tokenizer file must be there, and `tokenizer.json` and `tokenizer_config.json`, when present, must be JSON.
- :func:`check_gguf`: a `.gguf` file must start with the GGUF magic and a version the reader handles (2 or 3).
- :func:`check_local_spec`: both, for a model spec before a command does any work (`compare` checks its model).
- :func:`loading`: what a library still raises while it loads a model, a tokenizer or converts a GGUF (a truncated
  tensor, a garbled tokenizer) becomes :class:`ModelSpecError`, one line naming the path and the cause; the
  library's exception stays chained for Python callers. Memory errors keep their traceback.
"""
from __future__ import annotations

import contextlib
import json
import os
import struct
from pathlib import Path
from typing import Iterator

from harness.errors import UserError
from harness.io import read_json

__all__ = ["ModelSpecError", "check_model_dir", "check_local_spec", "check_safetensors", "check_gguf", "loading",
           "GGUF_VERSIONS"]

GGUF_VERSIONS = (2, 3)
"""the GGUF versions transformers' reader (transformers.integrations.gguf) handles"""
MAX_HEADER = 100 * 2**20   # safetensors caps its JSON header at 100 MB
MAX_CONFIG = 16 * 2**20


class ModelSpecError(UserError, ValueError):
    """A model spec that cannot be resolved or loaded; the message says what was wrong and what would be right (one
    line)."""


def _json_problem(path: Path) -> str | None:
    try:
        read_json(path, MAX_CONFIG)
    except json.JSONDecodeError as exc:
        return f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except (OSError, ValueError) as exc:   # not UTF-8, too large, not a regular file, nested too deeply
        return f"{path.name} cannot be read ({' '.join(str(exc).split())[:200]})"
    return None


def check_safetensors(path: str | os.PathLike) -> None:
    """:class:`ModelSpecError` unless ``path`` is a whole safetensors file: an 8-byte header length, a JSON header,
    and the data bytes its tensors' offsets reach (a file cut short names its size and the size it should have)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            (n,) = struct.unpack("<Q", raw) if len(raw) == 8 else (None,)
            if n is None or n > min(size - 8, MAX_HEADER):
                raise ValueError("its header is cut short or garbled")
            header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in ends):
            raise ValueError("its header has tensors without valid data offsets")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelSpecError(f"{path}: not a whole safetensors weight file ({exc}); copy the model again or save it "
                             f"with save_pretrained") from None
    need = 8 + n + max(ends, default=0)
    if size < need:
        raise ModelSpecError(f"{path} is truncated: it has {size} bytes, its header describes {need}; copy the model "
                             f"again (the copy was cut short)")


def check_model_dir(path: str | os.PathLike) -> None:
    """:class:`ModelSpecError` naming the first file of the model folder ``path`` that is not what loading needs
    (module notes)."""
    path = Path(path)
    config = path / "config.json"
    problem = _json_problem(config)
    if problem:
        raise ModelSpecError(f"model directory {path}: {problem}; expected the config.json save_pretrained writes")
    cfg = read_json(config, MAX_CONFIG)
    if not isinstance(cfg, dict):
        raise ModelSpecError(f"model directory {path}: config.json holds a JSON {type(cfg).__name__}, not an object")
    _check_model_type(path, cfg)
    for weights in sorted(path.glob("*.safetensors")):
        check_safetensors(weights)
    names = [f.name for f in path.iterdir()]
    if not any(n.startswith(("tokenizer", "vocab")) or n.endswith((".model", ".tiktoken")) for n in names):
        raise ModelSpecError(f"model directory {path} has no tokenizer files (tokenizer.json, tokenizer.model, "
                             f"vocab.json, ...); save the tokenizer with the model (tokenizer.save_pretrained)")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (path / name).is_file() and (problem := _json_problem(path / name)):
            raise ModelSpecError(f"model directory {path}: {problem}; save the tokenizer again with the model")


def _check_model_type(path: Path, cfg: dict) -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in CONFIG_MAPPING:
        return
    if cfg.get("auto_map"):
        raise ModelSpecError(f"model directory {path}: its config.json names model_type {model_type!r}, whose code "
                             f"comes with the model (auto_map; transformers' trust_remote_code); rlvr-zoo never runs "
                             f"code from a model: use a model whose architecture transformers has built in")
    raise ModelSpecError(f"model directory {path}: config.json has model_type {model_type!r}, which transformers "
                         f"does not know; expected a config.json save_pretrained writes (e.g. model_type 'llama')")


def check_local_spec(spec: str) -> None:
    """The checks above for a model spec that names a local folder or .gguf file, before anything loads (a name or
    a Hub id is checked when it is resolved)."""
    path = Path(str(spec)).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSpecError(f"model directory {spec!r} has no config.json; expected a checkpoint in save_pretrained "
                                 f"form (config.json + *.safetensors + tokenizer files), e.g. a trainer's out_dir/final")
        check_model_dir(path)
    elif str(spec).endswith(".gguf") and path.is_file():
        check_gguf(path)


def check_gguf(path: str | os.PathLike) -> None:
    """:class:`ModelSpecError` unless ``path`` starts as a GGUF file of a version the reader handles."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or head[:4] != b"GGUF":
        raise ModelSpecError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes); give a .gguf "
                             f"model file")
    version = struct.unpack("<I", head[4:8])[0]
    if version not in GGUF_VERSIONS:
        raise ModelSpecError(f"{path} is GGUF version {version}; the reader handles versions "
                             f"{' and '.join(map(str, GGUF_VERSIONS))}: convert it with a current llama.cpp")


@contextlib.contextmanager
def loading(what: str, path: str | os.PathLike) -> Iterator[None]:
    """Run a library's loading of ``what`` ("the model", "the tokenizer", ...) from ``path``; an exception it raises
    becomes a one-line :class:`ModelSpecError` (module notes)."""
    try:
        yield
    except (UserError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # library errors of any type: one line naming the path, chain kept
        text = " ".join(str(exc).split())
        if "out of memory" in text.lower():
            raise
        raise ModelSpecError(f"cannot load {what} from {path}: {type(exc).__name__}: {text[:300]}; the files are "
                             f"damaged or not a model rlvr-zoo can load (a save_pretrained folder of a transformers "
                             f"architecture, or a .gguf file)") from exc
