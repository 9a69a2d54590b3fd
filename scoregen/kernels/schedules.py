"""Gaussian schedules: ``x_t = m(t) x₀ + s(t) z``, ``z ~ N(0, I)``, ``t ∈ [t_min, t_max]``.

A schedule gives ``m``, ``s`` and their time derivatives; everything else is derived here, once:

- the noise-to-signal ratio ``σ(t) = s/m`` (the noise level estimators receive) and its inverse
  ``t(σ)``, and ``t(λ)`` for the log-SNR ``λ = log(m²/s²) = −2 log σ``;
- the forward SDE ``dx = f(t) x dt + g(t) dW`` with these marginals: ``f = m'/m``,
  ``g² = 2 s s' − 2 (m'/m) s²`` (Song et al. 2021; Kingma et al. 2021).

VE (NCSN's geometric σ), VP (DDPM's linear β), cosine VP, sub-VP, EDM (``m = 1, s = t``) and the
linear interpolant of flow matching / rectified flow (``m = 1 − t, s = t``) are all schedules;
the Gaussian kernel (:mod:`scoregen.kernels.gaussian`) is made from one and never asks which.

Times and results are float64 tensors on the device of the time given (schedules are exact
arithmetic; callers cast).
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen.errors import ConfigError


def as_time(t, like: torch.Tensor | None = None) -> torch.Tensor:
    """Times as a float64 tensor (on ``like``'s device when given, else on ``t``'s own)."""
    device = like.device if like is not None else (t.device if isinstance(t, torch.Tensor) else None)
    return torch.as_tensor(t, dtype=torch.float64, device=device)


class Schedule:
    """Base of every schedule: subclasses define ``t_min``, ``t_max``, :meth:`marginal` and
    :meth:`marginal_derivative`; closed-form inverses may override :meth:`t_of_sigma`."""

    t_min: float
    t_max: float

    def marginal(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        """``(m(t), s(t))``, float64, shaped like ``t``."""
        raise NotImplementedError

    def marginal_derivative(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        """``(m'(t), s'(t))``, float64, shaped like ``t``."""
        raise NotImplementedError

    def sigma(self, t) -> torch.Tensor:
        """``σ(t) = s(t)/m(t)``, increasing in ``t``."""
        m, s = self.marginal(t)
        return s / m

    def t_of_sigma(self, sigma) -> torch.Tensor:
        """The inverse of :meth:`sigma` on ``[t_min, t_max]``, by bisection in float64 (60 halvings,
        below float64 resolution on the unit interval); σ outside the range is clamped to its ends."""
        sigma = as_time(sigma)
        lo = torch.full_like(sigma, self.t_min)
        hi = torch.full_like(sigma, self.t_max)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self.sigma(mid) >= sigma
            hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
        return 0.5 * (lo + hi)

    def t_of_logsnr(self, lam) -> torch.Tensor:
        """``t(λ)``, the time at log-SNR ``λ = −2 log σ``."""
        return self.t_of_sigma(torch.exp(-0.5 * as_time(lam)))

    def drift_coefficient(self, t) -> torch.Tensor:
        """``f(t) = m'/m``: the forward SDE's drift is ``f(t) x``."""
        m, _ = self.marginal(t)
        dm, _ = self.marginal_derivative(t)
        return dm / m

    def diffusion_squared(self, t) -> torch.Tensor:
        """``g(t)² = 2 s s' − 2 (m'/m) s²`` (``= dσ²/dt · m²``), non-negative."""
        m, s = self.marginal(t)
        dm, ds = self.marginal_derivative(t)
        return (2 * s * ds - 2 * (dm / m) * s**2).clamp_min(0.0)

    @property
    def sigma_min(self) -> float:
        """``σ(t_min)``."""
        return float(self.sigma(as_time(self.t_min)))

    @property
    def sigma_max(self) -> float:
        """``σ(t_max)``."""
        return float(self.sigma(as_time(self.t_max)))


def _check_range(schedule) -> None:
    if not schedule.t_min < schedule.t_max:
        raise ConfigError(f"need t_min < t_max, got t_min={schedule.t_min}, t_max={schedule.t_max}")


@attrs.frozen(kw_only=True)
class VESchedule(Schedule):
    """Variance exploding (NCSN, Song et al. 2021): ``m = 1``, ``s = σ_min (σ_max/σ_min)^t``,
    ``t ∈ [0, 1]``; ``g = σ(t) √(2 log(σ_max/σ_min))``."""

    sigma_min: float = attrs.field(default=0.01, validator=v.positive)  # type: ignore[assignment]
    sigma_max: float = attrs.field(default=10.0, validator=v.positive)  # type: ignore[assignment]
    t_min = 0.0
    t_max = 1.0

    def __attrs_post_init__(self) -> None:
        if not self.sigma_max > self.sigma_min:
            raise ConfigError(f"need sigma_max > sigma_min, got {self.sigma_max} <= {self.sigma_min}")

    def marginal(self, t):
        t = as_time(t)
        return torch.ones_like(t), self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def marginal_derivative(self, t):
        t = as_time(t)
        _, s = self.marginal(t)
        return torch.zeros_like(t), s * math.log(self.sigma_max / self.sigma_min)

    def t_of_sigma(self, sigma):
        sigma = as_time(sigma).clamp(self.sigma_min, self.sigma_max)
        return torch.log(sigma / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)


@attrs.frozen(kw_only=True)
class VPSchedule(Schedule):
    """Variance preserving, DDPM's linear ``β(t) = β_min + t (β_max − β_min)``:
    ``m = exp(−½ B(t))`` with ``B = ∫₀ᵗ β``, ``s = √(1 − m²)``; ``f = −½ β``, ``g = √β``."""

    beta_min: float = attrs.field(default=0.1, validator=v.positive)
    beta_max: float = attrs.field(default=20.0, validator=v.positive)
    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))
    t_max = 1.0

    def __attrs_post_init__(self) -> None:
        if not self.beta_max >= self.beta_min:
            raise ConfigError(f"need beta_max >= beta_min, got {self.beta_max} < {self.beta_min}")

    def beta(self, t) -> torch.Tensor:
        return self.beta_min + as_time(t) * (self.beta_max - self.beta_min)

    def integral_beta(self, t) -> torch.Tensor:
        """``B(t) = ∫₀ᵗ β = β_min t + ½ (β_max − β_min) t²``."""
        t = as_time(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def marginal(self, t):
        b = self.integral_beta(t)
        return torch.exp(-0.5 * b), torch.sqrt(-torch.expm1(-b))

    def marginal_derivative(self, t):
        m, s = self.marginal(t)
        dm = -0.5 * self.beta(t) * m
        return dm, -m * dm / s

    def diffusion_squared(self, t) -> torch.Tensor:
        """``g² = β(t)`` (the general formula, written so that it stays finite at ``t = 0``)."""
        return self.beta(t)

    def _t_of_integral(self, b: torch.Tensor) -> torch.Tensor:
        """Solve ``B(t) = b`` for ``t ≥ 0`` (the stable root of the quadratic)."""
        half = 0.5 * (self.beta_max - self.beta_min)
        return 2 * b / (self.beta_min + torch.sqrt(self.beta_min**2 + 4 * half * b))

    def t_of_sigma(self, sigma):
        # σ² = e^B − 1.
        return self._t_of_integral(torch.log1p(as_time(sigma) ** 2)).clamp(self.t_min, self.t_max)


@attrs.frozen(kw_only=True)
class SubVPSchedule(VPSchedule):
    """sub-VP (Song et al. 2021): the VP mean ``m = exp(−½ B)`` with ``s = 1 − m² = 1 − e^{−B}``,
    below the VP's std at every t; ``σ = 2 sinh(B/2)``."""

    def marginal(self, t):
        b = self.integral_beta(t)
        return torch.exp(-0.5 * b), -torch.expm1(-b)

    def marginal_derivative(self, t):
        m, _ = self.marginal(t)
        dm = -0.5 * self.beta(t) * m
        return dm, -2 * m * dm

    def diffusion_squared(self, t) -> torch.Tensor:
        """``g² = β(t) (1 − e^{−2B(t)})``."""
        return self.beta(t) * -torch.expm1(-2 * self.integral_beta(t))

    def t_of_sigma(self, sigma):
        return self._t_of_integral(2 * torch.asinh(0.5 * as_time(sigma))).clamp(self.t_min, self.t_max)


