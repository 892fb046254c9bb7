"""The built-in objectives, one per file; importing this package registers them all."""
from algorithms.objectives import (ce_gppo, cispo, clip_cov, dapo, dppo, dr_grpo, fec, gmpo, gpg, gppo,  # noqa: F401
                                   grpo, gspo, kimi, kl_cov, lite_ppo, m2po, ppo, prime_rl, sapo, topr)
