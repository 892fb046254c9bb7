"""Rollout corrections (engine/trainer mismatch): each weight against the formula of its source, written out by hand,
the masked/truncated fractions they report, the registry and spec parsing, and micro-batch consistency."""
import math

import pytest
import torch

from algorithms import off_policy as rc

F64 = torch.float64

# rho per token (pi_old / mu): row 0 = [1.5, 3.0, 0.4], row 1 = [1.0, 0.9, pad], row 2 = [6.0, pad, pad]
RHO = [[1.5, 3.0, 0.4], [1.0, 0.9, 1.0], [6.0, 1.0, 1.0]]
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)


def inputs():
    engine = torch.log(torch.tensor([[0.2, 0.1, 0.5], [0.3, 0.5, 0.7], [0.1, 0.2, 0.9]], dtype=F64))
    old = engine + torch.log(torch.tensor(RHO, dtype=F64))
    old = torch.where(MASK, old, torch.tensor(float("nan"), dtype=F64))     # padding must not be read
    return {"old_logp": old, "engine_logp": engine, "mask": MASK}


def test_registry_has_the_five_kinds_each_with_its_source():
    assert rc.names() == ["geo-rs", "icepop", "seq-mis", "seq-tis", "token-mis", "token-tis"]
    for name in rc.names():
        info = rc.describe(name)
        assert info["paper"] and info["summary"] and info["params"]
    assert "2510.18855" in rc.paper("icepop")
    assert rc.describe("icepop")["params"] == {"alpha": 0.5, "beta": 5.0}
    assert rc.describe("token-tis")["params"] == {"cap": 2.0}


