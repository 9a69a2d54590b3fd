"""The NCSN noise ladder: Gaussian perturbation at geometrically spaced noise levels."""

import functools
import math

import attrs
import torch

from scoregen._tensor import append_dims, randn_like
from scoregen.errors import ConfigError
from scoregen.kernels.sde import ContinuousGaussian, VarianceExplodingSDE


def _check_ladder(levels) -> None:
    if len(levels) < 1:
        raise ConfigError("a noise ladder needs at least one level")
    if not all(math.isfinite(s) and s > 0 for s in levels):
        raise ConfigError(f"noise levels must be positive and finite, got {list(levels)}")
    if any(a <= b for a, b in zip(levels, levels[1:])):
        raise ConfigError(
            f"noise levels must be strictly decreasing (largest first, σ_1 > … > σ_L), got {list(levels)}"
        )


def _levels_converter(value):
    return None if value is None else tuple(float(s) for s in value)


def max_pairwise_distance(x: torch.Tensor, *, chunk: int = 2048) -> float:
    """``max_{i,j} ‖x_i − x_j‖`` over a batch ``[N, *E]``, computed in row chunks (memory ``O(chunk·N)``)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    best = 0.0
    for start in range(0, flat.shape[0], chunk):
        best = max(best, float(torch.cdist(flat[start : start + chunk], flat).max()))
    return best


@attrs.frozen(kw_only=True, eq=False)
class GaussianLadder(VarianceExplodingSDE):
    """Geometric ladder ``σ_i = σ_1 (σ_L/σ_1)^{(i-1)/(L-1)}``, ``i = 1..L``, largest first.

    It is one discretisation of the VE SDE ``σ(t) = σ_L (σ_1/σ_L)^t``, which passes through level
    ``i`` at ``t = (L−i)/(L−1)``; the SDE's methods (``marginal``, ``drift``, ``diffusion``,
    ``score``, …) let the continuous samplers run on the ladder too. (With explicit ``levels``
    the SDE joins the end levels.) Training draws levels from the ladder.

    ``sigma_max="auto"`` takes ``σ_1`` from the data when the model is first fitted: the largest
    pairwise distance of the training set (NCSNv2, Song & Ermon 2020, Technique 1);
    ``n_levels="auto"`` takes ``L`` from the data's dimension (Technique 2, see
    :mod:`scoregen.techniques`). ``levels``
    gives an explicit ladder instead (strictly decreasing). The prior is ``N(0, σ_1² I)``.
    """

    family = "gaussian"

    sigma_max: float | str = 10.0
    sigma_min: float = 0.01
    n_levels: int | str = 10
    levels: tuple[float, ...] | None = attrs.field(default=None, converter=_levels_converter)

    def __attrs_post_init__(self) -> None:
        if self.levels is not None:
            _check_ladder(self.levels)
            return
        if isinstance(self.n_levels, str) and self.n_levels != "auto":
            raise ConfigError(f"n_levels must be a number or 'auto', got {self.n_levels!r}")
        if isinstance(self.sigma_max, str) and self.sigma_max != "auto":
            raise ConfigError(f"sigma_max must be a number or 'auto', got {self.sigma_max!r}")
        if self.resolved:
            if self.n_levels < 1:
                raise ConfigError(f"n_levels must be at least 1, got {self.n_levels}")
            if self.n_levels > 1 and not self.sigma_max > self.sigma_min > 0:
                raise ConfigError(
                    f"need sigma_max > sigma_min > 0, got sigma_max={self.sigma_max}, sigma_min={self.sigma_min}"
                )

    @property
    def resolved(self) -> bool:
        """False while ``sigma_max`` or ``n_levels`` waits for data (``"auto"``)."""
        return self.levels is not None or "auto" not in (self.sigma_max, self.n_levels)

    def with_data(self, x: torch.Tensor) -> "GaussianLadder":
        """Resolve ``sigma_max="auto"`` and ``n_levels="auto"`` from the training data ``x [N, *E]``."""
        if self.resolved:
            return self
        from scoregen.techniques import n_levels

        sigma_max = max_pairwise_distance(x) if self.sigma_max == "auto" else self.sigma_max
        levels = n_levels(sigma_max, self.sigma_min, math.prod(x.shape[1:])) if self.n_levels == "auto" else self.n_levels
        return attrs.evolve(self, sigma_max=sigma_max, n_levels=levels)

    @functools.cached_property
    def sigmas(self) -> torch.Tensor:
        """The ladder, shape ``[L]``, float32, largest first (computed once)."""
        if self.levels is not None:
            return torch.tensor(self.levels, dtype=torch.float32)
        if not self.resolved:
            raise ConfigError("sigma_max or n_levels is 'auto': fit the model on data first, or give numbers")
        if self.n_levels == 1:
            return torch.tensor([self.sigma_max], dtype=torch.float32)
        log = torch.linspace(math.log(self.sigma_max), math.log(self.sigma_min), self.n_levels, dtype=torch.float64)
        return log.exp().to(torch.float32)

    def perturb(self, x, sigma, generator=None, *, noise=None):
        """``x̃ = x + σ z`` for ``x [B, *E]`` and ``sigma [B]``."""
        if noise is None:
            noise = randn_like(x, generator)
        return x + append_dims(sigma, x.ndim) * noise

    def sample_sigma(self, n, generator):
        """A level drawn uniformly from the ladder for each of ``n`` examples, shape ``[n]``."""
        sigmas = self.sigmas
        return sigmas[torch.randint(len(sigmas), (n,), generator=generator)]

    def prior_sample(self, shape, generator):
        """``σ_1 z`` with ``z ~ N(0, I)`` of ``shape``: the ladder's widest perturbed distribution
        is approximately this when ``σ_1`` exceeds the data's diameter."""
        return float(self.sigmas[0]) * torch.randn(shape, generator=generator)

    def sigma_range(self):
        """``(σ_L, σ_1)``, the end levels: the VE SDE's ``(σ_min, σ_max)``."""
        sigmas = self.sigmas
        return float(sigmas[-1]), float(sigmas[0])


@attrs.frozen(kw_only=True, eq=False)
class VESDE(GaussianLadder):
    """The continuous NCSN (VE SDE, ``σ(t) = σ_min (σ_max/σ_min)^t``, ``t ∈ [0, 1]``): the same
    parameters as the ``gaussian`` ladder (whose levels still serve the annealed samplers and the
    per-level loss report), but trained at every level, ``σ = σ(t)``, ``t ~ U(0, 1)`` (log-uniform σ)."""

    def sample_sigma(self, n, generator):
        return ContinuousGaussian.sample_sigma(self, n, generator)
