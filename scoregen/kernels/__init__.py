"""Noise kernels: how data are corrupted, and the prior the samplers start from."""

from scoregen.kernels.base import GaussianKernel, NoiseKernel, require_family
from scoregen.kernels.gaussian import GaussianLadder
from scoregen.kernels.masking import MaskingKernel

__all__ = ["GaussianKernel", "GaussianLadder", "MaskingKernel", "NoiseKernel", "require_family"]
