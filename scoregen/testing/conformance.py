"""Conformance checks that a component author runs in their own test suite, modelled on
hypothesis's ``run_conformance_test``::

    from scoregen.testing import check_sampler

    def test_my_sampler_conforms():
        check_sampler(MySampler())

Each check exercises what every component of its kind must do — shapes and dtypes kept, inputs
left unmodified, randomness from ``generator`` alone (a seed reproduces the output exactly, the
global RNG is never used), a ``callback`` that changes nothing — and then the checks and the
ground-truth property of the kernel's *family*, dispatched on ``kernel.family`` (never on a
class): :mod:`scoregen.testing.gaussian` (exact mixture scores) and
:mod:`scoregen.testing.masking` (exact un-masking posteriors of enumerable tables). A component
that names no kernel is checked with its family's default one, the first of its ``families``
(``("gaussian",)`` when it declares none). Each raises :class:`AssertionError` naming the check
that failed, with the checks' own frames hidden from pytest's tracebacks. Every built-in
component passes them (``tests/test_conformance.py``).
"""

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch

from scoregen.analytic import GaussianMixture
from scoregen.analytic.sequences import SequenceDistribution
from scoregen.errors import ConfigError
from scoregen.testing import gaussian, masking
from scoregen.testing._common import check_callback, check_seeded, check_tensor, fail, families, require_method, seeded

EVENT_SHAPES = ((2,), (1, 4, 4))
FAMILIES: dict[str, ModuleType] = {"gaussian": gaussian, "masking": masking}
"""The families with conformance checks: each module has ``default_kernel``, ``probe``, ``data``,
``N_SAMPLES`` and ``check_kernel``, ``check_estimator``, ``check_objective``, ``check_sampler``
(the last three take the ground truth as ``truth=``)."""


