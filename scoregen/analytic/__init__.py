"""Analytic ground truth: distributions whose density, score and samples are known exactly."""

from scoregen.analytic.mixture import GaussianMixture

__all__ = ["GaussianMixture"]
