"""Forward SDEs as Gaussian kernels (Song et al. 2021): variance exploding, variance preserving
(DDPM's linear β) and sub-variance preserving.

Each SDE ``dx = f(x, t) dt + g(t) dW``, ``t ∈ [t_min, 1]``, has Gaussian marginals
``x_t = m(t) x_0 + s(t) z`` (``m`` the mean scale, ``s`` the std). Estimators keep receiving a
noise level ``σ`` as in the ladder: the *noise-to-signal ratio* ``σ(t) = s(t)/m(t)``, which is the
std of the rescaled variable ``x̂ = x_t / m(t) = x_0 + σ(t) z``. So one network, trained on
``x̃ = x + σ z`` at noise level ``σ``, serves the ladder and every SDE here, and the score of the
marginal is

    ∇ log p_t(x) = s(x / m(t), σ(t)) / m(t).

For VE, ``m = 1`` and ``σ(t)`` is the marginal std itself. In ``x̂`` every one of these SDEs is the
VE SDE with schedule ``σ(t)``: ``dx̂ = √(dσ²/dt) dW``.

Conventions shared with :class:`~scoregen.kernels.GaussianLadder`: ``perturb``/``sample_sigma``
work in ``x̂`` (so DSM trains unchanged), ``sigmas`` is a ladder of ``n_levels`` levels
``σ(t)`` at evenly spaced ``t`` from 1 to ``t_min`` (largest first, used by the annealed samplers and
the per-level loss report), and ``prior_sample`` draws ``x̂_1 ~ N(0, σ(1)² I)`` — the same point
as ``x_1 = m(1) x̂_1 ~ N(0, s(1)² I)``, the prior of the SDE. Times are per sample, ``t [B]``.
"""

import math

import attrs
import torch

from scoregen._tensor import append_dims, randn_like
from scoregen.errors import ConfigError


def _as_time(t, like: torch.Tensor | None = None) -> torch.Tensor:
    """Times as a float64 tensor (schedules are evaluated in float64)."""
    return torch.as_tensor(t, dtype=torch.float64, device=None if like is None else like.device)


class ContinuousGaussian:
    """What every forward SDE derives from its ``marginal``, ``drift`` and ``diffusion``.

    Subclasses define ``marginal(t) -> (m [B], s [B])``, ``drift(x, t)``, ``diffusion(t)`` and
    the attribute ``t_min``; they are attrs classes with ``n_levels``.
    """

    family = "gaussian"
    t_max = 1.0

    def noise_level(self, t) -> torch.Tensor:
        """``σ(t) = s(t)/m(t)``, the noise level estimators receive, float64, shaped like ``t``."""
        m, s = self.marginal(t)
        return s / m

    def score(self, estimator, x: torch.Tensor, t) -> torch.Tensor:
        """``∇ log p_t(x) = s(x/m, σ)/m`` for ``x [B, *E]`` and ``t [B]`` (or a number)."""
        t = _as_time(t, x).expand(x.shape[0])
        m, s = self.marginal(t)
        m_x = append_dims(m, x.ndim).to(x.dtype)
        return estimator(x / m_x, (s / m).to(x.dtype)) / m_x

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x; 0, s(1)² I)`` of ``x_1 [B, *E]`` in the SDE's own coordinates, ``[B]``."""
        std = float(self.marginal(_as_time(self.t_max))[1])
        flat = x.flatten(1).to(torch.float64)
        d = flat.shape[1]
        return -0.5 * (flat.square().sum(1) / std**2 + d * math.log(2 * math.pi * std**2))

    def time_grid(self, n_steps: int) -> torch.Tensor:
        """``n_steps + 1`` times from ``1`` down to ``t_min``, evenly spaced, float64."""
        return torch.linspace(self.t_max, self.t_min, n_steps + 1, dtype=torch.float64)

    @property
    def sigmas(self) -> torch.Tensor:
        """A ladder of ``n_levels`` noise levels ``σ(t)``, t evenly spaced from 1 to ``t_min``, float32."""
        return self.noise_level(self.time_grid(self.n_levels - 1)).to(torch.float32)

    def perturb(self, x, sigma, generator=None, *, noise=None):
        """``x̃ = x + σ z`` in the estimator's coordinates, ``x [B, *E]``, ``sigma [B]``."""
        if noise is None:
            noise = randn_like(x, generator)
        return x + append_dims(sigma, x.ndim) * noise

    def sample_sigma(self, n, generator):
        """``σ(t)`` at ``t ~ U(t_min, 1)`` for ``n`` training examples, float32 ``[n]``."""
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        return self.noise_level(self.t_min + (self.t_max - self.t_min) * u).to(torch.float32)

    def prior_sample(self, shape, generator):
        """``x̂_1 = σ(1) z``, ``z ~ N(0, I)`` of ``shape`` (estimator coordinates; see the module)."""
        return float(self.noise_level(_as_time(self.t_max))) * torch.randn(shape, generator=generator)


