"""Score-matching objectives: a loss from an estimator, a kernel and a clean batch."""

from scoregen.objectives.base import (
    GaussianObjective,
    LossTerms,
    Objective,
    level_index,
)
from scoregen.objectives.dsm import DenoisingScoreMatching
from scoregen.objectives.flow_matching import FlowMatching
from scoregen.objectives.ism import ImplicitScoreMatching
from scoregen.objectives.masked_ce import MaskedCrossEntropy
from scoregen.objectives.ssm import SlicedScoreMatching, VarianceReducedSSM

__all__ = [
    "DenoisingScoreMatching",
    "FlowMatching",
    "GaussianObjective",
    "ImplicitScoreMatching",
    "LossTerms",
    "MaskedCrossEntropy",
    "Objective",
    "SlicedScoreMatching",
    "VarianceReducedSSM",
    "level_index",
]
