"""Images: the digits, the U-Net estimator, NCSNv2's techniques, the Fréchet distance."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build, data
from scoregen._tensor import append_dims
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import NoiseConditionalUNet
from scoregen.kernels import GaussianLadder, techniques
from scoregen.metrics import frechet_distance
from scoregen.samplers import AnnealedLangevin


def test_digits_split_is_fixed_disjoint_and_complete():
    train, y_train = data.digits("train", labels=True)
    test, y_test = data.digits("test", labels=True)
    everything = data.digits("all")
    assert train.shape == (1437, 1, 8, 8) and test.shape == (360, 1, 8, 8) and train.dtype == torch.float32
    assert float(everything.min()) == 0.0 and float(everything.max()) == 1.0
    joined = torch.cat([train, test]).flatten(1)
    key = lambda t: sorted(map(tuple, t.flatten(1).tolist()))  # noqa: E731
    assert key(joined) == key(everything)
    assert torch.equal(data.digits("test"), test) and set(y_test.tolist()) == set(range(10))
    with pytest.raises(DataError, match="split"):
        data.digits("validation")


def test_unet_shapes_and_the_one_over_sigma_output():
    torch.manual_seed(0)
    net = NoiseConditionalUNet((1, 8, 8), channels=8, sigma_embedding=False)
    x, sigma = torch.randn(5, 1, 8, 8), torch.rand(5) + 0.1
    out = net(x, sigma)
    assert out.shape == x.shape
    # Without the embedding σ enters only through the division (NCSNv2's Technique 3).
    torch.testing.assert_close(net(x, 2 * sigma), out / 2)
    rgb = NoiseConditionalUNet((3, 12, 16), channels=8, channel_mult=(1, 2, 2))
    assert rgb(torch.randn(2, 3, 12, 16), torch.ones(2)).shape == (2, 3, 12, 16)
    with pytest.raises(ConfigError, match="divisible"):
        NoiseConditionalUNet((1, 6, 6), channel_mult=(1, 2, 2))
    with pytest.raises(ConfigError, match=r"\[C, H, W\]"):
        NoiseConditionalUNet((64,))


def test_ncsnv2_preset_resolves_its_ladder_from_the_data():
    x = data.digits("train")
    model = build("ncsnv2")
    model.prepare(x)
    sigmas = model.kernel.sigmas
    assert float(sigmas[0]) == pytest.approx(techniques.suggest(x).sigma_max)
    assert len(sigmas) == techniques.n_levels(float(sigmas[0]), 0.01, 64) == 21
    ratio = float(sigmas[0] / sigmas[1])
    assert ratio <= techniques.noise_ratio(64) and techniques.overlap(ratio, 64) >= 0.5
    rebuilt = build(model.config)
    assert torch.equal(rebuilt.kernel.sigmas, sigmas)


@pytest.mark.parametrize("dim", [16, 64, 784, 3072])
def test_noise_ratio_solves_techniques_two(dim):
    gamma = techniques.noise_ratio(dim)
    assert techniques.overlap(gamma, dim) == pytest.approx(0.5, abs=1e-9)
    assert techniques.overlap(gamma * 0.999, dim) > 0.5 > techniques.overlap(gamma * 1.001, dim)


def test_ncsnv2_cifar10_numbers_are_reproduced():
    # NCSNv2 (Song & Ermon 2020) on CIFAR-10: σ_1 = 50, σ_L = 0.01, L = 232, T = 5, ε = 6.2e-6
    # in their step x + ε(σ_i/σ_L)² s + √(2ε(σ_i/σ_L)²) z, i.e. twice that in ours.
    levels = techniques.n_levels(50.0, 0.01, 3 * 32 * 32)
    assert abs(levels - 232) / 232 < 0.06
    sigmas = np.geomspace(50.0, 0.01, 232)
    assert techniques.step_size(sigmas, 5) / 2 == pytest.approx(6.2e-6, rel=0.01)


def test_technique_two_has_no_answer_in_two_dimensions():
    with pytest.raises(ConfigError, match="no solution"):
        techniques.noise_ratio(2)


@pytest.mark.parametrize("n_steps,eps", [(5, 3e-5), (20, 1e-5)])
def test_variance_ratio_matches_the_sampler_on_a_point_mass(n_steps, eps):
    # Data = one point at 0: p_σ = N(0, σ² I) and its score is −x/σ². Start at variance γ²σ².
    sigma, gamma = 0.01, 1.36
    kernel = GaussianLadder(levels=(sigma,))
    score = lambda x, s: -x / append_dims(s, x.ndim) ** 2  # noqa: E731
    g = torch.Generator().manual_seed(0)
    x0 = gamma * sigma * torch.randn(20_000, 16, generator=g, dtype=torch.float64)
    sampler = AnnealedLangevin(n_steps_each=n_steps, step_lr=eps, denoise=False)
    x = sampler.sample(score, kernel, x0, generator=g)
    assert float(x.var() / sigma**2) == pytest.approx(techniques.variance_ratio(eps, gamma, sigma, n_steps), rel=0.02)


@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_frechet_distance_matches_scipy(dim, seed):
    from scipy.linalg import sqrtm

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(200, dim, generator=g, dtype=torch.float64) @ torch.randn(dim, dim, generator=g, dtype=torch.float64)
    b = torch.randn(150, dim, generator=g, dtype=torch.float64) * 2 + 1
    ca, cb = np.atleast_2d(np.cov(a.numpy().T)), np.atleast_2d(np.cov(b.numpy().T))
    expected = np.sum((a.numpy().mean(0) - b.numpy().mean(0)) ** 2) + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    # Zero up to round-off of the traces it cancels (2 tr Σ_a against 2 tr Σ_a).
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * (1 + 2 * np.trace(ca)))


def test_digit_fd_separates_noise_from_digits_and_counts_classes():
    from scoregen.classifier import digit_classifier, digit_fd, digit_fd_floor

    x_test, y_test = data.digits("test", labels=True)
    accuracy = (digit_classifier()(x_test).argmax(1) == y_test).double().mean()
    assert accuracy > 0.9
    floor = digit_fd_floor()
    noise = digit_fd(torch.rand(360, 1, 8, 8, generator=torch.Generator().manual_seed(0)), data.digits("train"))
    assert noise["fd"] > 20 * floor and noise["classes_covered"] < 10
    real = digit_fd(x_test, data.digits("train"))
    assert real["fd"] == floor and real["classes_covered"] == 10
    assert math.isclose(sum(real["class_counts"]), 360)
