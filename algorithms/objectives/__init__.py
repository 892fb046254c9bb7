"""The built-in objectives, one per file; importing this package registers them all."""
from algorithms.objectives import (ce_gppo, cispo, clip_cov, dapo, dppo, dr_grpo, gmpo, gpg, gppo,  # noqa: F401
                                   grpo, gspo, kl_cov, lite_ppo, ppo, sapo)
