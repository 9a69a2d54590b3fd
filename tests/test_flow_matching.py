"""Flow matching against ground truth: the exact mixture velocity (Monte Carlo, autograd), the
objective's minimiser and its excess loss, the minibatch-OT coupling, and the preset."""

import itertools
import math

import pytest
import torch

from scoregen import build
from scoregen.analytic import GaussianMixture
from scoregen.errors import ConfigError
from scoregen.estimators import MixtureScore, MixtureVelocity
from scoregen.kernels import VESDE, VPSDE, CosineVP, FlowKernel, GaussianLadder
from scoregen.objectives import FlowMatching
from scoregen.objectives.flow_matching import ot_pairing
from scoregen.objectives.noise_levels import sample_sigma
from scoregen.testing import assert_score_close, assert_velocity_close, default_mixture
from tests.test_parameterisation import NAMES, Predicting

KERNELS = [FlowKernel(), VPSDE(), VESDE(), CosineVP()]
KERNEL_IDS = [type(k).__name__ for k in KERNELS]
MIXTURE = default_mixture()


def _path(kernel, t: float, n: int, generator):
    """``(x₀, z, x_t)`` at one time ``t``, float64."""
    m, s = (float(v) for v in kernel.marginal(torch.tensor(t, dtype=torch.float64)))
    x0 = MIXTURE.sample(n, generator=generator)
    z = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    return x0, z, m * x0 + s * z


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
@pytest.mark.parametrize("u", [0.1, 0.5, 0.9])
def test_exact_velocity_is_the_monte_carlo_conditional_mean(kernel, u):
    """``E[m' x₀ + s' z | x_t]`` by self-normalised importance sampling over 4·10⁵ draws of the
    data, weights ``N(x_t; m x₀, s² I)``: independent of Tweedie's formula."""
    g = torch.Generator().manual_seed(0)
    t = kernel.t_min + u * (kernel.t_max - kernel.t_min)
    tt = torch.tensor(t, dtype=torch.float64)
    (m, s), (dm, ds) = kernel.marginal(tt), kernel.schedule.marginal_derivative(tt)
    _, _, x_t = _path(kernel, t, 6, g)
    x0 = MIXTURE.sample(400_000, generator=g)
    log_w = -((x_t[:, None, :] - m * x0[None]) ** 2).sum(-1) / (2 * s**2)  # [6, N]
    w = torch.softmax(log_w, dim=1)
    z = (x_t[:, None, :] - m * x0[None]) / s
    monte_carlo = torch.einsum("bn,bnd->bd", w, dm * x0[None] + ds * z)
    ess = 1 / (w**2).sum(1)
    assert bool((ess > 50).all())
    scale = (dm.abs() + ds.abs() / s).item() * ess.rsqrt()[:, None] * 6
    exact = MIXTURE.velocity_at(x_t, t, kernel.schedule)
    assert bool(((exact - monte_carlo).abs() < scale).all()), (exact, monte_carlo, scale)


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_exact_velocity_is_the_probability_flow_drift_by_autograd(kernel):
    """``u = f x_t − ½ g² ∇ log p_t(x_t)`` with ``log p_t(x_t) = log p_σ(x_t/m) − D log m``
    differentiated by autograd (not through ``score_at``)."""
    g = torch.Generator().manual_seed(1)
    t = torch.full((64,), 0.5 * (kernel.t_min + kernel.t_max), dtype=torch.float64)
    t = t + 0.4 * (kernel.t_max - kernel.t_min) * torch.linspace(-1, 1, 64, dtype=torch.float64)
    m, s = kernel.marginal(t)
    x_t = (m[:, None] * MIXTURE.sample(64, generator=g) + s[:, None] * torch.randn(64, 2, generator=g, dtype=torch.float64))
    x_t.requires_grad_(True)
    (grad,) = torch.autograd.grad(MIXTURE.log_prob_at(x_t / m[:, None], s / m).sum(), x_t)
    drift = kernel.schedule.drift_coefficient(t)[:, None] * x_t - 0.5 * kernel.schedule.diffusion_squared(t)[:, None] * grad
    torch.testing.assert_close(MIXTURE.velocity_at(x_t.detach(), t, kernel.schedule), drift.detach(), rtol=1e-7, atol=1e-7)