@attrs.frozen(kw_only=True)
class CosineSchedule(Schedule):
    """Cosine VP (Nichol & Dhariwal 2021): ``m = cos(φ(t))/cos(φ(0))``,
    ``φ(t) = (π/2)(t + ε)/(1 + ε)`` with offset ``ε = 0.008``, ``s = √(1 − m²)``. ``m(1) = 0``, so
    ``t_max`` stays below 1 (``σ(t_max)`` finite)."""

    offset: float = attrs.field(default=0.008, validator=v.non_negative)
    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))
    t_max: float = attrs.field(default=0.999, validator=v.real(positive=True, below=1.0))

    def __attrs_post_init__(self) -> None:
        _check_range(self)

    def _phi(self, t) -> torch.Tensor:
        return (math.pi / 2) * (as_time(t) + self.offset) / (1 + self.offset)

    def marginal(self, t):
        m = torch.cos(self._phi(t)) / math.cos(self._phi(0.0).item())
        return m, torch.sqrt((1 - m**2).clamp_min(0.0))

    def marginal_derivative(self, t):
        m, s = self.marginal(t)
        dm = -torch.sin(self._phi(t)) * (math.pi / 2) / (1 + self.offset) / math.cos(self._phi(0.0).item())
        return dm, -m * dm / s

    def diffusion_squared(self, t) -> torch.Tensor:
        """``g² = −2 m'/m`` (with ``s² = 1 − m²``)."""
        m, _ = self.marginal(t)
        dm, _ = self.marginal_derivative(t)
        return -2 * dm / m

    def t_of_sigma(self, sigma):
        # m = 1/√(1 + σ²) ⇒ φ = arccos(cos φ(0) · m).
        m = torch.rsqrt(1 + as_time(sigma) ** 2)
        phi = torch.arccos(math.cos(self._phi(0.0).item()) * m)
        return (phi * (2 / math.pi) * (1 + self.offset) - self.offset).clamp(self.t_min, self.t_max)