class VarianceExplodingSDE(ContinuousGaussian):
    """VE SDE: ``σ(t) = σ_min (σ_max/σ_min)^t``, ``f = 0``, ``g(t) = σ(t) √(2 log(σ_max/σ_min))``,
    marginal ``x_t = x_0 + σ(t) z`` (``m = 1``). The endpoints come from ``sigma_range()``."""

    t_min = 0.0

    def sigma_range(self) -> tuple[float, float]:
        """``(σ_min, σ_max)``."""
        raise NotImplementedError

    def marginal(self, t):
        lo, hi = self.sigma_range()
        t = _as_time(t)
        return torch.ones_like(t), lo * (hi / lo) ** t

    def drift(self, x, t):
        return torch.zeros_like(x)

    def diffusion(self, t):
        lo, hi = self.sigma_range()
        return self.marginal(t)[1] * math.sqrt(2 * math.log(hi / lo))


def _positive(instance, attribute, value) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be positive, got {value!r}")


def _at_least_two(instance, attribute, value) -> None:
    if value < 2:
        raise ConfigError(f"{attribute.name} must be at least 2, got {value!r}")


@attrs.frozen(kw_only=True, eq=False)
class VPSDE(ContinuousGaussian):
    """VP SDE (DDPM's linear schedule): ``β(t) = β_min + t (β_max − β_min)``,
    ``f = −½ β(t) x``, ``g = √β(t)``, ``m(t) = exp(−½ ∫₀ᵗ β)``, ``s(t) = √(1 − m²)``, prior ``N(0, I)``
    (exactly ``N(0, s(1)² I)``, ``s(1)² = 1 − e^{−∫β}``)."""

    beta_min: float = attrs.field(default=0.1, validator=_positive)
    beta_max: float = attrs.field(default=20.0, validator=_positive)
    t_min: float = attrs.field(default=1e-3, validator=_positive)
    n_levels: int = attrs.field(default=10, validator=_at_least_two)

    def __attrs_post_init__(self) -> None:
        if not self.beta_max >= self.beta_min:
            raise ConfigError(f"need beta_max >= beta_min, got {self.beta_max} < {self.beta_min}")
        if not self.t_min < 1:
            raise ConfigError(f"t_min must be below 1, got {self.t_min}")

    def beta(self, t) -> torch.Tensor:
        return self.beta_min + _as_time(t) * (self.beta_max - self.beta_min)

    def integral_beta(self, t) -> torch.Tensor:
        """``∫₀ᵗ β = β_min t + ½ (β_max − β_min) t²``."""
        t = _as_time(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def marginal(self, t):
        b = self.integral_beta(t)
        return torch.exp(-0.5 * b), torch.sqrt(-torch.expm1(-b))

    def drift(self, x, t):
        return -0.5 * append_dims(self.beta(t), x.ndim).to(x.dtype) * x

    def diffusion(self, t):
        return torch.sqrt(self.beta(t))


@attrs.frozen(kw_only=True, eq=False)
class SubVPSDE(VPSDE):
    """sub-VP SDE: the VP drift with ``g = √(β(t) (1 − e^{−2∫₀ᵗβ}))``; same mean ``m(t)``,
    std ``s(t) = 1 − m²`` (below the VP's at every t)."""

    def marginal(self, t):
        b = self.integral_beta(t)
        return torch.exp(-0.5 * b), -torch.expm1(-b)

    def diffusion(self, t):
        return torch.sqrt(self.beta(t) * -torch.expm1(-2 * self.integral_beta(t)))
