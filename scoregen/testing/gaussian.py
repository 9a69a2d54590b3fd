"""The Gaussian family's conformance checks: the probe estimator, the default kernel, and the
interface and ground-truth checks of kernels, estimators, objectives and samplers (called by
:mod:`scoregen.testing.conformance`, which dispatches on ``kernel.family``)."""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from scoregen.analytic import GaussianMixture
from scoregen.kernels import GaussianLadder
from scoregen.testing._common import check_seeded, check_tensor, evaluating, fail, log_uniform, seeded
from scoregen.testing.assertions import (
    SIGMA_RANGE,
    assert_objective_consistent,
    assert_sampler_recovers,
    assert_score_close,
)


class UnitGaussianScore(nn.Module):
    """``s(x, σ) = −a x / (1 + σ²)``, the exact score of ``N(0, I)`` perturbed at ``σ`` (``a = 1``),
    for any event shape. ``a`` is a parameter, so gradients through an objective can be checked."""

    families = ("gaussian",)

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return -self.a * x / (1 + sigma.square()).reshape(-1, *(1,) * (x.ndim - 1))


def default_kernel(kind: str = "sampler") -> GaussianLadder:
    """The kernel a component of ``kind`` is checked with: the ``ncsn`` ladder ``σ = 10 → 0.01``
    (10 levels), or the short ladder ``σ = 2, 0.5, 0.1`` for an objective."""
    return GaussianLadder(levels=(2.0, 0.5, 0.1)) if kind == "objective" else GaussianLadder()


N_SAMPLES = 2000
"""Samples a sampler draws for its ground-truth check."""


