"""Analytic ground truth: distributions whose density, score and samples are known exactly."""

from scoregen.analytic.mixture import GaussianMixture
from scoregen.analytic.sequences import SequenceDistribution

__all__ = ["GaussianMixture", "SequenceDistribution"]
