"""Assertions against analytic ground truth. Each raises :class:`AssertionError` with a message
that says where it failed (the point, the noise level), what was expected and what came instead.

- :func:`assert_score_close`: an estimator's score equals a Gaussian mixture's perturbed score.
- :func:`assert_velocity_close`: an estimator of any parameterisation, seen as a flow velocity on
  a kernel's path, equals the mixture's exact velocity ``E[m' x₀ + s' z | x_t]``.
- :func:`assert_objective_consistent`: an objective is a score-matching objective — its expected
  loss differs between two estimators exactly as their λ-weighted Fisher divergences do.
- :func:`assert_sampler_recovers`: a sampler driven by the exact score reproduces the mixture, by
  sliced Wasserstein-2 within a factor of its floor and, for isotropic components, with the
  right within-mode spread.

Noise levels are drawn at random (uniformly in ``log σ`` over :data:`SIGMA_RANGE`, from a seeded
generator) unless given: a bug confined to a band of levels cannot hide between grid points.
Each assertion hides its own frames from pytest's tracebacks.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from scoregen.analytic import GaussianMixture
from scoregen.estimators.analytic import MixtureScore
from scoregen.kernels import GaussianLadder
from scoregen.metrics import mixture_quality, sliced_wasserstein
from scoregen.testing._common import log_uniform
from scoregen.testing._common import seeded as _seeded

SIGMA_RANGE: tuple[float, float] = (0.005, 20.0)
"""The default range of the random noise levels, ``(σ_min, σ_max)``."""


def _vec(t: object) -> str:
    values = np.asarray(torch.as_tensor(t, dtype=torch.float64).reshape(-1))
    shown = np.array2string(values[:4], precision=4, separator=", ", max_line_width=200)
    return shown[:-1] + ", ...]" if values.size > 4 else shown


def _describe(mixture: GaussianMixture) -> str:
    kind = "diagonal" if mixture.is_diagonal else "full"
    return f"{mixture.n_components}-component {kind}-covariance Gaussian mixture in D = {mixture.dim}"


def _smallest_variance(mixture: GaussianMixture) -> float:
    """The smallest eigenvalue of any component's covariance."""
    if mixture.is_diagonal:
        return float(mixture.covariances.amin())
    return float(torch.linalg.eigvalsh(mixture.covariances).amin())


def default_mixture() -> GaussianMixture:
    """A 2-D mixture of three unequal, correlated, overlapping components: the default ground
    truth of :func:`assert_objective_consistent`."""
    return GaussianMixture(
        [0.5, 0.3, 0.2],
        [[-1.5, 0.0], [1.5, 1.0], [0.5, -1.5]],
        [[[0.5, 0.2], [0.2, 0.3]], [[0.2, 0.0], [0.0, 0.6]], [[0.3, -0.1], [-0.1, 0.3]]],
    )


