"""Moving between a Gaussian kernel's two coordinate systems.

Estimators and ``prior_sample`` speak ladder coordinates ``x̂ = x_t/m(t) = x₀ + σ z``; the SDE
and ODE samplers and the likelihood step in the SDE's own ``x_t = m(t) x̂``
(:mod:`scoregen.kernels.gaussian`). These four helpers are the only crossings.
"""

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
