"""Hypothesis strategies for distributions with an exact score, points to evaluate them at, and
noise levels.

Plural nouns, keyword-only arguments that are numbers or strategies, and eager validation: a bad
argument raises :class:`hypothesis.errors.InvalidArgument` when the strategy is made, not when it
is drawn from. The module is organised by family of distribution: Gaussian mixtures (the ground
truth of Gaussian kernels) now; the enumerable sequence distributions of a masking kernel belong
beside them.

    from hypothesis import given
    from scoregen.testing import strategies as sst

    @given(sst.gaussian_mixtures(dim=2, covariance="full"), sst.noise_levels(), st.data())
    def test_(mixture, sigma, data):
        x = data.draw(sst.points(mixture))
"""

import math

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from scoregen.analytic import ClassConditionalMixture, GaussianMixture

COVARIANCES = ("diag", "full")


def _count(name: str, value) -> st.SearchStrategy[int]:
    """An integer >= 1 or a strategy of them, as a strategy."""
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name} must be an integer >= 1 or a strategy of them, got {value!r}")
    return st.just(value)


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise InvalidArgument(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def gaussian_mixtures(
    *,
    dim: int | st.SearchStrategy[int] = st.integers(1, 4),
    n_components: int | st.SearchStrategy[int] = st.integers(1, 4),
    covariance: str | None = None,
    mean_scale: float = 3.0,
    min_variance: float = 0.1,
    max_variance: float = 2.0,
    min_weight: float = 0.1,
) -> st.SearchStrategy[GaussianMixture]:
    """:class:`~scoregen.analytic.GaussianMixture` s in ``dim`` dimensions with ``n_components``
    components (each an integer or a strategy).

    Weights are drawn in ``[min_weight, 1]`` before normalisation, means in
    ``[−mean_scale, mean_scale]^D``. ``covariance="diag"`` draws variances in
    ``[min_variance, max_variance]``; ``"full"`` draws ``A Aᵀ + c I`` with ``c`` in that range and
    the entries of ``A`` in ``±√(max_variance / D)``; ``None`` draws either kind.
    """
    dims, counts = _count("dim", dim), _count("n_components", n_components)
    if covariance not in (None, *COVARIANCES):
        raise InvalidArgument(f"covariance must be 'diag', 'full' or None (either), got {covariance!r}")
    lo, hi = _positive("min_variance", min_variance), _positive("max_variance", max_variance)
    if lo > hi:
        raise InvalidArgument(f"min_variance={lo} exceeds max_variance={hi}")
    if isinstance(mean_scale, bool) or not isinstance(mean_scale, int | float) or not (0 <= mean_scale < math.inf):
        raise InvalidArgument(f"mean_scale must be a finite number >= 0, got {mean_scale!r}")
    w_min = _positive("min_weight", min_weight)
    if w_min > 1:
        raise InvalidArgument(f"min_weight must be in (0, 1], got {min_weight!r}")
    kinds = st.sampled_from(COVARIANCES) if covariance is None else st.just(covariance)

    @st.composite
    def draw_mixture(draw):
        d, k, kind = draw(dims), draw(counts), draw(kinds)
        if d < 1 or k < 1:
            raise InvalidArgument(f"dim and n_components must draw integers >= 1, got {d} and {k}")
        weights = draw(hnp.arrays(np.float64, k, elements=_floats(w_min, 1.0)))
        means = draw(hnp.arrays(np.float64, (k, d), elements=_floats(-float(mean_scale), float(mean_scale))))
        if kind == "diag":
            cov = draw(hnp.arrays(np.float64, (k, d), elements=_floats(lo, hi)))
        else:
            bound = math.sqrt(hi / d)
            a = draw(hnp.arrays(np.float64, (k, d, d), elements=_floats(-bound, bound)))
            c = draw(hnp.arrays(np.float64, k, elements=_floats(lo, hi)))
            cov = a @ a.transpose(0, 2, 1) + c[:, None, None] * np.eye(d)
        return GaussianMixture(weights, means, cov)

    return draw_mixture()


def noise_levels(*, min_value: float = 0.01, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Noise levels ``σ`` in ``[min_value, max_value]``, uniform in ``log σ`` (so every scale of a
    ladder is visited), shrinking towards ``min_value``."""
    lo, hi = _positive("min_value", min_value), _positive("max_value", max_value)
    if lo > hi:
        raise InvalidArgument(f"min_value={lo} exceeds max_value={hi}")
    if lo == hi:
        return st.just(lo)
    return _floats(math.log(lo), math.log(hi)).map(lambda t: min(max(math.exp(t), lo), hi))


def points(
    mixture: GaussianMixture,
    *,
    min_size: int = 1,
    max_size: int = 8,
    far: bool = True,
    max_distance: float = 1e4,
    dtype: torch.dtype = torch.float64,
) -> st.SearchStrategy[torch.Tensor]:
    """Batches of points ``[N, D]`` (``min_size <= N <= max_size``, ``dtype``) at which to compare
    a score with ``mixture``'s.

    Each row is near a component (its mean plus up to 4 of the mixture's standard deviations per
    coordinate, so points between components too) or, with ``far=True``, far away: at a distance between 100 and
    ``max_distance`` from a mean, where densities underflow and only a log-sum-exp stays finite.
    """
    if not isinstance(mixture, GaussianMixture):
        raise InvalidArgument(f"points needs a GaussianMixture, got {type(mixture).__name__}")
    for name, value in (("min_size", min_size), ("max_size", max_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be an integer >= 1, got {value!r}")
    if min_size > max_size:
        raise InvalidArgument(f"min_size={min_size} exceeds max_size={max_size}")
    if far and _positive("max_distance", max_distance) < 100:
        raise InvalidArgument(f"max_distance must be at least 100 for far points, got {max_distance!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InvalidArgument(f"dtype must be a floating torch dtype, got {dtype!r}")
    d, k = mixture.dim, mixture.n_components
    means = mixture.means.numpy()
    spread = 4.0 * mixture.covariance().diagonal().sqrt().numpy()  # per coordinate, mixture-wide
    distances = _floats(math.log(100.0), math.log(max_distance)).map(math.exp) if far else st.nothing()
    row = st.tuples(
        st.integers(0, k - 1),
        hnp.arrays(np.float64, d, elements=_floats(-1.0, 1.0)),
        st.none() | distances if far else st.none(),
    )

    def make(rows):
        out = np.empty((len(rows), d))
        for i, (comp, u, distance) in enumerate(rows):
            if distance is None:
                out[i] = means[comp] + spread * u
            else:
                norm = np.linalg.norm(u)
                direction = u / norm if norm > 1e-3 else np.eye(d)[0]
                out[i] = means[comp] + distance * direction
        return torch.as_tensor(out).to(dtype)

    return st.lists(row, min_size=min_size, max_size=max_size).map(make)


def class_conditional_mixtures(
    *,
    dim: int | st.SearchStrategy[int] = st.integers(1, 3),
    n_classes: int | st.SearchStrategy[int] = st.integers(2, 3),
    components_per_class: int | st.SearchStrategy[int] = st.integers(1, 2),
    covariance: str | None = None,
    mean_scale: float = 3.0,
) -> st.SearchStrategy[ClassConditionalMixture]:
    """:class:`~scoregen.analytic.ClassConditionalMixture` s: a mixture from
    :func:`gaussian_mixtures` with ``n_classes × components_per_class`` components, component
    ``k`` of class ``k mod n_classes`` (so every class has the same number of components)."""
    classes, per_class = _count("n_classes", n_classes), _count("components_per_class", components_per_class)

    @st.composite
    def draw_problem(draw):
        c, j = draw(classes), draw(per_class)
        mixture = draw(gaussian_mixtures(dim=dim, n_components=c * j, covariance=covariance, mean_scale=mean_scale))
        return ClassConditionalMixture(mixture, torch.arange(c * j) % c)

    return draw_problem()


def linear_measurements(
    mixture: GaussianMixture,
    *,
    n_observations: int | st.SearchStrategy[int] | None = None,
    min_noise: float = 0.05,
    max_noise: float = 1.0,
) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor, float]]:
    """Inverse problems ``(A [M, D], y [M], σ_y)`` for a prior ``mixture``: ``A`` with entries in
    ``[−1, 1]`` (``M`` from ``n_observations``, default ``1 … D``), ``σ_y`` in
    ``[min_noise, max_noise]`` (log-uniform) and ``y = A x + σ_y η`` for a point ``x`` near a
    component. Their exact posterior is :func:`scoregen.analytic.linear_posterior`."""
    if not isinstance(mixture, GaussianMixture):
        raise InvalidArgument(f"linear_measurements needs a GaussianMixture, got {type(mixture).__name__}")
    d = mixture.dim
    rows = _count("n_observations", n_observations if n_observations is not None else st.integers(1, d))
    noises = noise_levels(min_value=min_noise, max_value=max_noise)

    @st.composite
    def draw_measurement(draw):
        m = draw(rows)
        A = torch.as_tensor(draw(hnp.arrays(np.float64, (m, d), elements=_floats(-1.0, 1.0))))
        x = draw(points(mixture, min_size=1, max_size=1, far=False))[0]
        eta = torch.as_tensor(draw(hnp.arrays(np.float64, m, elements=_floats(-2.0, 2.0))))
        noise = draw(noises)
        return A, A @ x + noise * eta, noise

    return draw_measurement()