def test_linear_interpolant_velocity_is_noise_minus_the_posterior_mean():
    """On ``x_t = (1 − t) x₀ + t z``: ``u = E[z − x₀ | x_t] = (x_t − E[x₀ | x_t])/t``."""
    kernel = FlowKernel()
    x_t = torch.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=torch.float64)
    t = 0.3
    sigma = t / (1 - t)
    x0_mean = x_t / (1 - t) + sigma**2 * MIXTURE.score_at(x_t / (1 - t), sigma)
    torch.testing.assert_close(MIXTURE.velocity_at(x_t, t, kernel.schedule), (x_t - x0_mean) / t)


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_assert_velocity_close_accepts_the_truth_in_any_parameterisation(kernel):
    velocity = MixtureVelocity(mixture=MIXTURE, kernel=kernel)
    assert_velocity_close(velocity, MIXTURE, kernel)
    assert_velocity_close(MixtureScore.from_mixture(MIXTURE), MIXTURE, kernel)
    for name in NAMES:
        assert_velocity_close(Predicting(MixtureScore.from_mixture(MIXTURE), kernel, name), MIXTURE, kernel)
    # and the exact velocity, converted, is the exact score
    from scoregen.estimators.parameterisation import as_score

    lo, hi = kernel.sigma_range()
    levels = [v for v in (0.05, 0.5, 5.0) if lo < v < hi]
    assert_score_close(as_score(velocity, kernel), MIXTURE, sigma=levels, rtol=1e-4)


def test_assert_velocity_close_rejects_a_wrong_velocity():
    kernel = FlowKernel()
    exact = MixtureVelocity(mixture=MIXTURE, kernel=kernel)

    class Biased:
        parameterisation = "velocity"

        def __call__(self, x, sigma):
            return exact(x, sigma) + 1e-2 * torch.tanh(x)

    with pytest.raises(AssertionError, match="differs from the exact velocity"):
        assert_velocity_close(Biased(), MIXTURE, kernel)
    with pytest.raises(AssertionError, match="differs from the exact velocity"):
        assert_velocity_close(MixtureVelocity(mixture=MIXTURE, kernel=VPSDE()), MIXTURE, kernel)


def _seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_the_target_is_the_conditional_velocity_of_the_linear_path():
    """With a network that predicts 0, ``ℓ = ½ ‖z − x₀‖²`` for the objective's own draws."""
    kernel = FlowKernel()
    x = MIXTURE.sample(32, generator=_seeded(0)).float()

    class Zero:
        parameterisation = "velocity"

        def __call__(self, x_t, sigma):
            return torch.zeros_like(x_t)

    terms = FlowMatching().per_sample(Zero(), kernel, x, generator=_seeded(5))
    g = _seeded(5)
    sigma = sample_sigma("uniform-t", kernel, 32, g)
    z = torch.randn(x.shape, generator=g)
    torch.testing.assert_close(terms.sigma, sigma)
    torch.testing.assert_close(terms.loss, 0.5 * (z - x).pow(2).sum(1))


@pytest.mark.parametrize("kernel", [FlowKernel(), VPSDE()], ids=["flow", "vp"])
def test_the_loss_is_the_same_whatever_the_exact_network_predicts(kernel):
    x = MIXTURE.sample(64, generator=_seeded(0)).float()
    exact = MixtureScore.from_mixture(MIXTURE)
    expected = FlowMatching().per_sample(exact, kernel, x, generator=_seeded(1)).loss
    for name in NAMES:
        got = FlowMatching().per_sample(Predicting(exact, kernel, name), kernel, x, generator=_seeded(1)).loss
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_the_exact_velocity_minimises_and_the_excess_loss_is_the_velocity_error():
    """``E ℓ(u) − E ℓ(u*) = ½ E ‖u − u*‖²`` (common random numbers; within 5 standard errors)."""
    kernel = FlowKernel()
    exact = MixtureVelocity(mixture=MIXTURE, kernel=kernel)
    w = torch.randn(2, 2, generator=_seeded(2), dtype=torch.float64)

    class Perturbed:
        parameterisation = "velocity"

        def __call__(self, x_t, sigma):
            return exact(x_t, sigma) + 0.3 * torch.tanh(x_t.double() @ w).to(x_t.dtype)

    x = MIXTURE.sample(20_000, generator=_seeded(3)).float()
    objective = FlowMatching()
    base = objective.per_sample(exact, kernel, x, generator=_seeded(4))
    worse = objective.per_sample(Perturbed(), kernel, x, generator=_seeded(4))
    diff = (worse.loss - base.loss).double()
    # The velocity error at fresh points of the same path and times.
    g = _seeded(6)
    t = kernel.time_of(base.sigma.double())
    m, s = kernel.marginal(t)
    x_t = m[:, None] * MIXTURE.sample(len(t), generator=g) + s[:, None] * torch.randn(len(t), 2, generator=g, dtype=torch.float64)
    error = 0.5 * (0.3 * torch.tanh(x_t @ w)).pow(2).sum(1)
    se = math.sqrt(diff.var() / len(diff) + error.var() / len(error))
    assert float(diff.mean()) > 0
    assert abs(float(diff.mean() - error.mean())) < 5 * se, (float(diff.mean()), float(error.mean()), se)


