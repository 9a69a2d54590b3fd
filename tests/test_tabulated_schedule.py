"""The SDE and ODE samplers read the schedule from one tabulation of their time grid
(:func:`scoregen.kernels.coordinates.tabulate`) instead of making ``[B]`` tensors each step: the
steps they take must be the very bits the kernel's own ``score``, ``drift`` and ``diffusion`` give."""

import math

import pytest
import torch

from scoregen._tensor import rounded
from scoregen.kernels import VESDE, VPSDE, CosineVP, EDMKernel, FlowKernel, GaussianLadder, SubVPSDE
from scoregen.kernels.coordinates import score_at, tabulate, times
from scoregen.samplers.predictors import EulerMaruyama, ReverseDiffusion

KERNELS = [GaussianLadder(), VESDE(sigma_max=20.0, sigma_min=0.05), VPSDE(), SubVPSDE(), CosineVP(), EDMKernel(), FlowKernel()]


def estimator(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A smooth score-like field that uses both arguments in every entry."""
    return torch.tanh(x) * sigma[:, None] - x / (1 + sigma[:, None] ** 2)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_tabulated_score_and_steps_are_the_kernels_bits(kernel, dtype):
    grid = kernel.time_grid(7).tolist()
    table = tabulate(kernel, grid, dtype)
    x = torch.randn(33, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    for t, t_next in zip(grid, grid[1:]):
        tb = times(x, t)
        assert torch.equal(score_at(estimator, x, table[t]), kernel.score(estimator, x, tb))
        # Euler–Maruyama as the kernel's methods write it, with the noise the predictor draws.
        g = kernel.diffusion(tb)[:, None].to(dtype)
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        expected = x + (kernel.drift(x, tb) - g**2 * kernel.score(estimator, x, tb)) * (t_next - t) + g * math.sqrt(t - t_next) * z
        step = EulerMaruyama().step(estimator, x, table, t, t_next, torch.Generator().manual_seed(1))
        assert torch.equal(step, expected)
        assert torch.equal(EulerMaruyama()(estimator, kernel, x, t, t_next, torch.Generator().manual_seed(1)), expected)
        # Reverse diffusion with the marginals read one time at a time.
        (m, s), (m_next, s_next) = (kernel.marginal(torch.tensor(u, dtype=torch.float64)) for u in (t, t_next))
        a = float(m) / float(m_next)
        b2 = max(float(s) ** 2 - a**2 * float(s_next) ** 2, 0.0)
        mean = (x + b2 * kernel.score(estimator, x, tb)) / a
        assert torch.equal(ReverseDiffusion().step(estimator, x, table, t, t_next, None, noise=False), mean)


def test_a_mutated_table_is_noticed():
    """The equality above is not vacuous: a table one float32 ulp off in g changes the step."""
    kernel, dtype = VPSDE(), torch.float32
    grid = kernel.time_grid(3).tolist()
    table = tabulate(kernel, grid, dtype)
    t, t_next = grid[1], grid[2]
    at = table[t]
    off = {**table, t: at._replace(g=float(torch.nextafter(torch.tensor(at.g), torch.tensor(math.inf))))}
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    ok = EulerMaruyama().step(estimator, x, table, t, t_next, torch.Generator().manual_seed(1))
    assert not torch.equal(EulerMaruyama().step(estimator, x, off, t, t_next, torch.Generator().manual_seed(1)), ok)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_rounded_is_what_a_tensor_of_the_dtype_holds(dtype):
    for value in (0.1, 1 / 3, math.pi * 1e-3, 12345.678, -2.5e-7):
        assert rounded(value, dtype) == torch.tensor([value], dtype=torch.float64).to(dtype).item()
