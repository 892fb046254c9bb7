"""`rlvr-zoo list`: what is available (objectives with their recipes, estimators, benchmarks, presets, ...).

`rlvr-zoo list` prints one table per section, each at most 120 columns wide: an objective's row shows only the
recipe fields whose value differs from the shared defaults of `algorithms.Algorithm` (and the fields the objective
adds), so that what makes it different is what one reads. `rlvr-zoo list NAME` prints every field of one objective
with its type, default and documentation; `--format json` gives the same data to scripts.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap

from harness.objective_info import first_sentence, objective, shared_defaults

NAME = "list"
HELP = ("list objectives (what each changes in the shared recipe), estimators, rollout corrections, aggregation "
        "modes, benchmarks, presets, templates, rewards")

#: width every section fits in
WIDTH = 120


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", default=None, metavar="OBJECTIVE",
                        help="show every field of one objective with its default and documentation")
    parser.add_argument("--format", default="table", choices=["table", "json"],
                        help="table (default) or json (for scripts)")
    parser.add_argument("--json", action="store_true", help="the same as --format json")


# ------------------------------------------------------------------------------------------------------- data
def _registry_entries(names, lookup, paper=None) -> list[dict]:
    """[{name, doc}] for a registry given as its names and a name -> documented object lookup; with ``paper`` (a
    name -> source lookup) each entry also has its "paper"."""
    entries = [{"name": n, "doc": first_sentence(getattr(lookup(n), "__doc__", ""))} for n in names]
    for entry in entries if paper is not None else []:
        entry["paper"] = paper(entry["name"])
    return entries


def _rollout_corrections() -> list[dict]:
    """[{name, doc, paper, params}] of algorithms.off_policy's rollout corrections."""
    from algorithms import off_policy

    return [{"name": n, "doc": off_policy.describe(n)["summary"], "paper": off_policy.paper(n),
             "params": off_policy.describe(n)["params"]} for n in off_policy.names()]


def _aggregation_modes() -> list[dict]:
    """[{name, doc}] of algorithms.aggregation's loss_agg_mode values."""
    from algorithms import aggregation

    return [{"name": m, "doc": aggregation.SUMMARIES[m]} for m in aggregation.AGG_MODES]


def _benchmarks() -> list[dict]:
    import benchmarks
    from benchmarks.sources import BENCHMARKS, DATA_DIR_ENV, local_path

    data_dir = os.environ.get(DATA_DIR_ENV) or None
    out = []
    for name in benchmarks.names():
        bench = BENCHMARKS.get(name)
        if bench is None:  # arith: generated, not read
            out.append({"name": name, "source": "procedural (benchmarks.arith; size set by task_params n)",
                        "splits": {s: None for s in benchmarks.splits(name)}})
            continue
        sizes = {}
        for split in bench.splits:
            path = local_path(bench, split, data_dir) if data_dir else None
            sizes[split] = _count_lines(path) if path is not None and path.is_file() else None
        source = f"{os.path.join(data_dir, bench.local_folder)} (Hub: {bench.hub_id})" if data_dir else \
            f"Hub: {bench.hub_id}"
        out.append({"name": name, "source": source, "splits": sizes})
    return out


def _count_lines(path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def collect() -> dict:
    """Everything `rlvr-zoo list` shows, as plain data (the `--format json` output)."""
    import algorithms
    import algorithms.advantages as advantages
    import benchmarks
    import rewards
    from harness import presets
    from rewards.functions import get_reward

    return {
        "shared_defaults": shared_defaults(),
        "algorithms": {name: objective(name) for name in algorithms.names()},
        "advantage_estimators": _registry_entries(advantages.names(), advantages._get, advantages.paper),
        "rollout_corrections": _rollout_corrections(),
        "aggregation_modes": _aggregation_modes(),
        "benchmarks": _benchmarks(),
        "presets": presets.describe_all(),
        "templates": list(benchmarks.template_names()),
        "rewards": _registry_entries(rewards.reward_names(), lambda n: type(get_reward(n))),
    }


# ---------------------------------------------------------------------------------------------------- tables
def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _wrap(text: str, width: int | None) -> str:
    if width is None:
        return text
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) or "" for line in str(text).split("\n"))


def _table(rows: list[list], headers: list[str], wrap: dict[int, int]) -> str:
    """A tabulate table whose columns in ``wrap`` (index -> width) are wrapped to that width at spaces (a word
    longer than the width is cut)."""
    from tabulate import tabulate

    cells = [[_wrap(c, wrap.get(i)) for i, c in enumerate(row)] for row in rows]
    return tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True)


