"""Noise kernels: how data are corrupted, and the prior the samplers start from."""

from scoregen.kernels.base import GaussianKernel, MaskingFamilyKernel, NoiseKernel, require_family
from scoregen.kernels.gaussian import (
    VESDE,
    VPSDE,
    CosineVP,
    EDMKernel,
    FlowKernel,
    GaussianLadder,
    ScheduledGaussian,
    SubVPSDE,
)
from scoregen.kernels.masking import MaskingKernel
from scoregen.kernels.schedules import (
    CosineSchedule,
    EDMSchedule,
    LinearInterpolant,
    Schedule,
    SubVPSchedule,
    VESchedule,
    VPSchedule,
)

__all__ = [
    "CosineSchedule",
    "CosineVP",
    "EDMKernel",
    "EDMSchedule",
    "FlowKernel",
    "GaussianKernel",
    "GaussianLadder",
    "LinearInterpolant",
    "MaskingFamilyKernel",
    "MaskingKernel",
    "NoiseKernel",
    "Schedule",
    "ScheduledGaussian",
    "SubVPSDE",
    "SubVPSchedule",
    "VESDE",
    "VESchedule",
    "VPSDE",
    "VPSchedule",
    "require_family",
]
