"""Analytic ground truth: distributions whose density, score and samples are known exactly."""

from scoregen.analytic.mixture import GaussianMixture
from scoregen.analytic.posteriors import ClassConditionalMixture, Grid2D, linear_posterior, tilted_density
from scoregen.analytic.sequences import SequenceDistribution

__all__ = ["ClassConditionalMixture", "GaussianMixture", "Grid2D", "SequenceDistribution", "linear_posterior", "tilted_density"]
