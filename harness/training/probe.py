"""The entropy probe: a policy entropy that the length of the rollouts cannot drive.

Rollout entropy (`entropy`) is measured on the tokens the policy has just sampled, so it moves when the responses
get shorter or longer, whatever happens to the policy's uncertainty. The probe fixes the tokens instead:

* ``entropy_probe_prompts`` held-out prompts of the task's test split (rows whose problem or prompt text also
  occurs among the training rows are left out), picked in an order seeded by the run's seed;
* one response to each, sampled ONCE from the initial model before any update (seed from the run's seed, the run's
  temperature, top-p and max_new_tokens), so that the arms of a comparison that share a seed and a model share the
  probe tokens;
* the set is written to the run folder (`PROBE_FILE`), and a resumed run reads it back (its SHA-256 is kept in every
  checkpoint and checked on resume).

Every ``eval_every`` steps, after the last step and once before the first (step 0: the initial model), the trainer
teacher-forces the probe sequences through the current policy and logs the mean per-token entropy of the response
positions as ``entropy/probe``:

    H_probe = (1 / sum_i |y_i|) * sum_i sum_t H(pi_theta(. | x_i, y_i,<t) / T),   H(p) = -sum_v p_v log p_v

(a token mean over the whole set, at the sampling temperature T, the same entropy as `entropy`; computed by
`Forward.logprobs(..., entropy=True)`, i.e. `algorithms.logprobs_and_entropy_from_logits`).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from harness import metric_keys as mk
from harness.io import read_json
from harness.training.config import TrainingError

__all__ = ["PROBE_FILE", "EntropyProbe", "held_out_rows"]

PROBE_FILE = "entropy_probe.json"
"""The probe set in a run folder: prompt and response token ids of every probe sequence, with where they came from."""

_SEED_TAG = 0xE7  # mixed with the run's seed: the probe's prompt order and its sampling seed


def held_out_rows(cfg, train_rows: list[dict]) -> list[dict]:
    """The first ``cfg.entropy_probe_prompts`` rows of ``cfg.task``'s test split (``task_params`` without ``n``), in an
    order seeded by ``cfg.seed``, that do not occur among ``train_rows`` (same problem or prompt text)."""
    import benchmarks

    if cfg.split == "test":
        raise TrainingError("entropy_probe_prompts > 0 draws held-out prompts from the test split, but the run trains "
                            "on split 'test'; train on another split or set entropy_probe_prompts=0")
    # task_params' `n` sizes the training split (procedural tasks): the test split keeps its own size
    params = {k: v for k, v in cfg.task_params.items() if k != "n"}
    try:
        rows = benchmarks.load(cfg.task, split="test", data_dir=cfg.data_dir, **params)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise TrainingError(f"the entropy probe needs held-out prompts from the test split of task {cfg.task!r}, "
                            f"which could not be loaded ({exc}); set entropy_probe_prompts=0 to run without "
                            f"it") from None
    seen = {_text(r) for r in train_rows}
    from harness.training.sampling import seed_for

    order = np.random.default_rng(seed_for(cfg.seed, _SEED_TAG)).permutation(len(rows))
    return [rows[i] for i in order if _text(rows[i]) not in seen][:cfg.entropy_probe_prompts]


def _text(row: dict) -> str:
    return row["prompt"] if isinstance(row.get("prompt"), str) else str(row.get("problem", ""))


class EntropyProbe:
    """A fixed set of teacher-forced sequences (module notes); ``record(model)`` is ``{"entropy/probe": H}``."""

    def __init__(self, data: dict):
        self.data = data
        self.text = json.dumps(data, sort_keys=True) + "\n"
        self.digest = hashlib.sha256(self.text.encode()).hexdigest()
        self._batch = None

    @classmethod
    def for_run(cls, trainer, *, dataset_given: bool, probe_rows: list[dict] | None,
                resume_digest: str | None) -> "EntropyProbe | None":
        """The probe of a run: read back from the run folder when resuming, else sampled now from the (initial)
        policy in ``trainer.engine``. None when ``entropy_probe_prompts`` is 0, on ranks other than the main one,
        and for a run given its own ``dataset`` without ``probe_rows`` (no task test split to hold out from)."""
        cfg = trainer.cfg
        if cfg.entropy_probe_prompts == 0 or not trainer.dist.is_main or (dataset_given and probe_rows is None):
            return None
        path = Path(cfg.out_dir) / PROBE_FILE
        if trainer.resumed_from is not None:
            if not path.exists():
                warnings.warn(f"{path} is missing, and the initial model it was sampled from is gone: this resumed "
                              f"run logs no entropy/probe", stacklevel=3)
                return None
            try:
                data = read_json(path)
                if not isinstance(data, dict):
                    raise TypeError(f"a JSON {type(data).__name__}, not an object")
                probe = cls(data)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise TrainingError(f"{path} cannot be read as the run's probe set ({' '.join(str(exc).split())[:200]}); "
                                    f"restore it, or set entropy_probe_prompts=0") from None
            if resume_digest is not None and resume_digest != probe.digest:
                raise TrainingError(f"{path} is not the probe set the checkpoint {trainer.resumed_from} was trained "
                                    f"with (SHA-256 differs); restore it, or set entropy_probe_prompts=0")
            return probe
        rows = list(probe_rows) if probe_rows is not None else held_out_rows(cfg, trainer.rows)
        if not rows:
            raise TrainingError(f"no held-out prompt for the entropy probe: the test split of task {cfg.task!r} has "
                                f"no row outside the training rows; set entropy_probe_prompts=0")
        if len(rows) < cfg.entropy_probe_prompts:
            warnings.warn(f"the entropy probe has {len(rows)} held-out prompts, fewer than entropy_probe_prompts="
                          f"{cfg.entropy_probe_prompts}", stacklevel=3)
        probe = cls.sample(trainer, rows)
        from harness.io import write_text

        write_text(path, probe.text)
        return probe

    @classmethod
    def sample(cls, trainer, rows: list[dict]) -> "EntropyProbe":
        """One response per row from ``trainer.engine`` (the run's sampling settings, a seed from the run's seed)."""
        from harness.rollout import Sampling
        from harness.training.sampling import prompt_text, seed_for, template_stop_ids

        cfg = trainer.cfg
        sampling = Sampling(n=1, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                            seed=seed_for(cfg.seed, _SEED_TAG),
                            stop_token_ids=template_stop_ids(trainer.tokenizer, cfg.template))
        rollouts = trainer.engine.generate([prompt_text(r, trainer.tokenizer, cfg.template) for r in rows], sampling)
        return cls({"task": cfg.task, "model": cfg.model, "seed": cfg.seed, "temperature": cfg.temperature,
                    "ids": [str(r.get("id", i)) for i, r in enumerate(rows)],
                    "prompt_ids": [list(map(int, r.prompt_ids)) for r in rollouts],
                    "response_ids": [list(map(int, r.response_ids)) for r in rollouts]})

    def batch(self, pad_id: int, device):
        """The probe sequences as a `RolloutBatch` (built once)."""
        if self._batch is None:
            from harness.rollout import Rollout
            from harness.training.batch import RolloutBatch

            rollouts = [Rollout(prompt_index=i, prompt_ids=p, response_ids=r, text="", logprobs=[0.0] * len(r),
                                finish_reason="stop")
                        for i, (p, r) in enumerate(zip(self.data["prompt_ids"], self.data["response_ids"]))]
            self._batch = RolloutBatch.from_rollouts(rollouts, pad_id, device)
        return self._batch

    @torch.no_grad()
    def entropy(self, forward, model, pad_id: int, device) -> float:
        """Mean per-token entropy of ``model`` over the probe's response tokens (module notes)."""
        batch = self.batch(pad_id, device)
        total, count = 0.0, 0
        for s in range(0, batch.num_seqs, forward.micro_batch_size):
            rows = torch.arange(s, min(s + forward.micro_batch_size, batch.num_seqs), device=device)
            _, ent, mask = forward.logprobs(model, batch, rows, grad=False, entropy=True)
            total += float(ent.float()[mask].sum())
            count += int(mask.sum())
        return total / max(count, 1)

    def record(self, trainer) -> dict:
        """``{"entropy/probe": H}`` of the trainer's current policy."""
        return {mk.ENTROPY_PROBE: self.entropy(trainer.forward, trainer.rollout_model, trainer.pad_id,
                                              trainer.device)}
