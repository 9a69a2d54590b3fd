"""Score estimators: ``(x, sigma) -> score``."""

from scoregen.estimators.analytic import EmpiricalScore, MixtureScore
from scoregen.estimators.base import ScoreEstimator
from scoregen.estimators.mlp import NoiseConditionalMLP
from scoregen.estimators.unet import NoiseConditionalUNet

__all__ = ["EmpiricalScore", "MixtureScore", "NoiseConditionalMLP", "NoiseConditionalUNet", "ScoreEstimator"]
