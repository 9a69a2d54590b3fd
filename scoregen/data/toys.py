"""2-D toys: every generator takes ``n`` and ``seed`` and returns a float32 tensor ``[n, D]``."""

import torch

from scoregen import _validators as v
from scoregen._tensor import check_fits_in_memory
from scoregen.analytic import GaussianMixture


def ring_mixture(n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """The default toy's ground truth: ``n_modes`` equal-weight isotropic Gaussians (std ``std``)
    with means on a circle of radius ``radius``."""
    return GaussianMixture.ring(n_modes=n_modes, radius=radius, std=std)


def gaussian_mixture_2d(n: int = 20_000, *, seed: int = 0, n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> torch.Tensor:
    """``n`` draws ``[n, 2]`` from :func:`ring_mixture` (8 modes on a circle, the default toy)."""
    n = v.check_int("n", n, minimum=1)
    v.check_seed("seed", seed)
    check_fits_in_memory((n, 2), f"{n} draws", element_size=8)
    generator = torch.Generator().manual_seed(seed)
    return ring_mixture(n_modes, radius, std).sample(n, generator=generator).to(torch.float32)
