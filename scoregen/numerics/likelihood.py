"""Exact likelihoods through the probability-flow ODE and the instantaneous change of variables
(Chen et al. 2018; Song et al. 2021, App. D.2).

Along ``dx/dt = d(x, t) = f − ½ g² ∇log p_t`` the log-density changes as
``d log p_t(x_t)/dt = −∇·d(x_t, t)``, so, integrating from ``t_min`` to 1,

    log p_{t_min}(x) = log p_1(x_1) + ∫_{t_min}^1 ∇·d(x_t, t) dt,

with ``p_1`` the kernel's prior. The divergence is exact (``D`` backward passes) or Hutchinson's
unbiased ``E_v[vᵀ (∂d/∂x) v]`` with Rademacher ``v`` drawn once per solve (one backward pass per
probe). The result is the log-density of the data perturbed at the smallest noise level
``σ(t_min)`` (in data coordinates: ``log p(x̂) = log p_{t_min}(m x̂) + D log m``).
"""

import math

import torch

from scoregen.errors import ConfigError
from scoregen.kernels.coordinates import scalar_marginal, times
from scoregen.numerics import ode_bridge
from scoregen.samplers.ode import probability_flow

EXACT_MAX_DIM = 16  # "auto" uses the exact divergence up to this many dimensions


def divergence_exact(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), ∇·fn(x) [B])`` for a batch-wise ``fn`` (rows independent), by ``D`` vector–Jacobian products."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)
        flat = out.flatten(1)
        div = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        for i in range(flat.shape[1]):
            (grad,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)
            div += grad.flatten(1)[:, i].to(torch.float64)
    return out.detach(), div


def divergence_hutchinson(fn, x: torch.Tensor, probes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), mean_v vᵀ (∂fn/∂x) v [B])`` over ``probes [P, B, *E]``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)
        div = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        for v in probes:
            (grad,) = torch.autograd.grad((out * v).sum(), x, retain_graph=True)
            div += (grad * v).flatten(1).sum(1).to(torch.float64)
    return out.detach(), div / len(probes)


def log_prob(
    estimator,
    kernel,
    x: torch.Tensor,
    *,
    divergence: str = "auto",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
    method: str = "RK45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> torch.Tensor:
    """``log p(x)`` in nats, float64 ``[B]``, for data ``x [B, *E]``; see the module.

    ``divergence``: ``"exact"``, ``"hutchinson"`` (``n_probes`` Rademacher probes, from
    ``generator``) or ``"auto"`` (exact up to ``EXACT_MAX_DIM`` dimensions). The augmented ODE is
    solved by ``scipy.integrate.solve_ivp(method, rtol, atol)`` as one system for the batch
    (:mod:`scoregen.numerics.ode_bridge`).
    """
    dim = x[0].numel()
    if divergence == "auto":
        divergence = "exact" if dim <= EXACT_MAX_DIM else "hutchinson"
    if divergence == "exact":
        div_fn = divergence_exact
    elif divergence == "hutchinson":
        probes = torch.randint(0, 2, (n_probes, *x.shape), generator=generator, device=x.device).to(x.dtype) * 2 - 1

        def div_fn(fn, x):
            return divergence_hutchinson(fn, x, probes)
    else:
        raise ConfigError(f"divergence must be 'auto', 'exact' or 'hutchinson', got {divergence!r}")

    shape, dtype, device, n = x.shape, x.dtype, x.device, x.shape[0]
    m_min = scalar_marginal(kernel, kernel.t_min)[0]

    def rhs(t, y):  # the state and the log-density change, [B·D + B]
        drift, div = div_fn(lambda z: probability_flow(estimator, kernel, z, times(z, t)), y[:-n].reshape(shape).to(dtype))
        return torch.cat([drift.reshape(-1).to(torch.float64), div.to(torch.float64)])

    y0 = torch.cat([(m_min * x).reshape(-1).to(torch.float64), torch.zeros(n, dtype=torch.float64, device=device)])
    end = ode_bridge.solve(rhs, y0, kernel.t_min, kernel.t_max, method=method, rtol=rtol, atol=atol)
    x_1, integral = end[:-n].reshape(shape), end[-n:]
    return kernel.prior_log_prob(x_1) + integral + dim * math.log(m_min)


def bits_per_dim(log_p: torch.Tensor, event_shape) -> torch.Tensor:
    """``−log p / (D log 2)``: bits per dimension from log-densities in nats ``[N]``."""
    return -log_p / (math.prod(event_shape) * math.log(2))
