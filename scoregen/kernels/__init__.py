"""Noise kernels: how data are corrupted, and the prior the samplers start from."""

from scoregen.kernels.base import GaussianKernel, NoiseKernel, require_family
from scoregen.kernels.gaussian import VESDE, GaussianLadder
from scoregen.kernels.masking import MaskingKernel
from scoregen.kernels.sde import ContinuousGaussian, SubVPSDE, VPSDE

__all__ = [
    "ContinuousGaussian",
    "GaussianKernel",
    "GaussianLadder",
    "MaskingKernel",
    "NoiseKernel",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "require_family",
]
