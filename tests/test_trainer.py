"""The shared trainer on `tiny-random`: every objective end to end, learning, resume exactness, NaN skip, dynamic
sampling with an all-filtered batch, empty responses, config parsing.

Most tests use short ready-made prompts and a reward function defined here (no sympy workers) so that each step
takes a fraction of a second; the CLI tests (test_checkpoint.py, test_distributed.py) use the real arith task.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

import algorithms
from harness.run_layout import read_metrics
from harness.rollout import Rollout
from harness.training import TrainConfig, Trainer, parse_set, train
from harness.training.sampling import RolloutScorer

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(64)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py

# a fixed ~10% of the vocabulary: "correct" first tokens for the learning test
IN_SET = lambda tok: tok % 10 == 0  # noqa: E731


def first_token_reward(golds, rollouts):
    """1 when the first response token is in the fixed 10% set, else 0."""
    return [1.0 if r.response_ids and IN_SET(r.response_ids[0]) else 0.0 for r in rollouts]


def mod3_reward(golds, rollouts):
    """A reward that varies within groups (so advantages are non-zero): +1 / -1 by the first token id mod 3."""
    return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]


def first_of_group_reward(golds, rollouts, group_size=3):
    """+1 for the first response of each group (rollouts come grouped by prompt), -1 for the others: every group
    has different rewards, so every step has non-zero advantages and a gradient."""
    return [1.0 if i % group_size == 0 else -1.0 for i in range(len(rollouts))]


def small_cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tiny-random", dtype="float32", steps=2, prompts_per_step=2, responses_per_prompt=4,
                max_new_tokens=3, lr=1e-3, micro_batch_size=4, out_dir=str(tmp_path / "run"), save_final=False,
                tensorboard=False)
    base.update(kw)
    return TrainConfig(**base)


def params_vector(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


# ------------------------------------------------------------------------------------------------ config

def test_config_rejects_unknown_keys_and_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown TrainConfig field.*lrr.*valid fields:.*lr"):
        TrainConfig.from_dict({"lrr": 1e-3})


def test_config_set_parsing_uses_field_types():
    cfg = TrainConfig().with_overrides(["lr=1e-5", "steps=7", "shuffle=false", "algo_overrides.beta1=0.75",
                                        "task_params={level: 2, n: 50}", "lora=null"])
    assert cfg.lr == 1e-5 and isinstance(cfg.lr, float)
    assert cfg.steps == 7 and cfg.shuffle is False
    assert cfg.algo_overrides == {"beta1": 0.75}
    assert cfg.task_params == {"level": 2, "n": 50}
    assert cfg.lora is None
    with pytest.raises(ValueError, match="steps must be int"):
        TrainConfig().with_overrides(["steps=abc"])
    with pytest.raises(ValueError, match="unknown TrainConfig field 'stepz'"):
        parse_set(["stepz=3"])
    with pytest.raises(ValueError, match="expected field=value"):
        parse_set(["steps"])
    with pytest.raises(ValueError, match="micro_batch_size must be >= 1"):
        TrainConfig(micro_batch_size=0).validate()
    # every field is documented
    assert all(info["doc"] for info in TrainConfig.describe().values())


# ------------------------------------------------------------------------------------------------ every objective

@pytest.mark.parametrize("name", algorithms.names())
def test_every_algorithm_runs_two_steps(name, tmp_path):
    """Two full steps (micro-batches of 4 of the 6 sequences, so gradients accumulate) with finite metrics and
    moved weights; objectives with a critic train it too."""
    cfg = small_cfg(tmp_path, algo=name, responses_per_prompt=3, max_new_tokens=2, micro_batch_size=4)
    trainer = Trainer(cfg, dataset=ROWS, reward_fn=first_of_group_reward, progress=False)
    before = params_vector(trainer.model)
    critic_before = params_vector(trainer.critic) if trainer.critic is not None else None
    result = trainer.train()
    assert result.status == "completed" and result.steps_done == 2
    records = read_metrics(result.metrics_path)
    assert [r["step"] for r in records] == [1, 2]
    algo = algorithms.get(name)
    for rec in records:
        for key in ("reward/mean", "reward/std", "accuracy", "entropy", "kl/old", "grad_norm",
                    "clipfrac/low_neg", "clipfrac/high_pos", "clipfrac/low_pos", "clipfrac/high_neg",
                    "gradshare/low_neg", "gradshare/high_pos", "gradshare/low_pos", "gradshare/high_neg",
                    "gradshare/inside", "response_length/mean", "truncated_frac", "rollout/logprob_mismatch_kl",
                    "throughput/rollout_tok_s", "throughput/train_tok_s", "time/step_s", "memory/peak_rss_mb",
                    "filter/kept_groups", "filter/dropped_groups", "skipped_steps"):
            assert key in rec, f"{name}: metric {key} missing"
        # kl/ref is measured only against a reference model; without one it is absent, not 0
        assert ("kl/ref" in rec) == algo.uses_reference, name
        assert rec["skipped_steps"] == 0
        assert math.isfinite(rec["entropy"]) and rec["entropy"] > 0
        shares = [rec[f"gradshare/{r}"] for r in ("low_neg", "high_pos", "low_pos", "high_neg", "inside")]
        assert sum(shares) == pytest.approx(1.0, abs=1e-6)
    assert not torch.equal(before, params_vector(trainer.model)), f"{name}: the policy did not change"
    if critic_before is not None:
        assert not torch.equal(critic_before, params_vector(trainer.critic)), f"{name}: the critic did not train"
    assert (trainer.ref_model is not None) == algo.uses_reference  # no reference model when kl_coef == 0


def test_region_figures_of_the_off_policy_mini_batches_are_kept_apart(tmp_path):
    """offpolicy/clipfrac/* and offpolicy/gradshare/* count only the mini-batches after a step's first update. The
    first mini-batch is scored by the policy that sampled it (old log-probs recomputed, ratio exactly 1), so all its
    tokens are inside the clip range: each region's step-wide fraction is its off-policy fraction times one common
    factor, the off-policy share of the step's tokens, in (0, 1). A step with one update has no such figures."""
    cfg = small_cfg(tmp_path, algo="ce-gppo", steps=2, prompts_per_step=4, responses_per_prompt=4, max_new_tokens=3,
                    lr=5e-2, grad_clip=0.0, minibatch_size=8, old_logprobs="recompute")
    result = train(cfg, progress=False, dataset=ROWS, reward_fn=first_of_group_reward)
    regions = ("low_neg", "high_pos", "low_pos", "high_neg")
    for rec in read_metrics(result.metrics_path):
        assert rec["updates"] == 2
        shares = [rec[f"offpolicy/gradshare/{r}"] for r in (*regions, "inside")]
        assert sum(shares) == pytest.approx(1.0, abs=1e-6)
        assert rec["offpolicy/gradshare/inside"] <= rec["gradshare/inside"] + 1e-9
        factors = [rec[f"clipfrac/{r}"] / rec[f"offpolicy/clipfrac/{r}"] for r in regions
                   if rec[f"offpolicy/clipfrac/{r}"] > 0]
        assert factors, rec   # lr 5e-2 moves the policy out of the clip range on some tokens
        assert all(0 < f < 1 for f in factors) and max(factors) - min(factors) < 1e-6, factors
    single = small_cfg(tmp_path / "one", algo="ce-gppo", steps=1, prompts_per_step=2)
    rec = read_metrics(train(single, progress=False, dataset=ROWS, reward_fn=first_of_group_reward).metrics_path)[0]
    assert rec["updates"] == 1 and not any(k.startswith("offpolicy/") for k in rec)


# ------------------------------------------------------------------------------------------------ learning

@pytest.mark.slow
@pytest.mark.parametrize("name", ["grpo", "ce-gppo"])
def test_mean_reward_rises_on_an_easily_learned_reward(name, tmp_path):
    """Reward 1 when the first response token lies in a fixed 10% of the vocabulary: starts near chance (0.1; the
    first step's 32 samples stay under 0.3, about 4 standard errors above it) and must exceed 0.8 (mean of the last
    three steps) within 24 steps. At this learning rate without clipping the trajectory is chaotic: float rounding
    (e.g. the shared-prefix forward, equal to the plain one to 1e-6) moves the step at which it takes off between
    about 4 and 16 (measured over seeds 0-3), so the budget leaves room past the slowest seen."""
    cfg = small_cfg(tmp_path, algo=name, steps=24, prompts_per_step=4, responses_per_prompt=8, max_new_tokens=1,
                    lr=5e-2, grad_clip=0.0, micro_batch_size=32)
    result = train(cfg, progress=False, dataset=ROWS, reward_fn=first_token_reward)
    rewards = [r["reward/mean"] for r in read_metrics(result.metrics_path)]
    assert rewards[0] < 0.3, rewards
    assert sum(rewards[-3:]) / 3 > 0.8, rewards


# ------------------------------------------------------------------------------------------------ resume

def _comparable(records):
    skip = ("time/", "throughput/", "memory/")
    return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in records]


def test_resume_is_exact(tmp_path):
    """4 steps in one run == 2 steps, then resume for 2 more: same metrics and the same weights."""
    kw = dict(algo="grpo", steps=4, responses_per_prompt=2, max_new_tokens=2, minibatch_size=2,
              micro_batch_size=1, lr=1e-2, warmup_steps=3)  # 2 updates per step, 2 micro-batches per update
    one = Trainer(small_cfg(tmp_path / "a", **kw), dataset=ROWS, reward_fn=mod3_reward, progress=False)
    one.train()
    two = Trainer(small_cfg(tmp_path / "b", **{**kw, "steps": 2}), dataset=ROWS, reward_fn=mod3_reward,
                  progress=False)
    two.train()
    resumed = Trainer(small_cfg(tmp_path / "b", **kw), dataset=ROWS, reward_fn=mod3_reward, progress=False,
                      resume=True)
    assert resumed.step == 2
    resumed.train()
    a = _comparable(read_metrics(tmp_path / "a" / "run" / "metrics.jsonl"))
    b = _comparable(read_metrics(tmp_path / "b" / "run" / "metrics.jsonl"))
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert a == b
    torch.testing.assert_close(params_vector(one.model), params_vector(resumed.model), rtol=0, atol=1e-6)
    run = json.loads((tmp_path / "b" / "run" / "run.json").read_text())
    assert run["status"] == "completed" and run["resumed_from"].endswith("step-2")


def test_resume_without_checkpoint_and_rerun_on_existing_run_are_clear_errors(tmp_path):
    from harness.training import TrainingError

    cfg = small_cfg(tmp_path, algo="ce-gppo", steps=1)
    with pytest.raises(TrainingError, match="holds no complete checkpoint"):
        Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False, resume=True)
    Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False).train()
    with pytest.raises(TrainingError, match="already holds a run"):
        Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False)


# ------------------------------------------------------------------------------------------------ faults

class _NaNOnSecondCall(algorithms.get_class("grpo")):
    """GRPO whose loss is NaN on its second call (= step 2 with one micro-batch per step)."""

    calls = 0

    def loss(self, **kw):
        type(self).calls += 1
        loss, metrics = super().loss(**kw)
        if type(self).calls == 2:
            loss = loss * float("nan")
        return loss, metrics


def test_nan_loss_skips_the_update_counts_it_and_continues(tmp_path):
    _NaNOnSecondCall.calls = 0
    snapshots = {}

    def snapshot(step, trainer):
        snapshots[step] = params_vector(trainer.model)
        return {"snapshot": step}

    cfg = small_cfg(tmp_path, algo="grpo", steps=3, eval_every=1, micro_batch_size=8, lr=1e-2)
    result = train(cfg, progress=False, callbacks=[snapshot], dataset=ROWS, reward_fn=mod3_reward,
                   algorithm=_NaNOnSecondCall())
    recs = read_metrics(result.metrics_path)
    assert [r["skipped_steps"] for r in recs] == [0, 1, 1]
    assert recs[1]["skipped_updates"] == 1 and recs[0]["skipped_updates"] == 0
    assert [r["snapshot"] for r in recs] == [1, 2, 3]  # callback results are merged into the records
    assert torch.equal(snapshots[1], snapshots[2]), "the NaN step must not change the weights"
    assert not torch.equal(snapshots[2], snapshots[3]), "training must continue after the NaN step"
    assert torch.isfinite(snapshots[3]).all()
    assert result.skipped_steps == 1


def test_all_filtered_batch_retries_then_continues_with_a_warning(tmp_path):
    """DAPO's dynamic sampling with a constant reward: every group is dropped in every round; the step makes no
    update, says so, and the run goes on."""
    cfg = small_cfg(tmp_path, algo="dapo", steps=2, dynamic_sampling_max_rounds=3)
    trainer = Trainer(cfg, dataset=ROWS, reward_fn=lambda golds, rollouts: [1.0] * len(rollouts), progress=False)
    before = params_vector(trainer.model)
    with pytest.warns(UserWarning, match="all groups filtered by dynamic sampling after 3 rounds"):
        result = trainer.train()
    recs = read_metrics(result.metrics_path)
    assert result.status == "completed" and [r["step"] for r in recs] == [1, 2]
    assert recs[0]["filter/kept_groups"] == 0
    assert recs[0]["filter/dropped_groups"] == 3 * cfg.prompts_per_step  # three rounds drew new prompts
    assert recs[1]["filter/empty_batches"] == 2
    assert torch.equal(before, params_vector(trainer.model))
    assert trainer.sampler.pos == 2 * 3 * cfg.prompts_per_step


def test_dynamic_sampling_keeps_only_groups_with_different_rewards(tmp_path):
    """Also the bf16 autocast path (dtype="bfloat16", the default of real runs)."""
    cfg = small_cfg(tmp_path, algo="dapo", steps=1, prompts_per_step=4, dynamic_sampling_max_rounds=4,
                    dtype="bfloat16")
    # groups alternate between constant and varying rewards by the prompt's row id
    def reward(golds, rollouts):
        return [float(r.response_ids[0] % 2) if int(g) % 2 == 0 else 0.0 for g, r in zip(golds, rollouts)]
    rows = [{"id": str(i), "prompt": f"Q{i}:", "answer": str(i)} for i in range(64)]
    result = train(cfg, progress=False, dataset=rows, reward_fn=reward)
    rec = read_metrics(result.metrics_path)[0]
    assert rec["filter/kept_groups"] == 4
    assert rec["filter/dropped_groups"] >= 2


def test_empty_response_scores_as_wrong():
    import rewards

    algo = algorithms.get("ce-gppo")
    reward = rewards.training_reward(None, correct=algo.reward_correct, incorrect=algo.reward_incorrect)
    scorer = RolloutScorer(reward, custom=lambda golds, rollouts: [1.0] * len(rollouts))
    rollouts = [Rollout(0, [1, 2], [0], "", [-1.0], "stop"), Rollout(0, [1, 2], [5, 0], "42", [-1.0, -1.0], "stop")]
    scored = scorer.score(["42", "42"], rollouts)
    assert scored[0].value == algo.reward_incorrect and scored[0].correct is False
    assert scored[1].value == 1.0 and scored[1].correct is True


def test_training_reward_from_a_spec():
    """rewards.training_reward: the correctness part takes the objective's values unless params set them; a sum takes
    params per part; DAPO's overlong punishment (Yu et al. 2025 eq. 13: 0 up to L_max - L_cache, then a linear ramp
    to -penalty at L_max) is added once, not again when the spec names it."""
    import rewards

    reward = rewards.training_reward("correctness", correct=1.0, incorrect=-1.0)
    assert [(p.name, p.correct, p.incorrect) for p in reward.parts] == [("correctness", 1.0, -1.0)]
    reward = rewards.training_reward("correctness", {"incorrect": 0.0}, correct=1.0, incorrect=-1.0)
    assert reward.parts[0].incorrect == 0.0
    with pytest.raises(ValueError, match="per part"):
        rewards.training_reward("correctness+format", {"incorrect": 0.0})
    overlong = {"max_len": 10, "cache_len": 4, "penalty": 1.0}
    shaped = rewards.training_reward(None, incorrect=-1.0, overlong=overlong)
    scored = shaped.shape(["1"] * 3, ["a", "b", "c"], [6, 8, 12], [rewards.Scored(1.0, True)] * 3)
    assert [s.value for s in scored] == [1.0, 0.5, 0.0]
    named = rewards.training_reward("correctness+overlong", {"overlong": {"max_len": 10, "cache_len": 4}},
                                    overlong=overlong)
    assert named.overlong is None and [p.name for p in named.parts] == ["correctness", "overlong"]


def test_metrics_logger_writes_strict_json_lines_and_truncates_on_resume(tmp_path):
    from harness.training.logger import MetricsLogger, truncate_metrics

    log = MetricsLogger(tmp_path, total_steps=3, progress=False, tensorboard=False)
    for step in (1, 2, 3):
        log.log({"step": step, "reward/mean": 0.5, "grad_norm": float("nan"), "t": torch.tensor(2.0)})
    log.close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"step": 1, "reward/mean": 0.5, "grad_norm": None, "t": 2.0}
    truncate_metrics(tmp_path / "metrics.jsonl", 2)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_tensorboard_scalars_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    from harness.training.logger import MetricsLogger

    log = MetricsLogger(tmp_path, total_steps=1, progress=True, tensorboard=True)
    assert log.tensorboard_enabled
    log.log({"step": 1, "reward/mean": 0.25})
    log.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("reward/mean")] == [0.25]


def test_lora_run_checkpoints_the_adapter_merges_final_and_resumes(tmp_path):
    pytest.importorskip("peft")
    from harness.models import load_policy

    cfg = small_cfg(tmp_path, algo="ce-gppo", steps=1, lora={"r": 4}, save_final=True, lr=1e-2)
    trainer = Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    trainer.train()
    assert (tmp_path / "run" / "checkpoints" / "step-1" / "model" / "adapter_model.safetensors").is_file()
    final, _ = load_policy(str(tmp_path / "run" / "final"))  # merged into plain weights
    assert not hasattr(final, "peft_config")
    resumed = Trainer(cfg.replace(steps=2), dataset=ROWS, reward_fn=mod3_reward, progress=False, resume=True)
    lora_now = {n: p.detach().clone() for n, p in resumed.model.named_parameters() if "lora_" in n}
    lora_saved = {n: p.detach() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert lora_now.keys() == lora_saved.keys()
    assert all(torch.equal(lora_now[n], lora_saved[n]) for n in lora_now)
    assert resumed.train().steps_done == 2
