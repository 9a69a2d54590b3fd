"""Data sets that ship with the library or are generated: 2-D toys, and the digits as tokens.

The toy generators take ``n`` and ``seed`` and return a float32 tensor ``[n, D]``.
"""

import torch

from scoregen.analytic import GaussianMixture
from scoregen.errors import ConfigError


def ring_mixture(n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """The default toy's ground truth: ``n_modes`` equal-weight isotropic Gaussians (std ``std``)
    with means on a circle of radius ``radius``."""
    return GaussianMixture.ring(n_modes=n_modes, radius=radius, std=std)


def gaussian_mixture_2d(n: int = 20_000, *, seed: int = 0, n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> torch.Tensor:
    """``n`` draws ``[n, 2]`` from :func:`ring_mixture` (8 modes on a circle, the default toy)."""
    generator = torch.Generator().manual_seed(seed)
    return ring_mixture(n_modes, radius, std).sample(n, generator=generator).to(torch.float32)


def digits_tokens(split: str = "train", *, threshold: int = 8, n_test: int = 297) -> torch.Tensor:
    """scikit-learn's 1 797 handwritten 8×8 digits as binary token sequences ``[N, 64]`` (int64):
    a pixel (grey level ``0 … 16``) is token 1 if it is at least ``threshold``, else 0, read row by
    row. ``split`` is ``"train"`` (the first ``1797 − n_test`` images), ``"test"`` (the last
    ``n_test``) or ``"all"``. Needs scikit-learn (the ``digits`` extra)."""
    from sklearn.datasets import load_digits

    if split not in ("train", "test", "all"):
        raise ConfigError(f"split must be 'train', 'test' or 'all', got {split!r}")
    tokens = torch.as_tensor(load_digits().data >= threshold, dtype=torch.int64)
    if split == "all":
        return tokens
    return tokens[: len(tokens) - n_test] if split == "train" else tokens[len(tokens) - n_test :]
