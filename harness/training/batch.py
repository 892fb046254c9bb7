"""`RolloutBatch`: one step's scored groups as tensors, the one shape a batch has from collation to the update."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.training.sampling import ScoredGroup

__all__ = ["RolloutBatch", "collate"]


@dataclass
class RolloutBatch:
    """N sequences of this rank: prompts left-padded to P tokens, responses right-padded to R.

    input_ids, attention_mask, position_ids [N, P + R]; response_mask [N, R] (float, 1 on response tokens);
    engine_logprobs [N, R] (the rollout engine's log-probs, 0 on padding); prompt_length P; scores [N] (rewards);
    group_ids [N]; baseline_scores [N] or None (the reward of a greedy response to each sequence's prompt, remax);
    mask [N, R] (bool, the tokens that train: the response tokens, none in a dummy batch);
    dummy: True when this rank has no group and trains on a dropped one with weight 0 (so that it still joins the
    gradient synchronisation).
    """
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    response_mask: torch.Tensor
    engine_logprobs: torch.Tensor
    prompt_length: int
    scores: torch.Tensor
    group_ids: torch.Tensor
    mask: torch.Tensor
    dummy: bool = False
    baseline_scores: torch.Tensor | None = None

    @property
    def num_seqs(self) -> int:
        return int(self.response_mask.shape[0])

    @classmethod
    def from_rollouts(cls, rollouts: list, pad_id: int, device, scores=None, group_ids=None,
                      dummy: bool = False, baseline_scores=None) -> "RolloutBatch":
        """Collate rollouts (harness.rollout.collate) onto ``device``; scores and group ids default to 0."""
        from harness.rollout import collate as collate_rollouts

        t = {k: v.to(device) for k, v in collate_rollouts(rollouts, pad_id).items()}
        mask = t["response_mask"].bool()
        n = mask.shape[0]
        return cls(input_ids=t["input_ids"], attention_mask=t["attention_mask"], position_ids=t["position_ids"],
                   response_mask=t["response_mask"], engine_logprobs=t["engine_logprobs"],
                   prompt_length=int(t["prompt_length"]),
                   scores=torch.tensor(scores if scores is not None else [0.0] * n, dtype=torch.float32,
                                       device=device),
                   group_ids=torch.tensor(group_ids if group_ids is not None else [0] * n, dtype=torch.long,
                                          device=device),
                   mask=torch.zeros_like(mask) if dummy else mask, dummy=dummy,
                   baseline_scores=None if baseline_scores is None else
                   torch.tensor(baseline_scores, dtype=torch.float32, device=device))


def collate(groups: list[ScoredGroup], spare: ScoredGroup | None, pad_id: int, device) -> RolloutBatch:
    """The batch of this rank's groups; with no group, the spare (dropped) group as a dummy batch (RolloutBatch)."""
    dummy = not groups
    use = groups if groups else [spare]
    baselines = None if any(g.baseline is None for g in use) else [g.baseline for g in use for _ in g.rollouts]
    return RolloutBatch.from_rollouts([r for g in use for r in g.rollouts], pad_id, device,
                                      scores=[s for g in use for s in g.scores],
                                      group_ids=[g.uid for g in use for _ in g.rollouts], dummy=dummy,
                                      baseline_scores=baselines)
