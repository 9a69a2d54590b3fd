"""Score estimators: ``(x, sigma) -> score``."""

from scoregen.estimators.base import ScoreEstimator
from scoregen.estimators.mlp import NoiseConditionalMLP

__all__ = ["NoiseConditionalMLP", "ScoreEstimator"]
