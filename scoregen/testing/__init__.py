"""Verify score-based components against analytic ground truth: the tools our own test suite uses,
public for plugin authors and users.

- :mod:`scoregen.testing.strategies`: hypothesis strategies (``gaussian_mixtures``,
  ``noise_levels``, ``points``).
- Assertions, Gaussian family (:mod:`~scoregen.testing.assertions`): :func:`assert_score_close`,
  :func:`assert_velocity_close`, :func:`assert_objective_consistent`, :func:`assert_sampler_recovers`.
- Assertions, masking family (:mod:`~scoregen.testing.masking`): :func:`assert_posterior_close`,
  :func:`assert_masked_objective_consistent`, :func:`assert_sampler_recovers_table`.
- Conformance checks for every family, dispatched on ``kernel.family``: :func:`check_kernel`,
  :func:`check_estimator`, :func:`check_objective`, :func:`check_sampler`;
  :func:`check_posterior_sampler` (posterior samplers against an exact posterior).
- Convergence (:mod:`scoregen.testing.convergence`): :func:`check_order` (a deterministic
  sampler's order against a reference ODE solution) and :func:`check_in_distribution`.
- hypothesis settings profiles ``dev`` (20 examples, the quick default) and ``ci`` (200 examples),
  registered on import unless a profile of that name exists; select one with
  ``pytest --hypothesis-profile=ci`` or ``settings.load_profile("ci")``.
"""

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

from scoregen.testing import strategies
from scoregen.testing.assertions import (
    assert_objective_consistent,
    assert_sampler_recovers,
    assert_score_close,
    assert_velocity_close,
    default_mixture,
)
from scoregen.testing.conformance import check_estimator, check_kernel, check_objective, check_sampler
from scoregen.testing.convergence import check_in_distribution, check_order
from scoregen.testing.gaussian import UnitGaussianScore
from scoregen.testing.masking import (
    TokenPrior,
    assert_masked_objective_consistent,
    assert_posterior_close,
    assert_sampler_recovers_table,
    default_distribution,
)
from scoregen.testing.posterior_checks import check_posterior_sampler

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 20, "deadline": None},
    "ci": {"max_examples": 200, "deadline": None, "suppress_health_check": [HealthCheck.too_slow]},
}


def register_profiles() -> None:
    """Register the ``dev`` and ``ci`` profiles, leaving alone any the user registered first."""
    for name, options in PROFILES.items():
        try:
            settings.get_profile(name)
        except InvalidArgument:
            settings.register_profile(name, **options)


register_profiles()

__all__ = [
    "PROFILES",
    "TokenPrior",
    "UnitGaussianScore",
    "assert_masked_objective_consistent",
    "assert_objective_consistent",
    "assert_posterior_close",
    "assert_sampler_recovers",
    "assert_sampler_recovers_table",
    "assert_score_close",
    "assert_velocity_close",
    "check_estimator",
    "check_in_distribution",
    "check_kernel",
    "check_objective",
    "check_posterior_sampler",
    "check_order",
    "check_sampler",
    "default_distribution",
    "default_mixture",
    "register_profiles",
    "strategies",
]
