"""The verl plugin: every zoo objective as a verl policy loss, found through verl's `verl.plugins` entry points and
configured through verl's own config loading.

Independent evidence: verl 0.9's own code. Its `agg_loss` aggregates the plugin's per-token losses, compared here with
the zoo's `Algorithm.loss` (its own aggregation); verl's `grpo` / `rloo` estimators are compared with the zoo's; its
`verl/__init__.py` discovers the plugin and its hydra config plus `validate_config` accept the paper's run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

verl = pytest.importorskip("verl", reason="verl is not installed (optional extra `verl`: pip install --no-deps "
                                          "'verl>=0.9,<0.10' plus `rlvr-zoo[verl]`; see docs/scale-out.md)")

import algorithms  # noqa: E402
from harness.integrations import verl_plugin  # noqa: E402
from verl.trainer.ppo import core_algos  # noqa: E402
from verl.workers.config import ActorConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
B, T = 6, 9


def _batch(seed: int = 0):
    """float64 verl-style tensors: ratios spread over every clip region, mixed-sign advantages, ragged padding."""
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3 - 0.05
    logp = (old + (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5) * 1.2).clamp(max=-1e-3)
    adv = torch.randn(B, 1, generator=g, dtype=torch.float64).expand(B, T).clone()
    lengths = torch.tensor([9, 7, 5, 9, 3, 6])
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return old, logp, adv, mask


def _actor_config(**kwargs) -> ActorConfig:
    return ActorConfig(strategy="fsdp", rollout_n=8, ppo_micro_batch_size_per_gpu=1, **kwargs)


def _zoo_reference(algo, old, logp, adv, mask):
    leaf = logp.clone().requires_grad_(True)
    loss, _ = algo.loss(logp=leaf, old_logp=old, advantages=adv, mask=mask)
    loss.backward()
    return loss.detach(), leaf.grad


def _verl_loss(mode, old, logp, adv, mask, config, weights=None):
    leaf = logp.clone().requires_grad_(True)
    fn = core_algos.get_policy_loss_fn(mode)
    loss, metrics = fn(old_log_prob=old, log_prob=leaf, advantages=adv, response_mask=mask,
                       loss_agg_mode=config.loss_agg_mode, config=config, rollout_is_weights=weights)
    loss.backward()
    return loss.detach(), leaf.grad, metrics


# settings a verl policy loss can run: fec's default schedule follows the training step, which verl does not pass
FIXED = {"fec": {"schedule": "static", "weight_high": 0.6, "weight_low": 0.3}}


@pytest.mark.parametrize("name", [n for n in algorithms.BUILTIN if not algorithms.get_class(n).needs_scores])
def test_every_objective_matches_the_zoo_loss_and_gradient(name):
    """get_policy_loss_fn('zoo-<name>') with a verl ActorConfig == algorithms.get(name).loss (float64, 1e-6)."""
    hparams = FIXED.get(name, {})
    algo = algorithms.get(name, **hparams)
    # the objective's clip range, dual clip and aggregation expressed in verl's own keys, as verl_overrides does
    extra = {}
    if hasattr(algo, "dual_clip_c"):
        if algo.dual_clip_c is None:
            extra["policy_loss"] = verl_plugin.ZooPolicyLossConfig(loss_mode=f"zoo-{name}",
                                                                   hparams={"dual_clip_c": None})
        else:
            extra["clip_ratio_c"] = algo.dual_clip_c
    extra.setdefault("policy_loss", verl_plugin.ZooPolicyLossConfig(loss_mode=f"zoo-{name}", hparams=hparams))
    config = _actor_config(clip_ratio_low=algo.clip_ratio_low, clip_ratio_high=algo.clip_ratio_high,
                           loss_agg_mode=algo.loss_agg_mode, **extra)
    for seed in range(3):
        old, logp, adv, mask = _batch(seed)
        ref_loss, ref_grad = _zoo_reference(algorithms.get(name, kl_coef=0.0, **hparams), old, logp, adv, mask)
        loss, grad, metrics = _verl_loss(f"zoo-{name}", old, logp, adv, mask, config)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-6, atol=1e-6)
        assert grad[~mask].abs().max() == 0
        assert 0.0 <= metrics["actor/pg_clipfrac"] <= 1.0 and "actor/zoo/clipfrac/high_pos" in metrics


def test_hparams_reach_the_objective():
    """beta1/beta2 through ZooPolicyLossConfig change the loss exactly as algorithms.get(..., beta1=...) does."""
    old, logp, adv, mask = _batch(1)
    for beta1, beta2 in ((0.5, 1.0), (0.75, 1.0), (0.0, 0.0)):
        config = _actor_config(clip_ratio_c=10.0, policy_loss=verl_plugin.ZooPolicyLossConfig(
            loss_mode="zoo-ce-gppo", hparams={"beta1": beta1, "beta2": beta2}))
        ref_loss, ref_grad = _zoo_reference(algorithms.get("ce-gppo", beta1=beta1, beta2=beta2), old, logp, adv,
                                            mask)
        loss, grad, _ = _verl_loss("zoo-ce-gppo", old, logp, adv, mask, config)
        torch.testing.assert_close((loss, grad), (ref_loss, ref_grad), rtol=1e-6, atol=1e-6)
    # beta = 0 is PPO's gradient (the CE-GPPO paper; the loss values differ on clipped tokens, which keep 0 there
    # instead of PPO's constant): the same gradient as verl's own vanilla loss with dual clip c = 10
    vanilla = _verl_loss("vanilla", old, logp, adv, mask, _actor_config(clip_ratio_c=10.0))
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, vanilla[1], rtol=1e-6, atol=1e-9)


def test_bad_hparams_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="beta9"):
        verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-ce-gppo", hparams={"beta9": 1.0})
    with pytest.raises(ValueError, match="clip_ratio_high"):
        verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-ce-gppo", hparams={"clip_ratio_high": 0.28})
    with pytest.raises(ValueError, match="beta1"):
        verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-ce-gppo", hparams={"beta1": -1.0})
    # verl gives a policy loss no entropy, so the 80/20 rule would be silently off: refused instead
    with pytest.raises(ValueError, match="entropy_top_q.*no per-token entropy"):
        verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-grpo", hparams={"entropy_top_q": 0.2})
    with pytest.raises(ValueError, match="entropy_top_q"):
        verl_plugin.verl_overrides("grpo", entropy_top_q=0.2)
    # fec's schedules move with the training step, which verl does not pass to a policy loss: refused
    with pytest.raises(ValueError, match="zoo-fec with these settings follows the training step"):
        verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-fec")
    with pytest.raises(ValueError, match="schedule=static"):
        verl_plugin.verl_overrides("fec", schedule="od")
    verl_plugin.ZooPolicyLossConfig(loss_mode="zoo-fec", hparams={"schedule": "static"})


def test_data_parallel_normalisation_follows_verl():
    """With verl's global_batch_info (dp_size 2, global token count) the mean of the two ranks' gradients (what FSDP
    all-reduces) equals the single-batch gradient, as for verl's own losses."""
    old, logp, adv, mask = _batch(2)
    single = _verl_loss("zoo-ce-gppo", old, logp, adv, mask, _actor_config(clip_ratio_c=10.0))
    grads, losses = [], []
    for rows in (slice(0, 3), slice(3, 6)):
        config = _actor_config(clip_ratio_c=10.0)
        config.global_batch_info.update(dp_size=2, batch_num_tokens=int(mask.sum()), global_batch_size=B)
        loss, grad, _ = _verl_loss("zoo-ce-gppo", old[rows], logp[rows], adv[rows], mask[rows], config)
        grads.append(grad)
        losses.append(loss)
    torch.testing.assert_close(torch.cat(grads) / 2, single[1], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(sum(losses) / 2, single[0], rtol=1e-9, atol=1e-12)


def test_rollout_is_weights_match_the_zoo_and_verls_weighting():
    """verl's rollout-correction weights give the zoo's loss with rollout_is_weights (every objective), and for
    CE-GPPO the same as verl's convention of multiplying each token's loss by its weight (verl's vanilla loss)."""
    old, logp, adv, mask = _batch(3)
    w = torch.rand(B, T, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2
    for name in (n for n in algorithms.BUILTIN if not algorithms.get_class(n).needs_scores):
        algo = algorithms.get(name, kl_coef=0.0, **FIXED.get(name, {}))
        hparams = {"dual_clip_c": algo.dual_clip_c} if hasattr(algo, "dual_clip_c") else {}
        hparams.update(FIXED.get(name, {}))
        config = _actor_config(clip_ratio_low=algo.clip_ratio_low, clip_ratio_high=algo.clip_ratio_high,
                               loss_agg_mode=algo.loss_agg_mode,
                               policy_loss=verl_plugin.ZooPolicyLossConfig(loss_mode=f"zoo-{name}", hparams=hparams))
        loss, grad, _ = _verl_loss(f"zoo-{name}", old, logp, adv, mask, config, weights=w)
        leaf = logp.clone().requires_grad_(True)
        ref_loss, _ = algo.loss(logp=leaf, old_logp=old, advantages=adv, mask=mask, rollout_is_weights=w)
        ref_loss.backward()
        torch.testing.assert_close((loss, grad), (ref_loss.detach(), leaf.grad), rtol=1e-6, atol=1e-9)
    # beta1 = beta2 = 0 has PPO's gradient, so it must equal verl's vanilla with the loss weighted per token
    zero = _actor_config(clip_ratio_c=10.0, policy_loss=verl_plugin.ZooPolicyLossConfig(
        loss_mode="zoo-ce-gppo", hparams={"beta1": 0.0, "beta2": 0.0}))
    _, grad, _ = _verl_loss("zoo-ce-gppo", old, logp, adv, mask, zero, weights=w)
    _, vanilla_grad, _ = _verl_loss("vanilla", old, logp, adv, mask, _actor_config(clip_ratio_c=10.0), weights=w)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, vanilla_grad, rtol=1e-6, atol=1e-9)


def test_advantage_estimators_match_verl_and_the_zoo():
    """zoo-grpo equals verl's own grpo and zoo-rloo verl's rloo (independent implementations); every registered
    zoo-<estimator> equals algorithms.advantages.compute."""
    g = torch.Generator().manual_seed(0)
    mask = (torch.arange(T)[None, :] < torch.tensor([9, 7, 5, 9, 3, 6, 8, 2])[:, None]).float()
    scores = torch.randint(0, 2, (8,), generator=g).double() * 2 - 1
    scores[4:] = torch.tensor([1.0, 0.0, 0.5, 1.0], dtype=torch.float64)
    last = mask.sum(-1).long() - 1
    rewards = torch.zeros(8, T, dtype=torch.float64)
    rewards[torch.arange(8), last] = scores
    index = np.array(["p0"] * 4 + ["p1"] * 4, dtype=object)
    for zoo, native in (("grpo", "grpo"), ("rloo", "rloo")):
        ours, _ = core_algos.get_adv_estimator_fn(f"zoo-{zoo}")(token_level_rewards=rewards, response_mask=mask,
                                                                index=index, config=None)
        theirs, _ = core_algos.get_adv_estimator_fn(native)(token_level_rewards=rewards, response_mask=mask,
                                                            index=index)
        torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-6, atol=1e-6)
    group_ids = torch.tensor([0] * 4 + [1] * 4)
    for key in verl_plugin.REGISTERED["adv_estimators"]:
        name = key.removeprefix("zoo-")
        ours, _ = core_algos.get_adv_estimator_fn(key)(token_level_rewards=rewards, response_mask=mask, index=index,
                                                       config=None)
        expected, _ = algorithms.advantages.compute(name, mask=mask.bool(), group_ids=group_ids,
                                                    token_rewards=rewards)
        torch.testing.assert_close(ours, expected)


