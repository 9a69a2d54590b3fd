"""The conformance check of posterior samplers: run one with *exact* scores on a 2-D mixture whose
posterior is known in closed form, and compare the samples with that posterior.

    from scoregen.testing import check_posterior_sampler

    def test_my_posterior_sampler():
        check_posterior_sampler(MyPosterior(), mode_mass_tol=0.05)

What an approximate method can reach is its own: each built-in states the tolerance it passes
with (docs/conditioning.md), the exact one (``tds``) a tight one.
"""

import torch

from scoregen.analytic import GaussianMixture
from scoregen.metrics import sliced_wasserstein


def default_problem():
    """``(prior, measurement)``: ``0.5 N((0, 3)) + 0.3 N((1, −3)) + 0.2 N((−2, 0))`` (stds 0.5, 0.5,
    0.71) observed at ``x₁ = 0.25`` with ``σ_y = 0.05``; the exact posterior puts 0.816 of its
    mass on the upper mode (``x₂ ≈ 3``), the case where replacement puts 0.58–0.63 there."""
    from scoregen.samplers.posterior import Linear

    prior = GaussianMixture([0.5, 0.3, 0.2], [[0.0, 3.0], [1.0, -3.0], [-2.0, 0.0]], [[0.25, 0.25], [0.25, 0.25], [0.5, 0.5]])
    return prior, Linear([[1.0, 0.0]], [0.25], noise=0.05)


def mode_masses(samples: torch.Tensor, mixture: GaussianMixture) -> torch.Tensor:
    """Fraction of ``samples [N, D]`` whose most responsible component of ``mixture`` is ``k``, ``[K]``."""
    nearest = mixture.responsibilities(samples.to(torch.float64)).argmax(dim=1)
    return torch.bincount(nearest, minlength=mixture.n_components).to(torch.float64) / samples.shape[0]


def posterior_errors(samples: torch.Tensor, posterior: GaussianMixture, *, seed: int = 0, repeats: int = 3) -> dict:
    """How far ``samples [N, D]`` are from the exact ``posterior``: ``mode_mass_error`` (the
    largest ``|fraction − weight|`` over components), ``sliced_w2`` (the mean over ``repeats``
    sets of ``N`` exact draws of the sliced-W2 distance to them) and its ``floor`` (the same mean
    between two sets of ``N`` exact draws)."""
    g = torch.Generator().manual_seed(seed)
    n = samples.shape[0]

    def distance(x: torch.Tensor) -> float:
        return sliced_wasserstein(x, posterior.sample(n, g), generator=torch.Generator().manual_seed(seed))

    return {
        "mode_mass_error": float((mode_masses(samples, posterior) - posterior.weights).abs().max()),
        "sliced_w2": sum(distance(samples) for _ in range(repeats)) / repeats,
        "floor": sum(distance(posterior.sample(n, g)) for _ in range(repeats)) / repeats,
    }


def check_posterior_sampler(
    posterior,
    *,
    mode_mass_tol: float = 0.05,
    sw_ratio_tol: float | None = None,
    n: int = 1000,
    sampler=None,
    problem=None,
    preset: str = "ve-sde",
    seed: int = 0,
) -> dict:
    """Sample ``n`` draws of ``p(x | y)`` with ``posterior`` (a posterior sampler, or its
    registered name or dict) and the exact prior score of ``problem = (prior, measurement)``
    (default :func:`default_problem`) in a ``preset`` model (its ``sampler``, or the one given);
    raise :class:`AssertionError` if the mode-mass error exceeds ``mode_mass_tol`` or, with
    ``sw_ratio_tol``, the sliced-W2 distance exceeds ``sw_ratio_tol`` times its floor.
    Returns :func:`posterior_errors`."""
    from scoregen import build
    from scoregen.estimators import MixtureScore

    prior, measurement = problem or default_problem()
    model = build(preset, estimator=MixtureScore.from_mixture(prior), event_shape=(prior.dim,))
    samples = model.sample(n, measurement=measurement, posterior=posterior, sampler=sampler, seed=seed)
    name = getattr(posterior, "__name__", type(posterior).__name__) if not isinstance(posterior, str | dict) else str(posterior)
    if samples.shape != (n, prior.dim) or not bool(torch.isfinite(samples).all()):
        raise AssertionError(f"{name}: returned {list(samples.shape)} samples (finite: {bool(torch.isfinite(samples).all())})")
    errors = posterior_errors(samples, measurement.posterior(prior), seed=seed)
    if errors["mode_mass_error"] > mode_mass_tol:
        raise AssertionError(f"{name}: mode-mass error {errors['mode_mass_error']:.3f} exceeds {mode_mass_tol} ({errors})")
    if sw_ratio_tol is not None and errors["sliced_w2"] > sw_ratio_tol * errors["floor"]:
        raise AssertionError(f"{name}: sliced W2 {errors['sliced_w2']:.3f} exceeds {sw_ratio_tol} × its floor ({errors})")
    return errors
