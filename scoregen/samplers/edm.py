"""EDM's samplers (Karras et al. 2022): Heun's second-order method (Algorithm 1) and its
stochastic form with "churn" (Algorithm 2), on the probability-flow ODE ``dx̂/dσ = (x̂ − D)/σ``
(:mod:`scoregen.samplers.stepping`)."""

import itertools
import math

import attrs

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.samplers.stepping import GridSampler


def _heun_step(denoise, x, sigma: float, sigma_next: float):
    """One step of EDM's Algorithm 1 from ``sigma`` to ``sigma_next`` (two evaluations, one to ``0``)."""
    d = (x - denoise(x, sigma)) / sigma  # dx/dσ at σ_i
    x_next = x + (sigma_next - sigma) * d  # Euler step
    if sigma_next == 0:  # the last step to σ = 0 stays Euler (d is undefined there)
        return x_next
    d_next = (x_next - denoise(x_next, sigma_next)) / sigma_next  # dx/dσ at σ_{i+1}, the Euler end point
    return x + (sigma_next - sigma) * 0.5 * (d + d_next)  # second-order (trapezoidal) correction


@attrs.frozen(kw_only=True)
class Heun(GridSampler):
    """Heun's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1), Euler on the
    last step to ``σ = 0``. Score evaluations: ``2 n_steps − 1``. Order 2."""

    n_steps: int = attrs.field(default=18, validator=v.count)

    def nfe_of(self, sigmas) -> int:
        return 2 * (len(sigmas) - 1) - int(float(sigmas[-1]) == 0)

    def steps(self, denoise, x, sigmas, generator):
        for sigma, sigma_next in itertools.pairwise(sigmas):
            x = _heun_step(denoise, x, sigma, sigma_next)
            yield x


@attrs.frozen(kw_only=True)
class EDMStochastic(Heun):
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2): before each Heun step at
    ``σ_i ∈ [S_tmin, S_tmax]`` the level is raised to ``σ̂ = (1 + γ) σ_i``, ``γ = min(S_churn/n, √2 − 1)``,
    by adding noise ``√(σ̂² − σ_i²) S_noise z``. ``S_churn = 0`` is :class:`Heun`. ``S_tmax=None``:
    no upper bound. Score evaluations: ``2 n_steps − 1``."""

    S_churn: float = attrs.field(default=0.0, validator=v.non_negative)
    S_tmin: float = attrs.field(default=0.0, validator=v.non_negative)
    S_tmax: float | None = attrs.field(default=None, validator=v.optional(v.non_negative))
    S_noise: float = attrs.field(default=1.0, validator=v.non_negative)

    def steps(self, denoise, x, sigmas, generator):
        gamma_max = min(self.S_churn / (len(sigmas) - 1), math.sqrt(2) - 1)
        for sigma, sigma_next in itertools.pairwise(sigmas):
            inside = self.S_tmin <= sigma and (self.S_tmax is None or sigma <= self.S_tmax)
            gamma = gamma_max if inside else 0.0
            sigma_hat = sigma * (1 + gamma)  # raise the noise level ...
            if gamma > 0:  # ... by adding fresh noise: x̂ ~ p(x; σ̂) if x ~ p(x; σ_i)
                x = x + math.sqrt(sigma_hat**2 - sigma**2) * self.S_noise * randn_like(x, generator)
            x = _heun_step(denoise, x, sigma_hat, sigma_next)  # Heun step from σ̂ to σ_{i+1}
            yield x
