"""Samplers: from the prior to data with a score estimator."""

from scoregen.samplers.base import Sampler
from scoregen.samplers.impute import Known
from scoregen.samplers.langevin import AnnealedLangevin, Langevin
from scoregen.samplers.ode import ProbabilityFlowODE
from scoregen.samplers.sde import PredictorCorrector, ReverseSDE
from scoregen.samplers.unmask import Unmask

__all__ = ["AnnealedLangevin", "Known", "Langevin", "PredictorCorrector", "ProbabilityFlowODE", "ReverseSDE", "Sampler", "Unmask"]
