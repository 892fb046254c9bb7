"""What a run spends (`budget/*` metrics) and the equal-rollouts budget that `compare` uses by default: DAPO's
dynamic sampling may not draw more responses than an objective without it. Real trainer on tiny-random, whose
rewards are almost always all 0, so dynamic sampling wants to draw every round it is allowed."""
from __future__ import annotations

import json

import pytest

from harness.compare import runner as compare
from harness.training import TrainConfig, train

pytestmark = pytest.mark.slow

TINY = dict(model="tiny-random", task="arith", task_params={"level": 1, "n": 50}, steps=2, prompts_per_step=2,
            responses_per_prompt=2, max_new_tokens=6, eval_every=0, save_every=0, save_final=False)


def _budget(tmp_path, name, **kw) -> dict:
    out = tmp_path / name
    train(TrainConfig(**TINY, out_dir=str(out), **kw), progress=False)
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    recs = [r for r in recs if r["step"] > 0]   # the step-0 record holds the initial model's entropy/probe only
    return {**{k: recs[-1][k] for k in recs[-1] if k.startswith("budget/")}, "_records": recs}


@pytest.fixture(scope="module")
def budgets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("budget")
    return {"grpo": _budget(tmp, "grpo", algo="grpo"),
            "dapo-none": _budget(tmp, "dapo-none", algo="dapo", budget="none"),
            "dapo-equal": _budget(tmp, "dapo-equal", algo="dapo", budget="equal-rollouts")}


def test_budget_counters_add_up(budgets):
    g = budgets["grpo"]
    assert g["budget/responses"] == 2 * 2 * 2 and g["budget/prompts"] == 4        # steps x prompts x G
    assert g["budget/tokens"] == sum(r["response_length/mean"] * 4 for r in g["_records"])
    assert g["budget/updates"] == 2                                                 # one update per step
    assert 0 <= g["budget/zero_adv_groups"] <= 4 and len(g["_records"]) == 2
    per_step = [r["budget/responses"] for r in g["_records"]]
    assert per_step == [4, 8]                                                        # cumulative


def test_equal_rollouts_caps_dynamic_sampling(budgets):
    grpo, free, equal = budgets["grpo"], budgets["dapo-none"], budgets["dapo-equal"]
    assert equal["budget/responses"] <= grpo["budget/responses"]
    assert equal["budget/prompts"] <= grpo["budget/prompts"]
    # without the budget, dynamic sampling redraws the all-zero groups: more rollouts than GRPO (the check above
    # can fail)
    assert free["budget/responses"] > grpo["budget/responses"]
    assert free["budget/zero_adv_groups"] > equal["budget/zero_adv_groups"] >= 0


def test_compare_defaults_to_equal_rollouts(tmp_path):
    assert compare.make_plan("tiny-test", out=tmp_path / "o").train["budget"] == "equal-rollouts"
    assert compare.make_plan("tiny-test", out=tmp_path / "o", sets=["budget=none"]).train["budget"] == "none"
    with pytest.raises(ValueError, match="budget must be 'none' or 'equal-rollouts'"):
        TrainConfig(**TINY, budget="equal").validate()


def test_dynamics_view_shows_the_budget(budgets, tmp_path):
    """The leaderboard's dynamics view reads the last budget/* values of each run's metrics.jsonl."""
    import yaml

    from harness import leaderboard
    from harness.io import write_json

    root = tmp_path / "cmp"
    root.mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump({"algos": ["grpo", "dapo"]}))
    for label, key in (("grpo", "grpo"), ("dapo", "dapo-equal")):
        run = root / "runs" / label / "seed-0"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in budgets[key]["_records"]))
        write_json(run / "DONE", {"label": label, "algo": label, "overrides": {}, "seed": 0})
    dyn = {d["label"]: d for d in leaderboard.dynamics_rows(leaderboard.collect(root))}
    for label, key in (("grpo", "grpo"), ("dapo", "dapo-equal")):
        for name in ("prompts", "responses", "tokens", "zero_adv_groups", "updates"):
            assert dyn[label][f"budget/{name}"] == budgets[key][f"budget/{name}"]
    md = leaderboard.render(leaderboard.collect(root), "md", "dynamics")
    assert "| responses" in md and "zero-adv groups" in md
