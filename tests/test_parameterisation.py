"""Parameterisations against their definitions: round trips on every schedule, targets whose
conditional mean is the exact score, and every sampler giving the same samples whatever the
network predicts."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scoregen import build
from scoregen.analytic import GaussianMixture
from scoregen.errors import ConfigError
from scoregen.estimators import MixtureScore, NoiseConditionalMLP, NoiseConditionalUNet
from scoregen.estimators.parameterisation import (
    PARAMETERISATIONS,
    as_prediction,
    as_score,
    coefficients,
    parameterisation_of,
    resolve,
)
from scoregen.kernels import (
    VESDE,
    VPSDE,
    CosineVP,
    EDMKernel,
    FlowKernel,
    GaussianLadder,
    SubVPSDE,
)
from scoregen.plugins import get_registry

KERNELS = [GaussianLadder(), VESDE(), VPSDE(), SubVPSDE(), CosineVP(), EDMKernel(), FlowKernel()]
KERNEL_IDS = [type(k).__name__ for k in KERNELS]
NAMES = sorted(PARAMETERISATIONS)
RING = GaussianMixture.ring()


class Predicting:
    """An exact score estimator rewritten to predict ``name`` on ``kernel``: fed what a network of
    that parameterisation is fed, returning its prediction."""

    def __init__(self, score, kernel, name: str) -> None:
        self.score, self.kernel, self.parameterisation = score, kernel, name
        self.event_shape = (2,)

    def __call__(self, x_in, sigma):
        p = resolve(self.parameterisation)
        c = coefficients(self.kernel, sigma, x_in)
        x_hat = x_in / c.b(c.m, x_in) if p.name in ("v", "velocity") else x_in
        return p.from_score(self.score(x_hat, sigma), x_hat, c)


def _sigma_in_range(kernel, u: torch.Tensor) -> torch.Tensor:
    return kernel.noise_level(kernel.t_min + (kernel.t_max - kernel.t_min) * u)


def test_every_parameterisation_is_registered():
    assert get_registry().names("parameterisation") == NAMES
    for name in NAMES:
        assert resolve(name).name == name


@settings(max_examples=25, deadline=None)
@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
@given(u=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_round_trips_on_every_schedule(kernel, u, seed):
    """``to_score ∘ from_score`` and ``from_score ∘ to_score`` are the identity, for every pair
    (``a → score → b → score → a``), in float64."""
    g = torch.Generator().manual_seed(seed)
    sigma = _sigma_in_range(kernel, torch.full((5,), u, dtype=torch.float64))
    x = torch.randn(5, 3, generator=g, dtype=torch.float64) * (1 + sigma[:, None])
    score = torch.randn(5, 3, generator=g, dtype=torch.float64) / sigma[:, None]
    c = coefficients(kernel, sigma, x)
    for a in NAMES:
        pa = resolve(a)
        out_a = pa.from_score(score, x, c)
        torch.testing.assert_close(pa.to_score(out_a, x, c), score, rtol=1e-9, atol=1e-9 / float(sigma.min()))
        for b in NAMES:
            pb = resolve(b)
            back = pa.from_score(pb.to_score(pb.from_score(pa.to_score(out_a, x, c), x, c), x, c), x, c)
            scale = 1e-8 * (1 + out_a.abs().max())
            torch.testing.assert_close(back, out_a, rtol=1e-8, atol=float(scale))


@settings(max_examples=25, deadline=None)
@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
@given(u=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_targets_are_exact_for_a_point_mass(kernel, u, seed):
    """For data at one point ``x₀`` the score at ``x̂ = x₀ + σ ε`` is ``−ε/σ`` exactly, so every
    target must convert to it."""
    g = torch.Generator().manual_seed(seed)
    sigma = _sigma_in_range(kernel, torch.full((4,), u, dtype=torch.float64))
    x0, eps = torch.randn(2, 4, 2, generator=g, dtype=torch.float64)
    x_hat = x0 + sigma[:, None] * eps
    c = coefficients(kernel, sigma, x_hat)
    for name in NAMES:
        p = resolve(name)
        got = p.to_score(p.target(x0, eps, c), x_hat, c)
        torch.testing.assert_close(got, -eps / sigma[:, None], rtol=1e-8, atol=1e-8 / float(sigma.min()))


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_v_and_velocity_targets_are_their_definitions(kernel):
    """``v = m ε − s x₀`` and ``u = dx_t/dt`` (a central difference of ``m(t) x₀ + s(t) ε``)."""
    g = torch.Generator().manual_seed(0)
    t = kernel.t_min + (kernel.t_max - kernel.t_min) * torch.linspace(0.1, 0.9, 6, dtype=torch.float64)
    sigma = kernel.noise_level(t)
    x0, eps = torch.randn(2, 6, 2, generator=g, dtype=torch.float64)
    c = coefficients(kernel, sigma, x0)
    m, s = kernel.marginal(t)
    torch.testing.assert_close(resolve("v").target(x0, eps, c), m[:, None] * eps - s[:, None] * x0)
    h = 1e-6 * (kernel.t_max - kernel.t_min)
    path = lambda tt: kernel.marginal(tt)[0][:, None] * x0 + kernel.marginal(tt)[1][:, None] * eps  # noqa: E731
    finite_difference = (path(t + h) - path(t - h)) / (2 * h)
    torch.testing.assert_close(resolve("velocity").target(x0, eps, c), finite_difference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kernel", [VPSDE(), FlowKernel(), GaussianLadder()], ids=["vp", "flow", "ladder"])
def test_an_exact_network_of_any_parameterisation_is_the_exact_score(kernel, name):
    exact = MixtureScore.from_mixture(RING)
    g = torch.Generator().manual_seed(1)
    sigma = kernel.sigmas.double().repeat_interleave(8)  # float64: x₀ → score loses eps·‖x‖/σ² in float32
    x = RING.sample(len(sigma), generator=g) + sigma[:, None] * torch.randn(len(sigma), 2, generator=g, dtype=torch.float64)
    got = as_score(Predicting(exact, kernel, name), kernel)(x, sigma)
    torch.testing.assert_close(got, exact(x, sigma), rtol=1e-7, atol=1e-7)


def test_a_score_estimator_is_returned_as_it_is():
    exact = MixtureScore.from_mixture(RING)
    assert as_score(exact, FlowKernel()) is exact
    assert as_prediction(exact, FlowKernel(), "score") is exact
    assert parameterisation_of(exact).name == "score"


def _gaussian_samplers():
    """Every built-in sampler of Gaussian kernels (plugins bring their own step-size rules)."""
    registry = get_registry()
    for entry in registry:
        if entry.kind == "sampler" and entry.provider == "scoregen" and "gaussian" in getattr(entry.factory, "families", ()):
            yield entry.name


# Few steps; annealed Langevin's step α = ε σ²/σ_L² must stay below 2σ² on the flow ladder (σ_L = 10⁻³).
FAST = {"annealed-langevin": {"n_steps_each": 5, "step_lr": 1e-7}, "langevin": {"n_steps": 20}, "reverse-sde": {"n_steps": 20}, "pc": {"n_steps": 10}, "ode": {"n_steps": 10}}


@pytest.mark.parametrize("sampler", list(_gaussian_samplers()))
@pytest.mark.parametrize("kernel", ["ve", "vp", "flow"])
def test_every_sampler_gives_the_same_samples_whatever_the_network_predicts(sampler, kernel):
    """``build(..., estimator=network)`` binds the parameterisation: samples from exact networks
    predicting ε, x₀, v or a velocity equal those of the score network, to round-off."""
    spec = {"name": sampler, **FAST.get(sampler, {})}
    reference = build("ve-sde", kernel=kernel, estimator=MixtureScore.from_mixture(RING), sampler=spec)
    expected = reference.sample(64, seed=3)
    assert torch.isfinite(expected).all()
    for name in NAMES:
        network = Predicting(reference.estimator, reference.kernel, name)
        got = build("ve-sde", kernel=kernel, estimator=network, sampler=spec).sample(64, seed=3)
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("name", NAMES)
def test_networks_take_a_parameterisation_and_keep_it_in_their_config(name, tmp_path):
    model = build("flow-matching", estimator={"parameterisation": name}, event_shape=(2,))
    assert parameterisation_of(model.estimator).name == name
    assert model.estimator.hparams["preconditioning"] == ("ncsn" if name == "score" else "none")
    x = RING.sample(256, generator=torch.Generator().manual_seed(0)).float()
    model.fit(x, steps=2, progress=False)
    model.save(tmp_path / "m")
    from scoregen import load

    loaded = load(tmp_path / "m")
    assert loaded.config == model.config
    torch.testing.assert_close(loaded.sample(8, seed=0), model.sample(8, seed=0))


def test_saved_score_networks_still_load_without_the_parameter():
    net = NoiseConditionalMLP((2,), preconditioning="ncsn")
    assert net.parameterisation == "score" and net.hparams["preconditioning"] == "ncsn"
    assert NoiseConditionalUNet((1, 8, 8), parameterisation="eps").hparams["preconditioning"] == "none"


def test_bad_parameterisations_are_config_errors():
    with pytest.raises(ConfigError, match="parameterisation must be one of"):
        NoiseConditionalMLP((2,), parameterisation="noise")
    with pytest.raises(ConfigError, match="preconditioning='edm'"):
        NoiseConditionalMLP((2,), parameterisation="velocity", preconditioning="edm")


def test_preconditionings_are_registered_rules():
    from scoregen.estimators.precond import PRECONDITIONINGS, Preconditioner

    assert get_registry().names("preconditioning") == sorted(PRECONDITIONINGS)
    x, out, sigma = torch.randn(3, 2), torch.randn(3, 2), torch.tensor([0.5, 1.0, 2.0])
    torch.testing.assert_close(Preconditioner("none").score(out, x, sigma), out)
    torch.testing.assert_close(Preconditioner("ncsn").score(out, x, sigma), out / sigma[:, None])
    with pytest.raises(ConfigError, match="needs data"):
        Preconditioner("edm").score(out, x, sigma)
    with pytest.raises(ConfigError, match="preconditioning must be one of"):
        Preconditioner("karras")
