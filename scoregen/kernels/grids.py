"""σ grids: the time discretisations that σ-grid samplers walk (registered kind ``grid``).

A grid is called as ``grid(kernel, n_steps, *, zero=True)`` and returns a descending float64
tensor ``[n_steps + 1]`` (k-diffusion's convention) starting at ``σ_max`` of
``kernel.sigma_range()``:

- ``zero=True`` (samplers that end on the data): ``n_steps`` levels from ``σ_max`` down to
  ``σ_min``, then a final ``0``; the last step goes from ``σ_min`` to ``0`` (a denoise);
- ``zero=False`` (samplers that end with their own Tweedie step, and the order check of
  :func:`scoregen.testing.check_sampler`): ``n_steps + 1`` levels from ``σ_max`` to ``σ_min``.

With ``u_i = i/(K − 1)``, ``i = 0 … K − 1`` (``K`` levels before the optional 0; one level is
``σ_max`` alone):

- ``karras`` (EDM, Karras et al. 2022, Eq. 5): ``σ_i = (σ_max^{1/ρ} + u_i (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ``;
- ``exponential``: ``log σ`` evenly spaced (``ρ = 1`` of ``polyexponential``);
- ``polyexponential`` (k-diffusion): ``log σ_i = log σ_min + (1 − u_i)^ρ (log σ_max − log σ_min)``;
- ``uniform-t``: ``σ(t_i)`` at evenly spaced times of the kernel's schedule (DDPM/DDIM, score-SDE);
- ``uniform-logsnr``: ``σ(t(λ_i))`` at evenly spaced log-SNR ``λ = −2 log σ`` through
  ``kernel.schedule.t_of_logsnr`` (in ladder coordinates the same levels as ``exponential``, up to
  the schedule's inverse);
- ``ladder``: the kernel's own ``sigmas`` (NCSN's ladder), which fixes the number of steps.

``karras``, ``exponential`` and ``polyexponential`` take optional ``sigma_min`` / ``sigma_max``
that replace the kernel's ends (EDM samples from ``σ_min = 0.002`` whatever the training range;
a larger ``σ_min`` spends fewer steps where the last denoise is nearly exact).
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen.errors import ConfigError


def _ramp(n: int) -> torch.Tensor:
    """``u_i = i/(n − 1)``, ``[n]`` float64 (``[0]`` for ``n = 1``)."""
    return torch.linspace(0.0, 1.0, n, dtype=torch.float64) if n > 1 else torch.zeros(1, dtype=torch.float64)


def _finish(levels: torch.Tensor, zero: bool) -> torch.Tensor:
    """Append the final ``0`` when ``zero``, and check the grid."""
    grid = torch.cat([levels, levels.new_zeros(1)]) if zero else levels
    return check_sigmas(grid)


def _levels(n_steps: int, zero: bool) -> int:
    """How many positive levels a grid of ``n_steps`` steps holds."""
    return v.check_int("n_steps", n_steps, minimum=1) + (0 if zero else 1)


def _range(grid, kernel) -> tuple[float, float]:
    """``(σ_min, σ_max)``: the grid's own ends where it sets them, else the kernel's."""
    lo, hi = kernel.sigma_range()
    lo = lo if grid.sigma_min is None else grid.sigma_min
    hi = hi if grid.sigma_max is None else grid.sigma_max
    if not hi > lo:
        raise ConfigError(f"a σ grid needs sigma_max > sigma_min, got {hi} and {lo}")
    return lo, hi


def check_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    """``sigmas`` as a float64 grid ``[n + 1]``, ``n ≥ 1``: finite, strictly decreasing, positive
    except possibly the last entry (``0``); :class:`~scoregen.errors.ConfigError` otherwise."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.ndim != 1 or len(sigmas) < 2:
        raise ConfigError(f"a σ grid needs at least two levels (one step), got shape {list(sigmas.shape)}")
    levels = sigmas.tolist()  # checked as numbers: a grid is short, and each tensor reduction would cost more
    if not all(math.isfinite(s) for s in levels) or not all(s > 0 for s in levels[:-1]) or levels[-1] < 0:
        raise ConfigError(f"a σ grid must be finite and positive (a final 0 allowed), got {levels}")
    if not all(a > b for a, b in zip(levels, levels[1:])):
        raise ConfigError(f"a σ grid must be strictly decreasing, got {levels}")
    return sigmas


