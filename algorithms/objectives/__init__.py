"""The built-in objectives, one per file; importing this package registers them all."""
from algorithms.objectives import (ce_gppo, cispo, clip_cov, dapo, dr_grpo, gppo, grpo, gspo, kl_cov,  # noqa: F401
                                   ppo)
