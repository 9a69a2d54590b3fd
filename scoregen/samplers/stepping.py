"""What every σ-grid sampler shares: the grid, the step count, the counted denoiser, the callback.

A σ-grid sampler works in ladder coordinates ``x̂ = x₀ + σ z`` (every Gaussian kernel's
estimator coordinates), where the probability-flow ODE of *any* schedule is

    dx̂/dσ = −σ ∇log p_σ(x̂) = (x̂ − D(x̂; σ))/σ,     D(x̂; σ) = x̂ + σ² s(x̂, σ)

(Karras et al. 2022, Eq. 4 with ``s(t) = 1``): the kernel enters only through its σ range (the
grid) and ``t(σ)`` (the callback). Subclasses write one generator, :meth:`GridSampler.steps`,
that yields the state after each step of a grid ``σ_0 > … > σ_n`` (``σ_n = 0``: end on the data).
The state is float64 (EDM's choice: the steps subtract nearly equal numbers at large σ); the
estimator is called in the input's dtype and the result returned in it.
"""

import attrs
import torch

from scoregen import _validators as v
from scoregen.config import resolve
from scoregen.kernels.base import require_family
from scoregen.kernels.grids import check_sigmas


class Denoiser:
    """``D(x̂; σ)`` of a score estimator, in float64, counting its evaluations (``count``)."""

    def __init__(self, estimator, dtype: torch.dtype) -> None:
        self.estimator, self.dtype, self.count = estimator, dtype, 0

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """``D(x; σ) = x + σ² s(x, σ)`` (Tweedie, :func:`~scoregen.estimators.parameterisation.score_to_x0`)
        for ``x [B, *E]`` (float64) at one level ``σ > 0`` (a float): ``[B, *E]`` float64. The
        estimator gets ``x`` and ``σ [B]`` in its dtype; ``σ²`` stays a float64 number (the same
        bits as the float64 tensor ``σ²``, without making one each step)."""
        self.count += 1
        sigma_b = torch.full((x.shape[0],), sigma, dtype=self.dtype, device=x.device)
        return x + (sigma * sigma) * self.estimator(x.to(self.dtype), sigma_b).to(torch.float64)


grid_validator = v.registered("grid")


@attrs.frozen(kw_only=True)
class GridSampler:
    """Base of the σ-grid samplers: ``n_steps`` steps on the grid ``grid`` (a registered grid name,
    a dict ``{"name": ..., **params}`` or a grid object; :mod:`scoregen.kernels.grids`), ending at
    ``σ = 0``. ``solve`` walks any grid (one ending at ``σ_min`` included)."""

    families = ("gaussian",)

    n_steps: int = attrs.field(default=20, validator=v.count)
    grid: object = attrs.field(default="karras", validator=grid_validator)

    def sigmas(self, kernel) -> torch.Tensor:
        """The grid this sampler walks on ``kernel``: ``[n_steps + 1]`` float64, ending in 0."""
        return resolve("grid", self.grid)(kernel, self.n_steps, zero=True)

    def nfe(self, kernel) -> int:
        """Score evaluations of one :meth:`sample` (exact)."""
        return self.nfe_of(self.sigmas(kernel))

    def nfe_of(self, sigmas: torch.Tensor) -> int:
        """Score evaluations of :meth:`solve` on ``sigmas``: one a step unless a sampler says otherwise."""
        return len(sigmas) - 1

    def steps(self, denoise: Denoiser, x: torch.Tensor, sigmas: list[float], generator):
        """Yield the float64 state after each step from ``sigmas[i]`` to ``sigmas[i + 1]``."""
        raise NotImplementedError

    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None) -> torch.Tensor:
        """Walk :meth:`sigmas` from ``x_init = kernel.prior_sample(...)``: samples ``[B, *E]``."""
        require_family(self, kernel)
        return self.solve(estimator, kernel, x_init, self.sigmas(kernel), generator=generator, callback=callback)

    @torch.no_grad()
    def solve(self, estimator, kernel, x_init, sigmas, *, generator=None, callback=None) -> torch.Tensor:
        """Walk the grid ``sigmas [n + 1]`` (descending; a final 0 or not) from ``x_init`` at
        ``sigmas[0]``; returns the state at ``sigmas[-1]`` in ``x_init``'s dtype. ``callback``
        gets ``step``, ``nfe``, ``sigma`` (the level reached), ``t`` (its kernel time; ``None`` at
        ``σ = 0``) and ``x`` after each step."""
        levels = check_sigmas(sigmas).tolist()
        denoise = Denoiser(estimator, x_init.dtype)
        state = x_init.to(torch.float64)
        for i, state in enumerate(self.steps(denoise, state, levels, generator)):  # noqa: B020 (the start, then each step's state)
            if callback is not None:
                sigma = levels[i + 1]
                t = float(kernel.time_of(sigma)) if sigma > 0 else None
                callback({"step": i, "nfe": denoise.count, "sigma": sigma, "t": t, "x": state.to(x_init.dtype)})
        return state.to(x_init.dtype)
