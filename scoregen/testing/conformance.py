"""Conformance checks that a component author runs in their own test suite, modelled on
hypothesis's ``run_conformance_test``::

    from scoregen.testing import check_sampler

    def test_my_sampler_conforms():
        check_sampler(MySampler())

Each check exercises the component's interface on ``[B, D]`` and ``[B, C, H, W]`` batches
(shapes and dtype preserved, finite outputs, inputs left unmodified), its randomness (a seeded
``generator`` reproduces the output exactly, another seed changes a kernel's draws, the global
RNG is never used), and then the ground-truth property of its kind where the component's kernel family has one
(Gaussian: the assertions of :mod:`scoregen.testing.assertions`). It raises
:class:`AssertionError` naming the check that failed. Every built-in component passes them.
"""

import contextlib
import math

import torch
from torch import nn

from scoregen.testing.assertions import (
    DEFAULT_SIGMAS,
    assert_objective_consistent,
    assert_sampler_recovers,
    assert_score_close,
)

EVENT_SHAPES = ((2,), (1, 4, 4))


class UnitGaussianScore(nn.Module):
    """``s(x, σ) = −a x / (1 + σ²)``, the exact score of ``N(0, I)`` perturbed at ``σ`` (``a = 1``),
    for any event shape. ``a`` is a parameter, so gradients through an objective can be checked."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return -self.a * x / (1 + sigma.square()).reshape(-1, *(1,) * (x.ndim - 1))


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fail(component, what: str) -> AssertionError:
    return AssertionError(f"{type(component).__name__}: {what}")


@contextlib.contextmanager
def _global_rng_untouched(component, action: str):
    """Fail if the body draws from torch's global generator."""
    state = torch.random.get_rng_state()
    yield
    if not torch.equal(state, torch.random.get_rng_state()):
        torch.random.set_rng_state(state)
        raise _fail(component, f"{action} drew from torch's global random generator; draw from `generator`")


