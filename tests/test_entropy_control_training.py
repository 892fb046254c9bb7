"""TrainConfig.entropy_target: Skywork-OR1's adaptive entropy coefficient in the training loop, on `tiny-random`.

The rule checked is the one of He et al. 2025, "Skywork Open Reasoner 1 Technical Report" (arXiv 2505.22312),
adaptive entropy control: the coefficient starts at 0, grows by delta after every step whose mean token entropy was
below the target (and the bonus is on), shrinks by delta (and the bonus is off) after a step at or above it, and
stays within [0, max]. A tiny random model's entropy is several nats, so a target of 1000 is always above it and a
target of 0 never is.
"""
from __future__ import annotations

import pytest
import torch

from harness.errors import UserError
from harness.run_layout import read_metrics
from harness.training import TrainConfig, Trainer

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(64)]
DELTA = 0.01

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


def mod3_reward(golds, rollouts):
    """Varies within groups, so the advantages (and the policy gradient) are not zero."""
    return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]


def cfg(tmp_path, name: str, **kw) -> TrainConfig:
    base = dict(algo="grpo", model="tiny-random", dtype="float32", steps=3, prompts_per_step=2,
                responses_per_prompt=4, max_new_tokens=3, lr=1e-2, micro_batch_size=4, save_final=False,
                tensorboard=False, eval_every=1, entropy_coef_delta=DELTA, entropy_coef_max=1.0,
                out_dir=str(tmp_path / name))
    return TrainConfig(**{**base, **kw})


def run(config: TrainConfig, resume: bool = False):
    """(metrics records, {step: flat weights after that step}, trainer)."""
    weights = {}

    def snapshot(step, trainer):
        weights[step] = torch.cat([p.detach().reshape(-1).clone() for p in trainer.model.parameters()])
        return {}

    trainer = Trainer(config, dataset=ROWS, reward_fn=mod3_reward, progress=False, callbacks=[snapshot],
                      resume=resume)
    trainer.train()
    return read_metrics(trainer.out_dir / "metrics.jsonl"), weights, trainer


def _no_timing(records, drop=()):
    skip = ("time/", "throughput/", "memory/")
    return [{k: v for k, v in r.items() if not k.startswith(skip) and k not in drop} for r in records]


def test_target_above_the_entropy_raises_the_coefficient_by_delta_and_adds_the_bonus(tmp_path):
    recs, weights, _ = run(cfg(tmp_path, "adaptive", entropy_target=1000.0))
    off_recs, off_weights, _ = run(cfg(tmp_path, "off"))
    assert [r["entropy/coef"] for r in recs] == pytest.approx([0.0, DELTA, 2 * DELTA], abs=1e-12)
    assert all(r["entropy"] < 1000.0 for r in recs)
    assert "entropy/coef" not in off_recs[0]
    # step 1 uses coefficient 0: the same update as without the controller
    assert torch.equal(weights[1], off_weights[1])
    assert recs[0]["loss/entropy"] == 0.0
    # from step 2 the loss has the bonus -c * aggregate(entropy): negative, and the update differs
    assert recs[1]["loss/entropy"] < 0
    assert abs(recs[2]["loss/entropy"]) > 1.5 * abs(recs[1]["loss/entropy"])   # coefficient 2 delta, then delta
    assert all(r["loss/entropy"] == 0.0 for r in off_recs)
    # step 2 starts from the same weights and data, so only the bonus's gradient can make its update differ (a
    # detached entropy would leave it equal)
    assert not torch.equal(weights[2], off_weights[2])


def test_target_below_the_entropy_keeps_the_coefficient_at_zero_and_the_run_bit_identical(tmp_path):
    recs, weights, _ = run(cfg(tmp_path, "adaptive", entropy_target=0.0))
    off_recs, off_weights, _ = run(cfg(tmp_path, "off"))
    assert [r["entropy/coef"] for r in recs] == [0.0, 0.0, 0.0]
    assert _no_timing(recs, drop=("entropy/coef",)) == _no_timing(off_recs)
    for step in (1, 2, 3):
        assert torch.equal(weights[step], off_weights[step])


def test_resume_continues_the_coefficient(tmp_path):
    full, full_w, one = run(cfg(tmp_path, "full", steps=4, entropy_target=1000.0))
    run(cfg(tmp_path, "split", steps=2, entropy_target=1000.0))
    resumed_recs, resumed_w, resumed = run(cfg(tmp_path, "split", steps=4, entropy_target=1000.0), resume=True)
    assert [r["entropy/coef"] for r in resumed_recs] == pytest.approx([0.0, DELTA, 2 * DELTA, 3 * DELTA], abs=1e-12)
    assert _no_timing(resumed_recs) == _no_timing(full)
    assert resumed.updater.state_dict() == one.updater.state_dict()
    torch.testing.assert_close(resumed_w[4], full_w[4], rtol=0, atol=1e-6)


def test_entropy_target_with_a_fixed_entropy_coef_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="entropy_coef"):
        Trainer(cfg(tmp_path, "both", entropy_target=0.2, algo_overrides={"entropy_coef": 0.01}), dataset=ROWS,
                reward_fn=mod3_reward, progress=False)


def test_entropy_target_must_be_a_finite_non_negative_number():
    with pytest.raises(ValueError, match="entropy_target"):
        TrainConfig(entropy_target=-1.0).validate()
    with pytest.raises(ValueError, match="entropy_coef_delta"):
        TrainConfig(entropy_target=0.2, entropy_coef_delta=-1e-4).validate()


def test_forking_tokens_in_training_divide_by_the_tokens_the_micro_batches_select(tmp_path):
    """Wang et al. 2025, "Beyond the 80/20 Rule" (arXiv 2506.01939v2), Eq. (6): the policy term divides by the
    number of selected tokens, and each (micro-)batch selects its own top ceil(q n) tokens. So in training every
    micro-batch's loss() gets, as global_policy_tokens, the sum of ceil(q n_m) over the mini-batch's micro-batches
    (computed here from the masks loss() received), next to global_tokens = the sum of n_m."""
    import math
    from fractions import Fraction

    import algorithms

    calls = []

    class Recording(algorithms.get_class("grpo")):
        def loss(self, **kw):
            calls.append((int(kw["mask"].sum()), kw["global_tokens"], kw["global_policy_tokens"]))
            return super().loss(**kw)

    q = 0.3
    algo = Recording(entropy_top_q=q, kl_coef=0.0)
    config = cfg(tmp_path, "forking", steps=2, micro_batch_size=3, max_new_tokens=5)   # micro-batches of 3, 3, 2
    with pytest.warns(UserWarning, match="selection per micro-batch"):
        trainer = Trainer(config, dataset=ROWS, reward_fn=mod3_reward, progress=False, algorithm=algo)
    trainer.train()
    assert len(calls) == 2 * 3                                    # 2 steps x 3 micro-batches, one mini-batch each
    for step in range(2):
        step_calls = calls[3 * step:3 * step + 3]
        n = [c[0] for c in step_calls]
        assert {c[1] for c in step_calls} == {float(sum(n))}
        assert {c[2] for c in step_calls} == {float(sum(math.ceil(Fraction(str(q)) * m) for m in n))}
    assert any(c[2] < c[1] for c in calls)
