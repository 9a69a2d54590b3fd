"""The σ-grid samplers: convergence at their stated order against a reference solution of the
probability-flow ODE (deterministic ones), convergence in distribution (stochastic ones), and the
edge cases other libraries' trackers report (1 and 2 steps, 3n − 1 steps, grids ending at 0 or at
σ_min, ρ from 1 to 10, a batch of one, float64), each with the evaluation count checked exactly."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scoregen.analytic import GaussianMixture
from scoregen.config import resolve
from scoregen.errors import ConfigError
from scoregen.estimators.analytic import MixtureScore
from scoregen.kernels import VESDE, VPSDE, EDMKernel, GaussianLadder
from scoregen.plugins import get_registry
from scoregen.testing import check_sampler
from scoregen.testing.convergence import check_in_distribution, check_order

GRID_SAMPLERS = ["euler", "heun", "edm", "euler-ancestral", "ddim", "dpm-solver", "dpm++2m", "dpm++2m-sde", "dpm++3m-sde", "unipc", "lms"]

# (sampler, params, stated order): the deterministic ones, and the stochastic ones with their noise off.
ORDERS = [
    ("euler", {}, 1),
    ("heun", {}, 2),
    ("edm", {}, 2),
    ("ddim", {}, 1),
    ("euler-ancestral", {"eta": 0.0}, 1),
    ("dpm-solver", {"order": 1}, 1),
    ("dpm-solver", {"order": 2}, 2),
    ("dpm-solver", {"order": 3}, 3),
    ("dpm++2m", {}, 2),
    ("dpm++2m-sde", {"eta": 0.0}, 2),
    ("dpm++2m-sde", {"eta": 0.0, "solver_type": "heun"}, 2),
    ("dpm++3m-sde", {"eta": 0.0}, 3),
    ("unipc", {"order": 1}, 2),
    ("unipc", {"order": 2}, 3),
    ("unipc", {"order": 3}, 3),
    ("unipc", {"order": 1, "variant": "bh1"}, 2),
    ("unipc", {"order": 2, "variant": "bh1"}, 3),
    ("unipc", {"order": 3, "variant": "bh1"}, 3),
    ("unipc", {"order": 3, "corrector": False}, 3),
    ("lms", {"order": 1}, 1),
    ("lms", {"order": 2}, 2),
    ("lms", {"order": 3}, 3),
    ("lms", {"order": 4}, 3),
]
# One case per sampler runs in the default suite (on 32 to 128 steps); the rest are slow.
FAST = {"euler", "heun", "edm", "ddim", "euler-ancestral{'eta': 0.0}", "dpm-solver{'order': 3}", "dpm++2m",
        "dpm++2m-sde{'eta': 0.0}", "dpm++3m-sde{'eta': 0.0}", "unipc{'order': 3}", "lms{'order': 4}"}
# (sampler, params, budgets): first-order ancestral steps need more steps to shed their bias.
STOCHASTIC = [
    ("edm", {"S_churn": 10.0}, (5, 40)),
    ("euler-ancestral", {}, (10, 160)),
    ("ddim", {"eta": 1.0}, (10, 160)),
    ("dpm++2m-sde", {}, (5, 40)),
    ("dpm++3m-sde", {}, (5, 40)),
]


def make(name: str, **params):
    return get_registry().get("sampler", name).factory(**params)


def _id(case) -> str:
    return f"{case[0]}{case[1] or ''}"


def _order_cases():
    for name, params, order in ORDERS:
        fast = _id((name, params)) in FAST
        marks = () if fast else (pytest.mark.slow,)
        yield pytest.param(name, params, order, fast, marks=marks, id=_id((name, params)))


@pytest.mark.parametrize(("name", "params", "order", "fast"), list(_order_cases()))
def test_ode_sampler_converges_at_its_order(name, params, order, fast):
    steps = (32, 64, 128) if fast else (32, 64, 128, 256)
    check_order(make(name, **params), order, steps=steps)


def test_order_check_catches_a_wrong_coefficient(monkeypatch):
    """The check fails the third-order solver with its second-difference term halved — the public
    DPM-Solver++(3M) coefficient that scoregen.samplers.dpm corrects."""
    from scoregen.samplers import dpm

    monkeypatch.setattr(dpm, "SECOND_DIFFERENCE_WEIGHT", 1.0)
    with pytest.raises(AssertionError, match="slope"):
        check_order(make("dpm++3m-sde", eta=0.0), 3, steps=(64, 128, 256, 512))


@pytest.mark.parametrize(("name", "params", "steps"), STOCHASTIC, ids=[_id(c) for c in STOCHASTIC])
def test_stochastic_sampler_converges_in_distribution(name, params, steps):
    check_in_distribution(make(name, **params), steps=steps)


def test_distribution_check_catches_a_sampler_that_stops_short():
    """A sampler that skips its last steps (ends at a larger σ) is too spread out and fails."""
    with pytest.raises(AssertionError, match="does not approach"):
        check_in_distribution(make("euler-ancestral", grid={"name": "karras", "rho": 0.3}), steps=(5, 10))


# First-order samplers need more than the default 20 steps for the ring of std 0.1's spread.
CONFORMANCE_BUDGET = {"euler-ancestral": {"n_steps": 100}, "ddim": {"n_steps": 100}}


@pytest.mark.parametrize("name", GRID_SAMPLERS)
def test_grid_sampler_conforms(name):
    check_sampler(make(name, **CONFORMANCE_BUDGET.get(name, {})))


# ------------------------------------------------------------------------------------ edge cases

mixture = GaussianMixture.ring()
exact = MixtureScore.from_mixture(mixture)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(GRID_SAMPLERS),
    n_steps=st.sampled_from([1, 2, 3, 5, 8, 11]),  # 1, 2 and 3n − 1 steps for n = 1 … 4
    grid=st.sampled_from(["karras", "exponential", "polyexponential", "uniform-t", "uniform-logsnr"]),
    rho=st.floats(1.0, 10.0),
    zero=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    kernel=st.sampled_from([GaussianLadder(), VESDE(), VPSDE(), EDMKernel()]),
)
def test_every_sampler_survives_the_edge_cases(name, n_steps, grid, rho, zero, dtype, kernel):
    spec = {"name": grid, "rho": rho} if grid in ("karras", "polyexponential") else grid
    sampler = make(name, n_steps=n_steps, grid=spec)
    sigmas = resolve("grid", spec)(kernel, n_steps, zero=zero)
    calls = []

    def counted(x, sigma):
        calls.append(x.dtype)
        return exact(x, sigma)

    x_init = kernel.prior_sample((1, 2), torch.Generator().manual_seed(0)).to(dtype)
    out = sampler.solve(counted, kernel, x_init, sigmas, generator=torch.Generator().manual_seed(1))
    assert out.shape == (1, 2) and out.dtype == dtype
    assert torch.isfinite(out).all()
    assert len(calls) == sampler.nfe_of(sigmas)
    assert set(calls) == {dtype}  # the estimator sees the input's dtype


@pytest.mark.parametrize("name", GRID_SAMPLERS)
def test_nfe_is_exact_and_callbacks_count_it(name):
    kernel = GaussianLadder()
    sampler = make(name, n_steps=5)
    seen = []
    calls = []

    def counted(x, sigma):
        calls.append(1)
        return exact(x, sigma)

    x_init = kernel.prior_sample((3, 2), torch.Generator().manual_seed(0))
    sampler.sample(counted, kernel, x_init, generator=torch.Generator().manual_seed(0), callback=seen.append)
    assert len(calls) == sampler.nfe(kernel)
    assert [info["step"] for info in seen] == list(range(5))
    assert seen[-1]["nfe"] == len(calls) and seen[-1]["sigma"] == 0 and seen[-1]["t"] is None
    assert all({"step", "nfe", "sigma", "t", "x"} <= set(info) for info in seen)


def test_heun_evaluates_its_second_stage_at_the_next_level():
    """EDM Algorithm 1: the correction is evaluated at σ_{i+1} (a wrong σ there was a diffusers bug)."""
    levels = []

    def recording(x, sigma):
        levels.append(float(sigma[0]))
        return exact(x, sigma)

    sigmas = torch.tensor([10.0, 3.0, 1.0, 0.0], dtype=torch.float64)
    kernel = GaussianLadder()
    make("heun").solve(recording, kernel, kernel.prior_sample((2, 2)), sigmas)
    assert levels == pytest.approx([10.0, 3.0, 3.0, 1.0, 1.0])


def test_samplers_follow_the_input_device_and_generator():
    """Every draw comes from ``generator``: one seed reproduces a stochastic run, another changes it,
    and the global RNG is left alone."""
    kernel = GaussianLadder()
    x_init = kernel.prior_sample((4, 2), torch.Generator().manual_seed(0))
    sampler = make("dpm++2m-sde", n_steps=6)
    state = torch.get_rng_state()
    a, b, c = (sampler.sample(exact, kernel, x_init, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------------------------------------- grids

GRIDS = ["karras", "exponential", "polyexponential", "uniform-t", "uniform-logsnr"]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("kernel", [GaussianLadder(), VPSDE(), EDMKernel()], ids=["ladder", "vp", "edm"])
def test_grid_convention(grid, kernel):
    lo, hi = kernel.sigma_range()
    g = resolve("grid", grid)
    with_zero, without = g(kernel, 6), g(kernel, 6, zero=False)
    assert with_zero.dtype == torch.float64 and with_zero.shape == (7,) and without.shape == (7,)
    assert float(with_zero[0]) == pytest.approx(hi) and float(with_zero[-1]) == 0.0
    assert float(with_zero[-2]) == pytest.approx(lo) and float(without[-1]) == pytest.approx(lo)
    assert bool((with_zero[1:] < with_zero[:-1]).all())
    assert g(kernel, 1).tolist() == pytest.approx([hi, 0.0])


def test_grids_match_their_formulas():
    kernel = GaussianLadder()  # σ from 10 to 0.01, the VE schedule
    geometric = torch.logspace(math.log10(10.0), math.log10(0.01), 5, dtype=torch.float64)
    for name in ("exponential", "uniform-t", "uniform-logsnr", {"name": "polyexponential", "rho": 1.0}):
        assert torch.allclose(resolve("grid", name)(kernel, 4, zero=False), geometric, rtol=1e-9)
    linear = torch.linspace(10.0, 0.01, 5, dtype=torch.float64)
    assert torch.allclose(resolve("grid", {"name": "karras", "rho": 1.0})(kernel, 4, zero=False), linear)
    rho7 = resolve("grid", "karras")(kernel, 4, zero=False)
    assert torch.allclose(rho7 ** (1 / 7), torch.linspace(10 ** (1 / 7), 0.01 ** (1 / 7), 5, dtype=torch.float64))
    assert torch.allclose(resolve("grid", "ladder")(kernel, 10)[:-1], kernel.sigmas.double())


def test_grids_can_set_their_own_range():
    grid = resolve("grid", {"name": "karras", "sigma_min": 0.06, "sigma_max": 5.0})(GaussianLadder(), 4)
    assert grid.tolist()[0] == pytest.approx(5.0) and grid.tolist()[-2:] == pytest.approx([0.06, 0.0])
    with pytest.raises(ConfigError, match="sigma_max > sigma_min"):
        resolve("grid", {"name": "exponential", "sigma_min": 20.0})(GaussianLadder(), 4)


def test_grid_errors_are_config_errors():
    with pytest.raises(ConfigError, match="rho"):
        resolve("grid", {"name": "karras", "rho": -1})
    with pytest.raises(ConfigError, match="n_steps=10"):
        resolve("grid", "ladder")(GaussianLadder(), 4)
    with pytest.raises(ConfigError):
        make("heun", grid="karas")
    with pytest.raises(ConfigError, match="n_steps"):
        make("euler", n_steps=0)
    with pytest.raises(ConfigError, match="strictly decreasing"):
        make("euler").solve(exact, GaussianLadder(), torch.zeros(1, 2), torch.tensor([1.0, 2.0, 0.0]))


@pytest.mark.parametrize("n_steps", [1, 2, 5])
@pytest.mark.parametrize("name", ["reverse-sde", "pc", "ode"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_samplers_survive_few_steps_with_exact_counts(name, n_steps, dtype):
    kernel = VPSDE()
    sampler = make(name, n_steps=n_steps)
    calls = []

    def counted(x, sigma):
        calls.append(1)
        return exact(x, sigma)

    x_init = kernel.prior_sample((1, 2), torch.Generator().manual_seed(0)).to(dtype)
    out = sampler.sample(counted, kernel, x_init, generator=torch.Generator().manual_seed(1))
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert len(calls) == sampler.nfe(kernel)
