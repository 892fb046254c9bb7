"""`rlvr-zoo list`: what is available (algorithms with their recipes, estimators, benchmarks, presets, ...)."""
from __future__ import annotations

import json

NAME = "list"
HELP = "list algorithms (with recipe defaults), advantage estimators, benchmarks, presets, templates, rewards"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def collect() -> dict:
    import algorithms
    from algorithms import off_policy
    import benchmarks
    import rewards
    from harness import presets

    return {
        "algorithms": {name: {"summary": _summary(algorithms, name), "paper": algorithms.paper(name),
                              "fields": {k: v.get("default") if isinstance(v, dict) else v
                                         for k, v in algorithms.describe(name).items()}}
                       for name in algorithms.names()},
        "advantage_estimators": {name: algorithms.advantages.paper(name) for name in algorithms.advantages.names()},
        "rollout_corrections": {name: off_policy.describe(name) for name in off_policy.names()},
        "benchmarks": list(benchmarks.names()),
        "presets": presets.describe_all(),
        "templates": list(benchmarks.template_names()),
        "rewards": list(rewards.reward_names()),
    }


def _summary(algorithms, name: str) -> str:
    """First line of the objective class's docstring (empty when it has none)."""
    from algorithms.registry import get_class

    doc = (get_class(name).__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print("algorithms (recipe defaults; override with name:field=value in --algos):")
    for name, entry in info["algorithms"].items():
        desc = ", ".join(f"{k}={_fmt(v)}" for k, v in entry["fields"].items())
        print(f"  {name}" + (f"  - {entry['summary']}" if entry["summary"] else ""))
        if entry["paper"]:
            print(f"      paper: {entry['paper']}")
        print(f"      {desc}")
    print("advantage estimators:")
    for name, paper in info["advantage_estimators"].items():
        print(f"  {name}  - {paper}")
    print("rollout corrections (engine/trainer mismatch; any objective):")
    for name, entry in info["rollout_corrections"].items():
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in entry["params"].items())
        print(f"  {name}  - {entry['summary']} [{params}]\n      paper: {entry['paper']}")
    print("benchmarks: " + ", ".join(info["benchmarks"]))
    print("presets (rlvr-zoo compare --preset NAME; files in harness/presets/):")
    for p in info["presets"]:
        print(f"  {p['name']}: {p['description']}  [algos {','.join(p['algos'])}; model {p['model']}; "
              f"task {p['task']}; steps {p['steps']}]")
    print("templates: " + ", ".join(info["templates"]))
    print("rewards: " + ", ".join(info["rewards"]))
    return 0
