"""Explicit solvers of the probability-flow ODE ``dx̂/dσ = d(x̂, σ) = (x̂ − D(x̂; σ))/σ`` in σ
(:mod:`scoregen.samplers.stepping`): Euler, and linear multistep (Adams–Bashforth in σ)."""

import itertools

import attrs
import numpy as np
import torch

from scoregen import _validators as v
from scoregen.samplers.stepping import GridSampler


@attrs.frozen(kw_only=True)
class Euler(GridSampler):
    """Euler's method on the probability-flow ODE (Karras et al. 2022, Eq. 4; k-diffusion's
    ``sample_euler``): ``x ← x + (σ_{i+1} − σ_i) d(x, σ_i)``. Score evaluations: ``n_steps``. Order 1."""

    def steps(self, denoise, x, sigmas, generator):
        for sigma, sigma_next in itertools.pairwise(sigmas):
            d = (x - denoise(x, sigma)) / sigma  # dx/dσ at σ_i
            x = x + (sigma_next - sigma) * d  # Euler step
            yield x


def lms_coefficients(nodes: list[float], a: float, b: float) -> list[float]:
    """``∫_a^b ℓ_j(σ) dσ`` for the Lagrange basis ``ℓ_j`` on ``nodes`` (exact polynomial
    integration in float64, the interval scaled to ``[0, 1]`` for conditioning)."""
    u = [(n - a) / (b - a) for n in nodes]  # nodes in the unit variable σ = a + u (b − a)
    out = []
    for j, uj in enumerate(u):
        others = [uk for k, uk in enumerate(u) if k != j]
        poly = np.poly(others) / np.prod([uj - uk for uk in others]) if others else np.array([1.0])
        integral = np.polyint(poly)
        out.append(float((np.polyval(integral, 1.0) - np.polyval(integral, 0.0)) * (b - a)))
    return out


@attrs.frozen(kw_only=True)
class LMS(GridSampler):
    """Linear multistep (Adams–Bashforth in σ; k-diffusion's ``sample_lms``): the derivative is
    interpolated through the last ``k = min(i + 1, order)`` levels and integrated exactly over the
    step. Score evaluations: ``n_steps``. Order ``order`` (1–4)."""

    order: int = attrs.field(default=4, validator=[v.count, v.real(at_most=4)])

    def steps(self, denoise, x, sigmas, generator):
        history: list[tuple[float, torch.Tensor]] = []  # (σ_j, d_j), most recent first
        for sigma, sigma_next in itertools.pairwise(sigmas):
            history.insert(0, (sigma, (x - denoise(x, sigma)) / sigma))  # dx/dσ at σ_i
            del history[self.order :]
            weights = lms_coefficients([s for s, _ in history], sigma, sigma_next)
            x = x + sum(w * d for w, (_, d) in zip(weights, history))  # ∫ of the interpolant of d
            yield x
