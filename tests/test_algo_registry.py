"""The objective registry: names, get with overrides and validation, describe, and user objectives."""
import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import algorithms

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_objective.py"


@pytest.fixture(autouse=True)
def restore_registry():
    """Objectives registered by a test are removed after it, so other test modules see only the built-ins."""
    before = set(algorithms.names())
    yield
    for name in set(algorithms.names()) - before:
        algorithms.unregister(name)


def load_example():
    """Import examples/my_objective.py the way `rlvr-zoo --plugin FILE` does (a fresh module from a path)."""
    spec = importlib.util.spec_from_file_location("rlvr_zoo_plugin_my_objective", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_names_are_sorted_and_hold_the_builtins():
    names = algorithms.names()
    assert names == sorted(names)
    assert {"ppo", "grpo", "dapo", "gppo", "ce-gppo", "dr-grpo", "gspo", "cispo", "clip-cov", "kl-cov"} <= set(names)


def test_paper_defaults():
    assert algorithms.get("ce-gppo").beta1 == 0.5 and algorithms.get("ce-gppo").beta2 == 1.0
    assert algorithms.get("ce-gppo").dual_clip_c == 10.0 and algorithms.get("ce-gppo").reward_incorrect == -1.0
    dapo = algorithms.get("dapo")
    assert (dapo.clip_ratio_low, dapo.clip_ratio_high, dapo.loss_agg_mode) == (0.2, 0.28, "token-mean")
    assert dapo.dynamic_sampling and dapo.overlong_shaping and dapo.kl_coef == 0 and not dapo.uses_reference
    grpo = algorithms.get("grpo")
    assert (grpo.loss_agg_mode, grpo.kl_coef, grpo.kl_estimator) == ("seq-mean-token-mean", 0.04, "k3")
    assert grpo.uses_reference
    ppo = algorithms.get("ppo")
    assert ppo.needs_critic and ppo.kl_in_reward and ppo.advantage_estimator == "gae" and ppo.dual_clip_c == 3.0
    assert algorithms.get("gspo").clip_ratio_low == 3e-4 and algorithms.get("gspo").clip_ratio_high == 4e-4
    assert algorithms.get("dr-grpo").advantage_estimator == "dr-grpo"


def test_overrides_are_applied_and_coerced():
    algo = algorithms.get("ce-gppo", beta1=1, beta2="0.25", dual_clip_c="none", kl_in_reward="false")
    assert algo.beta1 == 1.0 and isinstance(algo.beta1, float)
    assert algo.beta2 == 0.25 and algo.dual_clip_c is None and algo.kl_in_reward is False
    assert algorithms.get("dr-grpo", loss_norm_length="512").loss_norm_length == 512


def test_unknown_name_lists_the_registered_objectives():
    with pytest.raises(ValueError) as err:
        algorithms.get("ppo2")
    assert "unknown objective 'ppo2'" in str(err.value)
    for name in algorithms.names():
        assert name in str(err.value)


def test_unknown_field_lists_the_fields():
    with pytest.raises(ValueError) as err:
        algorithms.get("ce-gppo", beta3=1.0)
    message = str(err.value)
    assert "no field(s) 'beta3'" in message
    for field in ("beta1", "beta2", "clip_ratio_low", "loss_agg_mode", "dual_clip_c"):
        assert field in message


@pytest.mark.parametrize("override,expected", [
    ({"loss_agg_mode": "mean"}, "unknown loss_agg_mode 'mean'; valid modes: token-mean, seq-mean-token-mean"),
    ({"advantage_estimator": "vtrace"}, "unknown advantage_estimator 'vtrace'; valid estimators: dr-grpo, gae"),
    ({"kl_estimator": "k4"}, "unknown kl_estimator 'k4'; valid estimators: k1, k2, k3, abs"),
    ({"clip_ratio_low": -0.1}, "clip_ratio_low must be >= 0"),
    ({"clip_ratio_high": -0.1}, "clip_ratio_high must be >= 0"),
    ({"beta1": -1.0}, "beta1 and beta2 must be >= 0"),
    ({"dual_clip_c": 0.5}, "dual_clip_c must be > 1"),
    ({"gamma": 1.5}, "gamma and lam must lie in [0, 1]"),
    ({"beta1": "lots"}, "field 'beta1' must be float, got 'lots'"),
    ({"kl_in_reward": 3}, "field 'kl_in_reward' must be bool, got 3"),
    ({"beta1": True}, "field 'beta1' must be float, got True"),
])
def test_bad_values_are_errors_that_say_what_is_valid(override, expected):
    with pytest.raises(ValueError) as err:
        algorithms.get("ce-gppo", **override)
    assert expected in str(err.value)


def test_describe_documents_every_field_of_every_objective():
    for name in algorithms.names():
        info = algorithms.describe(name)
        assert set(info) == {f.name for f in dataclasses.fields(algorithms.get_class(name))}
        for field, entry in info.items():
            assert entry["doc"], f"{name}.{field} has no documentation"
            assert entry["default"] == getattr(algorithms.get(name), field)
        assert algorithms.summary(name)
    assert algorithms.describe("ce-gppo")["beta1"]["default"] == 0.5
    assert "entropy collapse" in algorithms.describe("ce-gppo")["beta1"]["doc"]


def test_user_objective_from_the_example_file_is_retrievable_and_runs_through_loss():
    load_example()
    assert "truncated-is" in algorithms.names()
    algo = algorithms.get("truncated-is", max_weight=1.5)
    assert algorithms.describe("truncated-is")["max_weight"]["doc"]
    logp = torch.tensor([[-1.0, -1.0, -1.0]], dtype=torch.float64, requires_grad=True)
    old_logp = torch.tensor([[-1.5, -0.5, -1.0]], dtype=torch.float64)    # r = e^0.5, e^-0.5, 1
    adv = torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)
    loss, metrics = algo.loss(logp=logp, old_logp=old_logp, advantages=adv, mask=torch.ones(1, 3))
    loss.backward()
    r = torch.exp(logp.detach() - old_logp)
    expected_loss = -(torch.clamp(r, max=1.5) * adv).mean()
    torch.testing.assert_close(loss.detach(), expected_loss)
    # gradient -r*A/N below the cap (r = e^0.5 = 1.65 is above it: no gradient)
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -2.0 * r[0, 1].item() / 3, r[0, 2].item() / 3]],
                                                       dtype=torch.float64))
    assert "clipfrac/low_neg" in metrics
    load_example()      # importing the same file again re-registers the same class without complaint


