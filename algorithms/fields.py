"""Documented configuration fields: one way to declare a field and one coercion of text and YAML values to its type.

Every configuration of the project is a dataclass whose fields come from :func:`field` (the objectives'
`algorithms.Algorithm` through `algorithms.hp`, `harness.training.TrainConfig`, `harness.evaluate.EvalConfig`):

    lr: float = field(1e-6, "AdamW learning rate")           # default and help text (metadata "doc")

and the same functions serve `rlvr-zoo list` and `--set help=1` (:func:`describe`), presets, config files and
`--set field=value` (:func:`coerce`, :func:`from_mapping`, :func:`apply_assignments`). Unknown keys are errors that
list the valid fields.

Coercion (:func:`coerce`) of a value to a field's annotation: a text value (a `--set` right-hand side) becomes a
number where the field takes one (``"1e-5"`` -> 1e-05; YAML alone would read it as a string), ``None`` for
"none" / "null" / "~" where the field is optional, and otherwise what YAML reads (``"false"``, ``"[0.9, 0.99]"``,
``"{level: 2}"``) unless the field takes text, which stays as written. Then int -> float and whole floats -> int
where that is the field's type, tuple -> list; a bool is never taken for a number; anything else of the wrong type
is a ValueError naming the field, the expected type and the value.

Every YAML text the project reads goes through :func:`load_yaml` (presets, `--config` files, `--set` values, a
comparison's `config.yaml`; `harness.presets.load_yaml` wraps it for files): PyYAML's safe loader (plain data only, no
Python objects) plus two limits checked on the parsed node graph before any Python object is built: at most
``MAX_YAML_ALIASES`` aliases (``*name``) and at most ``MAX_YAML_NODES`` nodes once every alias is expanded. An
"alias bomb" (nine anchors each repeating the previous one nine times: 9^9 nodes in a few hundred bytes) is refused
at once instead of being expanded by whatever walks the data later. tests/test_safe_yaml.py fails on any other
YAML load call in the project's packages.
"""
from __future__ import annotations

import dataclasses
import typing
from types import NoneType, UnionType
from typing import Any, Sequence

__all__ = ["field", "names", "describe", "coerce", "from_mapping", "parse_assignments", "apply_assignments",
           "load_yaml", "YAMLDataError", "MAX_YAML_ALIASES", "MAX_YAML_NODES"]

_NONE_TEXT = ("none", "null", "~")
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000


class YAMLDataError(ValueError):
    """YAML text that is not valid, holds more than the alias or size limit, or nests too deeply (one line)."""