def _check_tensor(component, out, shape, dtype, action: str) -> None:
    if not isinstance(out, torch.Tensor):
        raise _fail(component, f"{action} returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != tuple(shape):
        raise _fail(component, f"{action} returned shape {list(out.shape)}, expected {list(shape)}")
    if out.dtype != dtype:
        raise _fail(component, f"{action} returned dtype {out.dtype}, expected {dtype}")
    if not bool(torch.isfinite(out).all()):
        raise _fail(component, f"{action} returned non-finite values")


def _check_seeded(component, action: str, run, *, must_vary: bool = False) -> torch.Tensor:
    """``run(generator)`` is reproducible from a seed and ignores the global RNG; with
    ``must_vary`` (a draw, not a possibly deterministic map such as an ODE), it changes with the seed."""
    with _global_rng_untouched(component, action):
        first, again, other = run(_seeded(1)), run(_seeded(1)), run(_seeded(2))
    if not torch.equal(first, again):
        raise _fail(component, f"{action} is not reproducible: two runs from the same seed differ")
    if must_vary and torch.equal(first, other):
        raise _fail(component, f"{action} gave the same result for two different seeds")
    return first


def _families(component) -> tuple[str, ...]:
    return tuple(getattr(component, "families", ("gaussian",)))


# ---------------------------------------------------------------------------------------- kernels


def _check_gaussian_kernel(kernel, event_shapes, n: int) -> None:
    sigmas = kernel.sigmas
    if sigmas.ndim != 1 or len(sigmas) == 0 or not bool(torch.isfinite(sigmas).all() & (sigmas > 0).all()):
        raise _fail(kernel, f"sigmas must be a non-empty [L] tensor of positive finite levels, got {sigmas}")
    if len(sigmas) > 1 and not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise _fail(kernel, f"sigmas must be strictly decreasing (largest first), got {sigmas.tolist()}")
    for shape in event_shapes:
        x = torch.randn(4, *shape, generator=_seeded(0))
        sigma = sigmas[torch.arange(4) % len(sigmas)]
        kept = x.clone()
        out = _check_seeded(kernel, f"perturb on {[4, *shape]}", lambda g: kernel.perturb(x, sigma, g), must_vary=True)
        _check_tensor(kernel, out, x.shape, x.dtype, f"perturb on {[4, *shape]}")
        if not torch.equal(x, kept):
            raise _fail(kernel, "perturb modified its input x in place")
        z = torch.randn(x.shape, generator=_seeded(3))
        expected = x + sigma.reshape(-1, *(1,) * len(shape)) * z
        if not torch.allclose(kernel.perturb(x, sigma, noise=z), expected, rtol=1e-6, atol=1e-6):
            raise _fail(kernel, "perturb(x, σ, noise=z) is not x + σ z")
    drawn = _check_seeded(kernel, "sample_sigma", lambda g: kernel.sample_sigma(n, g), must_vary=len(sigmas) > 1)
    _check_tensor(kernel, drawn, (n,), drawn.dtype, "sample_sigma")
    lo, hi = float(sigmas.min()), float(sigmas.max())
    if not bool(((drawn >= lo * (1 - 1e-6)) & (drawn <= hi * (1 + 1e-6))).all()):
        raise _fail(kernel, f"sample_sigma drew levels outside [{lo:g}, {hi:g}]")
    # x̃ − x = σ z with z ~ N(0, I): standardised, mean 0 and variance 1 within 5 standard errors.
    x = torch.zeros(n, 2)
    z = (kernel.perturb(x, drawn, _seeded(4)) / drawn[:, None]).flatten().double()
    m = z.numel()
    if abs(float(z.mean())) > 5 / math.sqrt(m) or abs(float(z.var()) - 1) > 5 * math.sqrt(2 / m):
        raise _fail(
            kernel,
            f"(x̃ − x)/σ should be standard normal; its mean is {float(z.mean()):.4f} and variance {float(z.var()):.4f} "
            f"over {m} draws",
        )


_KERNEL_CHECKS = {"gaussian": _check_gaussian_kernel}


def check_kernel(kernel, *, event_shapes=EVENT_SHAPES, n: int = 20_000) -> None:
    """Conformance of a noise kernel: a string ``family``; ``prior_sample`` of every shape in
    ``event_shapes`` (finite, seeded); and for the Gaussian family strictly decreasing positive
    ``sigmas``, ``perturb`` preserving shape and dtype with ``x̃ = x + σ z`` exactly for a given
    ``noise`` and ``(x̃ − x)/σ ~ N(0, I)`` over ``n`` draws, and ``sample_sigma`` within the ladder."""
    family = getattr(kernel, "family", None)
    if not isinstance(family, str):
        raise _fail(kernel, f"a kernel needs a string attribute `family`, got {family!r}")
    for shape in event_shapes:
        out = _check_seeded(kernel, f"prior_sample {[4, *shape]}", lambda g: kernel.prior_sample((4, *shape), g), must_vary=True)
        _check_tensor(kernel, out, (4, *shape), out.dtype, f"prior_sample {[4, *shape]}")
    check = _KERNEL_CHECKS.get(family)
    if check is not None:
        check(kernel, event_shapes, n)


# ------------------------------------------------------------------------------------- estimators


@contextlib.contextmanager
def _evaluating(estimator):
    training = isinstance(estimator, nn.Module) and estimator.training
    if training:
        estimator.eval()
    try:
        yield
    finally:
        if training:
            estimator.train()


def check_estimator(estimator, *, event_shape=None, mixture=None, sigmas=DEFAULT_SIGMAS, batch_size: int = 6) -> None:
    """Conformance of a Gaussian score estimator ``(x [B, *E], sigma [B]) -> [B, *E]``.

    On float32 batches of its ``event_shape`` (default: ``estimator.event_shape``), one row far
    away (‖x‖ ~ 10⁴), at each level of ``sigmas`` and with a different level per row: the output
    has the input's shape and dtype and is finite; the input is left unmodified; two calls agree
    exactly; each row depends only on its own input (a row alone gives the same score). With
    ``mixture``, the estimator claims to be exact and must pass :func:`assert_score_close`.
    Modules are checked in eval mode (and left in the mode they were in).
    """
    shape = event_shape or getattr(estimator, "event_shape", None)
    if shape is None:
        raise ValueError("check_estimator needs event_shape=... (the estimator has no event_shape attribute)")
    shape = tuple(shape)
    x = 2.0 * torch.randn(batch_size, *shape, generator=_seeded(0))
    x[-1] = x[-1] / x[-1].norm() * 1e4
    levels = torch.as_tensor(sigmas, dtype=torch.float32)
    cases = [torch.full((batch_size,), float(s)) for s in levels]
    cases.append(levels[torch.arange(batch_size) % len(levels)])
    def score(x, sigma):  # gradients stay on: a score may be −∇ of an energy
        return estimator(x, sigma).detach()

    with _evaluating(estimator):
        for sigma in cases:
            label = f"estimator(x {[batch_size, *shape]}, sigma {_levels(sigma)})"
            kept = x.clone()
            out = score(x, sigma)
            _check_tensor(estimator, out, x.shape, x.dtype, label)
            if not torch.equal(x, kept):
                raise _fail(estimator, f"{label} modified its input x in place")
            if not torch.equal(out, score(x, sigma)):
                raise _fail(estimator, f"{label} is not deterministic: two calls differ")
            rows = torch.cat([score(x[i : i + 1], sigma[i : i + 1]) for i in range(batch_size)])
            if not torch.allclose(rows, out, rtol=1e-4, atol=1e-5 * float(out.abs().max())):
                raise _fail(estimator, f"{label}: a row's score depends on the other rows of the batch")
        if mixture is not None:
            assert_score_close(estimator, mixture, sigma=tuple(levels.tolist()), event_shape=shape)


def _levels(sigma: torch.Tensor) -> str:
    unique = torch.unique(sigma)
    return f"{float(unique[0]):g}" if len(unique) == 1 else "one level per row"


# ------------------------------------------------------------------------------------- objectives


def _default_kernel(component, levels=None):
    from scoregen.kernels import GaussianLadder

    if "gaussian" not in _families(component):
        raise ValueError(f"pass kernel=... to check a component of the families {_families(component)}")
    return GaussianLadder() if levels is None else GaussianLadder(levels=levels)


def check_objective(objective, *, kernel=None, mixture=None, event_shapes=EVENT_SHAPES, batch_size: int = 8) -> None:
    """Conformance of an objective, with the probe estimator :class:`UnitGaussianScore` on every
    shape of ``event_shapes``: ``per_sample`` returns ``loss`` and ``sigma`` of one length ``N``
    (a multiple of the batch size), finite, with positive levels; it is seeded; ``loss`` is the
    scalar mean of ``per_sample``; gradients reach the estimator's parameters; the batch is left
    unmodified. For a Gaussian kernel (default: the ladder ``σ = 2, 0.5, 0.1``) it must then pass
    :func:`assert_objective_consistent` on ``mixture``."""
    kernel = kernel or _default_kernel(objective, levels=(2.0, 0.5, 0.1))
    probe = UnitGaussianScore()
    for shape in event_shapes:
        x = torch.randn(batch_size, *shape, generator=_seeded(0))
        kept = x.clone()
        label = f"per_sample on {[batch_size, *shape]}"

        def losses(g):
            terms = objective.per_sample(probe, kernel, x, generator=g)
            return torch.stack([terms.loss, terms.sigma.to(terms.loss.dtype)]).detach()

        loss, sigma = _check_seeded(objective, label, losses)
        if loss.ndim != 1 or len(loss) % batch_size or not len(loss):
            raise _fail(objective, f"{label} returned {list(loss.shape)} losses for a batch of {batch_size}")
        if not bool(torch.isfinite(loss).all() & (sigma > 0).all()):
            raise _fail(objective, f"{label} returned non-finite losses or non-positive levels")
        if not torch.equal(x, kept):
            raise _fail(objective, f"{label} modified the batch in place")
        mean = objective.loss(probe, kernel, x, generator=_seeded(1))
        if mean.ndim != 0 or not torch.allclose(mean.detach(), loss.mean(), rtol=1e-5, atol=1e-7):
            raise _fail(objective, f"loss is not the mean of per_sample (got {mean.detach()}, expected {loss.mean()})")
        probe.zero_grad()
        mean.backward()
        if probe.a.grad is None or not bool(torch.isfinite(probe.a.grad)) or float(probe.a.grad) == 0:
            raise _fail(objective, f"loss on {[batch_size, *shape]} gives no finite, non-zero gradient to the estimator")
    if getattr(kernel, "family", None) == "gaussian":
        assert_objective_consistent(objective, mixture, kernel=kernel)


# --------------------------------------------------------------------------------------- samplers


def check_sampler(
    sampler,
    *,
    kernel=None,
    mixture=None,
    factor: float = 1.5,
    n: int = 2000,
    event_shapes=EVENT_SHAPES,
    order: float | None = None,
    stochastic: bool = False,
    steps=None,
) -> None:
    """Conformance of a sampler at its own settings (its default budget), with ``kernel``
    (default: the ``ncsn`` ladder ``σ = 10 → 0.01``).

    With the probe estimator :class:`UnitGaussianScore` on every shape of ``event_shapes``: the
    samples keep ``x_init``'s shape and dtype and are finite; ``x_init`` is left unmodified; the
    run is seeded by ``generator`` alone; a ``callback`` receives dicts and does not change the
    result. For a Gaussian kernel it must then pass :func:`assert_sampler_recovers` on ``mixture``
    (default: the 8-mode ring) with ``n`` samples and ``factor``.

    Convergence (:mod:`scoregen.testing.convergence`), with the exact score of ``mixture``:
    ``order=p`` asserts that a deterministic σ-grid sampler's error against a reference solution
    of the probability-flow ODE falls at slope ``≥ p − 0.3`` over ``steps`` (default 16 to 128
    steps); ``stochastic=True`` asserts that the four numbers of
    :func:`~scoregen.metrics.mixture_quality` approach the truth's over ``steps`` (default 10, 40).
    """
    kernel = kernel or _default_kernel(sampler)
    probe = UnitGaussianScore()
    for shape in event_shapes:
        x_init = kernel.prior_sample((4, *shape), _seeded(0))
        kept = x_init.clone()
        label = f"sample from x_init {[4, *shape]}"
        with torch.no_grad():
            out = _check_seeded(sampler, label, lambda g: sampler.sample(probe, kernel, x_init, generator=g))
            _check_tensor(sampler, out, x_init.shape, x_init.dtype, label)
            if not torch.equal(x_init, kept):
                raise _fail(sampler, f"{label} modified x_init in place")
            seen = []
            again = sampler.sample(probe, kernel, x_init, generator=_seeded(1), callback=seen.append)
        if not torch.equal(out, again):
            raise _fail(sampler, f"{label}: passing a callback changed the samples")
        if not all(isinstance(info, dict) for info in seen):
            raise _fail(sampler, "callback must receive dicts (step, level, sigma, x)")
    if getattr(kernel, "family", None) != "gaussian":
        return
    from scoregen.testing import convergence

    if order is not None:
        convergence.check_order(sampler, order, kernel=kernel, mixture=mixture, **({"steps": steps} if steps else {}))
    elif stochastic:
        convergence.check_in_distribution(sampler, kernel=kernel, mixture=mixture, **({"steps": steps} if steps else {}))
    else:
        assert_sampler_recovers(sampler, mixture, kernel=kernel, n=n, factor=factor)
