"""GaussianMixture against independent references: autograd, finite differences, scipy, Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import integrate, special, stats

from scoregen.analytic import GaussianMixture


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def mixtures(draw, dims=st.integers(1, 4), kinds=st.booleans()):
    """Random mixtures: K in 1..4 components, diagonal variances or full ``A Aᵀ + c I``."""
    d, k, diagonal = draw(dims), draw(st.integers(1, 4)), draw(kinds)
    weights = draw(hnp.arrays(np.float64, k, elements=_floats(0.1, 1.0)))
    means = draw(hnp.arrays(np.float64, (k, d), elements=_floats(-3.0, 3.0)))
    if diagonal:
        cov = draw(hnp.arrays(np.float64, (k, d), elements=_floats(0.2, 2.0)))
    else:
        a = draw(hnp.arrays(np.float64, (k, d, d), elements=_floats(-1.0, 1.0)))
        c = draw(hnp.arrays(np.float64, k, elements=_floats(0.2, 1.0)))
        cov = a @ a.transpose(0, 2, 1) + c[:, None, None] * np.eye(d)
    return GaussianMixture(weights, means, cov)


def points(dim, n_max=6, scale=6.0):
    return st.integers(1, n_max).flatmap(
        lambda n: hnp.arrays(np.float64, (n, dim), elements=_floats(-scale, scale))
    )


def full_covariances(g, sigma=0.0):
    """[K, D, D] numpy covariances of ``g`` perturbed by ``N(0, σ² I)``."""
    cov = g.covariances.numpy()
    cov = np.stack([np.diag(c) for c in cov]) if g.is_diagonal else cov
    return cov + sigma**2 * np.eye(g.dim)


def reference_terms(g, x, sigma=0.0):
    """scipy/numpy per-component terms of ``g`` perturbed by ``N(0, σ² I)`` at x [N, D]:
    ``log w_k + log N_k(x)`` [N, K] and the component scores ``-C_k⁻¹(x - μ_k)`` [N, K, D]."""
    w, mu, cov = g.weights.numpy(), g.means.numpy(), full_covariances(g, sigma)
    log_pdf = [stats.multivariate_normal(mu[k], cov[k]).logpdf(x).reshape(-1) for k in range(len(w))]
    log_joint = np.log(w) + np.stack(log_pdf, axis=1)
    scores = np.stack([-np.linalg.solve(cov[k], (x - mu[k]).T).T for k in range(len(w))], axis=1)
    return log_joint, scores


def reference_score(g, x, sigma=0.0):
    log_joint, scores = reference_terms(g, x, sigma)
    return (special.softmax(log_joint, axis=1)[..., None] * scores).sum(axis=1)


# 1. score = ∇ log p, by autograd and by central differences
@settings(max_examples=40, deadline=None)
@given(mixtures(), st.data())
def test_score_matches_autograd_and_finite_differences(g, data):
    x = torch.tensor(data.draw(points(g.dim)), requires_grad=True)
    (grad,) = torch.autograd.grad(g.log_prob(x).sum(), x)
    score = g.score(x.detach())
    torch.testing.assert_close(score, grad, rtol=1e-10, atol=1e-10)

    h = 1e-5
    eye = torch.eye(g.dim, dtype=torch.float64) * h
    fd = torch.stack(
        [(g.log_prob(x.detach() + e) - g.log_prob(x.detach() - e)) / (2 * h) for e in eye], dim=1
    )
    torch.testing.assert_close(score, fd, rtol=1e-6, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(mixtures(), st.data())
def test_perturbed_score_matches_autograd(g, data):
    x = torch.tensor(data.draw(points(g.dim)), requires_grad=True)
    sigma = torch.tensor(data.draw(hnp.arrays(np.float64, x.shape[0], elements=_floats(0.0, 3.0))))
    (grad,) = torch.autograd.grad(g.log_prob_at(x, sigma).sum(), x)
    torch.testing.assert_close(g.score_at(x.detach(), sigma), grad, rtol=1e-10, atol=1e-10)


# 2. log_prob is a normalised density and agrees with scipy
@settings(max_examples=40, deadline=None)
@given(mixtures(), st.data())
def test_log_prob_matches_scipy(g, data):
    x = data.draw(points(g.dim))
    expected = special.logsumexp(reference_terms(g, x)[0], axis=1)
    np.testing.assert_allclose(g.log_prob(x).numpy(), expected, rtol=1e-10, atol=1e-10)


def _box(g, width=10.0):
    """Per-coordinate bounds holding all but a negligible tail of every component."""
    std = np.sqrt(np.diagonal(full_covariances(g), axis1=1, axis2=2))
    mu = g.means.numpy()
    return (mu - width * std).min(axis=0), (mu + width * std).max(axis=0)


@settings(max_examples=10, deadline=None)
@given(mixtures(dims=st.just(1)))
def test_log_prob_integrates_to_one_1d(g):
    lo, hi = _box(g)
    total, _ = integrate.quad(
        lambda t: math.exp(float(g.log_prob([[t]])[0])),
        lo[0], hi[0], points=g.means[:, 0].tolist(), epsabs=1e-9, epsrel=1e-9, limit=200,
    )
    assert total == pytest.approx(1.0, abs=1e-6)


def _mass_2d(g, lo, hi):
    """∫∫ p over the box [lo, hi]. cubature is scipy's vectorised adaptive counterpart of dblquad:
    one log_prob call per batch of nodes instead of one per point."""
    result = integrate.cubature(lambda p: g.log_prob(p).exp().numpy(), lo, hi, atol=1e-7, rtol=0)
    assert result.status == "converged"
    return result.estimate


@settings(max_examples=10, deadline=None)
@given(mixtures(dims=st.just(2)))
def test_log_prob_integrates_to_one_2d(g):
    assert _mass_2d(g, *_box(g)) == pytest.approx(1.0, abs=1e-6)


def test_ring_integrates_to_one_and_has_its_geometry():
    g = GaussianMixture.ring(n_modes=8, radius=4.0, std=0.3)
    assert (g.dim, g.n_components, g.is_diagonal) == (2, 8, True)
    torch.testing.assert_close(g.means[0], torch.tensor([4.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(g.means.norm(dim=1), torch.full((8,), 4.0, dtype=torch.float64))
    angles = torch.atan2(g.means[:, 1], g.means[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8, dtype=torch.float64) * math.pi / 4)
    torch.testing.assert_close(g.weights, torch.full((8,), 1 / 8, dtype=torch.float64))
    torch.testing.assert_close(g.covariances, torch.full((8, 2), 0.09, dtype=torch.float64))
    assert _mass_2d(g, [-7.0, -7.0], [7.0, 7.0]) == pytest.approx(1.0, abs=1e-6)


# 3. perturb(σ) is the convolution with N(0, σ² I)
def _assert_moments(y, mean, cov, n_se=5.0):
    """Sample mean and covariance of y [n, D] equal ``mean``/``cov`` within ``n_se`` standard errors."""
    y, mean, cov = y.numpy(), mean.numpy(), cov.numpy()
    n = y.shape[0]
    centred = y - y.mean(axis=0)
    mean_se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(y.mean(axis=0) - mean) < n_se * mean_se), (y.mean(axis=0), mean)
    products = centred[:, :, None] * centred[:, None, :]
    cov_se = products.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(products.mean(axis=0) - cov) < n_se * cov_se + 1e-12), (products.mean(axis=0), cov)


@settings(max_examples=8, deadline=None)
@given(mixtures(), _floats(0.05, 3.0), st.integers(0, 2**31 - 1))
def test_perturb_matches_monte_carlo_convolution(g, sigma, seed):
    gen = torch.Generator().manual_seed(seed)
    y = g.sample(200_000, generator=gen)
    y = y + sigma * torch.randn(y.shape, generator=gen, dtype=torch.float64)
    p = g.perturb(sigma)
    assert p.is_diagonal == g.is_diagonal
    _assert_moments(y, p.mean(), p.covariance())


def test_perturbed_log_prob_matches_kernel_density_estimate():
    # A Gaussian KDE of samples of p with bandwidth σ is an unbiased estimate of (p * N(0, σ²))(t).
    g = GaussianMixture([0.2, 0.5, 0.3], [[-2.0], [0.5], [3.0]], [[0.1], [0.6], [0.3]])
    sigma = 0.4
    samples = g.sample(200_000, generator=torch.Generator().manual_seed(0))[:, 0].numpy()
    t = np.linspace(-3.0, 4.0, 29)
    kernel = stats.norm.pdf(t[:, None], loc=samples[None, :], scale=sigma)
    estimate, se = kernel.mean(axis=1), kernel.std(axis=1) / math.sqrt(samples.size)
    exact = g.perturb(sigma).log_prob(t[:, None]).exp().numpy()
    assert np.all(np.abs(estimate - exact) < 5 * se), np.abs(estimate - exact) / se
    assert np.all(se < 0.02 * exact)  # the check is sharp, not vacuous


def test_perturb_adds_sigma_squared_identity():
    diag = GaussianMixture([1.0, 1.0], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 2.0], [0.5, 0.5]])
    full = GaussianMixture([1.0], [[0.0, 0.0]], [[[2.0, 0.5], [0.5, 1.0]]])
    torch.testing.assert_close(diag.perturb(0.5).covariances, diag.covariances + 0.25)
    expected = torch.tensor([[2.25, 0.5], [0.5, 1.25]], dtype=torch.float64)
    torch.testing.assert_close(full.perturb(0.5).covariances[0], expected)
    assert not full.perturb(0.5).is_diagonal


# 4. per-row σ: score_at/log_prob_at/responsibilities equal row-by-row perturb
@settings(max_examples=30, deadline=None)
@given(mixtures(), st.data())
def test_score_at_per_row_equals_row_by_row_perturb(g, data):
    x = torch.tensor(data.draw(points(g.dim)))
    sigma = torch.tensor(data.draw(hnp.arrays(np.float64, x.shape[0], elements=_floats(0.0, 5.0))))
    rows = [(g.perturb(float(s)), x[i : i + 1]) for i, s in enumerate(sigma)]
    tol = dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(g.score_at(x, sigma), torch.cat([p.score(r) for p, r in rows]), **tol)
    torch.testing.assert_close(g.log_prob_at(x, sigma), torch.cat([p.log_prob(r) for p, r in rows]), **tol)
    torch.testing.assert_close(
        g.responsibilities(x, sigma), torch.cat([p.responsibilities(r) for p, r in rows]), **tol
    )
    expected = [reference_score(g, x.numpy()[i : i + 1], float(s))[0] for i, s in enumerate(sigma)]
    np.testing.assert_allclose(g.score_at(x, sigma).numpy(), np.stack(expected), rtol=1e-8, atol=1e-9)


def test_scalar_sigma_is_shared_by_all_rows():
    g = GaussianMixture.ring(n_modes=3, radius=2.0, std=0.5)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(g.score_at(x, 0.7), g.perturb(0.7).score(x))
    torch.testing.assert_close(g.log_prob_at(x, 0.0), g.log_prob(x))


# 5. far from the modes: finite, normalised responsibilities, score of the dominant component
def _unit_vectors(dim):
    return hnp.arrays(np.float64, dim, elements=_floats(-1.0, 1.0)).filter(lambda v: np.linalg.norm(v) > 0.1)


@settings(max_examples=40, deadline=None)
@given(mixtures(), st.data(), st.sampled_from([1e2, 1e3, 1e4]))
def test_far_points_stay_finite_and_follow_the_dominant_component(g, data, radius):
    u = data.draw(_unit_vectors(g.dim))
    axis = data.draw(st.integers(0, g.dim - 1))
    e = np.eye(g.dim)[axis]
    x = np.stack([radius * u / np.linalg.norm(u), u + radius * e, u - radius * e])
    log_prob, score, resp = g.log_prob(x), g.score(x), g.responsibilities(x)
    assert torch.isfinite(log_prob).all() and torch.isfinite(score).all() and torch.isfinite(resp).all()
    torch.testing.assert_close(resp.sum(dim=1), torch.ones(3, dtype=torch.float64))

    log_joint, scores = reference_terms(g, x)
    np.testing.assert_allclose(log_prob.numpy(), special.logsumexp(log_joint, axis=1), rtol=1e-10)
    np.testing.assert_allclose(score.numpy(), reference_score(g, x), rtol=1e-7, atol=1e-7 * radius)
    ordered = np.sort(log_joint, axis=1)
    gap = ordered[:, -1] - ordered[:, -2] if g.n_components > 1 else np.full(3, np.inf)
    for i in np.flatnonzero(gap > 40.0):  # one component carries all the mass
        dominant = scores[i, np.argmax(log_joint[i])]
        np.testing.assert_allclose(score[i].numpy(), dominant, rtol=1e-7, atol=1e-7 * radius)
    if radius >= 1e4:  # far enough that the score points back towards the mixture's mean
        assert np.all(np.sum(score.numpy() * (x - g.mean().numpy()), axis=1) < 0)


def test_ring_far_away_points_back_to_the_nearest_mode():
    g = GaussianMixture.ring(n_modes=8, radius=4.0, std=0.3)
    x = torch.tensor([[1e4, 0.0], [0.0, -1e4], [1e4, 1e4]])  # float32 in -> float32 out
    score, resp = g.score(x), g.responsibilities(x)
    assert score.dtype == torch.float32 and torch.isfinite(g.log_prob(x)).all()
    assert resp.argmax(dim=1).tolist() == [0, 6, 1]
    expected = -(x.double() - g.means[[0, 6, 1]]) / 0.09
    torch.testing.assert_close(score, expected.float())


# 6. sampling
@settings(max_examples=8, deadline=None)
@given(mixtures(), st.integers(0, 2**31 - 1))
def test_sample_moments_match_mean_and_covariance(g, seed):
    y = g.sample(200_000, generator=torch.Generator().manual_seed(seed))
    assert y.shape == (200_000, g.dim) and y.dtype == torch.float64
    _assert_moments(y, g.mean(), g.covariance())


@settings(max_examples=20, deadline=None)
@given(mixtures())
def test_mean_and_covariance_match_the_law_of_total_moments(g):
    w, mu, cov = g.weights.numpy(), g.means.numpy(), full_covariances(g)
    mean = w @ mu
    second = np.einsum("k,kij->ij", w, cov + mu[:, :, None] * mu[:, None, :])
    np.testing.assert_allclose(g.mean().numpy(), mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g.covariance().numpy(), second - np.outer(mean, mean), rtol=1e-10, atol=1e-10)


def test_seeded_generator_reproduces_samples_and_ignores_global_rng():
    cov = [[[1.0, 0.3], [0.3, 0.5]], [[0.2, 0.0], [0.0, 0.4]]]
    g = GaussianMixture([1.0, 3.0], [[0.0, 0.0], [2.0, 1.0]], cov)
    torch.manual_seed(0)
    a = g.sample(1000, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)
    b = g.sample(1000, generator=torch.Generator().manual_seed(7))
    c = g.sample(1000, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert g.sample(0).shape == (0, 2)


# inputs and outputs
def test_inputs_are_array_likes_and_outputs_follow_the_input_dtype():
    g = GaussianMixture([1.0, 2.0], [[0.0], [1.0]], [[1.0], [0.5]])
    assert g.weights.dtype == g.means.dtype == g.covariances.dtype == torch.float64
    torch.testing.assert_close(g.weights, torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
    x64 = np.array([[0.3], [-1.2]])
    x32 = torch.tensor(x64, dtype=torch.float32)
    for method in (g.log_prob, g.score, g.responsibilities, lambda x: g.score_at(x, [0.1, 0.2])):
        assert method(x32).dtype == torch.float32
        assert method(x64).dtype == torch.float64
        torch.testing.assert_close(method(x32), method(x64).float())
    assert g.log_prob([[0], [1]]).dtype == torch.float64  # integer input


# 7. validation
@pytest.mark.parametrize(
    ("weights", "means", "covariances", "match"),
    [
        ([1.0, -1.0], [[0.0], [1.0]], [[1.0], [1.0]], "positive"),
        ([1.0, 0.0], [[0.0], [1.0]], [[1.0], [1.0]], "positive"),
        ([1.0, float("nan")], [[0.0], [1.0]], [[1.0], [1.0]], "finite"),
        ([[1.0, 1.0]], [[0.0], [1.0]], [[1.0], [1.0]], "weights must have shape"),
        ([], np.zeros((0, 1)), np.zeros((0, 1)), "weights must have shape"),
        ([1.0, 1.0], [[0.0]], [[1.0], [1.0]], "means must have shape"),
        ([1.0, 1.0], [0.0, 1.0], [[1.0], [1.0]], "means must have shape"),
        ([1.0, 1.0], [[0.0], [1.0]], [[1.0, 1.0], [1.0, 1.0]], "covariances must have shape"),
        ([1.0], [[0.0, 0.0]], [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], "covariances must have shape"),
        ([1.0], [[0.0, 0.0]], [[1.0, 0.0]], "positive"),
        ([1.0], [[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]], "symmetric"),
        ([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]], "positive definite"),
        ([1.0], [[0.0, 0.0]], [[[1.0, 1.0], [1.0, 1.0]]], "positive definite"),
        ([1.0], [[0.0, float("inf")]], [[1.0, 1.0]], "finite"),
    ],
)
def test_invalid_parameters_raise_value_error(weights, means, covariances, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(weights, means, covariances)


def test_invalid_points_and_sigma_raise_value_error():
    g = GaussianMixture.ring(n_modes=3)
    with pytest.raises(ValueError, match="shape"):
        g.log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="shape"):
        g.score(torch.zeros(2))
    with pytest.raises(ValueError, match="sigma"):
        g.score_at(torch.zeros(4, 2), torch.ones(3))
    with pytest.raises(ValueError, match="sigma"):
        g.log_prob_at(torch.zeros(2, 2), [-1.0, 1.0])
