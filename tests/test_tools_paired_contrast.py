"""tools.study.paired_contrast on tiny-random: the same batches under each (β1, β2) arm from the same start, paired
differences, the regions β acts on, and a resume that continues at the next batch."""
from __future__ import annotations

import json
import textwrap

import pytest

from tools.study import paired_contrast

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

PLUGIN = textwrap.dedent('''
    from dataclasses import dataclass
    import rewards

    @rewards.register_reward("test-contrast-parity")
    @dataclass
    class TextParity(rewards.RewardFn):
        def batch(self, golds, responses, num_tokens=None):
            return [rewards.RewardResult(float(sum(map(ord, r)) % 2 == 0), "parity") for r in responses]
''')
PRESET = """description: contrast test
algos: [ce-gppo]
seeds: [0]
train: {model: tiny-random, dtype: float32, task: arith, task_params: {level: 1, n: 100}, template: qa,
        reward: test-contrast-parity, steps: 1, prompts_per_step: 2, responses_per_prompt: 4, max_new_tokens: 4,
        temperature: 1.0, lr: 0.01, epochs: 2, minibatch_size: 4}
eval: {benches: [arith], k: 1, limit: 2}
"""


def test_paired_contrast_runs_pairs_and_resumes(tmp_path):
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "preset.yaml").write_text(PRESET)
    out = tmp_path / "contrast"
    argv = ["--preset", str(tmp_path / "preset.yaml"), "--model", "tiny-random", "--out", str(out)]
    assert paired_contrast.main([*argv, "--batches", "2", "--plugin", str(tmp_path / "plugin.py")]) == 0
    first = (out / "contrast.jsonl").read_text().splitlines()
    assert len(first) == 2
    lines = [json.loads(x) for x in first]
    for x in lines:
        arms = x["arms"]
        assert set(arms) == set(paired_contrast.ARMS)
        # beta = 0 takes the clipped region's gradient away, beta = 1 keeps it
        assert arms["b1=0,b2=1"].get("gradshare/low_neg", 0.0) == 0.0
        assert arms["b1=1,b2=0"].get("gradshare/high_pos", 0.0) == 0.0
    assert any(x["arms"]["b1=1,b2=1"]["gradshare/low_neg"] > 0 for x in lines)
    assert len({x["arms"][a]["entropy/probe"] for x in lines for a in x["arms"]}) > 1   # the arms differ
    assert paired_contrast.main([*argv, "--batches", "3"]) == 0   # resumes at batch 3 (the reward stays registered)
    again = (out / "contrast.jsonl").read_text().splitlines()
    assert again[:2] == first and len(again) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["batches"] == 3 and set(summary["contrasts"]) == {"beta1", "beta2"}
    assert (out / "contrast.png").stat().st_size > 1000