@attrs.frozen(kw_only=True)
class EDMSchedule(Schedule):
    """EDM (Karras et al. 2022): ``m = 1``, ``s = t``, so time is the noise level,
    ``t ∈ [σ_min, σ_max]``; ``g = √(2t)``."""

    sigma_min: float = attrs.field(default=0.002, validator=v.positive)  # type: ignore[assignment]
    sigma_max: float = attrs.field(default=80.0, validator=v.positive)  # type: ignore[assignment]

    def __attrs_post_init__(self) -> None:
        if not self.sigma_max > self.sigma_min:
            raise ConfigError(f"need sigma_max > sigma_min, got {self.sigma_max} <= {self.sigma_min}")

    @property
    def t_min(self) -> float:  # type: ignore[override]
        return self.sigma_min

    @property
    def t_max(self) -> float:  # type: ignore[override]
        return self.sigma_max

    def marginal(self, t):
        t = as_time(t)
        return torch.ones_like(t), t.clone()

    def marginal_derivative(self, t):
        t = as_time(t)
        return torch.zeros_like(t), torch.ones_like(t)

    def t_of_sigma(self, sigma):
        return as_time(sigma).clamp(self.sigma_min, self.sigma_max)


@attrs.frozen(kw_only=True)
class LinearInterpolant(Schedule):
    """The linear interpolant of flow matching / rectified flow (Lipman et al. 2023; Liu et al.
    2023): ``x_t = (1 − t) x₀ + t z``, ``m = 1 − t``, ``s = t``, ``σ = t/(1 − t)``; the velocity
    is ``dx_t/dt = z − x₀``. ``m(1) = 0``, so ``t_max`` stays below 1."""

    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))
    t_max: float = attrs.field(default=0.999, validator=v.real(positive=True, below=1.0))

    def __attrs_post_init__(self) -> None:
        _check_range(self)

    def marginal(self, t):
        t = as_time(t)
        return 1 - t, t.clone()

    def marginal_derivative(self, t):
        t = as_time(t)
        return -torch.ones_like(t), torch.ones_like(t)

    def t_of_sigma(self, sigma):
        sigma = as_time(sigma)
        return (sigma / (1 + sigma)).clamp(self.t_min, self.t_max)
