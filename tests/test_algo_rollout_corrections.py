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


# the current policy of opsm: pi_theta / mu per token; row 0 moved away from mu (mean log(mu / pi_theta) = log 2),
# row 1 as much but with A > 0, row 2 moved towards it
CURRENT = [[0.5, 0.5, 0.5], [0.5, 0.5, 1.0], [1.2, 1.0, 1.0]]
ADV = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=F64)


def current_logp():
    return inputs()["engine_logp"] + torch.log(torch.tensor(CURRENT, dtype=F64))


def test_registry_has_every_kind_each_with_its_source():
    assert rc.names() == ["geo-rs", "icepop", "kl-rs", "opsm", "outlier-token", "seq-mis", "seq-tis", "token-mis",
                          "token-tis"]
    for name in rc.names():
        info = rc.describe(name)
        assert info["paper"] and info["summary"] and info["params"]
    assert "2510.18855" in rc.paper("icepop")
    assert rc.describe("icepop")["params"] == {"alpha": 0.5, "beta": 5.0, "normalize": 0.0}
    assert rc.describe("token-tis")["params"] == {"cap": 2.0, "normalize": 0.0}
    assert rc.describe("geo-rs")["params"] == {"low": 0.999, "high": 1.001}      # a mask: nothing to normalize


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


# parameters that make each correction do something on inputs() (the defaults of kl-rs set no threshold)
SPLIT_PARAMS = {"kl-rs": {"seq_max_k2": 0.3, "token_k1": 2.5}, "opsm": {"delta": 0.1}, "outlier-token": {"high": 5.0}}


def _keep(rows):
    """A 0/1 weight per token of inputs() from one keep flag per token (None on padding)."""
    return torch.tensor([[1.0 if k else 0.0 for k in row] for row in rows], dtype=F64)


