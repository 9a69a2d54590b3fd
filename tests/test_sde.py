"""Forward SDE kernels: marginals, drift and diffusion agree with each other and with the ladder."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build
from scoregen.kernels import VESDE, VPSDE, GaussianLadder, SubVPSDE

KERNELS = [GaussianLadder(), VESDE(sigma_max=20.0, sigma_min=0.05), VPSDE(), SubVPSDE(beta_min=0.5, beta_max=10.0)]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
@given(t=st.floats(0.01, 0.99))
def test_marginal_moments_solve_the_sde(kernel, t):
    """For linear drift f = −½β x: d log m/dt = f/x and d s²/dt = 2 (f/x) s² + g² (moment equations),
    checked by central differences against the closed forms."""
    h = 1e-5
    tt = torch.tensor([t - h, t, t + h], dtype=torch.float64)
    m, s = kernel.marginal(tt)
    x = torch.ones(3, 1, dtype=torch.float64)
    rate = kernel.drift(x, tt)[1, 0].item()  # f(x, t)/x
    dlogm = (m[2].log() - m[0].log()).item() / (2 * h)
    dvar = (s[2] ** 2 - s[0] ** 2).item() / (2 * h)
    assert dlogm == pytest.approx(rate, rel=1e-5, abs=1e-8)
    assert dvar == pytest.approx(2 * rate * s[1].item() ** 2 + kernel.diffusion(tt[1]).item() ** 2, rel=1e-5)


def test_ladder_levels_lie_on_its_ve_sde():
    kernel = GaussianLadder(sigma_max=10.0, sigma_min=0.01, n_levels=7)
    t = torch.linspace(1, 0, 7, dtype=torch.float64)
    assert torch.allclose(kernel.noise_level(t).float(), kernel.sigmas, rtol=1e-6)
    assert kernel.diffusion(0.0).item() == pytest.approx(0.01 * math.sqrt(2 * math.log(1000)))


@pytest.mark.parametrize("kernel", KERNELS[2:], ids=lambda k: type(k).__name__)
def test_score_of_the_marginal_from_the_noise_conditional_score(kernel, ring):
    """p_t(x) = m⁻ᴰ p_σ(x/m) with σ = s/m, so ∇log p_t(x) is the ring's exact marginal score:
    the mixture with means m μ_k and covariances m² Σ_k + s² I."""
    from scoregen.analytic import GaussianMixture

    t = 0.3
    m, s = (float(v) for v in kernel.marginal(torch.tensor(t, dtype=torch.float64)))
    marginal = GaussianMixture(ring.weights, m * ring.means, m**2 * ring.covariances + s**2)
    x = marginal.sample(500, generator=torch.Generator().manual_seed(0))
    got = kernel.score(ring.score_at, x, torch.full((500,), t, dtype=torch.float64))
    assert torch.allclose(got, marginal.score(x), rtol=1e-6, atol=1e-8)


def test_forward_sde_simulation_matches_the_marginal():
    """Euler–Maruyama on the forward VP SDE from a point mass gives mean m(t) x₀ and std s(t)."""
    kernel = VPSDE()
    g = torch.Generator().manual_seed(0)
    x = torch.full((40_000, 1), 2.0, dtype=torch.float64)
    grid = torch.linspace(0, 0.5, 1001, dtype=torch.float64).tolist()
    for t, t_next in zip(grid, grid[1:]):
        dt = t_next - t
        tb = torch.full((x.shape[0],), t, dtype=torch.float64)
        x = x + kernel.drift(x, tb) * dt + kernel.diffusion(t).item() * math.sqrt(dt) * torch.randn(x.shape, generator=g, dtype=x.dtype)
    m, s = (float(v) for v in kernel.marginal(torch.tensor(0.5, dtype=torch.float64)))
    assert x.mean().item() == pytest.approx(2 * m, abs=0.02)
    assert x.std().item() == pytest.approx(s, rel=0.02)


def test_ve_trains_at_log_uniform_levels():
    kernel = VESDE(sigma_max=10.0, sigma_min=0.01)
    sigma = kernel.sample_sigma(50_000, torch.Generator().manual_seed(0)).double()
    u = (sigma.log() - math.log(0.01)) / math.log(1000)
    assert u.min() >= 0 and u.max() <= 1
    assert u.mean().item() == pytest.approx(0.5, abs=0.01)
    assert u.var().item() == pytest.approx(1 / 12, abs=0.003)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
def test_prior_is_the_marginal_at_t_1_in_estimator_coordinates(kernel):
    draw = kernel.prior_sample((50_000, 2), torch.Generator().manual_seed(0))
    sigma_1 = kernel.noise_level(torch.tensor(1.0, dtype=torch.float64)).item()
    assert draw.std().item() == pytest.approx(sigma_1, rel=0.01)
    assert kernel.sigmas[0].item() == pytest.approx(sigma_1, rel=1e-5)


def test_presets_build_and_train(ring):
    x = ring.sample(512, generator=torch.Generator().manual_seed(0)).float()
    for name in ("ve-sde", "vp-sde"):
        model = build(name)
        model.fit(x, steps=3, batch_size=64, progress=False)
        assert model.config.preset == name
        assert model.sample(4, seed=0, sampler={"n_steps": 3}).shape == (4, 2)


@pytest.mark.parametrize("kernel", ["ve", "vp", "subvp"])
def test_sde_models_save_and_load(tmp_path, kernel, ring):
    from scoregen import load

    model = build("ncsn", kernel={"name": kernel}, sampler={"name": "ode", "n_steps": 3}, event_shape=(2,))
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert type(again.kernel) is type(model.kernel) and again.config == model.config
    assert torch.equal(again.sample(3, seed=0), model.sample(3, seed=0))