def _expanded_nodes(root) -> int:
    """Nodes of the YAML graph with every alias expanded (a shared node counts each time it is reached)."""
    import yaml

    memo: dict[int, int] = {}

    def size(node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a recursive alias (a node containing itself) counts once instead of looping
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        memo[key] = total
        return total

    return size(root)


def _limited_loader(text: str):
    """PyYAML's safe loader over ``text``, counting aliases as they are composed."""
    import yaml

    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    mark = self.peek_event().start_mark
                    raise YAMLDataError(f"more than {MAX_YAML_ALIASES} YAML aliases (line {mark.line + 1}); a "
                                        f"preset or config has no need for that many")
            return super().compose_node(parent, index)

    return Loader(text)


def load_yaml(text: str, source: str) -> Any:
    """Plain data from YAML ``text`` (``source`` names it in errors: a file, a flag), refusing alias bombs (module
    notes). Raises :class:`YAMLDataError` in one line naming ``source`` (and the line and column of a syntax error)."""
    import yaml

    loader = _limited_loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_nodes(node)
        if size > MAX_YAML_NODES:
            raise YAMLDataError(f"{source}: expands to {size:.3g} YAML nodes through its aliases (limit "
                                f"{MAX_YAML_NODES}); refused as an alias bomb")
        return loader.construct_document(node)
    except YAMLDataError as exc:
        msg = str(exc)
        raise YAMLDataError(msg if msg.startswith(source) else f"{source}: {msg}") from None
    except RecursionError:
        raise YAMLDataError(f"{source}: nested too deeply to be a preset or config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise YAMLDataError(f"{source}: not valid YAML{where}: {what}") from None
    finally:
        loader.dispose()


def field(default, help: str, **metadata) -> Any:
    """A documented dataclass field with its default: ``lr: float = field(1e-6, "AdamW learning rate")``. Mutable
    defaults (dict, list) are copied for each instance."""
    meta = {"doc": help, **metadata}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def names(cls) -> list[str]:
    """The fields a configuration class takes, in declaration order."""
    return list(_fields(cls))


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def type_name(tp) -> str:
    """``float``, ``float | None``, ``list``: an annotation as a user reads it."""
    if typing.get_origin(tp) in (typing.Union, UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if tp is NoneType:
        return "None"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def describe(cls) -> dict[str, dict]:
    """Field -> {"default", "doc", "type"} of a configuration class, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {name: {"default": _default(f), "doc": f.metadata.get("doc", ""), "type": type_name(hints.get(name))}
            for name, f in _fields(cls).items()}


def _allowed(tp) -> tuple:
    """The runtime types an annotation allows (NoneType for optionals); () for an annotation with no runtime type
    (``Any``): every value is taken as it is."""
    if typing.get_origin(tp) in (typing.Union, UnionType):
        return tuple(t for arg in typing.get_args(tp) for t in _allowed(arg))
    if tp is NoneType or tp is None:
        return (NoneType,)
    if tp is Any:
        return ()
    runtime = typing.get_origin(tp) or tp
    return (runtime,) if isinstance(runtime, type) else ()


def _number(text: str):
    """int or float from text, else None."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def _from_text(where: str, tp, allowed: tuple, text: str):
    """A text value read for a field that does not take text (see the module notes)."""
    text = text.strip()
    if NoneType in allowed and text.lower() in _NONE_TEXT:
        return None
    if int in allowed or float in allowed:
        number = _number(text)
        if number is not None:
            return number
    try:
        return load_yaml(text, where)
    except YAMLDataError as exc:
        raise ValueError(f"{where}: {text!r} is not a valid {type_name(tp)} ({str(exc).removeprefix(where + ': ')})"
                         ) from None


def coerce(where: str, tp, value):
    """``value`` checked against the annotation ``tp`` and converted where that is unambiguous (module notes).
    ``where`` names the field in errors, e.g. ``"TrainConfig.lr"`` or ``"objective 'grpo': field 'kl_coef'"``."""
    allowed = _allowed(tp)
    if not allowed:
        return value
    if isinstance(value, str) and (str not in allowed or (NoneType in allowed and value.strip().lower() in _NONE_TEXT)):
        value = _from_text(where, tp, allowed, value)
    if value is None:
        if NoneType in allowed:
            return None
        raise ValueError(f"{where} cannot be None; expected {type_name(tp)}")
    if isinstance(value, bool):
        if bool in allowed:
            return value
        raise ValueError(f"{where} must be {type_name(tp)}, got {value!r}")
    if float in allowed and isinstance(value, int) and int not in allowed:
        return float(value)
    if int in allowed and isinstance(value, float) and value.is_integer() and float not in allowed:
        return int(value)
    if list in allowed and isinstance(value, tuple):
        return list(value)
    if not isinstance(value, allowed):
        raise ValueError(f"{where} must be {type_name(tp)}, got {value!r}")
    return value


def from_mapping(cls, data: dict | None, owner: str, where=None) -> dict[str, Any]:
    """``data`` (field -> value) with every value coerced to its field's type; a key that is not a field of ``cls``
    is a ValueError listing the valid ones. ``owner`` names the configuration in errors ("TrainConfig");
    ``where(field)`` the field (default ``"<owner>.<field>"``)."""
    data = dict(data or {})
    valid = names(cls)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"unknown {owner} field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}")
    hints = typing.get_type_hints(cls)
    where = where or (lambda name: f"{owner}.{name}")
    return {k: coerce(where(k), hints[k], v) for k, v in data.items()}


def parse_assignments(cls, assignments: Sequence[str], owner: str) -> dict[str, Any]:
    """``["lr=1e-5", "algo_overrides.beta1=0.75"]`` -> ``{"lr": "1e-5", "algo_overrides.beta1": 0.75}``: the
    `--set field=value` syntax. Top-level values stay text (:func:`coerce` reads them with the field's type); values
    of dotted keys (entries of a mapping field) are read as numbers or YAML scalars, so that numbers and booleans
    keep their types. The field name must be one of ``cls``'s."""
    valid = names(cls)
    out: dict[str, Any] = {}
    for item in assignments or ():
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected field=value, field one of {owner}'s fields")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"--set {item!r}: the field name is empty")
        head = key.split(".", 1)[0]
        if head not in valid:
            raise ValueError(f"--set {item!r}: unknown {owner} field {head!r}; valid fields: {', '.join(valid)}")
        if "." in key:
            number = _number(value.strip())
            out[key] = number if number is not None else load_yaml(value, f"--set {key}")
        else:
            out[key] = value
    return out


def apply_assignments(cls, data: dict, assignments: Sequence[str], owner: str) -> dict[str, Any]:
    """``data`` (some or all fields of ``cls``) with `--set` strings applied (:func:`parse_assignments`): a value is
    coerced to its field's type; ``field.key=value`` sets one entry of a mapping field, keeping its other entries
    (those in ``data``, else the field's default)."""
    hints = typing.get_type_hints(cls)
    info = describe(cls)
    out = dict(data)
    for key, value in parse_assignments(cls, assignments, owner).items():
        head, dot, sub = key.partition(".")
        if not dot:
            out[key] = coerce(f"{owner}.{key}", hints[key], value)
            continue
        current = out[head] if head in out else info[head]["default"]
        if current is not None and not isinstance(current, dict):
            mappings = [k for k, v in info.items() if isinstance(v["default"], dict)]
            raise ValueError(f"--set {key}=...: {head!r} is not a mapping field of {owner}; mapping fields: "
                             f"{', '.join(mappings)}")
        out[head] = {**(current or {}), sub: value}
    return out
