"""Rollout corrections (engine/trainer mismatch): each weight against the formula of its source, written out by hand,
the masked/truncated fractions they report, the registry and spec parsing, and micro-batch consistency."""
import math

import pytest
import torch

from algorithms import rollout_corrections as rc

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