def _family(kernel: Any) -> ModuleType:
    family = getattr(kernel, "family", None)
    if not isinstance(family, str):
        raise fail(kernel, f"a kernel needs a string attribute `family`, got {family!r}")
    if family not in FAMILIES:
        raise ConfigError(f"no conformance checks for the kernel family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family]


def _default_kernel(component: Any, kind: str) -> Any:
    for family in families(component):
        if family in FAMILIES:
            return FAMILIES[family].default_kernel(kind)
    raise ConfigError(f"pass kernel=... to check a component of the families {families(component)}")


def _truth(mixture: Any, distribution: Any) -> Any:
    """The ground truth a check was given: a Gaussian mixture or a sequence table (or neither)."""
    return distribution if distribution is not None else mixture


# ---------------------------------------------------------------------------------------- kernels


def check_kernel(kernel: Any, *, event_shapes: Sequence[tuple[int, ...]] = EVENT_SHAPES, n: int = 20_000) -> None:
    """Conformance of a noise kernel: a string ``family`` with checks, then that family's
    (``n`` draws where a rate is measured):

    - Gaussian: ``prior_sample`` finite and seeded, changing with the seed; strictly decreasing
      positive ``sigmas``; ``perturb`` keeping shape and dtype, ``x + σ z`` for a given ``noise``
      and ``(x̃ − x)/σ ~ N(0, I)``; ``sample_sigma`` within the ladder.
    - Masking: ``prior_sample`` all masks (deterministic); ``mask_prob`` from 0 to 1;
      ``elbo_weight = −α'/(1 − α)``; ``perturb`` only masks, at the rate ``mask_prob(t)``;
      ``sample_t`` in ``(0, 1]``; ``check_logits`` and ``as_data`` refuse bad input.
    """
    __tracebackhide__ = True
    require_method(kernel, "prior_sample", "check_kernel")
    _family(kernel).check_kernel(kernel, event_shapes, n)


# ------------------------------------------------------------------------------------- estimators


def check_estimator(
    estimator: Any,
    *,
    event_shape: Sequence[int] | None = None,
    kernel: Any = None,
    mixture: GaussianMixture | None = None,
    distribution: SequenceDistribution | None = None,
    seed: int = 0,
) -> None:
    """Conformance of an estimator of the family of ``kernel`` (default: the estimator's first
    ``families``; Gaussian when it declares none), on batches of its ``event_shape`` (default:
    ``estimator.event_shape``), in eval mode (a module is left in the mode it was in):

    - Gaussian ``(x [B, *E], sigma [B]) -> score [B, *E]``: at noise levels drawn at random
      (uniform in ``log σ``, seeded by ``seed``) and one row ~10⁴ away: shape and dtype kept,
      finite, input unmodified, deterministic, rows independent; with ``mixture``, exact
      (:func:`~scoregen.testing.assert_score_close` at fresh random levels).
    - Masking ``(x_t [B, *E] int64, t [B]) -> logits [B, *E, V]``: no NaN or +inf, a possible
      token everywhere, visible tokens carried over with certainty, input unmodified,
      deterministic, rows independent; with ``distribution``, exact
      (:func:`~scoregen.testing.masking.assert_posterior_close`).
    """
    __tracebackhide__ = True
    require_method(estimator, "__call__", "check_estimator")
    shape = event_shape or getattr(estimator, "event_shape", None)
    if shape is None:
        raise ConfigError("check_estimator needs event_shape=... (the estimator has no event_shape attribute)")
    shape = tuple(shape)
    if kernel is None:
        family = next((FAMILIES[f] for f in families(estimator) if f in FAMILIES), None)
        if family is None:
            raise ConfigError(f"pass kernel=... to check an estimator of the families {families(estimator)}")
    else:
        family = _family(kernel)
    family.check_estimator(estimator, shape, kernel=kernel, truth=_truth(mixture, distribution), seed=seed)


# ------------------------------------------------------------------------------------- objectives


def check_objective(
    objective: Any,
    *,
    kernel: Any = None,
    mixture: GaussianMixture | None = None,
    distribution: SequenceDistribution | None = None,
    event_shapes: Sequence[tuple[int, ...]] = EVENT_SHAPES,
    batch_size: int = 8,
) -> None:
    """Conformance of an objective with its family's probe estimator on every shape of
    ``event_shapes``: ``per_sample`` returns ``loss`` and ``sigma`` of one length ``N`` (a
    multiple of the batch size), finite, with positive levels (times, for masking); it is seeded;
    ``loss`` is the scalar mean of ``per_sample``; gradients reach the estimator's parameters; the
    batch is left unmodified. Then the family's property, on ``kernel`` (default: the Gaussian
    ladder ``σ = 2, 0.5, 0.1`` or the linear masking kernel over 3 tokens):

    - Gaussian: score matching's defining property on ``mixture``
      (:func:`~scoregen.testing.assert_objective_consistent`);
    - Masking: the loss ignores the estimator at visible positions, and the masked objective's
      property on ``distribution`` (:func:`~scoregen.testing.masking.assert_masked_objective_consistent`).
    """
    __tracebackhide__ = True
    require_method(objective, "per_sample", "check_objective")
    kernel = kernel or _default_kernel(objective, "objective")
    family = _family(kernel)
    probe = family.probe(kernel)
    for shape in event_shapes:
        x = family.data(kernel, shape, batch_size, seeded(0))
        kept = x.clone()
        label = f"per_sample on {[batch_size, *shape]}"

        def losses(g: torch.Generator) -> torch.Tensor:
            terms = objective.per_sample(probe, kernel, x, generator=g)
            return torch.stack([terms.loss, terms.sigma.to(terms.loss.dtype)]).detach()

        loss, sigma = check_seeded(objective, label, losses)
        if loss.ndim != 1 or len(loss) % batch_size or not len(loss):
            raise fail(objective, f"{label} returned {list(loss.shape)} losses for a batch of {batch_size}")
        if not bool(torch.isfinite(loss).all() & (sigma > 0).all()):
            raise fail(objective, f"{label} returned non-finite losses or non-positive levels")
        if not torch.equal(x, kept):
            raise fail(objective, f"{label} modified the batch in place")
        mean = objective.loss(probe, kernel, x, generator=seeded(1))
        if mean.ndim != 0 or not torch.allclose(mean.detach(), loss.mean(), rtol=1e-5, atol=1e-7):
            raise fail(objective, f"loss is not the mean of per_sample (got {mean.detach()}, expected {loss.mean()})")
        probe.zero_grad()
        mean.backward()
        grads = [p.grad for p in probe.parameters()]
        if any(g is None or not bool(torch.isfinite(g).all()) for g in grads) or not any(bool((g != 0).any()) for g in grads):
            raise fail(objective, f"loss on {[batch_size, *shape]} gives no finite, non-zero gradient to the estimator")
    family.check_objective(objective, kernel, truth=_truth(mixture, distribution))


# --------------------------------------------------------------------------------------- samplers


def check_sampler(
    sampler: Any,
    *,
    kernel: Any = None,
    mixture: GaussianMixture | None = None,
    distribution: SequenceDistribution | None = None,
    factor: float = 1.5,
    n: int | None = None,
    event_shapes: Sequence[tuple[int, ...]] = EVENT_SHAPES,
    order: float | None = None,
    stochastic: bool = False,
    steps: Sequence[int] | None = None,
) -> None:
    """Conformance of a sampler at its own settings (its default budget), with ``kernel``
    (default: its family's — the ``ncsn`` ladder ``σ = 10 → 0.01``, or the linear masking kernel
    over 3 tokens).

    With the family's probe estimator on every shape of ``event_shapes``: the samples keep
    ``x_init``'s shape and dtype and are finite; ``x_init`` is left unmodified; the run is seeded
    by ``generator`` alone; a ``callback`` receives dicts and does not change the result. Then the
    family's ground truth, driven by the exact score or posterior, with ``n`` samples and ``factor``:

    - Gaussian: :func:`~scoregen.testing.assert_sampler_recovers` on ``mixture`` (default: the
      8-mode ring of std 0.1, ``n = 2000``): sliced-W2 and the within-mode spread;
    - Masking: visible tokens of a partly masked ``x_init`` are kept and no mask is left, then
      :func:`~scoregen.testing.masking.assert_sampler_recovers_table` on ``distribution``
      (default: a table with a long-range dependency, ``n = 20000``): total variation.

    Convergence, Gaussian family (:mod:`scoregen.testing.convergence`), with the exact score of
    ``mixture``, instead of the ground-truth check: ``order=p`` asserts that a deterministic σ-grid
    sampler's error against a reference solution of the probability-flow ODE falls at slope
    ``≥ p − 0.3`` over ``steps`` (default 16 to 128 steps); ``stochastic=True`` asserts that the
    four numbers of :func:`~scoregen.metrics.mixture_quality` approach the truth's over ``steps``
    (default 10, 40).
    """
    __tracebackhide__ = True
    require_method(sampler, "sample", "check_sampler")
    kernel = kernel or _default_kernel(sampler, "sampler")
    family = _family(kernel)
    probe = family.probe(kernel)
    for shape in event_shapes:
        x_init = kernel.prior_sample((4, *shape), seeded(0))
        kept = x_init.clone()
        label = f"sample from x_init {[4, *shape]}"

        def run(*, generator: torch.Generator, callback: Callable[[dict], None] | None = None) -> torch.Tensor:
            return sampler.sample(probe, kernel, x_init, generator=generator, callback=callback)

        with torch.no_grad():
            out = check_seeded(sampler, label, lambda g: run(generator=g))
            check_tensor(sampler, out, x_init.shape, x_init.dtype, label)
            if not torch.equal(x_init, kept):
                raise fail(sampler, f"{label} modified x_init in place")
            check_callback(sampler, run, out, label)
    if (order is not None or stochastic) and kernel.family == "gaussian":
        from scoregen.testing import convergence

        extra: dict[str, Any] = {"steps": steps} if steps else {}
        if order is not None:
            convergence.check_order(sampler, order, kernel=kernel, mixture=mixture, **extra)
        else:
            convergence.check_in_distribution(sampler, kernel=kernel, mixture=mixture, **extra)
        return
    family.check_sampler(sampler, kernel, truth=_truth(mixture, distribution), n=n or family.N_SAMPLES, factor=factor)
