"""Exact conditional targets (scoregen.analytic.posteriors) against autograd and their definitions."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen.analytic import ClassConditionalMixture, GaussianMixture, Grid2D, linear_posterior, tilted_density
from scoregen.errors import ConfigError, DataError
from scoregen.testing import strategies as sst


@given(sst.class_conditional_mixtures(), sst.noise_levels(max_value=3.0), st.data())
def test_conditional_score_is_the_gradient_of_the_conditional_log_density(problem, sigma, data):
    x = data.draw(sst.points(problem.mixture, far=False)).requires_grad_(True)
    labels = torch.as_tensor(data.draw(st.lists(st.integers(0, problem.n_classes - 1), min_size=len(x), max_size=len(x))))
    (grad,) = torch.autograd.grad(problem.log_prob_at(x, sigma, labels).sum(), x)
    torch.testing.assert_close(problem.score_at(x.detach(), sigma, labels), grad, rtol=1e-7, atol=1e-9)


@given(sst.class_conditional_mixtures(), sst.noise_levels(max_value=3.0), st.data())
def test_marginal_is_the_class_weighted_sum_of_conditionals(problem, sigma, data):
    x = data.draw(sst.points(problem.mixture, far=False))
    per_class = torch.stack([problem.log_prob_at(x, sigma, c) for c in range(problem.n_classes)], dim=1)
    marginal = torch.logsumexp(per_class + problem.class_probs().log(), dim=1)
    torch.testing.assert_close(problem.log_prob_at(x, sigma), marginal, rtol=1e-9, atol=1e-9)
    # Bayes: p(c | x_σ) = p(c) p_σ(x | c) / p_σ(x).
    torch.testing.assert_close(problem.class_posterior(x, sigma), torch.softmax(per_class + problem.class_probs().log(), dim=1))


@given(sst.gaussian_mixtures(dim=st.integers(1, 3)), st.data())
def test_linear_posterior_score_is_prior_score_plus_likelihood_score(mixture, data):
    A, y, noise = data.draw(sst.linear_measurements(mixture))
    post = linear_posterior(mixture, A, y, noise)
    x = data.draw(sst.points(mixture, far=False))
    likelihood = (y - x @ A.T) @ A / noise**2  # ∇ₓ log N(y; A x, σ_y² I)
    torch.testing.assert_close(post.score(x), mixture.score(x) + likelihood, rtol=1e-6, atol=1e-6)


@given(sst.gaussian_mixtures(dim=st.integers(1, 3)), st.data())
def test_linear_posterior_log_density_is_prior_times_likelihood_up_to_a_constant(mixture, data):
    A, y, noise = data.draw(sst.linear_measurements(mixture))
    post = linear_posterior(mixture, A, y, noise)
    x = data.draw(sst.points(mixture, min_size=2, far=False))
    log_lik = -0.5 * ((y - x @ A.T) ** 2).sum(1) / noise**2
    diff = post.log_prob(x) - mixture.log_prob(x) - log_lik
    assert float(diff.max() - diff.min()) < 1e-6 * max(1.0, float(diff.abs().max()))


def test_linear_posterior_matches_the_documented_conditional():
    prior = GaussianMixture([0.5, 0.3, 0.2], [[0, 3], [1, -3], [-2, 0]], [[0.25, 0.25], [0.25, 0.25], [0.5, 0.5]])
    post = linear_posterior(prior, [[1.0, 0.0]], [0.25], 0.05)
    assert abs(float(post.weights[0]) - 0.816) < 1e-3


def test_linear_posterior_refuses_bad_input():
    prior = GaussianMixture([1.0], [[0.0, 0.0]], [[1.0, 1.0]])
    with pytest.raises(ConfigError):
        linear_posterior(prior, [[1.0, 0.0]], [0.0], 0.0)
    with pytest.raises(DataError):
        linear_posterior(prior, [[1.0, 0.0, 0.0]], [0.0], 0.1)
    with pytest.raises(DataError):
        linear_posterior(prior, [[1.0, 0.0]], [0.0, 1.0], 0.1)


def _two_classes() -> ClassConditionalMixture:
    mixture = GaussianMixture([0.5, 0.3, 0.2], [[-2, 0], [2, 0], [0, 2]], [[0.3, 0.3], [0.3, 0.3], [0.3, 0.3]])
    return ClassConditionalMixture(mixture, [0, 1, 1])


def test_class_conditional_mixture_checks_its_classes_and_labels():
    mixture = _two_classes().mixture
    with pytest.raises(ConfigError):
        ClassConditionalMixture(mixture, [0, 2, 2])  # class 1 unused
    with pytest.raises(ConfigError):
        ClassConditionalMixture(mixture, [0.0, 1.0, 1.0])
    problem = _two_classes()
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(DataError):
        problem.score_at(x, 0.1, torch.tensor([0, 2]))
    with pytest.raises(DataError):
        problem.score_at(x, 0.1, torch.tensor([0.0, 1.0]))


def test_conditional_sampling_draws_only_the_class_components():
    problem = _two_classes()
    x, labels = problem.sample(4000, torch.Generator().manual_seed(0), labels=1)
    assert bool((labels == 1).all())
    near = problem.mixture.responsibilities(x).argmax(1)
    frac = float((near == 1).double().mean())
    assert abs(frac - 0.6) < 0.03  # component weights 0.3 : 0.2 within class 1
    x, labels = problem.sample(4000, torch.Generator().manual_seed(0))
    assert abs(float((labels == 0).double().mean()) - 0.5) < 0.03


def test_tilted_density_interpolates_marginal_and_conditional():
    problem, grid = _two_classes(), Grid2D(-5.0, 5.0, 80)
    cells = grid.centres
    area = grid.width**2
    marginal = problem.log_prob_at(cells, 0.0).exp() * area
    conditional = problem.log_prob_at(cells, 0.0, torch.ones(len(cells), dtype=torch.int64)).exp() * area
    torch.testing.assert_close(tilted_density(problem, 1, 0.0, grid), marginal / marginal.sum())
    torch.testing.assert_close(tilted_density(problem, 1, 1.0, grid), conditional / conditional.sum())
    heavy = tilted_density(problem, 1, 3.0, grid)
    assert math.isclose(float(heavy.sum()), 1.0, rel_tol=1e-9)
    # w > 1 removes mass where the condition is unlikely: class 0's mode at (−2, 0).
    left = cells[:, 0] < -1
    assert float(heavy[left].sum()) < float((conditional / conditional.sum())[left].sum())


def test_grid_histogram_counts_every_sample_inside():
    grid = Grid2D(-1.0, 1.0, 4)
    hist = grid.histogram(torch.tensor([[-0.9, -0.9], [0.9, -0.9], [0.9, 0.9], [5.0, 0.0]]))
    assert hist.tolist()[0] == 0.25 and hist.tolist()[3] == 0.25 and hist.tolist()[15] == 0.25
    assert math.isclose(float(hist.sum()), 0.75)
