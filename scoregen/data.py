"""Data sets that ship with the library or are generated: 2-D toys (every generator takes ``n``
and ``seed`` and returns a float32 tensor ``[n, D]``), and scikit-learn's 8×8 digits as images
and as token sequences.
"""

import functools

import torch

from scoregen._extras import require
from scoregen.analytic import GaussianMixture
from scoregen.errors import DataError


def ring_mixture(n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """The default toy's ground truth: ``n_modes`` equal-weight isotropic Gaussians (std ``std``)
    with means on a circle of radius ``radius``."""
    return GaussianMixture.ring(n_modes=n_modes, radius=radius, std=std)


def gaussian_mixture_2d(n: int = 20_000, *, seed: int = 0, n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> torch.Tensor:
    """``n`` draws ``[n, 2]`` from :func:`ring_mixture` (8 modes on a circle, the default toy)."""
    generator = torch.Generator().manual_seed(seed)
    return ring_mixture(n_modes, radius, std).sample(n, generator=generator).to(torch.float32)


def digits(split: str = "train", *, labels: bool = False):
    """scikit-learn's 1 797 handwritten digits as images ``[N, 1, 8, 8]`` in ``[0, 1]`` (pixel
    values ``0..16`` divided by 16), float32; with ``labels=True`` also the classes ``[N]`` (int64).

    The split is fixed: a permutation seeded with 0 puts 360 images in ``"test"`` and the other
    1 437 in ``"train"`` (``"all"`` gives all 1 797 in the original order). No download: the images
    ship with scikit-learn (``pip install scoregen[digits]``).
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"split must be 'train', 'test' or 'all', got {split!r}")
    images, classes = (t.clone() for t in _digits_arrays())
    if split != "all":
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        rows = order[:DIGITS_TEST] if split == "test" else order[DIGITS_TEST:]
        images, classes = images[rows], classes[rows]
    return (images, classes) if labels else images


DIGITS_TEST = 360


@functools.cache
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    require("digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div(16.0).unsqueeze(1)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


def digits_tokens(split: str = "train", *, threshold: int = 8) -> torch.Tensor:
    """The digits of :func:`digits` (same fixed split) as binary token sequences ``[N, 64]``
    (int64): a pixel (grey level ``0 … 16``) is token 1 if it is at least ``threshold``, else 0,
    read row by row. Needs scikit-learn (the ``digits`` extra)."""
    return (digits(split) * 16 >= threshold).flatten(1).to(torch.int64)