def _fit(fixed: list[int], ncols: int) -> int:
    """Width left for the wrapped last column after the fixed ones (2 spaces between columns)."""
    return max(20, WIDTH - sum(fixed) - 2 * (ncols - 1))


def render_tables(info: dict) -> str:
    sections = []
    objs = info["algorithms"]
    name_w = max([len("objective")] + [len(n) for n in objs])
    paper_w = max([len("paper")] + [len(o["paper"]) for o in objs.values()])
    diff_w = _fit([name_w, paper_w], 3)
    rows = [[n, o["paper"], ", ".join(f"{k}={_fmt(v)}" for k, v in o["differs"].items()) or "(shared recipe)"]
            for n, o in objs.items()]
    sections.append("objectives, with what each changes in the shared recipe (every field: rlvr-zoo list NAME;\n"
                    "a variant in --algos: name:field=value)\n"
                    + _table(rows, ["objective", "paper", "differs from the shared recipe"], {2: diff_w}))
    shared = ", ".join(f"{k}={_fmt(v)}" for k, v in info["shared_defaults"].items())
    sections.append("shared recipe (algorithms.Algorithm defaults):\n" + textwrap.fill(
        shared, WIDTH, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False))
    sections.append(_named_docs("advantage estimators", info["advantage_estimators"]))
    sections.append(_named_docs("rollout corrections",
                                [{**e, "doc": e["doc"] + " [" + ", ".join(f"{k}={_fmt(v)}" for k, v in
                                                                          e["params"].items()) + "]"}
                                 for e in info["rollout_corrections"]]))
    sections.append(_named_docs("aggregation modes", info["aggregation_modes"]))
    bench_rows = [[b["name"], b["source"],
                   ", ".join(f"{s} {n if n is not None else '?'}" for s, n in b["splits"].items())]
                  for b in info["benchmarks"]]
    src_w = min(62, max(len(r[1]) for r in bench_rows))
    sections.append("benchmarks (rows per split from the local data directory, ? when read from the Hub):\n"
                    + _table(bench_rows, ["benchmark", "source", "rows"], {1: src_w, 2: _fit([10, src_w], 3)}))
    preset_rows = [[p["name"], p["description"], ", ".join(p["algos"]), f"{p['model']}, {p['task']}, {p['steps']}"]
                   for p in info["presets"]]
    sections.append("presets (rlvr-zoo compare --preset NAME; files in harness/presets/):\n"
                    + _table(preset_rows, ["preset", "description", "algos", "model, task, steps"],
                             {1: 42, 2: 28, 3: 22}))
    sections.append("templates: " + ", ".join(info["templates"]))
    sections.append(_named_docs("rewards", info["rewards"]))
    return "\n\n".join(sections) + "\n"


def _named_docs(title: str, entries: list[dict]) -> str:
    name_w = max([len(title)] + [len(e["name"]) for e in entries])
    rows = [[e["name"], e["doc"] + (f" ({e['paper']})" if e.get("paper") else "")] for e in entries]
    return f"{title}:\n" + _table(rows, [title.split()[-1].rstrip("s"), "what"], {1: _fit([name_w], 2)})


def render_objective(entry: dict) -> str:
    lines = [f"{entry['name']}: {entry['summary']}", f"paper: {entry['paper']}", ""]
    base = shared_defaults()
    rows = []
    for k, default in entry["fields"].items():
        mark = "*" if k in entry["differs"] else ""
        rows.append([f"{k}{mark}", entry["field_info"][k]["type"], _fmt(default), entry["field_info"][k]["doc"]])
    type_w = min(14, max(len(r[1]) for r in rows))
    default_w = min(14, max(len(r[2]) for r in rows))
    name_w = max(len(r[0]) for r in rows)
    lines.append(_table(rows, ["field", "type", "default", "documentation"],
                        {1: type_w, 2: default_w, 3: _fit([name_w, type_w, default_w], 4)}))
    changed = [k for k in entry["differs"] if k in base]
    lines.append("")
    lines.append("* differs from the shared recipe" + (f" (shared: {', '.join(f'{k}={_fmt(base[k])}' for k in changed)})"
                                                      if changed else ""))
    return "\n".join(textwrap.fill(line, WIDTH, break_on_hyphens=False) if len(line) > WIDTH and "\n" not in line
                     else line for line in lines) + "\n"


def run(args) -> int:
    as_json = args.json or args.format == "json"
    if args.name:
        entry = objective(args.name)
        print(json.dumps(entry, indent=2, default=str) if as_json else render_objective(entry), end="\n" if as_json else "")
        return 0
    info = collect()
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        sys.stdout.write(render_tables(info))
    return 0