@attrs.frozen(kw_only=True)
class Karras:
    """EDM's grid (Karras et al. 2022, Eq. 5): evenly spaced in ``σ^{1/ρ}``; ``ρ = 7`` puts the
    steps where the ODE's curvature is (small σ); ``ρ ∈ [0.1, 100]`` keeps ``σ^{1/ρ}`` finite."""

    rho: float = attrs.field(default=7.0, validator=v.real(at_least=0.1, at_most=100.0))
    sigma_min: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))
    sigma_max: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        lo, hi = _range(self, kernel)
        u = _ramp(_levels(n_steps, zero))
        inv = 1.0 / self.rho
        return _finish((hi**inv + u * (lo**inv - hi**inv)) ** self.rho, zero)


@attrs.frozen(kw_only=True)
class PolyExponential:
    """k-diffusion's polyexponential grid: ``log σ`` follows ``(1 − u)^ρ`` from ``log σ_max`` to
    ``log σ_min`` (``ρ = 1``: exponential; ``ρ > 1``: more steps at small σ)."""

    rho: float = attrs.field(default=1.0, validator=v.positive)
    sigma_min: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))
    sigma_max: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        lo, hi = _range(self, kernel)
        u = _ramp(_levels(n_steps, zero))
        return _finish(torch.exp(math.log(lo) + (1 - u) ** self.rho * (math.log(hi) - math.log(lo))), zero)


@attrs.frozen(kw_only=True)
class Exponential:
    """Evenly spaced ``log σ`` from ``σ_max`` to ``σ_min`` (a geometric sequence, like NCSN's ladder)."""

    sigma_min: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))
    sigma_max: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        return PolyExponential(rho=1.0, sigma_min=self.sigma_min, sigma_max=self.sigma_max)(kernel, n_steps, zero=zero)


@attrs.frozen(kw_only=True)
class UniformTime:
    """``σ(t)`` at evenly spaced times from ``t_max`` to ``t_min`` of the kernel's schedule."""

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        k = _levels(n_steps, zero)
        t = kernel.t_max + _ramp(k) * (kernel.t_min - kernel.t_max)
        return _finish(_pinned(kernel, kernel.noise_level(t)), zero)


@attrs.frozen(kw_only=True)
class UniformLogSNR:
    """``σ(t(λ))`` at evenly spaced log-SNR ``λ = −2 log σ`` from ``λ(σ_max)`` to ``λ(σ_min)``,
    through the schedule's ``t_of_logsnr``."""

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        lo, hi = kernel.sigma_range()
        lam = -2 * math.log(hi) + _ramp(_levels(n_steps, zero)) * 2 * (math.log(hi) - math.log(lo))
        return _finish(_pinned(kernel, kernel.noise_level(kernel.schedule.t_of_logsnr(lam))), zero)


@attrs.frozen(kw_only=True)
class Ladder:
    """The kernel's ladder ``σ_1 > … > σ_L`` (NCSN): ``n_steps`` must be ``L`` (with the final 0)
    or ``L − 1`` (ending at ``σ_L``)."""

    def __call__(self, kernel, n_steps: int, *, zero: bool = True) -> torch.Tensor:
        levels = kernel.sigmas.to(torch.float64)
        if _levels(n_steps, zero) != len(levels):
            raise ConfigError(
                f"the ladder grid walks the kernel's {len(levels)} levels: use n_steps={len(levels) - (0 if zero else 1)}"
            )
        return _finish(levels, zero)


def _pinned(kernel, levels: torch.Tensor) -> torch.Tensor:
    """``levels`` with the ends set to the kernel's ``σ_max`` and ``σ_min`` exactly (an inverse
    by bisection lands within float64 rounding of them)."""
    lo, hi = kernel.sigma_range()
    levels = levels.clone()
    levels[0] = hi
    if len(levels) > 1:
        levels[-1] = lo
    return levels