def test_re_registering_a_name_from_another_class_needs_override():
    with pytest.raises(ValueError, match="'grpo' is already registered by algorithms.objectives.grpo.GRPO"):
        @algorithms.register("grpo")
        class Impostor(algorithms.Algorithm):
            def policy_loss(self, x):
                return -x.ratio * x.advantages

    @algorithms.register("test-temporary", override=True)
    class First(algorithms.Algorithm):
        def policy_loss(self, x):
            return -x.ratio * x.advantages

    @algorithms.register("test-temporary", override=True)
    class Second(algorithms.Algorithm):
        scale: float = algorithms.hp(2.0, "scale")

        def policy_loss(self, x):
            return -self.scale * x.ratio * x.advantages

    assert type(algorithms.get("test-temporary")) is Second
    assert algorithms.get("grpo").__class__.__module__ == "algorithms.objectives.grpo"


def test_unregister():
    @algorithms.register("test-unregister")
    class Temporary(algorithms.Algorithm):
        def policy_loss(self, x):
            return -x.ratio * x.advantages

    algorithms.unregister("test-unregister")
    assert "test-unregister" not in algorithms.names()
    with pytest.raises(ValueError, match="unknown objective 'test-unregister'"):
        algorithms.unregister("test-unregister")


def test_register_rejects_a_non_algorithm():
    with pytest.raises(ValueError, match="decorates a subclass of algorithms.Algorithm"):
        algorithms.register("not-an-algo")(dict)


def test_an_objective_without_policy_loss_says_what_to_implement():
    @algorithms.register("test-incomplete", override=True)
    class Incomplete(algorithms.Algorithm):
        pass

    with pytest.raises(NotImplementedError, match="must implement policy_loss"):
        algorithms.get("test-incomplete").loss(logp=torch.zeros(1, 2), old_logp=torch.zeros(1, 2),
                                               advantages=torch.zeros(1, 2), mask=torch.ones(1, 2))


def test_a_policy_loss_of_the_wrong_shape_is_reported():
    @algorithms.register("test-scalar", override=True)
    class Scalar(algorithms.Algorithm):
        def policy_loss(self, x):
            return (-x.ratio * x.advantages).mean()

    with pytest.raises(ValueError, match=r"algorithm 'test-scalar': policy_loss must return the per-token loss as a "
                                         r"tensor of shape \(1, 2\)"):
        algorithms.get("test-scalar").loss(logp=torch.zeros(1, 2), old_logp=torch.zeros(1, 2),
                                           advantages=torch.zeros(1, 2), mask=torch.ones(1, 2))


def test_to_dict_round_trips_through_get():
    algo = algorithms.get("ce-gppo", beta1=0.75)
    record = algo.to_dict()
    name = record.pop("name")
    assert algorithms.get(name, **record) == algo


def test_every_builtin_objective_names_its_paper():
    assert len(algorithms.BUILTIN) >= 17
    for name in algorithms.BUILTIN:
        assert "arXiv" in algorithms.paper(name), f"{name} must name its paper with an arXiv id"
    assert "2602.04879" in algorithms.paper("dppo-tv") and "2508.08221" in algorithms.paper("lite-ppo")
