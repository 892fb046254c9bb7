"""Per-phase step timers (harness.timing): every step record has a `time/<phase>_s` for every phase, the
phases add up to `time/step_s`, run.json keeps the run's non-step phases, and a record lost between a checkpoint
and its log line comes back on resume."""
from __future__ import annotations

import json
import os
import pytest

from harness.run_layout import metrics_records as read_metrics
from harness.training import TrainConfig, Trainer
from harness.timing import RUN_PHASES, STEP_KEY, PhaseTimer, phase_keys, time_key

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(32)]
PROBE_ROWS = [{"id": f"p{i}", "prompt": f"P{i}:", "answer": "x"} for i in range(4)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mod3_reward(golds, rollouts):
    return [1.0 if r.response_ids and r.response_ids[0] % 3 == 0 else -1.0 for r in rollouts]


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tiny-random", dtype="float32", steps=3, prompts_per_step=4, responses_per_prompt=4,
                max_new_tokens=24, lr=1e-3, micro_batch_size=8, out_dir=str(tmp_path / "run"), save_final=True,
                tensorboard=False, save_every=1, eval_every=2, entropy_probe_prompts=4)
    base.update(kw)
    return TrainConfig(**base)


def _eval_callback(step, trainer):
    """A held-out evaluation stand-in that takes measurable time: a generation with the trainer's engine."""
    from harness.rollout import Sampling

    trainer.engine.generate(["E1:", "E2:"], Sampling(n=2, max_new_tokens=8, temperature=0.0))
    return {"eval/accuracy": 0.0}


class _Clock:
    """A clock that moves only when told to."""
    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


def test_phase_timer_nests_and_adds_up(monkeypatch):
    from harness import timing

    clock = _Clock()
    monkeypatch.setattr(timing, "time", clock)
    timer = PhaseTimer()
    with timer.phase("update"):
        clock.now += 2
        with timer.phase("sync"):          # pauses "update"
            clock.now += 3
        clock.now += 1
    clock.now += 0.5                       # between phases: in the step, in no phase
    rec = timer.record()
    assert set(rec) == set(phase_keys()) | {STEP_KEY}
    assert rec[time_key("sync")] == 3 and rec[time_key("update")] == 3
    assert rec[STEP_KEY] == 6.5
    assert sum(rec[k] for k in phase_keys()) == 6
    assert timer.seconds() == {"update_s": 3, "sync_s": 3, "wall_s": 6.5}
    with pytest.raises(ValueError, match="unknown phase 'nap'"):
        with timer.phase("nap"):
            pass


@pytest.mark.parametrize("algo, overrides, epochs", [
    ("grpo", {"kl_coef": 0.05}, 2),      # reference log-probs, recomputed old log-probs
    ("ppo", {"kl_coef": 0.0}, 1),       # critic values, no reference model
])
def test_every_step_record_has_its_phases_and_they_add_up(tmp_path, algo, overrides, epochs):
    cfg = _cfg(tmp_path, algo=algo, algo_overrides=overrides, epochs=epochs)
    Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, probe_rows=PROBE_ROWS, callbacks=[_eval_callback],
            progress=False).train()
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    steps = [r for r in records if r["step"] > 0]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert records[0]["step"] == 0 and records[0][time_key("probe")] > 0
    for rec in steps:
        missing = [k for k in phase_keys() + [STEP_KEY] if k not in rec]
        assert not missing, (rec["step"], missing)
        total = sum(rec[k] for k in phase_keys())
        assert total <= rec[STEP_KEY] * 1.0001
        assert total >= 0.95 * rec[STEP_KEY], (rec["step"], total, rec[STEP_KEY],
                                              {k: rec[k] for k in phase_keys()})
        for phase in ("rollout", "reward", "update", "checkpoint"):   # work every step of this run does
            assert rec[time_key(phase)] > 0, phase
    # the phases that only some steps or objectives have
    assert steps[1][time_key("eval")] > 0 and steps[2][time_key("eval")] > 0 and steps[0][time_key("eval")] == 0
    assert steps[1][time_key("probe")] > 0 and steps[0][time_key("probe")] == 0
    if algo == "grpo":
        assert all(r[time_key("ref_logprobs")] > 0 and r[time_key("old_logprobs")] > 0 for r in steps)
        assert all(r[time_key("values")] == 0 for r in steps)
    else:
        assert all(r[time_key("values")] > 0 and r[time_key("ref_logprobs")] == 0 for r in steps)
    # final/ is the last checkpoint's model/, linked rather than written again
    assert os.path.samefile(tmp_path / "run" / "final" / "model.safetensors",
                            tmp_path / "run" / "checkpoints" / "step-3" / "model" / "model.safetensors")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    timing = run["timing"]
    assert {"load_s", "engine_s", "data_s", "probe_set_s", "probe_s", "steps_s", "final_s", "wall_s"} <= set(timing)
    assert set(timing) - {"wall_s"} <= {f"{p}_s" for p in RUN_PHASES}
    assert timing["steps_s"] >= sum(r[STEP_KEY] for r in steps) * 0.99
    assert sum(v for k, v in timing.items() if k != "wall_s") <= timing["wall_s"] * 1.0001


def test_a_record_lost_after_its_checkpoint_comes_back_on_resume(tmp_path):
    cfg = _cfg(tmp_path, algo="grpo", steps=2, eval_every=0, entropy_probe_prompts=0, save_final=False)
    Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False).train()
    path = tmp_path / "run" / "metrics.jsonl"
    records = read_metrics(path)
    assert records[-1]["step"] == 2
    # the process died after writing checkpoint 2 and before logging step 2
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:-1]))
    Trainer(cfg, dataset=ROWS, reward_fn=mod3_reward, progress=False, resume=True).train()
    restored = read_metrics(path)
    assert [r["step"] for r in restored] == [1, 2]
    lost = records[-1]
    assert restored[-1] == {k: v for k, v in lost.items() if k not in (time_key("checkpoint"), STEP_KEY)} | \
        {STEP_KEY: restored[-1][STEP_KEY]}
    assert time_key("checkpoint") not in restored[-1]
    assert restored[-1][STEP_KEY] < lost[STEP_KEY]
