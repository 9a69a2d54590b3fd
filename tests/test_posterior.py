"""Posterior samplers for y = A x + η against the exact posterior of a Gaussian mixture."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scoregen import build
from scoregen.analytic import linear_posterior
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import MixtureScore
from scoregen.samplers.posterior import MMPS, Linear, conjugate_gradient
from scoregen.testing import check_posterior_sampler
from scoregen.testing import strategies as sst
from scoregen.testing.posterior_checks import default_problem


@settings(max_examples=10)
@given(sst.gaussian_mixtures(n_components=1, dim=st.integers(1, 3)), sst.noise_levels(max_value=5.0), st.data())
def test_mmps_is_the_exact_posterior_score_for_gaussian_data(prior, sigma, data):
    """For a Gaussian prior, p(y | x_σ) = N(y; A D(x_σ), σ_y² I + σ² A J Aᵀ) exactly, so MMPS's
    score is that of the posterior perturbed at σ (x_σ | y = x₀ | y + σ z)."""
    A, y, noise = data.draw(sst.linear_measurements(prior))
    x = data.draw(sst.points(prior, far=False))
    measurement = Linear(A, y, noise=noise)
    score = MMPS(cg_steps=A.shape[0]).bind(MixtureScore.from_mixture(prior), measurement)
    sig = torch.full((len(x),), sigma, dtype=torch.float64)
    exact = linear_posterior(prior, A, y, noise).score_at(x, sigma)
    torch.testing.assert_close(score(x, sig), exact, rtol=1e-5, atol=1e-6)


def test_conjugate_gradient_solves_each_row():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(3, 4, 4, generator=g, dtype=torch.float64)
    spd = m @ m.mT + torch.eye(4, dtype=torch.float64)
    b = torch.randn(3, 4, generator=g, dtype=torch.float64)
    u = conjugate_gradient(lambda v: torch.einsum("bij,bj->bi", spd, v), b, 4)
    torch.testing.assert_close(torch.einsum("bij,bj->bi", spd, u), b)


# The tolerances each method passes, stated in its docs (docs/conditioning.md): the exact method
# tight (about 3 standard errors of a mode mass at n = 300), the approximations loose.
TOLERANCES = [
    ({"name": "tds", "particles": 8, "n_steps": 30}, 0.07),
    ({"name": "mmps"}, 0.35),
    ({"name": "dps", "n_steps": 50}, 0.35),
    ("replacement", 0.35),
]


@pytest.mark.parametrize("posterior, tolerance", TOLERANCES)
def test_every_posterior_sampler_passes_the_check_within_its_stated_tolerance(posterior, tolerance):
    errors = check_posterior_sampler(posterior, n=300, mode_mass_tol=tolerance, sampler={"n_steps": 30})
    assert errors["mode_mass_error"] <= tolerance


def test_the_check_fails_a_sampler_that_ignores_the_measurement():
    class Prior:
        families = ("gaussian",)

        def sample(self, estimator, kernel, sampler, x_init, measurement, *, generator=None, callback=None):
            return sampler.sample(estimator, kernel, x_init, generator=generator)

    with pytest.raises(AssertionError, match="mode-mass"):
        check_posterior_sampler(Prior(), n=200, mode_mass_tol=0.2, sampler={"n_steps": 20})


def test_tds_bias_falls_with_the_number_of_particles():
    prior, measurement = default_problem()
    model = build("ve-sde", estimator=MixtureScore.from_mixture(prior), event_shape=(2,))
    upper = []
    for k in (1, 8):
        x = model.sample(400, measurement=measurement, posterior={"name": "tds", "particles": k, "n_steps": 30}, seed=1)
        upper.append(float((x[:, 1] > 1.5).double().mean()))
    exact = float(measurement.posterior(prior).weights[0])
    assert abs(upper[1] - exact) < 0.07 < abs(upper[0] - exact)


def test_linear_measurement_checks_and_selects():
    m = Linear.mask(torch.tensor([True, False, True]), torch.tensor([1.0, 9.0, 3.0]), noise=0.1)
    assert m.y.tolist() == [1.0, 3.0] and m.selection().tolist() == [True, False, True]
    assert Linear([[1.0, 1.0]], [0.0]).selection() is None
    with pytest.raises(DataError):
        Linear([[1.0, 0.0]], [0.0, 1.0])
    with pytest.raises(DataError):
        Linear([1.0, 0.0], [0.0])
    with pytest.raises(DataError):
        Linear([[1.0, 0.0, 0.0]], [0.0]).check((2,))
    with pytest.raises(ConfigError):
        Linear([[1.0, 0.0]], [0.0], noise=-1.0)


def test_replacement_needs_a_mask_and_model_refuses_mixed_requests():
    prior, _ = default_problem()
    model = build("ve-sde", estimator=MixtureScore.from_mixture(prior), event_shape=(2,), sampler={"n_steps": 5})
    with pytest.raises(ConfigError):
        model.sample(4, measurement=Linear([[1.0, 1.0]], [0.0], noise=0.1), posterior="replacement", seed=0)
    with pytest.raises(ConfigError):
        model.sample(4, posterior="dps", seed=0)
    with pytest.raises(DataError):
        model.sample(4, measurement=Linear([[1.0, 0.0, 0.0]], [0.0], noise=0.1), seed=0)


def test_posterior_sampling_is_seeded_and_leaves_the_global_rng_alone():
    prior, measurement = default_problem()
    model = build("ve-sde", estimator=MixtureScore.from_mixture(prior), event_shape=(2,), sampler={"n_steps": 10})
    for posterior in ({"name": "tds", "particles": 4, "n_steps": 10}, {"name": "dps", "n_steps": 10}, "mmps"):
        state = torch.random.get_rng_state()
        a = model.sample(16, measurement=measurement, posterior=posterior, seed=3)
        b = model.sample(16, measurement=measurement, posterior=posterior, seed=3)
        assert torch.equal(a, b) and torch.equal(state, torch.random.get_rng_state())
