"""A user objective in one file: REINFORCE with a truncated importance weight (use: rlvr-zoo --plugin THIS_FILE)."""
import torch

import algorithms


@algorithms.register("truncated-is")
class TruncatedIS(algorithms.Algorithm):
    """REINFORCE with the importance weight r capped at max_weight: loss_t = -min(r_t, c) * A_t."""

    max_weight: float = algorithms.hp(2.0, "cap c on the importance weight r")
    loss_agg_mode: str = algorithms.hp("token-mean", "every token weighs the same")

    def policy_loss(self, x: algorithms.PolicyInputs) -> torch.Tensor:
        return -torch.clamp(x.ratio, max=self.max_weight) * x.advantages   # gradient: -r*A below c, 0 above
