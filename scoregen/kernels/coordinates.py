"""Moving between a Gaussian kernel's two coordinate systems.

Estimators and ``prior_sample`` speak ladder coordinates ``x̂ = x_t/m(t) = x₀ + σ z``; the SDE
and ODE samplers and the likelihood step in the SDE's own ``x_t = m(t) x̂``
(:mod:`scoregen.kernels.gaussian`). These helpers are the only crossings.

A sampler that walks a time grid reads the schedule there through :func:`tabulate` (one pass over
the grid) and :func:`score_at`, rather than making ``[B]`` tensors of ``m``, ``σ``, ``f`` and ``g``
at every step: the numbers are rounded to the state's dtype exactly as such a tensor would hold
them, so each step computes the same bits as ``kernel.score``, ``kernel.drift`` and
``kernel.diffusion`` do.
"""

from typing import NamedTuple

import torch


def times(x: torch.Tensor, t: float) -> torch.Tensor:
    """The time ``t`` for every sample of ``x``, float64 ``[B]`` on ``x``'s device."""
    return torch.full((x.shape[0],), t, dtype=torch.float64, device=x.device)


def scalar_marginal(kernel, t: float) -> tuple[float, float]:
    """``(m(t), s(t))`` as floats."""
    m, s = kernel.marginal(torch.tensor(t, dtype=torch.float64))
    return float(m), float(s)


def start(kernel, x_init: torch.Tensor) -> torch.Tensor:
    """The prior draw in the SDE's coordinates: ``x_{t_max} = m(t_max) x̂``."""
    return scalar_marginal(kernel, kernel.t_max)[0] * x_init


def finish(estimator, kernel, x: torch.Tensor, denoise: bool) -> torch.Tensor:
    """``x_{t_min}`` back to ladder coordinates ``x̂ = x/m``, then, if ``denoise``, the Tweedie step
    ``x̂ + σ² s(x̂, σ)`` with ``σ = σ(t_min)`` (one score evaluation)."""
    m, s = scalar_marginal(kernel, kernel.t_min)
    x_hat = x / m
    if not denoise:
        return x_hat
    sigma = s / m
    return x_hat + sigma**2 * estimator(x_hat, torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device))


class At(NamedTuple):
    """The schedule at one time: ``m``, ``s`` (float64 numbers) and, rounded to the state's dtype,
    ``m_x`` (``= m``), ``sigma`` (``= s/m``, the estimator's noise level), ``f`` (the drift
    coefficient, ``drift = f x``) and ``g`` (the diffusion)."""

    m: float
    s: float
    m_x: float
    sigma: float
    f: float
    g: float


def tabulate(kernel, times: list[float], dtype: torch.dtype) -> dict[float, At]:
    """:class:`At` for each of ``times`` (keyed by the time), computed in one pass of the kernel's
    schedule over them (float64, then rounded to ``dtype`` as ``kernel.score`` and ``kernel.drift``
    round them for a state of that dtype)."""
    t = torch.tensor(times, dtype=torch.float64)
    m, s = kernel.marginal(t)
    columns = (m, s, m.to(dtype), (s / m).to(dtype), kernel.schedule.drift_coefficient(t).to(dtype), kernel.diffusion(t).to(dtype))
    return {time: At(*row) for time, row in zip(times, zip(*(c.tolist() for c in columns)))}


def score_at(estimator, x: torch.Tensor, at: At) -> torch.Tensor:
    """``∇ log p_t(x) = s(x/m, σ)/m`` (``kernel.score``) at one tabulated time, ``x [B, *E]``
    (no division where ``m = 1``, as on every VE kernel: dividing by 1 changes no bit)."""
    sigma = torch.full((x.shape[0],), at.sigma, dtype=x.dtype, device=x.device)
    if at.m_x == 1:
        return estimator(x, sigma)
    return estimator(x / at.m_x, sigma) / at.m_x
