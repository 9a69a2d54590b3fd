"""Training: the trainer behind ``fit`` and ``scoregen train``, its EMA, checkpoints and the
data-parallel plumbing."""

from scoregen.training.ema import EMA
from scoregen.training.trainer import TrainConfig, train

__all__ = ["EMA", "TrainConfig", "train"]
