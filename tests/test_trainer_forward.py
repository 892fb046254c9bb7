"""The trainer's per-token log-prob forward (``Trainer._forward``) against a plain full forward + log_softmax.

The forward leaves the last token of each padded row out of the model call and keeps only the response positions'
logits (a memory saving); this checks the log-probs and entropies it returns are still those of every response token
under the full sequence, for rows of different prompt and response lengths, with and without a temperature.
"""
from __future__ import annotations

import pytest
import torch

from harness.rollout import Rollout, collate
from harness.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWS = [{"id": str(i), "prompt": f"Q{i}:", "answer": "x"} for i in range(4)]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_forward_logprobs_equal_a_plain_full_log_softmax(tmp_path, temperature):
    cfg = TrainConfig(model="tiny-random", dtype="float32", steps=1, prompts_per_step=1, responses_per_prompt=2,
                      max_new_tokens=3, temperature=temperature, out_dir=str(tmp_path / "run"), save_final=False,
                      tensorboard=False)
    tr = Trainer(cfg, dataset=ROWS, reward_fn=lambda golds, rollouts: [0.0] * len(rollouts), progress=False)
    rollouts = [Rollout(0, [5, 6, 7], [8, 9, 10, 11], "", [0.0] * 4, "length"),
                Rollout(1, [12], [13], "", [0.0], "stop"),
                Rollout(2, [14, 15], [16, 17], "", [0.0] * 2, "stop")]
    batch = collate(rollouts, tr.pad_id)
    rows = torch.arange(3)
    tr.model.eval()
    logp, ent, mask = tr._forward(tr.model, batch, rows, grad=False, entropy=True)
    assert logp.shape == (3, 4) and mask.sum() == 4 + 1 + 2
    for i, r in enumerate(rollouts):
        ids = torch.tensor([r.prompt_ids + r.response_ids])
        with torch.no_grad():
            logits = tr.model(input_ids=ids).logits[0].double() / temperature
        lsm = torch.log_softmax(logits, -1)
        p = len(r.prompt_ids)
        for j, tok in enumerate(r.response_ids):
            assert float(logp[i, j]) == pytest.approx(float(lsm[p + j - 1, tok]), abs=1e-5)
            want_h = float(-(lsm[p + j - 1].exp() * lsm[p + j - 1]).sum())
            assert float(ent[i, j]) == pytest.approx(want_h, abs=1e-4)
        assert not bool(mask[i, len(r.response_ids):].any())