def data(kernel: Any, shape: tuple[int, ...], batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Clean data ``[B, *shape]``: standard normal float32."""
    return torch.randn(batch_size, *shape, generator=generator)


def probe(kernel: Any) -> nn.Module:
    """The estimator objectives and samplers are exercised with."""
    return UnitGaussianScore()


def check_kernel(kernel: Any, event_shapes: Sequence[tuple[int, ...]], n: int) -> None:
    """Strictly decreasing positive ``sigmas``; ``perturb`` keeps shape and dtype, is seeded and
    ``x + σ z`` for a given ``noise``; ``(x̃ − x)/σ ~ N(0, I)``; ``sample_sigma`` within the ladder."""
    __tracebackhide__ = True
    for shape in event_shapes:
        label = f"prior_sample {[4, *shape]}"
        out = check_seeded(kernel, label, lambda g: kernel.prior_sample((4, *shape), g), must_vary=True)
        check_tensor(kernel, out, (4, *shape), out.dtype, label)
    sigmas = kernel.sigmas
    if sigmas.ndim != 1 or len(sigmas) == 0 or not bool(torch.isfinite(sigmas).all() & (sigmas > 0).all()):
        raise fail(kernel, f"sigmas must be a non-empty [L] tensor of positive finite levels, got {sigmas}")
    if len(sigmas) > 1 and not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise fail(kernel, f"sigmas must be strictly decreasing (largest first), got {sigmas.tolist()}")
    for shape in event_shapes:
        x = torch.randn(4, *shape, generator=seeded(0))
        sigma = sigmas[torch.arange(4) % len(sigmas)]
        kept = x.clone()
        label = f"perturb on {[4, *shape]}"
        out = check_seeded(kernel, label, lambda g: kernel.perturb(x, sigma, g), must_vary=True)
        check_tensor(kernel, out, x.shape, x.dtype, label)
        if not torch.equal(x, kept):
            raise fail(kernel, "perturb modified its input x in place")
        z = torch.randn(x.shape, generator=seeded(3))
        expected = x + sigma.reshape(-1, *(1,) * len(shape)) * z
        if not torch.allclose(kernel.perturb(x, sigma, noise=z), expected, rtol=1e-6, atol=1e-6):
            raise fail(kernel, "perturb(x, σ, noise=z) is not x + σ z")
    drawn = check_seeded(kernel, "sample_sigma", lambda g: kernel.sample_sigma(n, g), must_vary=len(sigmas) > 1)
    check_tensor(kernel, drawn, (n,), drawn.dtype, "sample_sigma")
    lo, hi = float(sigmas.min()), float(sigmas.max())
    if not bool(((drawn >= lo * (1 - 1e-6)) & (drawn <= hi * (1 + 1e-6))).all()):
        raise fail(kernel, f"sample_sigma drew levels outside [{lo:g}, {hi:g}]")
    # x̃ − x = σ z with z ~ N(0, I): standardised, mean 0 and variance 1 within 5 standard errors.
    z = (kernel.perturb(torch.zeros(n, 2), drawn, seeded(4)) / drawn[:, None]).flatten().double()
    m = z.numel()
    if abs(float(z.mean())) > 5 / math.sqrt(m) or abs(float(z.var()) - 1) > 5 * math.sqrt(2 / m):
        raise fail(
            kernel,
            f"(x̃ − x)/σ should be standard normal; its mean is {float(z.mean()):.4f} and variance {float(z.var()):.4f} "
            f"over {m} draws",
        )


def check_estimator(
    estimator: Any,
    shape: tuple[int, ...],
    *,
    kernel: Any = None,
    truth: GaussianMixture | None = None,
    sigma_range: tuple[float, float] = SIGMA_RANGE,
    batch_size: int = 6,
    seed: int = 0,
) -> None:
    """On float32 batches ``[B, *shape]``, one row far away (‖x‖ ~ 10⁴), at three common levels
    and one level per row, all drawn uniformly in ``log σ`` over ``sigma_range``: shape and dtype
    kept, finite, input unmodified, deterministic, each row independent of the others. With
    ``truth`` (a mixture): :func:`assert_score_close` at fresh random levels."""
    __tracebackhide__ = True
    generator = seeded(seed)
    x = 2.0 * torch.randn(batch_size, *shape, generator=generator)
    x[-1] = x[-1] / x[-1].norm() * 1e4
    levels = log_uniform(3 + batch_size, *sigma_range, generator).to(torch.float32)
    cases = [torch.full((batch_size,), float(s)) for s in levels[:3]] + [levels[3:]]

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:  # gradients stay on: a score may be −∇ of an energy
        return estimator(x, sigma).detach()

    with evaluating(estimator):
        for sigma in cases:
            label = f"estimator(x {[batch_size, *shape]}, sigma {_levels(sigma)})"
            kept = x.clone()
            out = check_tensor(estimator, score(x, sigma), x.shape, x.dtype, label)
            if not torch.equal(x, kept):
                raise fail(estimator, f"{label} modified its input x in place")
            if not torch.equal(out, score(x, sigma)):
                raise fail(estimator, f"{label} is not deterministic: two calls differ")
            rows = torch.cat([score(x[i : i + 1], sigma[i : i + 1]) for i in range(batch_size)])
            if not torch.allclose(rows, out, rtol=1e-4, atol=1e-5 * float(out.abs().max())):
                raise fail(estimator, f"{label}: a row's score depends on the other rows of the batch")
        if truth is not None:
            assert_score_close(estimator, truth, event_shape=shape, sigma_range=sigma_range, generator=seeded(seed + 1))


def _levels(sigma: torch.Tensor) -> str:
    unique = torch.unique(sigma)
    return f"{float(unique[0]):.4g}" if len(unique) == 1 else "one level per row"


def check_objective(objective: Any, kernel: Any, *, truth: GaussianMixture | None = None) -> None:
    """Score matching's defining property (:func:`assert_objective_consistent`) on the mixture ``truth``."""
    __tracebackhide__ = True
    assert_objective_consistent(objective, truth, kernel=kernel)


def check_sampler(sampler: Any, kernel: Any, *, truth: GaussianMixture | None = None, n: int = N_SAMPLES, factor: float = 1.5) -> None:
    """Driven by the exact score, the sampler recovers the mixture ``truth`` (:func:`assert_sampler_recovers`)."""
    __tracebackhide__ = True
    assert_sampler_recovers(sampler, truth, kernel=kernel, n=n, factor=factor)
