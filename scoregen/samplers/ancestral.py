"""Ancestral samplers: a deterministic step to a lower level ``σ_down`` and fresh noise ``σ_up``
back up to ``σ_{i+1}`` (``σ_down² + σ_up² = σ_{i+1}²``), in ladder coordinates.

DDIM (Song et al. 2021) with parameter η is, in ladder coordinates, exactly k-diffusion's
Euler-ancestral with ``eta = η``: its stochastic std ``η √((1−ᾱ')/(1−ᾱ)) √(1 − ᾱ/ᾱ')`` divided by
``√ᾱ'`` is ``σ_up = η σ' √(σ² − σ'²)/σ``. So both are one class here with different defaults
(DDIM: η = 0, evenly spaced times; Euler-ancestral: η = 1, the Karras grid).
"""

import itertools
import math

import attrs

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.samplers.stepping import GridSampler, grid_validator


def ancestral_levels(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """``(σ_down, σ_up)`` of a step from ``σ`` to ``σ' = sigma_next``:
    ``σ_up = min(σ', η σ' √(σ² − σ'²)/σ)``, ``σ_down = √(σ'² − σ_up²)``."""
    up = min(sigma_next, eta * sigma_next * math.sqrt(max(sigma**2 - sigma_next**2, 0.0)) / sigma)
    return math.sqrt(sigma_next**2 - up**2), up


@attrs.frozen(kw_only=True)
class EulerAncestral(GridSampler):
    """Euler-ancestral (k-diffusion's ``sample_euler_ancestral``; DDIM's η-family, Song et al. 2021):
    ``x ← D + σ_down (x − D)/σ + s_noise σ_up z``. Score evaluations: ``n_steps`` (50 by default:
    a first-order step, under-dispersed within a mode at 20 on the 8-mode ring)."""

    n_steps: int = attrs.field(default=50, validator=v.count)
    eta: float = attrs.field(default=1.0, validator=v.non_negative)
    s_noise: float = attrs.field(default=1.0, validator=v.non_negative)

    def steps(self, denoise, x, sigmas, generator):
        for sigma, sigma_next in itertools.pairwise(sigmas):
            x0 = denoise(x, sigma)
            down, up = ancestral_levels(sigma, sigma_next, self.eta)
            x = x0 + (down / sigma) * (x - x0)  # Euler step to σ_down: x₀ + σ_down ε̂, ε̂ = (x − x₀)/σ
            if up > 0:  # back up to σ_{i+1} with fresh noise
                x = x + self.s_noise * up * randn_like(x, generator)
            yield x


@attrs.frozen(kw_only=True)
class DDIM(EulerAncestral):
    """DDIM (Song, Meng & Ermon 2021, Eq. 12) in ladder coordinates:
    ``x ← x̂₀ + √(σ'² − σ_up²) ε̂ + σ_up z`` with ``σ_up`` from η (η = 0: deterministic, the
    probability-flow ODE's Euler step in σ). Score evaluations: ``n_steps`` (50 by default, as in
    the DDIM paper's tables)."""

    eta: float = attrs.field(default=0.0, validator=v.non_negative)
    grid: object = attrs.field(default="uniform-t", validator=grid_validator)
