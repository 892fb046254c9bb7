"""One module names the metric keys (harness/metric_keys.py): docs/trainer.md's table is generated from it, every key a
real training step logs is one of its entries, and the readers (leaderboard, curves, progress bar) read its names."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import algorithms
from algorithms import off_policy
from harness import metric_keys as mk
from harness.evaluate import EvalConfig, make_train_callback
from harness.leaderboard import curves
from harness.leaderboard.collect import BUDGET, PROBE_KEY, RUN_MEANS
from harness.run_layout import read_metrics
from harness.training import TrainConfig, Trainer
from harness.training.logger import MetricsLogger

REPO = Path(__file__).resolve().parents[1]
ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(16)]
PROBE_ROWS = [{"id": f"p{i}", "prompt": f"Held-out {i}:", "answer": "x"} for i in range(3)]


def _reward(golds, rollouts):
    """+1 / -1 by the first token id mod 3: rewards vary within groups, so steps have gradients."""
    return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]


def test_the_docs_table_is_generated_from_the_module():
    text = (REPO / "docs" / "trainer.md").read_text(encoding="utf-8")
    start = text.index("<!-- metric-keys: generated from harness/metric_keys.py -->\n")
    block = text[text.index("\n", start) + 1:text.index("<!-- /metric-keys -->")]
    assert block == mk.markdown_table(), "docs/trainer.md's metric table is stale: paste metric_keys.markdown_table()"
    assert all(meaning.strip() and "\n" not in meaning for meaning in mk.METRICS.values())


def test_family_patterns_match_their_members_only():
    assert mk.key(mk.CLIPFRAC, region="low_neg") == "clipfrac/low_neg"
    assert mk.entry_of("clipfrac/low_neg") == mk.CLIPFRAC and mk.entry_of("time/step_s") == mk.TIME
    assert mk.entry_of("time/rollout_s") == mk.TIME and mk.entry_of("eval/gsm8k/avg@4") == mk.EVAL_BENCH
    assert mk.entry_of("reward/mean") == mk.REWARD_MEAN
    assert mk.entry_of("clipfrac/low/neg") is None and mk.entry_of("time/step") is None
    assert mk.entry_of("rewards/mean") is None


@pytest.mark.parametrize("name", algorithms.names())
def test_every_objective_metric_is_named(name):
    algo = algorithms.get(name, generation_budget=4)
    torch.manual_seed(0)
    b, t = 4, 5
    logp = (torch.randn(b, t) * 0.1 - 1.0).requires_grad_()
    kw = dict(logp=logp, old_logp=logp.detach() + 0.3 * torch.randn(b, t), advantages=torch.randn(b, t),
              mask=torch.ones(b, t), ref_logp=logp.detach() - 0.1, entropy=torch.rand(b, t),
              scores=torch.tensor([1.0, -1.0, 1.0, -1.0]))
    if algo.needs_critic:
        kw.update(values=torch.randn(b, t), old_values=torch.randn(b, t), returns=torch.randn(b, t))
    _, metrics = algo.loss(**kw)
    if algo.needs_critic:
        _, value_metrics = algo.critic_loss(values=kw["values"], old_values=kw["old_values"],
                                            returns=kw["returns"], mask=kw["mask"])
        metrics = {**metrics, **value_metrics}
    assert metrics and [k for k in metrics if mk.entry_of(k) is None] == []


@pytest.mark.parametrize("name", [n for n in off_policy.names() if n != "none"])
def test_every_rollout_correction_metric_is_named(name):
    old = torch.zeros(2, 3)
    params = {"kl-rs": {"seq_max_k2": 0.5}}.get(name, {})   # kl-rs has no default threshold
    _, metrics = off_policy.compute(name, old_logp=old, engine_logp=old - 0.2, mask=torch.ones(2, 3),
                                    logp=old + 0.1, advantages=torch.tensor([[1.0] * 3, [-1.0] * 3]), **params)
    assert [k for k in metrics if mk.entry_of(k) is None] == []


def test_every_key_a_training_run_logs_is_named(tmp_path):
    """A run with a critic and a reference policy (PPO), the adaptive entropy coefficient, truncated importance
    sampling, the entropy probe and the held-out evaluation callback: every key of every record is an entry."""
    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=2, prompts_per_step=2, responses_per_prompt=3,
                      max_new_tokens=3, lr=1e-3, micro_batch_size=3, out_dir=str(tmp_path / "run"),
                      save_final=False, tensorboard=False, algo="ppo", algo_overrides={"kl_coef": 0.01},
                      entropy_target=0.2, tis_cap=2.0, eval_every=1)
    callback = make_train_callback(EvalConfig(benches=["arith"], k=1, limit=2, max_new_tokens=4,
                                              bench_params={"arith": {"level": 1}}))
    result = Trainer(cfg, dataset=ROWS, reward_fn=_reward, probe_rows=PROBE_ROWS, callbacks=[callback],
                     progress=False).train()
    records = read_metrics(result.metrics_path)
    logged = {k for r in records for k in r}
    assert [k for k in sorted(logged) if mk.entry_of(k) is None] == []
    # the run really logged the families this test is meant to cover
    for entry in (mk.STEP_TIME, mk.ENTROPY_PROBE, mk.ENTROPY_COEF, mk.EVAL_ACCURACY, mk.KL_REF, "value/clipfrac",
                  "tis/mean_weight", "gradshare/inside", "budget/updates", "eval/arith/avg@1"):
        assert entry in logged, entry


def test_readers_use_named_keys():
    for key_name, _ in curves.PANELS:
        assert mk.entry_of(key_name) is not None
    for key_name in (*RUN_MEANS, *BUDGET, PROBE_KEY):
        assert mk.entry_of(key_name) is not None
    assert all(mk.entry_of(k) is not None for k, _ in MetricsLogger.BAR_KEYS)