def test_token_tis_is_the_truncated_ratio():
    w, m = rc.compute("token-tis", **inputs())
    expected = torch.tensor([[1.5, 2.0, 0.4], [1.0, 0.9, 0.0], [2.0, 0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(w, expected)
    assert m["rollout_corr/truncated_token_frac"] == pytest.approx(2 / 6)
    assert m["rollout_corr/masked_token_frac"] == 0.0
    assert m["rollout_corr/mean_weight"] == pytest.approx((1.5 + 2 + 0.4 + 1 + 0.9 + 2) / 6)


def test_seq_tis_truncates_the_product_of_the_sequence():
    w, m = rc.compute("seq-tis", **inputs(), cap=2.0)
    # products: 1.5 * 3 * 0.4 = 1.8, 1.0 * 0.9 = 0.9, 6.0 -> 2.0
    expected = torch.tensor([[1.8, 1.8, 1.8], [0.9, 0.9, 0.0], [2.0, 0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(w, expected)
    assert m["rollout_corr/truncated_token_frac"] == pytest.approx(1 / 6)


def test_token_and_sequence_mis_drop_instead_of_truncating():
    w, m = rc.compute("token-mis", **inputs())
    torch.testing.assert_close(w, torch.tensor([[1.5, 0.0, 0.4], [1.0, 0.9, 0.0], [0.0, 0.0, 0.0]], dtype=F64))
    assert m["rollout_corr/masked_token_frac"] == pytest.approx(2 / 6)
    assert m["rollout_corr/masked_seq_frac"] == pytest.approx(1 / 3)        # row 2 has no token left
    w, m = rc.compute("seq-mis", **inputs(), cap=1.5)
    torch.testing.assert_close(w, torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.9, 0.0], [0.0, 0.0, 0.0]], dtype=F64))
    assert m["rollout_corr/masked_seq_frac"] == pytest.approx(2 / 3)
    assert m["rollout_corr/masked_token_frac"] == pytest.approx(4 / 6)


def test_icepop_keeps_rho_inside_alpha_beta_and_masks_both_sides():
    """IcePop (Ring-1T, arXiv 2510.18855): M(k) = k if alpha <= k <= beta else 0."""
    w, m = rc.compute("icepop", **inputs())
    torch.testing.assert_close(w, torch.tensor([[1.5, 3.0, 0.0], [1.0, 0.9, 0.0], [0.0, 0.0, 0.0]], dtype=F64))
    assert m["rollout_corr/masked_token_frac"] == pytest.approx(2 / 6)      # 0.4 below alpha, 6 above beta


def test_geo_rs_rejects_sequences_by_their_geometric_mean_ratio():
    # geometric means: (1.8)^(1/3) = 1.216, (0.9)^(1/2) = 0.949, 6
    w, m = rc.compute("geo-rs", **inputs(), low=0.9, high=1.3)
    torch.testing.assert_close(w, torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64))
    assert m["rollout_corr/masked_seq_frac"] == pytest.approx(1 / 3)
    w, _ = rc.compute("geo-rs", **inputs())                 # the default band of +-0.1% rejects all three
    assert (w == 0).all()
    assert math.isclose(1.8 ** (1 / 3), 1.2164, abs_tol=1e-4)


def test_micro_batches_give_the_weights_of_the_whole_batch():
    full = inputs()
    for name in rc.names():
        w_full, _ = rc.compute(name, **full)
        parts = [rc.compute(name, **{k: v[rows] for k, v in full.items()})[0] for rows in (slice(0, 1), slice(1, 3))]
        assert torch.equal(torch.cat(parts), w_full), name


def test_extreme_log_ratios_stay_finite():
    old = torch.tensor([[60.0, -60.0]], dtype=F64)
    engine = torch.zeros(1, 2, dtype=F64)
    for name in rc.names():
        w, m = rc.compute(name, old_logp=old, engine_logp=engine, mask=torch.ones(1, 2, dtype=torch.bool))
        assert torch.isfinite(w).all() and all(math.isfinite(v) for v in m.values()), name


def test_spec_parsing_and_errors():
    assert rc.parse_spec("none") == ("none", {}) and rc.parse_spec("") == ("none", {})
    assert rc.parse_spec("token-tis") == ("token-tis", {})
    assert rc.parse_spec("icepop:alpha=0.4, beta=4") == ("icepop", {"alpha": 0.4, "beta": 4.0})
    assert rc.compute("none", **inputs()) == (None, {})
    with pytest.raises(ValueError, match="unknown rollout correction 'tis'; valid: none, geo-rs, icepop"):
        rc.parse_spec("tis")
    with pytest.raises(ValueError, match="expected key=value with key one of cap"):
        rc.parse_spec("token-tis:c=2")
    with pytest.raises(ValueError, match="cap must be a number"):
        rc.parse_spec("token-tis:cap=big")
    with pytest.raises(ValueError, match="need alpha <= beta"):
        rc.parse_spec("icepop:alpha=5,beta=0.5")
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        rc.compute("token-tis", **inputs(), cap=0.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        rc.compute("geo-rs", **inputs(), cap=2.0)


# ------------------------------------------------------------------------------------------------ in the trainer

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(16)]


def _reward(golds, rollouts):
    return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]


def _run(tmp_path, **kw):
    from harness.run_layout import read_metrics
    from harness.training import TrainConfig, Trainer

    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, prompts_per_step=2, responses_per_prompt=4,
                      max_new_tokens=3, lr=1e-2, micro_batch_size=4, out_dir=str(tmp_path / "run"), save_final=False,
                      tensorboard=False, algo="dapo", **kw)
    trainer = Trainer(cfg, dataset=ROWS, reward_fn=_reward, progress=False)
    before = torch.cat([p.detach().reshape(-1).clone() for p in trainer.model.parameters()])
    result = trainer.train()
    after = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
    return read_metrics(result.metrics_path)[0], torch.equal(before, after)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_trainer_applies_the_configured_correction_and_logs_what_it_masked(tmp_path):
    """The fp32 HF engine and the trainer agree (rho ~ 1): token-tis keeps every token at weight ~1; token-mis with
    cap 0.5 masks every token, so no policy gradient reaches the weights."""
    rec, unchanged = _run(tmp_path / "tis", rollout_correction="token-tis")
    assert rec["rollout_corr/masked_token_frac"] == 0.0 and rec["rollout_corr/truncated_token_frac"] == 0.0
    assert rec["rollout_corr/mean_weight"] == pytest.approx(1.0, abs=1e-3) and not unchanged
    rec, unchanged = _run(tmp_path / "mis", rollout_correction="token-mis:cap=0.5")
    assert rec["rollout_corr/masked_token_frac"] == 1.0 and rec["rollout_corr/masked_seq_frac"] == 1.0
    assert unchanged


def test_train_config_checks_the_correction_spec():
    from harness.training import TrainConfig

    with pytest.raises(ValueError, match="TrainConfig.rollout_correction: unknown rollout correction 'tis'"):
        TrainConfig(rollout_correction="tis").validate()
    with pytest.raises(ValueError, match="tis_cap=2.0 and rollout_correction='icepop' both correct"):
        TrainConfig(rollout_correction="icepop", tis_cap=2.0).validate()
    assert TrainConfig(rollout_correction="geo-rs:low=0.99,high=1.01").validate()
