"""Samplers: from the prior to data with a score estimator."""

from scoregen.samplers.base import Sampler
from scoregen.samplers.langevin import AnnealedLangevin, Langevin
from scoregen.samplers.unmask import Unmask

__all__ = ["AnnealedLangevin", "Langevin", "Sampler", "Unmask"]