def _entry_points_txt() -> str:
    """The `verl.plugins` entry points that pyproject.toml declares, in entry_points.txt form."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    group = project["entry-points"]["verl.plugins"]
    return "[verl.plugins]\n" + "".join(f"{name} = {target}\n" for name, target in group.items())


@pytest.mark.slow
def test_a_fresh_process_finds_the_plugin_through_the_entry_point(tmp_path):
    """A dist-info carrying pyproject's [project.entry-points."verl.plugins"] (what `pip install` writes) makes a
    plain `import verl` register the zoo losses; with VERL_USE_EXTERNAL_PLUGINS=none they are absent, so it is the
    entry point that loads them."""
    dist = tmp_path / "rlvr_zoo_entry_point_probe-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rlvr-zoo-entry-point-probe\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(_entry_points_txt())
    probe = ("import json, verl; from verl.trainer.ppo import core_algos as c; "
             "print(json.dumps([sorted(k for k in c.POLICY_LOSS_REGISTRY if k.startswith('zoo-')), "
             "sorted(k for k in c.ADV_ESTIMATOR_REGISTRY if k.startswith('zoo-'))]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_USE_EXTERNAL")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    found = {}
    for policy in ("auto", "none"):
        run_env = dict(env, VERL_USE_EXTERNAL_PLUGINS=policy)
        proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=run_env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        found[policy] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["auto"][0] == [f"zoo-{n}" for n in verl_plugin.verl_objectives()]
    assert "zoo-grpo" in found["auto"][1] and "zoo-dr-grpo" in found["auto"][1]
    assert found["none"] == [[], []]


PAPER = {"1.5b": (0.5, 1.0), "7b": (0.75, 1.0)}


@pytest.mark.parametrize("size", sorted(PAPER))
def test_paper_run_config_is_accepted_by_verls_config_loading(size):
    """CE-GPPO's settings (Su et al. 2025: beta (0.5, 1) for 1.5B and (0.75, 1) for 7B, lr 1e-6, 8 rollouts per
    prompt, eps 0.2/0.2, dual clip c = 10) on 2 nodes x 8 GPUs: verl's hydra config composes with them, verl's
    validate_config accepts them, and the actor config it builds carries the plugin's config class into the loss."""
    pytest.importorskip("hydra", reason="hydra-core is not installed (verl's config loader; extra `verl`)")
    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    beta1, beta2 = PAPER[size]
    overrides = verl_plugin.verl_overrides("ce-gppo", beta1=beta1, beta2=beta2) + [
        f"actor_rollout_ref.model.path=/models/policy-{size}",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.actor.optim.lr=1e-6",
        "actor_rollout_ref.rollout.n=8",
        "actor_rollout_ref.actor.ppo_mini_batch_size=32",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "data.train_batch_size=128",
        "trainer.nnodes=2",
        "trainer.n_gpus_per_node=8",
    ]
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)
    assert cfg.actor_rollout_ref.actor.clip_ratio_c == 10.0 and cfg.actor_rollout_ref.rollout.n == 8
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    assert isinstance(actor.policy_loss, verl_plugin.ZooPolicyLossConfig)
    assert actor.policy_loss.hparams == {"beta1": beta1, "beta2": beta2}
    assert actor.optim.lr == 1e-6 and (actor.clip_ratio_low, actor.clip_ratio_high) == (0.2, 0.2)
    assert actor.loss_agg_mode == "token-mean" and not actor.use_kl_loss and not need_critic(cfg)
    algo = verl_plugin.objective("ce-gppo", actor)
    assert (algo.beta1, algo.beta2, algo.dual_clip_c) == (beta1, beta2, 10.0)
    old, logp, adv, mask = _batch(4)
    loss, grad, _ = _verl_loss(actor.policy_loss.loss_mode, old, logp, adv, mask, actor)
    ref = _zoo_reference(algorithms.get("ce-gppo", beta1=beta1, beta2=beta2), old, logp, adv, mask)
    torch.testing.assert_close((loss, grad), ref, rtol=1e-6, atol=1e-6)

    bad = overrides + ["+actor_rollout_ref.actor.policy_loss.hparams.beta9=1"]
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=bad)
    with pytest.raises(Exception, match="beta9"):
        validate_config(config=cfg, use_reference_policy=False, use_critic=False)


