"""Score estimators: ``(x, sigma) -> score``."""

from scoregen.estimators.analytic import EmpiricalScore, MixtureScore, MixtureVelocity
from scoregen.estimators.base import ScoreEstimator
from scoregen.estimators.discrete import ExactDiscrete
from scoregen.estimators.masked_mlp import MaskedMLP
from scoregen.estimators.mlp import NoiseConditionalMLP
from scoregen.estimators.transformer import MaskedTransformer
from scoregen.estimators.unet import NoiseConditionalUNet

__all__ = [
    "EmpiricalScore",
    "ExactDiscrete",
    "MaskedMLP",
    "MaskedTransformer",
    "MixtureScore",
    "MixtureVelocity",
    "NoiseConditionalMLP",
    "NoiseConditionalUNet",
    "ScoreEstimator",
]
