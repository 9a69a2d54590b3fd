"""σ distributions as registered components: names and dicts from config files still resolve,
each draws what its definition says, and bad values are config errors."""

import math

import pytest
import torch

from scoregen import build
from scoregen.config import ModelConfig
from scoregen.errors import ConfigError
from scoregen.kernels import VESDE, FlowKernel
from scoregen.objectives.noise_levels import (
    SIGMA_DISTRIBUTIONS,
    LogNormal,
    LogUniform,
    UniformTime,
    resolve,
    sample_sigma,
)
from scoregen.plugins import get_registry


def _seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_every_distribution_is_registered_and_resolves_from_its_config_form():
    assert get_registry().names("sigma-distribution") == sorted(SIGMA_DISTRIBUTIONS)
    assert resolve("log-uniform") == LogUniform()
    assert resolve({"name": "log-normal", "mean": -1.2, "std": 1.2, "truncate": True}) == LogNormal(mean=-1.2, std=1.2, truncate=True)
    custom = UniformTime()
    assert resolve(custom) is custom


def test_config_values_round_trip_through_config_json():
    model = build("ve-sde")
    again = ModelConfig.from_json(model.config.to_json())
    assert again.objective.params["sigma_distribution"] == {"name": "log-normal", "mean": 0.0, "std": 1.5}
    assert build(again).objective == model.objective


def test_draws_follow_their_definitions():
    kernel = VESDE()
    lo, hi = kernel.sigma_range()
    u = torch.rand(64, generator=_seeded(0), dtype=torch.float64)
    torch.testing.assert_close(sample_sigma("log-uniform", kernel, 64, _seeded(0)), torch.exp(math.log(lo) + u * math.log(hi / lo)).float())
    z = torch.randn(64, generator=_seeded(1), dtype=torch.float64)
    torch.testing.assert_close(sample_sigma({"name": "log-normal", "mean": 0.5, "std": 2.0}, kernel, 64, _seeded(1)), torch.exp(0.5 + 2 * z).float())
    truncated = sample_sigma({"name": "log-normal", "mean": 3.0, "std": 2.0, "truncate": True}, kernel, 4000, _seeded(2))
    assert float(truncated.min()) >= lo * (1 - 1e-6) and float(truncated.max()) <= hi * (1 + 1e-6)
    flow = FlowKernel()
    t = flow.t_min + (flow.t_max - flow.t_min) * torch.rand(64, generator=_seeded(3), dtype=torch.float64)
    torch.testing.assert_close(sample_sigma("uniform-t", flow, 64, _seeded(3)), flow.noise_level(t).float())


@pytest.mark.parametrize(
    "bad, message",
    [
        ("uniform", "did you mean 'uniform-t'"),
        ({"name": "log-normal", "std": -1.0}, "std must be positive"),
        ({"name": "log-normal", "truncate": "yes"}, "truncate must be true or false"),
        ({"name": "kernel", "mean": 0.0}, "takes no parameters"),
        ({"std": 1.0}, "a dict with 'name'"),
    ],
)
def test_bad_distributions_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        resolve(bad)
