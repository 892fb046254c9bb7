"""The trainer's checkpoints: what one holds, written by every rank together and read back on resume.

Without FSDP2, rank 0 writes the whole checkpoint (the file format of `checkpoint_files`): the policy in
save_pretrained form, the critic, both optimisers' state, the scheduler, the trainer state (data position, counters,
config) and the RNG states of every rank (gathered). Under FSDP2 the optimisers and the sharded modules are written
by every rank into a staging folder with torch.distributed.checkpoint (:func:`distributed.save_sharded`), which rank
0 moves into the checkpoint as ``sharded/``; ``model/`` still holds the full policy (the unsharded rollout copy) for
transformers and vLLM. A sharded checkpoint loads at any world size, a single process included.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from harness.training import checkpoint_files as ckpt
from harness.training import distributed
from harness.training.logger import truncate_metrics
from harness.run_layout import CHECKPOINTS_DIR, METRICS_FILE
from harness.training.config import TrainingError

SHARDED = "sharded"
"""Folder of an FSDP2 checkpoint (inside checkpoints/step-N/) with torch.distributed.checkpoint's files: the policy,
the critic and their optimisers, one file per rank that wrote it; it loads at any world size."""

__all__ = ["Checkpoints", "SHARDED"]


class Checkpoints:
    """Saves and restores one run's models, optimisers and scheduler under ``out_dir/checkpoints`` (module notes).

    ``model``: the trained policy (sharded in place under FSDP2); ``rollout_model``: its full copy that the engine
    and ``save_pretrained`` use (the same object without FSDP2).
    """

    def __init__(self, out_dir: Path, dist, *, fsdp: bool, model, rollout_model, tokenizer, optimizer, scheduler,
                 critic=None, critic_optimizer=None, keep: int = 2):
        self.out_dir, self.dist, self.fsdp, self.keep = Path(out_dir), dist, fsdp, keep
        self.model, self.rollout_model, self.tokenizer = model, rollout_model, tokenizer
        self.optimizer, self.scheduler = optimizer, scheduler
        self.critic, self.critic_optimizer = critic, critic_optimizer

    def check_new_run(self) -> None:
        """A new run (not resumed) may not start over another run's checkpoints; the metrics of a run that died
        before its first checkpoint are replaced, with a warning."""
        if ckpt.latest_checkpoint(self.out_dir) is not None:
            raise TrainingError(f"{self.out_dir} already holds a run with checkpoints; pass resume=True "
                                f"(--resume) to continue it, or choose another out_dir")
        if (self.out_dir / METRICS_FILE).exists():
            warnings.warn(f"{self.out_dir / METRICS_FILE} from an earlier run without checkpoints is replaced",
                          stacklevel=3)
            truncate_metrics(self.out_dir / METRICS_FILE, 0)

    def save(self, step: int, trainer_state: dict) -> Path | None:
        """Write checkpoint ``step`` with ``trainer_state`` (plain data). Every rank must call it; rank 0 returns the
        checkpoint's path, the other ranks None."""
        rank_rng = None
        if self.dist.enabled:
            import torch.distributed as tdist

            states = [None] * self.dist.world_size
            tdist.all_gather_object(states, ckpt.capture_rng())
            rank_rng = {r: s for r, s in enumerate(states) if r > 0}
        path, move_in = None, None
        if self.fsdp:   # every rank writes its shards; rank 0 moves the folder into the checkpoint it builds
            staging = ckpt.sharded_staging_dir(self.out_dir, step)
            distributed.save_sharded(staging, *self._sharded_state())
            distributed.barrier()
            move_in = {SHARDED: staging}
        if self.dist.is_main:
            whole = not self.fsdp   # without FSDP2 the optimisers and the critic are saved as plain files
            path = ckpt.save_checkpoint(self.out_dir, step, model=self.rollout_model, tokenizer=self.tokenizer,
                                        optimizer=self.optimizer if whole else None, scheduler=self.scheduler,
                                        trainer_state=trainer_state, rank_rng=rank_rng,
                                        critic=self.critic if whole else None,
                                        critic_optimizer=self.critic_optimizer if whole else None,
                                        keep=self.keep, move_in=move_in)
        distributed.barrier()
        return path

    def load_latest(self) -> tuple[Path, dict]:
        """Load the newest intact checkpoint into the models, optimisers and scheduler (this rank's RNG states
        too); returns its path and trainer state."""
        path = ckpt.latest_checkpoint(self.out_dir)
        if path is None:
            raise TrainingError(f"resume requested but {self.out_dir / CHECKPOINTS_DIR} holds no complete checkpoint; "
                                f"run without --resume to start a new run")
        if (path / SHARDED).is_dir():   # written under FSDP2: weights and optimisers from the DCP folder
            state = ckpt.load_checkpoint(path, model=self.rollout_model, optimizer=None, scheduler=self.scheduler,
                                         rank=self.dist.rank)
            distributed.load_sharded(path / SHARDED, *self._sharded_state())
        else:
            state = ckpt.load_checkpoint(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                                         critic=self.critic, critic_optimizer=self.critic_optimizer,
                                         rank=self.dist.rank)
        return path, state

    def _sharded_state(self) -> tuple[dict, dict]:
        """({name: module}, {name: (module, optimizer)}) of what an FSDP2 checkpoint holds."""
        modules, optimizers = {"policy": self.model}, {"policy": (self.model, self.optimizer)}
        if self.critic is not None:
            modules["critic"] = self.critic
            optimizers["critic"] = (self.critic, self.critic_optimizer)
        return modules, optimizers