def test_ot_pairing_is_the_optimal_assignment():
    g = _seeded(7)
    x0, z = torch.randn(2, 6, 2, generator=g)
    pi = ot_pairing(x0, z)
    assert sorted(pi.tolist()) == list(range(6))
    cost = lambda p: float(((x0 - z[list(p)]) ** 2).sum())  # noqa: E731
    assert cost(pi.tolist()) == pytest.approx(min(cost(p) for p in itertools.permutations(range(6))))


def test_ot_coupling_shortens_the_paths_and_keeps_the_noise_marginal():
    kernel = FlowKernel()
    x = (MIXTURE.sample(256, generator=_seeded(8)) * 3).float()

    class Zero:
        parameterisation = "velocity"

        def __call__(self, x_t, sigma):
            return torch.zeros_like(x_t)

    independent = FlowMatching().per_sample(Zero(), kernel, x, generator=_seeded(9)).loss.mean()
    coupled = FlowMatching(coupling="ot").per_sample(Zero(), kernel, x, generator=_seeded(9)).loss.mean()
    assert float(coupled) < 0.7 * float(independent)  # ½ E‖z − x₀‖², shorter under the plan


def test_uniform_t_levels_are_uniform_in_time():
    kernel = GaussianLadder()
    sigma = sample_sigma("uniform-t", kernel, 20_000, _seeded(10)).double()
    lo, hi = kernel.sigma_range()
    assert float(sigma.min()) >= lo * (1 - 1e-6) and float(sigma.max()) <= hi * (1 + 1e-6)
    t = kernel.time_of(sigma)
    assert abs(float(t.mean()) - 0.5) < 5 * (1 / 12) ** 0.5 / 20_000**0.5


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="coupling"):
        FlowMatching(coupling="sinkhorn")
    with pytest.raises(ConfigError, match="sigma_distribution"):
        FlowMatching(sigma_distribution="uniform")


def test_the_preset_trains_and_samples():
    ring = GaussianMixture.ring()
    x = ring.sample(2048, generator=_seeded(11)).float()
    model = build("flow-matching")
    assert model.config.estimator.params["parameterisation"] == "velocity"
    first = float(model.loss(x[:512], generator=_seeded(0)).detach())
    model.fit(x, steps=150, progress=False)
    assert float(model.loss(x[:512], generator=_seeded(0)).detach()) < first
    samples = model.sample(256, seed=0)
    assert samples.shape == (256, 2) and bool(torch.isfinite(samples).all())
    assert model.sampler.nfe(model.kernel) == 20


def test_the_reference_target_is_close_to_the_exact_velocity():
    """With 4096 training rows beside the batch the target is nearly ``E[u | x_t]``: the exact
    velocity's loss falls by an order of magnitude from the conditional target's."""
    kernel = FlowKernel()
    exact = MixtureVelocity(mixture=MIXTURE, kernel=kernel)
    x = MIXTURE.sample(512, generator=_seeded(12)).float()
    train = MIXTURE.sample(50_000, generator=_seeded(13)).float()
    plain = FlowMatching().per_sample(exact, kernel, x, generator=_seeded(14)).loss.mean()
    stable = FlowMatching(reference=4096).with_data(train).per_sample(exact, kernel, x, generator=_seeded(14)).loss.mean()
    assert float(stable) < 0.1 * float(plain)
    with pytest.raises(ConfigError, match="draws from the training set"):
        FlowMatching(reference=8).per_sample(exact, kernel, x, generator=_seeded(14))
