"""Score-matching objectives: a loss from an estimator, a kernel and a clean batch."""

from scoregen.objectives.base import GaussianObjective, LossTerms, Objective, level_index
from scoregen.objectives.dsm import DenoisingScoreMatching
from scoregen.objectives.masked_ce import MaskedCrossEntropy

__all__ = ["DenoisingScoreMatching", "GaussianObjective", "LossTerms", "MaskedCrossEntropy", "Objective", "level_index"]
