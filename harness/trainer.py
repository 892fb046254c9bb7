"""Compatibility name of :mod:`harness.training` (the trainer now lives in that package; docs/trainer.md).

``from harness.trainer import TrainConfig, Trainer, train, TrainingError`` keeps working for existing code and
users; new code imports from ``harness.training``.
"""
from harness.training import TrainConfig, Trainer, TrainingError, TrainResult, parse_set, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingError", "parse_set", "train"]