def assert_score_close(
    estimator: Callable,
    mixture: GaussianMixture,
    x: torch.Tensor | None = None,
    sigma: float | Sequence[float] | torch.Tensor | None = None,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    event_shape: tuple[int, ...] | None = None,
    n: int = 1024,
    sigma_range: tuple[float, float] = SIGMA_RANGE,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> None:
    """Assert that ``estimator(x, σ)`` is the score of ``mixture`` convolved with ``N(0, σ² I)``.

    ``x`` [B, D] with ``sigma`` a number or [B]; or, with ``x=None``, draws of the perturbed
    mixture: ``n`` at each level of ``sigma`` (a number or a sequence), or with ``sigma=None`` ``n``
    draws each at its own level, uniform in ``log σ`` over ``sigma_range``, from ``generator``
    (default seed 0).
    Points and levels are passed to the estimator in ``dtype``, reshaped to
    ``[B, *event_shape]`` (default ``[B, D]``). A row fails when

        ``‖s − s*‖ > atol + rtol · (‖s*‖ + ‖x‖ / (σ² + λ_min))``,

    ``s*`` the exact score and ``λ_min`` the smallest covariance eigenvalue: the last term is the
    round-off of an estimator that computes ``(x − μ)/(σ² + λ)`` in floating point.
    """
    __tracebackhide__ = True
    d = mixture.dim
    if x is None:
        generator = generator or _seeded(0)
        if sigma is None:
            sig = log_uniform(n, *sigma_range, generator)
        else:
            sig = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).repeat_interleave(n)
        clean = mixture.sample(len(sig), generator=generator)
        x = clean + sig[:, None] * torch.randn(clean.shape, generator=generator, dtype=torch.float64)
    else:
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x must have shape [B, D={d}], got {list(x.shape)}")
        sig = torch.as_tensor(1.0 if sigma is None else sigma, dtype=torch.float64)
        sig = sig.expand(x.shape[0]) if sig.ndim == 0 else sig
    x, sig = x.to(dtype), sig.to(dtype)
    shape = tuple(event_shape) if event_shape is not None else (d,)
    got = estimator(x.reshape(x.shape[0], *shape), sig)  # no no_grad: a score may be −∇ of an energy
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (x.shape[0], *shape):
        found = list(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(f"the estimator should return a tensor of shape {[x.shape[0], *shape]}, got {found}")
    x64, sig64 = x.to(torch.float64), sig.to(torch.float64)
    got = got.detach().reshape(x.shape[0], d).to(torch.float64)
    expected = mixture.score_at(x64, sig64)
    error = (got - expected).norm(dim=1)
    scale = x64.norm(dim=1) / (sig64.square() + _smallest_variance(mixture))
    tolerance = atol + rtol * (expected.norm(dim=1) + scale)
    _fail_rows(
        error,
        tolerance,
        lambda n_bad: f"the estimator's score differs from the exact score of the {_describe(mixture)}, perturbed "
        f"at σ, in {n_bad} of {x.shape[0]} rows (rtol = {rtol:g}, atol = {atol:g}); worst rows:",
        lambda i: f"  row {i}: σ = {float(sig64[i]):.4g}, x = {_vec(x64[i])}: expected {_vec(expected[i])}, "
        f"got {_vec(got[i])} (‖error‖ = {float(error[i]):.4g} > tolerance {float(tolerance[i]):.3g})",
    )


def _fail_rows(error: torch.Tensor, tolerance: torch.Tensor, header: Callable[[int], str], row: Callable[[int], str]) -> None:
    """Return if every row's ``error [N]`` is within its ``tolerance [N]`` (NaN is not), else raise
    an :class:`AssertionError` with ``header(number of bad rows)`` and ``row(i)`` for the five worst."""
    __tracebackhide__ = True
    bad = ~(error <= tolerance)
    if not bool(bad.any()):
        return
    rows = torch.nonzero(bad).flatten()
    worst = rows[torch.argsort(torch.nan_to_num(error[rows] / tolerance[rows], nan=np.inf), descending=True)][:5]
    raise AssertionError("\n".join([header(len(rows)), *(row(i) for i in worst.tolist())]))


def assert_velocity_close(
    estimator: Callable,
    mixture: GaussianMixture,
    kernel: Any,
    x: torch.Tensor | None = None,
    t: float | torch.Tensor | None = None,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    n: int = 256,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> None:
    """Assert that ``estimator``, read as a velocity on ``kernel``'s path ``x_t = m x₀ + s z``
    (converted from its parameterisation, :func:`~scoregen.estimators.parameterisation.as_prediction`),
    is the exact velocity ``u*(x_t, t) = E[m' x₀ + s' z | x_t]`` of ``mixture``
    (:meth:`~scoregen.analytic.GaussianMixture.velocity_at`).

    ``x`` [B, D] (the path's coordinates ``x_t``) with ``t`` a number or [B]; or, with ``x=None``,
    ``n`` draws of ``x_t`` at each time of ``t`` (default: five times evenly inside
    ``[t_min, t_max]``). The estimator is called in ``dtype`` on 2-D points. A row fails when

        ``‖u − u*‖ > atol + rtol · (‖u*‖ + |m'| ‖x̂‖ + |s'| σ ‖s*‖)``,

    ``x̂ = x_t/m``, ``σ = s/m`` and ``s*`` the exact score at ``(x̂, σ)``: the last two terms are
    the round-off of a velocity converted from a score, ``m' (x̂ + σ² s) − s' σ s``.
    """
    from scoregen.estimators.parameterisation import as_prediction

    schedule = kernel.schedule
    if x is None:
        lo, hi = kernel.t_min, kernel.t_max
        times = torch.as_tensor(lo + (hi - lo) * torch.tensor([0.02, 0.25, 0.5, 0.75, 0.98]) if t is None else t, dtype=torch.float64)
        times = times.reshape(-1).repeat_interleave(n)
        generator = generator or _seeded(0)
        m, s = schedule.marginal(times)
        clean = mixture.sample(len(times), generator=generator)
        x = m[:, None] * clean + s[:, None] * torch.randn(clean.shape, generator=generator, dtype=torch.float64)
    else:
        x = torch.as_tensor(x, dtype=torch.float64)
        times = torch.as_tensor(0.5 if t is None else t, dtype=torch.float64)
        times = times.expand(x.shape[0]) if times.ndim == 0 else times
    m, s = schedule.marginal(times)
    dm, ds = schedule.marginal_derivative(times)
    sigma = s / m
    x_hat = x / m[:, None]
    velocity = as_prediction(estimator, kernel, "velocity")
    got = velocity(x_hat.to(dtype), sigma.to(dtype))
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(x.shape):
        found = list(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(f"the estimator should give a velocity of shape {list(x.shape)}, got {found}")
    got = got.detach().to(torch.float64)
    expected = mixture.velocity_at(x, times, schedule)
    exact_score = mixture.score_at(x_hat, sigma)
    error = (got - expected).norm(dim=1)
    scale = dm.abs() * x_hat.norm(dim=1) + ds.abs() * sigma * exact_score.norm(dim=1)
    tolerance = atol + rtol * (expected.norm(dim=1) + scale)
    _fail_rows(
        error,
        tolerance,
        lambda n_bad: f"the estimator's velocity differs from the exact velocity of the {_describe(mixture)} on "
        f"{type(kernel).__name__}'s path in {n_bad} of {x.shape[0]} rows (rtol = {rtol:g}, atol = {atol:g}); worst rows:",
        lambda i: f"  row {i}: t = {float(times[i]):.4g} (σ = {float(sigma[i]):.4g}), x_t = {_vec(x[i])}: expected "
        f"{_vec(expected[i])}, got {_vec(got[i])} (‖error‖ = {float(error[i]):.4g} > tolerance {float(tolerance[i]):.3g})",
    )


def _perturbation(exact: Callable, dim: int, generator: torch.Generator, amplitude: float) -> Callable:
    """``s*(x, σ) + a · tanh(W x + b) / σ``: a smooth, random estimator near the exact score."""
    w = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    b = torch.randn(dim, generator=generator, dtype=torch.float64)

    def perturbed(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        bump = amplitude * torch.tanh(x.flatten(1).to(torch.float64) @ w + b) / sigma.to(torch.float64)[:, None]
        return (exact(x, sigma).flatten(1).to(torch.float64) + bump).reshape(x.shape).to(x.dtype)

    return perturbed


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    n = values.numel()
    return float(values.mean()), float(values.std() / n**0.5) if n > 1 else 0.0


def assert_objective_consistent(
    objective: Any,
    mixture: GaussianMixture | None = None,
    *,
    kernel: Any = None,
    estimators: Sequence[Callable] | None = None,
    weight: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n: int = 4096,
    n_se: float = 5.0,
    amplitude: float = 0.5,
    seed: int = 0,
) -> None:
    """Assert score matching's defining property for ``objective`` on data from ``mixture``.

    For estimators ``s₁, s₂``, ``E[ℓ(s₁)] − E[ℓ(s₂)] = F(s₁) − F(s₂)`` with the λ-weighted
    Fisher divergence ``F(s) = E_σ ½ λ(σ) E_{x̃ ~ p_σ} ‖s(x̃, σ) − ∇ log p_σ(x̃)‖²`` over the noise
    levels the objective draws (read from its :class:`~scoregen.objectives.LossTerms`). Checked,
    within ``n_se`` Monte-Carlo standard errors, for the exact score against each of
    ``estimators`` (default: two random perturbations ``s* + a tanh(W x + b)/σ``) and between
    consecutive ones; and the exact score must have the lower loss (it is the minimiser).

    ``ℓ`` is evaluated with common random numbers (one seed for every estimator), ``F`` on fresh
    draws of ``p_σ``. ``weight`` is ``λ`` (default: the objective's own ``weight``, else ``σ²``);
    ``kernel`` defaults to the ladder ``σ = 2, 0.5, 0.1``; ``mixture`` to :func:`default_mixture`.
    """
    __tracebackhide__ = True
    mixture = mixture or default_mixture()
    kernel = kernel or GaussianLadder(levels=(2.0, 0.5, 0.1))
    weight = weight or getattr(objective, "weight", None) or (lambda s: s**2)
    exact = MixtureScore.from_mixture(mixture)
    if estimators is None:
        gen = _seeded(seed + 1)
        estimators = [_perturbation(exact, mixture.dim, gen, amplitude) for _ in range(2)]
    named = [("the exact score", exact)] + [(f"estimator {i + 1}", e) for i, e in enumerate(estimators)]

    x = mixture.sample(n, generator=_seeded(seed)).to(torch.float32)
    losses = []
    for _, est in named:
        terms = objective.per_sample(est, kernel, x, generator=_seeded(seed + 2))
        losses.append(terms.loss.detach().to(torch.float64))
    sigma = terms.sigma.detach().to(torch.float64)

    gen = _seeded(seed + 3)
    clean = mixture.sample(sigma.numel(), generator=gen)
    x_tilde = clean + sigma[:, None] * torch.randn(clean.shape, generator=gen, dtype=torch.float64)
    true_score = mixture.score_at(x_tilde, sigma)
    lam = weight(sigma)
    fisher = [
        0.5 * lam * (est(x_tilde.float(), sigma.float()).detach().to(torch.float64) - true_score).square().sum(dim=1)
        for _, est in named
    ]

    pairs = [(0, j) for j in range(1, len(named))] + [(j, j + 1) for j in range(1, len(named) - 1)]
    levels = torch.unique(sigma)
    for a, b in pairs:
        d_loss, se_loss = _mean_se(losses[a] - losses[b])
        d_fisher, se_fisher = _mean_se(fisher[a] - fisher[b])
        bound = n_se * (se_loss**2 + se_fisher**2) ** 0.5 + 1e-9 * (1 + abs(d_fisher))
        if abs(d_loss - d_fisher) > bound:
            lines = [
                f"{type(objective).__name__} is not a score-matching objective for the {_describe(mixture)}: "
                f"E[ℓ(s₁)] − E[ℓ(s₂)] = {d_loss:.5g} ± {se_loss:.2g}, but the λ-weighted Fisher divergences "
                f"differ by {d_fisher:.5g} ± {se_fisher:.2g} (s₁ = {named[a][0]}, s₂ = {named[b][0]}, "
                f"{n_se:g} standard errors allowed). By noise level:"
            ]
            if len(levels) <= 12:
                for s in levels.tolist():
                    at = sigma == s
                    lines.append(
                        f"  σ = {s:.4g}: loss difference {float((losses[a] - losses[b])[at].mean()):.5g}, "
                        f"Fisher difference {float((fisher[a] - fisher[b])[at].mean()):.5g}, λ(σ) = {float(lam[at][0]):.4g}"
                    )
            raise AssertionError("\n".join(lines))
        if a == 0 and d_loss > n_se * se_loss:  # above the perturbed estimator beyond Monte-Carlo error
            raise AssertionError(
                f"the exact score does not minimise {type(objective).__name__}: its loss exceeds that of "
                f"{named[b][0]} by {d_loss:.5g} ± {se_loss:.2g} (Fisher divergence of {named[b][0]}: {-d_fisher:.5g})"
            )


def _isotropic(mixture: GaussianMixture) -> bool:
    """Every component's covariance is a multiple of the identity (what ``spread`` assumes)."""
    if mixture.is_diagonal:
        cov = mixture.covariances
        return bool((cov == cov[:, :1]).all())
    eye = torch.eye(mixture.dim, dtype=mixture.covariances.dtype)
    scale = mixture.covariances.diagonal(dim1=1, dim2=2)[:, :1, None]
    return bool(torch.allclose(mixture.covariances, scale * eye))


def assert_sampler_recovers(
    sampler: Any,
    mixture: GaussianMixture | None = None,
    *,
    kernel: Any = None,
    estimator: Callable | None = None,
    n: int = 2000,
    factor: float = 1.5,
    spread_tol: float = 0.1,
    seed: int = 0,
) -> None:
    """Assert that ``sampler``, driven by the exact perturbed score of ``mixture`` (or by
    ``estimator``), draws from ``mixture``: the sliced Wasserstein-2 distance of ``n`` samples to
    ``n`` fresh true draws is at most ``factor`` times its floor, the same distance between two
    independent true draws (on the same projections); and, when the components are isotropic,
    the within-mode ``spread`` of :func:`scoregen.metrics.mixture_quality` (std of the offsets
    from the nearest mean over the components' std) is within ``spread_tol`` of a true draw's.
    Sliced-W2 at this ``n`` is blind to the spread: samples collapsed onto the modes of a ring of
    std 0.1 pass it.

    ``mixture`` defaults to the 8-mode ring of std 0.1 (:meth:`GaussianMixture.ring`): ten times
    the last level of the default ``kernel``, the ``ncsn`` ladder (``σ = 10 → 0.01``, 10 levels,
    suited to mixtures of diameter up to ~10), so that the last levels and the final denoising
    step decide the spread. The sampler starts from ``kernel.prior_sample`` and draws everything
    from one seeded generator.
    """
    __tracebackhide__ = True
    mixture = mixture or GaussianMixture.ring(std=0.1)
    kernel = kernel or GaussianLadder()
    estimator = estimator or MixtureScore.from_mixture(mixture)
    shape = tuple(getattr(estimator, "event_shape", None) or (mixture.dim,))
    generator = _seeded(seed)
    x_init = kernel.prior_sample((n, *shape), generator)
    with torch.no_grad():
        samples = sampler.sample(estimator, kernel, x_init, generator=generator)
    name = type(sampler).__name__
    if tuple(samples.shape) != (n, *shape):
        raise AssertionError(f"{name} returned shape {list(samples.shape)} for x_init of shape {[n, *shape]}")
    samples = samples.reshape(n, -1).to(torch.float64)
    finite = torch.isfinite(samples).all(dim=1)
    if not bool(finite.all()):
        raise AssertionError(f"{name} returned non-finite samples in {int((~finite).sum())} of {n} rows")
    ref = mixture.sample(n, generator=_seeded(seed + 1))
    other = mixture.sample(n, generator=_seeded(seed + 2))
    sw = sliced_wasserstein(samples, ref, generator=_seeded(seed + 3))
    floor = sliced_wasserstein(other, ref, generator=_seeded(seed + 3))
    spread = spread_true = None
    if _isotropic(mixture):
        spread, spread_true = mixture_quality(samples, mixture)["spread"], mixture_quality(other, mixture)["spread"]
    if sw <= factor * floor and (spread is None or abs(spread - spread_true) <= spread_tol):
        return
    share = mixture.responsibilities(samples).mean(dim=0)
    problem = (
        f"sliced-W2 to {n} fresh true draws is {sw:.4g}, {sw / floor:.3g}× the floor {floor:.4g} (two "
        f"independent true draws); allowed {factor:g}×"
        if sw > factor * floor
        else f"the within-mode spread is {spread:.3g} (a true draw's: {spread_true:.3g}); allowed ± {spread_tol:g}"
    )
    raise AssertionError(
        f"{name} does not recover the {_describe(mixture)} with its exact score: {problem}.\n"
        f"  sample mean {_vec(samples.mean(dim=0))}, true {_vec(mixture.mean())}\n"
        f"  sample std  {_vec(samples.std(dim=0))}, true {_vec(mixture.covariance().diagonal().sqrt())}\n"
        f"  within-mode spread {spread if spread is None else round(spread, 4)}, true {spread_true if spread_true is None else round(spread_true, 4)}\n"
        f"  share of samples per component {_vec(share)}, true weights {_vec(mixture.weights)}"
    )
