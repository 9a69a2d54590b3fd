"""Schedules against their definitions: derivatives, inverses, and the SDE they imply."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen.errors import ConfigError
from scoregen.kernels import (
    VESDE,
    CosineSchedule,
    EDMSchedule,
    FlowKernel,
    GaussianLadder,
    LinearInterpolant,
    Schedule,
    SubVPSchedule,
    VESchedule,
    VPSchedule,
)

SCHEDULES = [
    VESchedule(sigma_min=0.01, sigma_max=10.0),
    VPSchedule(),
    SubVPSchedule(beta_min=0.5, beta_max=10.0),
    CosineSchedule(),
    EDMSchedule(),
    LinearInterpolant(),
]
IDS = [type(s).__name__ for s in SCHEDULES]


def _times(schedule, n=33):
    lo, hi = schedule.t_min, schedule.t_max
    return torch.linspace(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo), n, dtype=torch.float64)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_derivatives_are_those_of_the_marginal(schedule):
    t = _times(schedule)
    h = 1e-6 * (schedule.t_max - schedule.t_min)
    (m1, s1), (m0, s0) = schedule.marginal(t + h), schedule.marginal(t - h)
    dm, ds = schedule.marginal_derivative(t)
    torch.testing.assert_close(dm, (m1 - m0) / (2 * h), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ds, (s1 - s0) / (2 * h), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_inverse_recovers_time_and_matches_bisection(schedule):
    t = _times(schedule)
    sigma = schedule.sigma(t)
    assert bool((sigma[1:] > sigma[:-1]).all()), "σ(t) must increase"
    torch.testing.assert_close(schedule.t_of_sigma(sigma), t, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(Schedule.t_of_sigma(schedule, sigma), t, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(schedule.t_of_logsnr(-2 * sigma.log()), t, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_sde_coefficients_follow_from_m_and_s(schedule):
    """``f = m'/m`` and ``g² = 2 s s' − 2 f s²``, i.e. the forward SDE's variance obeys
    ``d s²/dt = 2 f s² + g²`` — checked against the generic formula and a finite difference."""
    t = _times(schedule)
    m, s = schedule.marginal(t)
    dm, ds = schedule.marginal_derivative(t)
    f = schedule.drift_coefficient(t)
    torch.testing.assert_close(f, dm / m)
    torch.testing.assert_close(schedule.diffusion_squared(t), Schedule.diffusion_squared(schedule, t), rtol=1e-7, atol=1e-9)
    h = 1e-6 * (schedule.t_max - schedule.t_min)
    var_rate = (schedule.marginal(t + h)[1] ** 2 - schedule.marginal(t - h)[1] ** 2) / (2 * h)
    torch.testing.assert_close(var_rate, 2 * f * s**2 + schedule.diffusion_squared(t), rtol=1e-5, atol=1e-7)


def test_known_closed_forms():
    t = torch.tensor([0.25, 0.5], dtype=torch.float64)
    ve = VESchedule(sigma_min=0.1, sigma_max=10.0)
    torch.testing.assert_close(ve.sigma(t), 0.1 * 100.0**t)
    vp = VPSchedule(beta_min=0.1, beta_max=20.0)
    torch.testing.assert_close(vp.diffusion_squared(t), 0.1 + t * 19.9)
    flow = LinearInterpolant()
    torch.testing.assert_close(flow.sigma(t), t / (1 - t))
    edm = EDMSchedule()
    torch.testing.assert_close(edm.sigma(torch.tensor([1.0, 5.0], dtype=torch.float64)), torch.tensor([1.0, 5.0], dtype=torch.float64))


@given(st.floats(1e-3, 1e3))
def test_flow_kernel_inverse_is_sigma_over_one_plus_sigma(sigma):
    kernel = FlowKernel(t_min=1e-6, t_max=1 - 1e-6)
    assert float(kernel.time_of(sigma)) == pytest.approx(sigma / (1 + sigma), rel=1e-12)


def test_ladder_is_the_ve_schedule_at_evenly_spaced_times():
    ladder = GaussianLadder(sigma_max=10.0, sigma_min=0.01, n_levels=7)
    ve = VESDE(sigma_max=10.0, sigma_min=0.01, n_levels=7)
    torch.testing.assert_close(ladder.sigmas, ve.sigmas)
    assert ladder.sigma_range() == pytest.approx((0.01, 10.0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: VESchedule(sigma_min=1.0, sigma_max=0.5),
        lambda: VPSchedule(beta_min=2.0, beta_max=1.0),
        lambda: CosineSchedule(t_min=0.9, t_max=0.5),
        lambda: LinearInterpolant(t_max=1.0),
        lambda: EDMSchedule(sigma_min=float("nan")),
        lambda: VESDE(sigma_max=float("inf")),
        lambda: GaussianLadder(n_levels=2.5),
    ],
)
def test_bad_schedules_are_refused(make):
    with pytest.raises(ConfigError):
        make()
