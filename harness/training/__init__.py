"""The trainer every objective runs on (docs/trainer.md).

    from harness.training import TrainConfig, train
    result = train(TrainConfig(algo="grpo", model="tiny-random", steps=2))

Modules: `config` (TrainConfig, --set parsing), `sampling` (prompt order, scored groups, dynamic sampling), `batch`
(RolloutBatch), `forward` (log-probs, entropies, values), `update` (epochs x mini-batches x micro-batches, the
optimiser step), `metrics` (step metrics), `trainer` (build, loop, checkpoints, signals), and what only training
uses: `distributed` (process group, DDP / FSDP2, sharded state), `checkpointing` (the `Checkpoints` of a run) over
`checkpoint_files` (the on-disk format: manifest, verify, safe load), `logger` (metrics.jsonl, progress bar) with
`trackers` (TensorBoard, W&B, MLflow), `model_card` (final/README.md), `probe`, `guard` and `signals`.
"""
from harness.training.config import TrainConfig, TrainingError, parse_set
from harness.training.trainer import Trainer, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingError", "parse_set", "train"]
