"""The exact estimators: ``gmm`` against GaussianMixture, ``empirical`` against a mixture with one
tiny component per data point (an independent computation: no chunks, no streaming), and both
inside a model."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build, data, load
from scoregen.analytic import GaussianMixture
from scoregen.config import ModelConfig
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import EmpiricalScore, MixtureScore
from scoregen.testing import assert_score_close, check_estimator
from scoregen.testing import strategies as sst


def data_mixture(x: torch.Tensor) -> GaussianMixture:
    """``(1/N) Σ_i N(x_i, ε I)`` with ε = 1e-14: perturbed at σ it is the noised training set up to
    a relative ε/σ² ≤ 1e-10."""
    flat = x.reshape(len(x), -1).double()
    return GaussianMixture(torch.ones(len(x)), flat, torch.full(flat.shape, 1e-14))


@given(sst.gaussian_mixtures(), sst.noise_levels(), st.data())
def test_gmm_estimator_is_the_perturbed_mixture_score(mixture, sigma, draw):
    x = draw.draw(sst.points(mixture))
    estimator = MixtureScore.from_mixture(mixture)
    assert_score_close(estimator, mixture, x, sigma, dtype=torch.float64, rtol=1e-10)
    assert_score_close(estimator, mixture, x, sigma)  # float32 in, float32 out
    assert estimator(x.float(), torch.full((len(x),), sigma)).dtype == torch.float32


@given(
    st.integers(1, 40),
    st.integers(1, 3),
    st.integers(1, 50),
    sst.noise_levels(min_value=0.01, max_value=10.0),
    st.integers(0, 2**31 - 1),
)
def test_empirical_score_is_the_noised_training_set_score_for_any_chunking(n, dim, chunk, sigma, seed):
    gen = torch.Generator().manual_seed(seed)
    train = 3 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    reference = data_mixture(train)
    x = torch.cat([train[:3] + sigma * torch.randn(min(n, 3), dim, generator=gen, dtype=torch.float64),
                   torch.randn(4, dim, generator=gen, dtype=torch.float64) * 5,
                   torch.full((1, dim), 1e4, dtype=torch.float64)])
    estimator = EmpiricalScore(data=train, chunk_size=chunk)
    assert_score_close(estimator, reference, x, sigma, dtype=torch.float64, rtol=1e-7)


def test_empirical_score_runs_on_20k_points_in_chunks():
    train = data.gaussian_mixture_2d(20_000, seed=0)
    x = data.gaussian_mixture_2d(64, seed=1) + 0.1 * torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
    estimator = EmpiricalScore(data=train)  # 20 chunks of 1024 points: memory O(64 · 1024)
    for sigma in (0.01, 0.3, 5.0):
        assert_score_close(estimator, data_mixture(train), x.double(), sigma, rtol=1e-6)


def test_estimators_pass_the_conformance_check_on_vectors_and_images():
    mixture = GaussianMixture([1.0, 2.0], torch.randn(2, 4, generator=torch.Generator().manual_seed(0)), torch.ones(2, 4))
    check_estimator(MixtureScore.from_mixture(mixture), mixture=mixture)
    check_estimator(MixtureScore.from_mixture(mixture, event_shape=(1, 2, 2)), mixture=mixture)
    train = torch.randn(50, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    check_estimator(EmpiricalScore(data=train, chunk_size=16), mixture=data_mixture(train))
    check_estimator(EmpiricalScore(data=train[:, 0, 0]), mixture=data_mixture(train[:, 0, 0]))


def test_gmm_by_name_round_trips_its_config(ring, tmp_path):
    params = {"weights": ring.weights.tolist(), "means": ring.means.tolist(), "covariances": ring.covariances.tolist()}
    model = build("ncsn", estimator={"name": "gmm", **params}, event_shape=(2,))
    assert isinstance(model.estimator, MixtureScore)
    assert ModelConfig.from_json(model.config.to_json()) == model.config
    again = load(model.save(tmp_path / "m"))
    x = torch.randn(10, 2)
    assert torch.equal(again.score(x, 0.2), ring.score_at(x, torch.full((10,), 0.2)))


def test_gmm_refuses_an_event_shape_of_another_size(ring):
    with pytest.raises(ConfigError, match="D = 2"):
        MixtureScore.from_mixture(ring, event_shape=(3,))
    with pytest.raises(ConfigError, match="event_shape"):
        one = {"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [[1.0, 1.0]]}
        build("ncsn", estimator={"name": "gmm", **one}, event_shape=(1, 2, 2))


def test_empirical_fit_takes_the_data_without_training_and_memorises(tmp_path):
    train = data.gaussian_mixture_2d(200, seed=0)
    model = build("ncsn", estimator="empirical").fit(train)
    assert model.step == 0 and model.history == []
    assert torch.equal(model.estimator.data, train)
    samples = model.sample(100, seed=0, sampler={"n_steps_each": 20})
    nearest = torch.cdist(samples, train).min(dim=1).values
    assert float(nearest.max()) < 0.03  # σ_L = 0.01: every sample lands on a training point
    again = load(model.save(tmp_path / "m"))
    assert torch.equal(again.estimator.data, train)
    assert torch.equal(again.score(samples, 0.05), model.score(samples, 0.05))


def test_empirical_keeps_the_first_training_set_and_says_when_it_has_none():
    first, second = data.gaussian_mixture_2d(30, seed=0), data.gaussian_mixture_2d(40, seed=1)
    model = build("ncsn", estimator="empirical").fit(first)
    model.fit(second)
    assert torch.equal(model.estimator.data, first)
    with pytest.raises(ConfigError, match="no training set"):
        EmpiricalScore(event_shape=(2,))(torch.zeros(3, 2), torch.ones(3))
    with pytest.raises(DataError, match="event shape"):
        EmpiricalScore(data=first)(torch.zeros(3, 3), torch.ones(3))
    with pytest.raises(ConfigError, match="chunk_size"):
        EmpiricalScore(chunk_size=0)


def test_fit_still_refuses_an_estimator_that_neither_trains_nor_takes_data(ring):
    with pytest.raises(ConfigError, match="no trainable parameters"):
        build("ncsn", estimator=MixtureScore.from_mixture(ring)).fit(torch.zeros(10, 2), progress=False)
