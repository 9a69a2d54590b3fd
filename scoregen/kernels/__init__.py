"""Noise kernels: how data are corrupted, and the prior the samplers start from."""

from scoregen.kernels.base import GaussianKernel, NoiseKernel, require_family
from scoregen.kernels.gaussian import GaussianLadder

__all__ = ["GaussianKernel", "GaussianLadder", "NoiseKernel", "require_family"]
