"""What an objective is, for people: its paper, its fields with their docs, and what it changes in the shared recipe.

Used by `rlvr-zoo list` and by the model card. The shared recipe is the defaults of `algorithms.Algorithm`'s fields;
an objective "differs" in the fields it adds and in the shared fields whose default it changes.
"""
from __future__ import annotations

import re
import sys

from harness.errors import UserError

__all__ = ["first_sentence", "objective", "paper", "shared_defaults"]

_ABBREVIATIONS = ("al", "eq", "Dr", "e.g", "i.e", "vs", "cf", "Fig", "Sec")


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, on one line (abbreviations such as 'et al.' kept)."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    pieces = re.split(r"(?<=\.) ", para)
    out = pieces[0]
    for piece in pieces[1:]:
        if not out.endswith(tuple(f"{a}." for a in _ABBREVIATIONS)):
            break
        out += " " + piece
    return out.rstrip(":;")


def paper(cls) -> str:
    """Where an objective comes from: 'Author et al. YEAR' and the arXiv id cited in its module's docstring."""
    doc = " ".join((sys.modules[cls.__module__].__doc__ or "").split()) + " " + " ".join((cls.__doc__ or "").split())
    who = re.search(r"([A-Z][\w'-]+ et al\.,? \d{4})", doc)
    arxiv = re.search(r"arXiv[ :]?(\d{4}\.\d{4,5})", doc)
    parts = [who.group(1).replace(",", "") if who else None, f"arXiv:{arxiv.group(1)}" if arxiv else None]
    return ", ".join(p for p in parts if p) or "-"


def shared_defaults() -> dict:
    """The recipe fields every objective inherits from `algorithms.Algorithm`, with their defaults."""
    import algorithms
    from algorithms import fields

    return {name: info["default"] for name, info in fields.describe(algorithms.Algorithm).items()}


def objective(name: str) -> dict:
    """One objective: summary, paper, ``fields`` (name -> default), ``field_info`` (name -> {type, doc}) and
    ``differs`` (the fields that differ from the shared defaults). An unknown name is a UserError listing the
    registered ones."""
    import algorithms

    if name not in algorithms.names():
        raise UserError(f"unknown objective {name!r}; registered objectives: {', '.join(algorithms.names())} "
                        f"(a plugin's objectives appear with --plugin FILE)")
    cls = algorithms.get_class(name)
    described = algorithms.describe(name)
    fields = {k: v["default"] for k, v in described.items()}
    base = shared_defaults()
    # the fields the objective adds first (CE-GPPO's beta1, beta2), then the shared ones it changes
    differs = {**{k: v for k, v in fields.items() if k not in base},
               **{k: v for k, v in fields.items() if k in base and base[k] != v}}
    return {"name": name, "summary": first_sentence(cls.__doc__), "paper": paper(cls), "fields": fields,
            "differs": differs, "field_info": {k: {"type": v["type"], "doc": v["doc"]} for k, v in described.items()}}