def test_kl_rs_options_on_a_hand_computed_batch():
    """rho = [[1.5, 3, 0.4], [1, 0.9], [6]]; per token k1 = -log rho, k2 = (log rho)^2 / 2, k3 = rho - 1 - log rho."""
    k2 = [[0.5 * math.log(r) ** 2 for r in row] for row in RHO]
    k3 = [[r - 1 - math.log(r) for r in row] for row in RHO]
    lengths = [3, 2, 1]
    on = [[t < n for t in range(3)] for n in lengths]
    cases = {
        # per token: k2 <= 0.3 keeps 1.5 (0.082), 1 (0), 0.9 (0.006); drops 3 (0.60), 0.4 (0.42), 6 (1.61)
        ("token_k2", 0.3): [[k2[i][t] <= 0.3 and on[i][t] for t in range(3)] for i in range(3)],
        ("token_k3", 0.5): [[k3[i][t] <= 0.5 and on[i][t] for t in range(3)] for i in range(3)],
        # k1 with one bound U: mu / pi_old = 1 / rho within [1/U, U]
        ("token_k1", 2.0): [[0.5 <= RHO[i][t] <= 2.0 and on[i][t] for t in range(3)] for i in range(3)],
        # per sequence: max k2 0.60 / 0.006 / 1.61; mean k3 0.437 / 0.0027 / 3.21; product rho 1.8 / 0.9 / 6
        ("seq_max_k2", 0.3): [[False] * 3, [True, True, False], [False] * 3],
        ("seq_mean_k3", 0.5): [[True] * 3, [True, True, False], [False] * 3],
        ("seq_sum_k1", 2.0): [[True] * 3, [True, True, False], [False] * 3],
    }
    assert max(k2[0]) == pytest.approx(0.6035, abs=1e-4) and sum(k3[0]) / 3 == pytest.approx(0.4374, abs=1e-4)
    for (option, threshold), keep in cases.items():
        w, m = rc.compute("kl-rs", **inputs(), **{option: threshold})
        torch.testing.assert_close(w, _keep(keep), msg=option)
        masked = sum(1 for i in range(3) for t in range(3) if on[i][t] and not keep[i][t])
        assert m["rollout_corr/masked_token_frac"] == pytest.approx(masked / 6)
    # two options at once: a token must pass both
    w, _ = rc.compute("kl-rs", **inputs(), token_k3=0.5, seq_sum_k1=2.0)
    torch.testing.assert_close(w, _keep(cases[("token_k3", 0.5)]) * _keep(cases[("seq_sum_k1", 2.0)]))
    # a lower k1 bound of its own: mu / pi_old in [0.5, 3] keeps rho in [1/3, 2]
    w, _ = rc.compute("kl-rs", **inputs(), token_k1=3.0, token_k1_low=0.5)
    torch.testing.assert_close(w, _keep([[1, 0, 1], [1, 1, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="needs at least one threshold"):
        rc.compute("kl-rs", **inputs())
    with pytest.raises(ValueError, match="token_k1_low needs token_k1"):
        rc.parse_spec("kl-rs:token_k1_low=0.5")


def test_outlier_token_rejects_the_whole_sequence_of_an_outlier():
    w, m = rc.compute("outlier-token", **inputs(), high=5.0)       # row 2 (rho 6) out
    torch.testing.assert_close(w, _keep([[1, 1, 1], [1, 1, 0], [0, 0, 0]]))
    assert m["rollout_corr/masked_seq_frac"] == pytest.approx(1 / 3)
    w, _ = rc.compute("outlier-token", **inputs(), low=0.5, high=10.0)   # row 0's 0.4 rejects all of row 0
    torch.testing.assert_close(w, _keep([[0, 0, 0], [1, 1, 0], [1, 0, 0]]))
    w, _ = rc.compute("outlier-token", **inputs())                  # SkyRL's [1e-4, 100] keeps everything here
    assert torch.equal(w, _keep([[1, 1, 1], [1, 1, 0], [1, 0, 0]]))


def test_opsm_masks_negative_sequences_the_policy_moved_away_from():
    """DeepSeek-V3.2's M: row 0 (A < 0, mean log(mu / pi_theta) = log 2 > delta) is masked; row 1 moved as much but
    has A > 0; row 2 has A < 0 but pi_theta grew (mean log ratio log(1/1.2) < 0)."""
    w, m = rc.compute("opsm", **inputs(), logp=current_logp(), advantages=ADV, delta=0.1)
    torch.testing.assert_close(w, _keep([[0, 0, 0], [1, 1, 0], [1, 0, 0]]))
    assert m["rollout_corr/masked_seq_frac"] == pytest.approx(1 / 3)
    w, _ = rc.compute("opsm", **inputs(), logp=current_logp(), advantages=ADV, delta=0.7)   # log 2 = 0.693 < 0.7
    assert torch.equal(w, _keep([[1, 1, 1], [1, 1, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match="needs logp"):
        rc.compute("opsm", **inputs(), advantages=ADV)
    assert rc.needs("opsm") == {"logp", "advantages"} and rc.needs("token-tis") == set()


def test_a_chain_multiplies_the_weights_of_its_corrections():
    name, params = rc.parse_spec("token-tis:cap=2 + kl-rs:seq_max_k2=0.3+opsm:delta=0.1")
    assert name == "chain" and [n for n, _ in params["steps"]] == ["token-tis", "kl-rs", "opsm"]
    w, m = rc.compute(name, **inputs(), logp=current_logp(), advantages=ADV, **params)
    tis, _ = rc.compute("token-tis", **inputs())
    rs, _ = rc.compute("kl-rs", **inputs(), seq_max_k2=0.3)
    ops, _ = rc.compute("opsm", **inputs(), logp=current_logp(), advantages=ADV, delta=0.1)
    torch.testing.assert_close(w, tis * rs * ops)
    assert m["rollout_corr/truncated_token_frac"] == 0.0           # row 1's weights are not capped
    assert rc.needs(name, params) == {"logp", "advantages"}
    assert rc.parse_spec("token-tis:cap=1e+3") == ("token-tis", {"cap": 1000.0})   # '+' in a number is no chain
    for bad, message in (("token-tis+token-tis", "each correction once"), ("icepop+none", "no 'none'"),
                         ("token-tis:normalize=1+icepop:normalize=1", "at most one"),
                         ("token-tis:normalize=2", "normalize must be 0 or 1")):
        with pytest.raises(ValueError, match=message):
            rc.parse_spec(bad)


def test_normalize_divides_the_weights_by_their_batch_mean():
    """Token level: by the mean over the response tokens; sequence level: by the mean over sequences of their weight
    (verl's rollout_is_batch_normalize)."""
    w, _ = rc.compute("token-tis", **inputs(), normalize=1.0)
    raw = [1.5, 2.0, 0.4, 1.0, 0.9, 2.0]
    torch.testing.assert_close(w, torch.tensor([[1.5, 2.0, 0.4], [1.0, 0.9, 0.0], [2.0, 0.0, 0.0]],
                                               dtype=F64) / (sum(raw) / 6))
    w, _ = rc.compute("seq-tis", **inputs(), normalize=1.0)
    seq = [1.8, 0.9, 2.0]
    torch.testing.assert_close(w, torch.tensor([[1.8, 1.8, 1.8], [0.9, 0.9, 0.0], [2.0, 0.0, 0.0]],
                                               dtype=F64) / (sum(seq) / 3))
    with pytest.raises(ValueError, match="expected key=value with key one of low, high"):
        rc.parse_spec("geo-rs:normalize=1")                          # a 0/1 mask has nothing to normalize


@pytest.mark.parametrize("spec", ["token-tis:normalize=1", "seq-tis:normalize=1", "icepop:normalize=1",
                                  "seq-mis:cap=1.5,normalize=1+kl-rs:token_k2=0.3"])
def test_normalized_weights_of_pieces_equal_the_whole_batch_with_the_global_mean(spec):
    full = inputs()
    name, params = rc.parse_spec(spec)
    w_full, _ = rc.compute(name, **full, **params)
    pieces = (slice(0, 2), slice(2, 3))
    sums = [rc.normalizer(name, **{k: v[rows] for k, v in full.items()}, **params) for rows in pieces]
    mean = sum(s for s, _ in sums) / sum(c for _, c in sums)
    parts = [rc.compute(name, **{k: v[rows] for k, v in full.items()}, weight_mean=mean, **params)[0]
             for rows in pieces]
    torch.testing.assert_close(torch.cat(parts), w_full, rtol=1e-12, atol=0)
    local = [rc.compute(name, **{k: v[rows] for k, v in full.items()}, **params)[0] for rows in pieces]
    assert not torch.allclose(torch.cat(local), w_full)      # each piece's own mean is another normalisation
    assert rc.normalizer("token-tis", **full) is None


def test_micro_batches_give_the_weights_of_the_whole_batch():
    full = {**inputs(), "logp": current_logp(), "advantages": ADV}
    for name in rc.names():
        params = SPLIT_PARAMS.get(name, {})
        w_full, _ = rc.compute(name, **full, **params)
        parts = [rc.compute(name, **{k: v[rows] for k, v in full.items()}, **params)[0]
                 for rows in (slice(0, 1), slice(1, 3))]
        assert torch.equal(torch.cat(parts), w_full), name


def test_extreme_log_ratios_stay_finite():
    old = torch.tensor([[60.0, -60.0]], dtype=F64)
    engine = torch.zeros(1, 2, dtype=F64)
    for name in rc.names():
        w, m = rc.compute(name, old_logp=old, engine_logp=engine, mask=torch.ones(1, 2, dtype=torch.bool),
                          logp=-old, advantages=-torch.ones(1, 2, dtype=F64), **SPLIT_PARAMS.get(name, {}))
        assert torch.isfinite(w).all() and all(math.isfinite(v) for v in m.values()), name


def test_spec_parsing_and_errors():
    assert rc.parse_spec("none") == ("none", {}) and rc.parse_spec("") == ("none", {})
    assert rc.parse_spec("token-tis") == ("token-tis", {})
    assert rc.parse_spec("icepop:alpha=0.4, beta=4") == ("icepop", {"alpha": 0.4, "beta": 4.0})
    assert rc.compute("none", **inputs()) == (None, {})
    with pytest.raises(ValueError, match="unknown rollout correction 'tis'; valid: none, geo-rs, icepop, kl-rs"):
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
