"""The entropy probe (harness.training.probe) on `tiny-random`: `entropy/probe` is logged at step 0, every
`eval_every` steps and after the last step; it equals an independent recomputation (a plain full-sequence
log_softmax entropy, H = -sum_v p_v log p_v, over the same teacher-forced response tokens with the current weights);
its tokens do not depend on what the rollouts do; a resumed run keeps the same probe set."""
from __future__ import annotations

import json

import pytest
import torch

from harness.run_layout import read_metrics
from harness.training import TrainConfig, Trainer
from harness.training.config import TrainingError
from harness.training.probe import PROBE_FILE

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(32)]
PROBE_ROWS = [{"id": f"p{i}", "prompt": f"Held-out {i}:", "answer": "x"} for i in range(5)]


def first_token_reward(golds, rollouts):
    return [1.0 if r.response_ids and r.response_ids[0] % 2 == 0 else 0.0 for r in rollouts]


def cfg_for(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(model="tiny-random", dtype="float32", steps=3, prompts_per_step=2, responses_per_prompt=4,
                max_new_tokens=6, lr=1e-2, micro_batch_size=4, out_dir=str(tmp_path / name), save_final=False,
                tensorboard=False, entropy_probe_prompts=5, eval_every=2)
    base.update(kw)
    return TrainConfig(**base)


def plain_entropy(model, probe: dict, temperature: float) -> float:
    """Mean entropy over the response tokens, one full forward per sequence, no padding, no chunking."""
    total, count = 0.0, 0
    with torch.no_grad():
        for p, r in zip(probe["prompt_ids"], probe["response_ids"]):
            ids = torch.tensor([p + r])
            logits = model(input_ids=ids).logits[0, len(p) - 1:len(p) + len(r) - 1].double() / temperature
            logp = torch.log_softmax(logits, dim=-1)
            total += float(-(logp.exp() * logp).sum(-1).sum())
            count += len(r)
    return total / count


def probe_values(out_dir) -> dict[int, float]:
    return {r["step"]: r["entropy/probe"] for r in read_metrics(out_dir / "metrics.jsonl") if "entropy/probe" in r}


def test_probe_logged_at_eval_steps_and_equals_recomputation(tmp_path):
    trainer = Trainer(cfg_for(tmp_path, temperature=0.8), dataset=ROWS, reward_fn=first_token_reward,
                      probe_rows=PROBE_ROWS, progress=False)
    probe = json.loads((tmp_path / "run" / PROBE_FILE).read_text())
    assert len(probe["response_ids"]) == 5 and all(probe["response_ids"])
    initial = plain_entropy(trainer.model, probe, 0.8)
    trainer.train()
    logged = probe_values(tmp_path / "run")
    assert sorted(logged) == [0, 2, 3]          # step 0, eval_every=2, and the last step
    assert logged[0] == pytest.approx(initial, rel=1e-5)
    assert logged[3] == pytest.approx(plain_entropy(trainer.model, probe, 0.8), rel=1e-5)
    assert logged[3] != pytest.approx(logged[0], rel=1e-4)    # the weights moved, so did the probe
    # rollout entropy is still logged every step
    assert all("entropy" in r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["step"] > 0)


def test_probe_tokens_do_not_depend_on_the_rollouts(tmp_path):
    # two arms sharing seed and model: different objectives and rewards, so different updates, so the rollouts
    # (their tokens, and so their lengths wherever an end-of-sequence token is drawn) differ from step 2 on; the probe
    # was sampled once, from the same initial model with the same seed, and stays the same
    seen: dict[str, list] = {"a": [], "b": []}

    def recording(name, fn):
        def reward(golds, rollouts):
            seen[name].append([tuple(r.response_ids) for r in rollouts])
            return fn(golds, rollouts)
        return reward

    def last_token_reward(golds, rollouts):
        return [1.0 if r.response_ids[-1] % 3 == 0 else 0.0 for r in rollouts]

    for name, fn, algo in (("a", first_token_reward, "grpo"), ("b", last_token_reward, "dr-grpo")):
        Trainer(cfg_for(tmp_path, name, algo=algo), dataset=ROWS, reward_fn=recording(name, fn),
                probe_rows=PROBE_ROWS, progress=False).train()
    assert seen["a"][0] == seen["b"][0] and seen["a"][1:] != seen["b"][1:]
    a, b = ((tmp_path / n / PROBE_FILE).read_text() for n in ("a", "b"))
    assert a == b
    assert probe_values(tmp_path / "a")[0] == probe_values(tmp_path / "b")[0]   # same tokens, same initial model
    assert probe_values(tmp_path / "a")[3] != probe_values(tmp_path / "b")[3]   # different policies after training


def test_probe_survives_resume(tmp_path):
    cfg = cfg_for(tmp_path, steps=2, save_every=1, eval_every=0)
    Trainer(cfg, dataset=ROWS, reward_fn=first_token_reward, probe_rows=PROBE_ROWS, progress=False).train()
    before = (tmp_path / "run" / PROBE_FILE).read_text()
    # resumed with other probe rows: the run keeps the probe set it started with
    trainer = Trainer(cfg.replace(steps=3), dataset=ROWS, reward_fn=first_token_reward, resume=True,
                      probe_rows=PROBE_ROWS[:2], progress=False)
    trainer.train()
    assert (tmp_path / "run" / PROBE_FILE).read_text() == before
    logged = probe_values(tmp_path / "run")
    assert sorted(logged) == [0, 2, 3]
    assert logged[3] == pytest.approx(plain_entropy(trainer.model, json.loads(before), 1.0), rel=1e-5)
    # a changed probe file is refused
    (tmp_path / "run" / PROBE_FILE).write_text(before.replace('"seed": 0', '"seed": 1'))
    with pytest.raises(TrainingError, match="SHA-256"):
        Trainer(cfg.replace(steps=4), dataset=ROWS, reward_fn=first_token_reward, resume=True,
                probe_rows=PROBE_ROWS, progress=False)


def test_probe_from_the_task_test_split_is_held_out(tmp_path):
    trainer = Trainer(cfg_for(tmp_path, steps=1, task="arith", task_params={"n": 40}, entropy_probe_prompts=4),
                      reward_fn=first_token_reward, progress=False)
    probe = json.loads((tmp_path / "run" / PROBE_FILE).read_text())
    import benchmarks

    # the probe keeps the test split's own size: task_params' n sizes the training split
    test_rows = {r["id"]: r["problem"] for r in benchmarks.load("arith", split="test")}
    assert len(probe["ids"]) == 4
    assert not {test_rows[i] for i in probe["ids"]} & {r["problem"] for r in trainer.rows}
    assert trainer.probe is not None


def test_probe_off(tmp_path):
    Trainer(cfg_for(tmp_path, steps=1, entropy_probe_prompts=0), dataset=ROWS, reward_fn=first_token_reward,
            probe_rows=PROBE_ROWS, progress=False).train()
    assert not (tmp_path / "run" / PROBE_FILE).exists()
    assert probe_values(tmp_path / "run") == {}
