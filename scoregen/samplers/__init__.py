"""Samplers: from the prior to data with a score estimator."""

from scoregen.samplers.base import Sampler
from scoregen.samplers.langevin import AnnealedLangevin, Langevin

__all__ = ["AnnealedLangevin", "Langevin", "Sampler"]
