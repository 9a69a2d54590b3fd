"""Samplers: from the prior to data with a score estimator."""

from scoregen.samplers.ancestral import DDIM, EulerAncestral
from scoregen.samplers.base import Sampler
from scoregen.samplers.dpm import DPMPP2M, DPMPP2MSDE, DPMPP3MSDE, DPMSolver
from scoregen.samplers.edm import EDMStochastic, Heun
from scoregen.samplers.impute import Known
from scoregen.samplers.langevin import AnnealedLangevin, Langevin
from scoregen.samplers.ode import ProbabilityFlowODE
from scoregen.samplers.sde import PredictorCorrector, ReverseSDE
from scoregen.samplers.solvers import LMS, Euler
from scoregen.samplers.stepping import GridSampler
from scoregen.samplers.unipc import UniPC
from scoregen.samplers.unmask import Unmask

__all__ = [
    "DDIM",
    "DPMPP2M",
    "DPMPP2MSDE",
    "DPMPP3MSDE",
    "LMS",
    "AnnealedLangevin",
    "DPMSolver",
    "EDMStochastic",
    "Euler",
    "EulerAncestral",
    "GridSampler",
    "Heun",
    "Known",
    "Langevin",
    "PredictorCorrector",
    "ProbabilityFlowODE",
    "ReverseSDE",
    "Sampler",
    "UniPC",
    "Unmask",
]