@pytest.mark.slow
def test_recipe_overrides_compose_for_every_objective():
    """verl_overrides(name) is valid hydra for verl's trainer config and selects the zoo's estimator when verl has
    no critic-free equivalent."""
    pytest.importorskip("hydra", reason="hydra-core is not installed (verl's config loader; extra `verl`)")
    from hydra import compose, initialize_config_dir

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        for name in verl_plugin.verl_objectives():
            cfg = compose(config_name="ppo_trainer", overrides=verl_plugin.verl_overrides(name, **FIXED.get(name, {})))
            assert cfg.actor_rollout_ref.actor.policy_loss.loss_mode == f"zoo-{name}"
            estimator = cfg.algorithm.adv_estimator
            assert estimator == "gae" if algorithms.get(name).needs_critic else estimator.startswith("zoo-")
            assert estimator in core_algos.ADV_ESTIMATOR_REGISTRY


def test_registering_again_is_harmless():
    """The module may run twice in one process (imported by verl's entry point, then as __main__ of
    `python -m harness.integrations.verl_plugin`): verl refuses a different function under a taken estimator name,
    so the plugin replaces its own earlier registrations."""
    again = verl_plugin.register_all()
    assert again == verl_plugin.REGISTERED
    assert core_algos.get_adv_estimator_fn("zoo-grpo").rlvr_zoo_estimator == "grpo"


def test_overrides_command_prints_the_recipe(capsys):
    verl_plugin.main(["ce-gppo", "beta1=0.75"])
    lines = capsys.readouterr().out.splitlines()
    assert "+actor_rollout_ref.actor.policy_loss.hparams.beta1=0.75" in lines
    assert "actor_rollout_ref.actor.clip_ratio_c=10.0" in lines
    with pytest.raises(SystemExit, match="beta9"):
        verl_plugin.main(["ce-gppo", "beta9=1"])


def test_installed_verl_is_the_supported_line():
    """The plugin is written against verl 0.9's PolicyLossFn and config classes (pyproject's extra `verl`)."""
    assert verl.__version__.startswith(verl_plugin.SUPPORTED_VERL + "."), verl.__version__
