"""The shared backbone and the comparison harness: models, rollout engines, the trainer, evaluation, leaderboards."""
