"""One field mechanism for every configuration (algorithms.fields): the objectives' fields, TrainConfig and
EvalConfig are declared, described, coerced from text and checked for unknown keys the same way, and the trainer
reads an objective's recipe in one place (harness.training.config.Recipe)."""
from __future__ import annotations

import dataclasses

import pytest

import algorithms
from algorithms import fields
from harness.compare import runner
from harness.evaluate import EvalConfig
from harness.training.config import Recipe, TrainConfig


def _configs():
    return [TrainConfig, EvalConfig, *(algorithms.get_class(n) for n in algorithms.names())]


@pytest.mark.parametrize("cls", _configs(), ids=lambda c: c.__name__)
def test_every_field_of_every_config_is_declared_with_help_text(cls):
    described = fields.describe(cls)
    assert list(described) == [f.name for f in dataclasses.fields(cls) if f.init]
    for name, info in described.items():
        assert info["doc"].strip(), f"{cls.__name__}.{name} has no help text"
        assert info["type"] and "typing." not in info["type"]


def test_describe_gives_defaults_types_and_fresh_mutable_defaults():
    info = fields.describe(EvalConfig)
    assert info["k"] == {"default": 4, "doc": "responses sampled per problem", "type": "int"}
    assert info["limit"]["type"] == "int | None" and info["limit"]["default"] is None
    assert fields.describe(TrainConfig)["entropy_target"]["type"] == "float | None"
    a, b = EvalConfig(), EvalConfig()
    a.benches.append("arith")
    assert b.benches == ["gsm8k", "math500"]


def test_text_values_are_coerced_alike_in_all_three_configs():
    """The same texts (what --set and config files give) become the same typed values everywhere."""
    cfg = EvalConfig.from_dict({"k": "2", "limit": "none", "temperature": "1", "max_new_tokens": "64.0",
                                "benches": "arith, gsm8k", "bench_params": "{arith: {level: 2}}"})
    assert (cfg.k, cfg.limit, cfg.temperature, cfg.max_new_tokens) == (2, None, 1.0, 64)
    assert isinstance(cfg.temperature, float) and isinstance(cfg.max_new_tokens, int)
    assert cfg.benches == ["arith", "gsm8k"] and cfg.bench_params == {"arith": {"level": 2}}
    train = TrainConfig.from_dict({"steps": "7", "lr": "1e-5", "entropy_target": "null", "shuffle": "false",
                                   "data_dir": "none", "adam_betas": "[0.9, 0.99]"})
    assert (train.steps, train.lr, train.entropy_target, train.shuffle, train.data_dir) == (7, 1e-5, None, False,
                                                                                            None)
    assert train.adam_betas == [0.9, 0.99]
    algo = algorithms.get("ce-gppo", beta1="0.75", dual_clip_c="null", kl_in_reward="false", clip_ratio_low=0)
    assert (algo.beta1, algo.dual_clip_c, algo.kl_in_reward) == (0.75, None, False)
    assert isinstance(algo.clip_ratio_low, float)
    # text stays text where the field takes text
    assert TrainConfig.from_dict({"task": "123"}).task == "123"


@pytest.mark.parametrize("call,message", [
    (lambda: EvalConfig.from_dict({"k": "two"}), "EvalConfig.k must be int, got 'two'"),
    (lambda: EvalConfig.from_dict({"k": True}), "EvalConfig.k must be int, got True"),
    (lambda: EvalConfig.from_dict({"temperature": None}), "EvalConfig.temperature cannot be None; expected float"),
    (lambda: TrainConfig.from_dict({"steps": "abc"}), "TrainConfig.steps must be int, got 'abc'"),
    (lambda: TrainConfig.from_dict({"lr": 1.5j}), "TrainConfig.lr must be float, got 1.5j"),
    (lambda: algorithms.get("grpo", kl_coef="much"), "objective 'grpo': field 'kl_coef' must be float, got 'much'"),
])
def test_a_bad_value_names_the_field_the_type_and_the_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_unknown_keys_are_errors_that_list_the_valid_fields():
    with pytest.raises(ValueError, match=r"unknown EvalConfig field\(s\) kk; valid fields: benches, k, "):
        EvalConfig.from_dict({"kk": 3})
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) lrr; valid fields: algo, "):
        TrainConfig.from_dict({"lrr": 3})
    with pytest.raises(ValueError, match=r"objective 'grpo' has no field\(s\) 'kl'; its fields: "):
        algorithms.get("grpo", kl=3)


def test_compare_set_eval_uses_the_field_types():
    sets = runner.parse_sets(["eval.k=2", "eval.limit=null", "eval.temperature=1", "train_eval.benches=arith",
                              "eval.data_dir=none"])
    assert sets["eval"] == {"k": 2, "limit": None, "temperature": 1.0, "data_dir": None}
    assert isinstance(sets["eval"]["temperature"], float) and sets["train_eval"] == {"benches": ["arith"]}
    with pytest.raises(ValueError, match="EvalConfig.k must be int, got 'lots'"):
        runner.parse_sets(["eval.k=lots"])
    with pytest.raises(ValueError, match=r"unknown EvalConfig field\(s\) kay"):
        runner.parse_sets(["train_eval.kay=1"])


def test_a_preset_eval_section_is_coerced_like_set():
    plan = runner.make_plan("tiny-test", sets=["eval.k=1", "eval.temperature=1"])
    assert plan.eval.k == 1 and plan.eval.temperature == 1.0 and isinstance(plan.eval.temperature, float)


def test_the_recipe_is_the_papers_and_read_in_one_place():
    """The papers' recipes (docs/algorithms.md): DAPO samples dynamically with the soft overlong punishment (L_max
    20480, L_cache 4096) and no KL; PPO trains a critic with the KL as a reward penalty; GRPO has a reference policy
    for its KL loss; the remax estimator's baseline is a greedy response; CE-GPPO's rewards are +1/-1."""
    dapo = Recipe.of(algorithms.get("dapo"))
    assert dapo.dynamic_sampling and dapo.overlong == {"max_len": 20480, "cache_len": 4096, "penalty": 1.0}
    assert not dapo.uses_reference and not dapo.needs_critic
    ppo = Recipe.of(algorithms.get("ppo"))
    assert ppo.needs_critic and ppo.kl_reward_penalty and ppo.overlong is None and not ppo.dynamic_sampling
    grpo = Recipe.of(algorithms.get("grpo"))
    assert grpo.uses_reference and not grpo.kl_reward_penalty and not grpo.greedy_baseline
    assert Recipe.of(algorithms.get("grpo", advantage_estimator="remax")).greedy_baseline
    ce = Recipe.of(algorithms.get("ce-gppo"))
    assert (ce.reward_correct, ce.reward_incorrect) == (1.0, -1.0)
    # an override of a recipe field reaches the trainer through the recipe
    assert Recipe.of(algorithms.get("grpo", overlong_shaping=True, overlong_max_len=64,
                                    overlong_cache_len=16)).overlong == {"max_len": 64, "cache_len": 16,
                                                                         "penalty": 1.0}
