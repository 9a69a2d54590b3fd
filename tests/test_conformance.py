"""Every built-in component (and the example plugin's sampler) passes the public conformance
checks, and the ground-truth properties hold for every objective and sampler:

- property 3: for every objective, loss differences equal λ-weighted Fisher divergence
  differences, and the exact score is the minimiser (``assert_objective_consistent``);
- property 4: every Gaussian sampler driven by the exact perturbed-mixture score recovers the
  mixture at its default budget, sliced-W2 within 1.5× the floor (``assert_sampler_recovers``).

A new component joins by one line in the lists below: ``(name, params)``, built through the
registry (so an installed plugin's names work too).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoregen.plugins import get_registry
from scoregen.testing import (
    assert_objective_consistent,
    check_estimator,
    check_kernel,
    check_objective,
    check_sampler,
)
from scoregen.testing import strategies as sst

KERNELS = [
    ("gaussian", {}),
    ("gaussian", {"n_levels": 1}),
    ("gaussian", {"levels": [3.0, 0.2]}),
    ("ve", {}),
    ("vp", {}),
    ("subvp", {}),
]
ESTIMATORS = [
    ("mlp", {"event_shape": (2,)}),
    ("mlp", {"event_shape": (1, 4, 4)}),
    ("unet", {"event_shape": (1, 8, 8), "channels": 8}),
]
OBJECTIVES = [
    ("dsm", {}),
    ("dsm", {"levels": "all"}),
    ("dsm", {"weight_power": 1.0}),
    ("dsm", {"sigma_distribution": {"name": "log-normal", "mean": -0.5, "std": 1.0, "truncate": True}}),
    ("ism", {}),
    ("ssm", {}),
    ("ssm", {"projection": "gaussian", "n_projections": 2}),
    ("ssm-vr", {}),
]
SAMPLERS = [
    ("annealed-langevin", {}),
    ("annealed-kinetic-langevin", {}),
    ("langevin", {}),
    ("reverse-sde", {}),
    ("pc", {}),
    ("ode", {}),
    ("consistent-annealed", {}),
    ("euler", {}),
    ("heun", {}),
    ("edm", {"S_churn": 10.0}),
    ("euler-ancestral", {}),
    ("ddim", {}),
    ("dpm-solver", {}),
    ("dpm++2m", {}),
    ("dpm++2m-sde", {}),
    ("dpm++3m-sde", {}),
    ("unipc", {}),
    ("lms", {}),
]


def make(kind: str, name: str, params: dict):
    return get_registry().get(kind, name).factory(**params)


def _ids(cases):
    return [f"{name}{params or ''}" for name, params in cases]


@pytest.mark.parametrize(("name", "params"), KERNELS, ids=_ids(KERNELS))
def test_kernel_conforms(name, params):
    check_kernel(make("kernel", name, params))


@pytest.mark.parametrize(("name", "params"), ESTIMATORS, ids=_ids(ESTIMATORS))
def test_estimator_conforms(name, params):
    check_estimator(make("estimator", name, params))


@pytest.mark.parametrize(("name", "params"), OBJECTIVES, ids=_ids(OBJECTIVES))
def test_objective_conforms(name, params):
    check_objective(make("objective", name, params))


@pytest.mark.parametrize(("name", "params"), SAMPLERS, ids=_ids(SAMPLERS))
def test_sampler_conforms_and_recovers_the_ring_with_the_exact_score(name, params):
    check_sampler(make("sampler", name, params))


@pytest.mark.parametrize(("name", "params"), OBJECTIVES, ids=_ids(OBJECTIVES))
@given(mixture=sst.gaussian_mixtures(dim=st.integers(1, 3)), seed=st.integers(0, 2**20))
def test_objective_is_score_matching_on_random_mixtures(name, params, mixture, seed):
    assert_objective_consistent(make("objective", name, params), mixture, n=1024, seed=seed)
