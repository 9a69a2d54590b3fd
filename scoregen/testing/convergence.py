"""A sampler converges at its stated order, or in distribution, against the exact mixture score.

- :func:`check_order`: a deterministic σ-grid sampler's end point, on a grid ending at ``σ_min``,
  against a float64 reference solution of the same probability-flow ODE from the same start
  (``scipy.integrate.solve_ivp``, DOP853, tolerances 10⁻¹²): the error must fall with the number of
  score evaluations at a slope of at least ``order − 0.3`` on a log–log least-squares fit.
- :func:`check_in_distribution`: a stochastic sampler's samples at several budgets, judged by the
  four numbers of :func:`scoregen.metrics.mixture_quality` against the truth's own values: at the
  largest budget each is within its tolerance, and no farther than at the smallest.

The reference ODE is written in ``u = log σ``, where it is smooth at every level:
``dx̂/du = x̂ − D(x̂; e^u)``.
"""

import math
from collections.abc import Sequence

import attrs
import numpy as np
import torch

from scoregen.analytic.mixture import GaussianMixture
from scoregen.config import resolve
from scoregen.estimators.analytic import MixtureScore
from scoregen.metrics import mixture_quality
from scoregen.samplers.stepping import Denoiser
from scoregen.testing._common import seeded

_REFERENCES: dict = {}
TOLERANCES = {"coverage": 0.01, "occupancy": 0.15, "spread": 0.05, "log_p": 0.05}


def reference_solution(estimator, x: torch.Tensor, sigma_from: float, sigma_to: float) -> torch.Tensor:
    """The probability-flow ODE solved from ``x [B, *E]`` at ``sigma_from`` to ``sigma_to > 0`` in
    float64 by DOP853 with ``rtol = atol = 10⁻¹²`` (the batch as one system)."""
    from scipy.integrate import solve_ivp

    denoise = Denoiser(estimator, torch.float64)
    shape = x.shape

    def rhs(u, y):
        state = torch.from_numpy(y).reshape(shape)
        return (state - denoise(state, math.exp(u))).reshape(-1).numpy()

    y0 = x.to(torch.float64).reshape(-1).cpu().numpy()
    sol = solve_ivp(rhs, (math.log(sigma_from), math.log(sigma_to)), y0, method="DOP853", rtol=1e-12, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"the reference solve failed: {sol.message}")
    return torch.from_numpy(np.ascontiguousarray(sol.y[:, -1])).reshape(shape)


def check_order(
    sampler, order: float, *, kernel=None, mixture=None, steps: Sequence[int] = (16, 32, 64, 128), n: int = 16, seed: int = 0
) -> float:
    """Assert that ``sampler`` (a σ-grid sampler: ``grid``, ``solve``, ``nfe_of``) converges at
    ``order``: the largest end-point error over ``n`` float64 prior draws against
    :func:`reference_solution`, at ``steps`` steps of the sampler's own grid ending at ``σ_min``,
    falls with the evaluation count at a fitted log–log slope ``≥ order − 0.3``. Returns the slope."""
    from scoregen.kernels import GaussianLadder

    mixture = mixture or GaussianMixture.ring()
    kernel = kernel or GaussianLadder()
    estimator = MixtureScore.from_mixture(mixture)
    x_init = kernel.prior_sample((n, mixture.dim), seeded(seed)).to(torch.float64)
    lo, hi = kernel.sigma_range()
    key = (lo, hi, n, seed, repr(estimator))
    if key not in _REFERENCES:  # the same start and ODE for every sampler checked in a session
        _REFERENCES[key] = reference_solution(estimator, x_init, hi, lo)
    reference = _REFERENCES[key]
    grid = resolve("grid", sampler.grid)
    counts, errors = [], []
    for k in steps:
        sigmas = grid(kernel, k, zero=False)
        calls: list[int] = []

        def counted(x, sigma, calls=calls):
            calls.append(1)
            return estimator(x, sigma)

        out = sampler.solve(counted, kernel, x_init, sigmas, generator=seeded(seed + 1))
        if len(calls) != sampler.nfe_of(sigmas):
            raise AssertionError(f"{type(sampler).__name__} made {len(calls)} evaluations, nfe_of says {sampler.nfe_of(sigmas)}")
        counts.append(len(calls))
        errors.append(float((out - reference).flatten(1).norm(dim=1).max()))
    slope = -float(np.polyfit(np.log(counts), np.log(errors), 1)[0])
    if not slope >= order - 0.3:
        table = ", ".join(f"{c} NFE: {e:.2e}" for c, e in zip(counts, errors))
        raise AssertionError(
            f"{type(sampler).__name__} converges at slope {slope:.2f} < {order} − 0.3 against the reference ODE solution ({table})"
        )
    return slope


def _distance(quality: dict, truth: dict, tolerances: dict) -> float:
    """The largest of the four deviations from the truth, each in units of its tolerance."""
    return max(abs(quality[k] - truth[k]) / tol for k, tol in tolerances.items())


def check_in_distribution(
    sampler,
    *,
    kernel=None,
    mixture=None,
    steps: Sequence[int] = (10, 40),
    n: int = 4000,
    seed: int = 0,
    tolerances: dict | None = None,
) -> list[dict]:
    """Assert that ``sampler`` (with an ``n_steps`` field) draws the mixture at ``steps[-1]`` steps:
    coverage, occupancy, within-mode spread and mean exact log p of ``n`` samples (driven by the
    exact score) each within ``tolerances`` (default :data:`TOLERANCES`) of the same numbers for
    ``n`` true draws, and no farther from them than at ``steps[0]``. Returns the qualities."""
    from scoregen.kernels import GaussianLadder

    mixture = mixture or GaussianMixture.ring()
    kernel = kernel or GaussianLadder()
    tolerances = tolerances or TOLERANCES
    estimator = MixtureScore.from_mixture(mixture)
    truth = mixture_quality(mixture.sample(n, generator=seeded(seed + 100)), mixture)
    qualities = []
    for k in steps:
        generator = seeded(seed)
        x_init = kernel.prior_sample((n, mixture.dim), generator)
        with torch.no_grad():
            samples = attrs.evolve(sampler, n_steps=k).sample(estimator, kernel, x_init, generator=generator)
        qualities.append(mixture_quality(samples, mixture))
    first, last = (_distance(q, truth, tolerances) for q in (qualities[0], qualities[-1]))
    if not (last <= 1.0 and last <= max(first, 1.0)):
        rows = "; ".join(f"{k} steps: " + ", ".join(f"{m} {q[m]:.3f}" for m in tolerances) for k, q in zip(steps, qualities))
        truth_row = ", ".join(f"{m} {truth[m]:.3f}" for m in tolerances)
        raise AssertionError(f"{type(sampler).__name__} does not approach the mixture: {rows} (truth: {truth_row})")
    return qualities
