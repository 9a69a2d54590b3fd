"""The levers of issue 8 against their definitions: EDM preconditioning, the training
distribution of noise levels, DSM's reference-set target, and the learning-rate warm-up."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scoregen import build, data, load
from scoregen.analytic import GaussianMixture
from scoregen.errors import ConfigError
from scoregen.estimators import NoiseConditionalMLP
from scoregen.estimators.precond import Preconditioner
from scoregen.kernels import VPSDE, GaussianLadder
from scoregen.objectives import DenoisingScoreMatching
from scoregen.objectives.noise_levels import sample_sigma
from scoregen.training import TrainConfig

sigmas = st.floats(1e-3, 50.0)


@given(sigma=sigmas, sigma_data=st.floats(0.05, 10.0), seed=st.integers(0, 2**16))
def test_edm_score_is_the_denoiser_residual_over_sigma_squared(sigma, sigma_data, seed):
    gen = torch.Generator().manual_seed(seed)
    x, out = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    s = torch.full((5,), sigma, dtype=torch.float64)
    c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
    c_out = sigma * sigma_data / math.sqrt(sigma**2 + sigma_data**2)
    denoised = c_skip * x + c_out * out
    got = Preconditioner("edm", sigma_data).double().score(out, x, s)  # σ_d was stored in float32
    torch.testing.assert_close(got, (denoised - x) / sigma**2, rtol=1e-6, atol=1e-6)
    c_in = 1 / math.sqrt(sigma**2 + sigma_data**2)
    torch.testing.assert_close(Preconditioner("edm", sigma_data).double().network_input(x, s), c_in * x, rtol=1e-6, atol=1e-7)


@given(sigma=sigmas, sigma_data=st.floats(0.05, 10.0))
def test_edm_with_a_silent_network_is_the_score_of_a_gaussian_of_the_data_scale(sigma, sigma_data):
    x = torch.linspace(-3, 3, 14, dtype=torch.float64).reshape(7, 2)
    s = torch.full((7,), sigma, dtype=torch.float64)
    sigma_data = float(torch.tensor(sigma_data, dtype=torch.float32))  # as the buffer keeps it
    gaussian = GaussianMixture([1.0], [[0.0, 0.0]], [[sigma_data**2, sigma_data**2]])
    got = Preconditioner("edm", sigma_data).double().score(torch.zeros_like(x), x, s)
    torch.testing.assert_close(got, gaussian.score_at(x, s), rtol=1e-9, atol=1e-12)


def test_ncsn_and_none_preconditioning_are_the_division_by_sigma_and_the_identity():
    x, out, s = torch.randn(4, 2), torch.randn(4, 2), torch.rand(4) + 0.1
    torch.testing.assert_close(Preconditioner("ncsn").score(out, x, s), out / s[:, None])
    assert Preconditioner("none").score(out, x, s) is out


@pytest.mark.parametrize("bad", [{"preconditioning": "karras"}, {"preconditioning": "edm", "sigma_data": -1.0}])
def test_bad_preconditioning_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        NoiseConditionalMLP((2,), **bad)


def test_sigma_data_auto_is_measured_on_the_training_set_and_saved(tmp_path):
    x = data.gaussian_mixture_2d(2000, seed=0)
    with pytest.raises(ConfigError, match="sigma_data"):
        NoiseConditionalMLP((2,), preconditioning="edm")(x[:3], torch.ones(3))
    model = build("ncsn", estimator={"preconditioning": "edm"}).fit(x, steps=20, batch_size=64, progress=False)
    assert float(model.estimator.precond.sigma_data) == pytest.approx(float(x.double().std()), rel=1e-6)
    loaded = load(model.save(tmp_path / "edm"))
    assert loaded.estimator.precond.known
    sigma = torch.full((5,), 0.3)
    torch.testing.assert_close(loaded.score(x[:5], sigma), model.score(x[:5], sigma))


RING_KERNELS = [GaussianLadder(sigma_max=10.0, sigma_min=0.01, n_levels=10), VPSDE()]


@pytest.mark.parametrize("kernel", RING_KERNELS, ids=["ladder", "vp"])
@given(seed=st.integers(0, 2**16))
@settings(max_examples=20)
def test_log_uniform_levels_cover_the_kernel_range_evenly_in_log_sigma(kernel, seed):
    lo, hi = kernel.sigma_range()
    sigma = sample_sigma("log-uniform", kernel, 4000, torch.Generator().manual_seed(seed)).double()
    assert float(sigma.min()) >= lo * (1 - 1e-6) and float(sigma.max()) <= hi * (1 + 1e-6)
    u = (sigma.log() - math.log(lo)) / math.log(hi / lo)  # U(0, 1): mean ½, variance 1/12
    assert abs(float(u.mean()) - 0.5) < 5 * math.sqrt(1 / 12 / 4000)


@given(mean=st.floats(-3, 3), std=st.floats(0.1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=30)
def test_log_normal_levels_have_the_asked_moments_and_truncation_keeps_them_in_range(mean, std, seed):
    kernel = RING_KERNELS[0]
    spec = {"name": "log-normal", "mean": mean, "std": std}
    log_sigma = sample_sigma(spec, kernel, 4000, torch.Generator().manual_seed(seed)).double().log()
    assert abs(float(log_sigma.mean()) - mean) < 5 * std / math.sqrt(4000)
    assert abs(float(log_sigma.std()) / std - 1) < 5 / math.sqrt(2 * 4000)
    lo, hi = kernel.sigma_range()
    kept = sample_sigma({**spec, "truncate": True}, kernel, 4000, torch.Generator().manual_seed(seed)).double()
    assert float(kept.min()) >= lo * (1 - 1e-6) and float(kept.max()) <= hi * (1 + 1e-6)


def test_ladder_and_kernel_levels_are_the_kernels_own():
    kernel = RING_KERNELS[0]
    drawn = sample_sigma("ladder", kernel, 500, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) <= set(kernel.sigmas.tolist())
    torch.testing.assert_close(
        sample_sigma("kernel", kernel, 50, torch.Generator().manual_seed(3)), kernel.sample_sigma(50, torch.Generator().manual_seed(3))
    )


@pytest.mark.parametrize(
    "bad", ["uniform", {"name": "log-normal", "std": 0.0}, {"name": "log-uniform", "mean": 1.0}, {"mean": 1.0}, 3]
)
def test_an_unknown_sigma_distribution_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="sigma_distribution|std"):
        DenoisingScoreMatching(sigma_distribution=bad)


@given(steps=st.integers(10, 1000), warmup=st.integers(1, 200), lr=st.floats(1e-5, 1.0))
def test_warmup_ramps_the_learning_rate_linearly_then_follows_the_decay(steps, warmup, lr):
    warm, plain = TrainConfig(steps=steps, lr=lr, warmup=warmup), TrainConfig(steps=steps, lr=lr)
    for k in (1, warmup // 2 + 1, warmup, warmup + 1, steps):
        assert warm.lr_at(k) == pytest.approx(min(1.0, k / warmup) * plain.lr_at(k))
    with pytest.raises(ConfigError):
        TrainConfig(warmup=-1)


def test_every_lever_trains_and_samples_together_and_survives_save_and_load(tmp_path):
    x = data.gaussian_mixture_2d(5000, seed=1)
    model = build(
        "ncsn",
        estimator={"preconditioning": "edm"},
        objective={"sigma_distribution": {"name": "log-normal", "mean": 0.0, "std": 1.5}, "reference": 512},
        sampler={"name": "ode", "n_steps": 5},
    ).fit(x, steps=30, batch_size=64, warmup=10, progress=False)
    assert torch.isfinite(model.sample(20, seed=0)).all()
    loaded = load(model.save(tmp_path / "levers"))
    assert loaded.config == model.config
    torch.testing.assert_close(loaded.sample(20, seed=0), model.sample(20, seed=0))
