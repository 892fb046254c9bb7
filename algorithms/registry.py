"""The objective registry: objectives are chosen by name only.

    @algorithms.register("my-objective")          # a class decorator; makes the class a dataclass if it is not one
    class MyObjective(algorithms.Algorithm): ...

    algorithms.names()                            # sorted names
    algorithms.get("ce-gppo", beta1=0.75)         # an instance with the paper defaults, overridden
    algorithms.describe("ce-gppo")                # field -> {"default", "doc", "type"}
    algorithms.paper("ce-gppo")                   # the paper it comes from
"""
from __future__ import annotations

import dataclasses

from algorithms import fields as config_fields
from algorithms.base import Algorithm

_REGISTRY: dict[str, type[Algorithm]] = {}


def register(name: str, *, override: bool = False):
    """Class decorator registering an Algorithm subclass under `name`.

    Registering a name that a different class already holds is a ValueError unless override=True. Registering the
    same class again (same module and qualified name, e.g. a module imported twice) replaces it silently.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"an objective name must be a non-empty string, got {name!r}")

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
            raise ValueError(f"@algorithms.register({name!r}) decorates a subclass of algorithms.Algorithm, "
                             f"got {cls!r}")
        if "__dataclass_fields__" not in cls.__dict__:
            cls = dataclasses.dataclass(cls)
        previous = _REGISTRY.get(name)
        same = previous is not None and (previous.__module__, previous.__qualname__) == (cls.__module__,
                                                                                         cls.__qualname__)
        if previous is not None and not same and not override:
            raise ValueError(f"objective name {name!r} is already registered by {previous.__module__}."
                             f"{previous.__qualname__}; choose another name or pass override=True")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return decorator


def unregister(name: str) -> None:
    """Remove `name` from the registry (for tests and notebooks); unknown names are a ValueError."""
    get_class(name)
    del _REGISTRY[name]


def names() -> list[str]:
    """Sorted names of the registered objectives."""
    return sorted(_REGISTRY)


def get_class(name: str) -> type[Algorithm]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown objective {name!r}; registered objectives: {', '.join(names())} "
                         f"(a user objective must be imported first, e.g. rlvr-zoo --plugin my_objective.py)")
    return _REGISTRY[name]


def get(name: str, *, generation_budget: int | None = None, **overrides) -> Algorithm:
    """An instance of objective `name` with its paper defaults and the given overrides.

    generation_budget: the run's maximum response length in tokens. An objective that aggregates with
    seq-mean-token-sum-norm (Dr. GRPO, Liu et al. 2025: divide by the generation budget, a constant) takes it as its
    loss_norm_length unless that is set; without either it divides by each batch's padded length, with which
    micro-batches do not add up to the one-big-batch gradient.

    Unknown names and unknown fields raise ValueError listing the valid ones; values are type-checked and
    validated (e.g. an unknown loss_agg_mode or a negative clip range is a ValueError).
    """
    cls = get_class(name)
    fields = config_fields.describe(cls)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"objective {name!r} has no field(s) {', '.join(map(repr, unknown))}; its fields: "
                         f"{', '.join(sorted(fields))}")
    values = config_fields.from_mapping(cls, overrides, f"objective {name!r}",
                                        where=lambda k: f"objective {name!r}: field {k!r}")
    mode = values.get("loss_agg_mode", fields["loss_agg_mode"]["default"])
    if (generation_budget is not None and mode == "seq-mean-token-sum-norm"
            and values.get("loss_norm_length", fields["loss_norm_length"]["default"]) is None):
        values["loss_norm_length"] = int(generation_budget)
    return cls(**values)


def describe(name: str) -> dict[str, dict]:
    """Field -> {"default": value, "doc": its documentation, "type": its annotation} (for `rlvr-zoo list`)."""
    return config_fields.describe(get_class(name))


def paper(name: str) -> str:
    """The paper objective `name` comes from (its class attribute `paper`; empty for a user objective without one)."""
    return get_class(name).paper


def summary(name: str) -> str:
    """First line of the objective's docstring."""
    doc = (get_class(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
