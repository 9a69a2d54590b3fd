"""Every built-in component of both families (and the example plugins' samplers) passes the
public conformance checks, and the ground-truth properties hold for every objective and sampler:

- property 3: for every Gaussian objective, loss differences equal λ-weighted Fisher divergence
  differences, and the exact score is the minimiser (``assert_objective_consistent``); for the
  masked objective, loss differences equal weighted posterior KL differences and the exact
  posterior's loss is the entropy (``assert_masked_objective_consistent``);
- property 4: every Gaussian sampler driven by the exact perturbed-mixture score recovers the
  mixture at its budget, sliced-W2 within 1.5× the floor and the within-mode spread within 0.1
  (``assert_sampler_recovers``); every masking sampler driven by the exact posterior reproduces
  the table, total variation within 1.5× its floor (``assert_sampler_recovers_table``).

A new component joins by one line in the lists below: ``(name, params)``, built through the
registry (so an installed plugin's names work too). A component that needs a kernel other than
its family's default names it as ``kernel`` in ``params`` (``(name, params)`` of a kernel).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoregen.analytic import GaussianMixture
from scoregen.analytic.sequences import SequenceDistribution, sequence_distributions
from scoregen.plugins import get_registry
from scoregen.testing import (
    assert_masked_objective_consistent,
    assert_objective_consistent,
    check_estimator,
    check_kernel,
    check_objective,
    check_sampler,
    default_distribution,
)
from scoregen.testing import strategies as sst

KERNELS = [
    ("gaussian", {}),
    ("gaussian", {"n_levels": 1}),
    ("gaussian", {"levels": [3.0, 0.2]}),
    ("ve", {}),
    ("vp", {}),
    ("subvp", {}),
    ("cosine", {}),
    ("edm", {}),
    ("flow", {}),
    ("masking", {"vocab_size": 2}),
    ("masking", {"vocab_size": 4, "schedule": "cosine"}),
]
ESTIMATORS = [
    ("mlp", {"event_shape": (2,)}),
    ("mlp", {"event_shape": (1, 4, 4)}),
    ("unet", {"event_shape": (1, 8, 8), "channels": 8}),
    ("masked-mlp", {"event_shape": (6,), "vocab_size": 3, "hidden": (32,)}),
    ("masked-mlp", {"event_shape": (2, 3), "vocab_size": 2, "hidden": (16, 16)}),
    ("transformer", {"event_shape": (6,), "vocab_size": 3, "d_model": 16, "n_layers": 1, "n_heads": 2}),
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
    ("masked-ce", {}),
    ("masked-ce", {"kernel": ("masking", {"vocab_size": 3, "schedule": "cosine"})}),
    ("masked-ce", {"weighting": "masked-mean"}),
]
SAMPLERS = [
    ("annealed-langevin", {}),
    # At its default budget (20 steps a level, h = 0.3 σ) the plugin's samples are 1.3× too wide
    # within a mode (spread); 40 steps of 0.5 σ (411 score evaluations) are accurate.
    ("annealed-kinetic-langevin", {"n_steps_each": 40, "step_scale": 0.5}),
    ("langevin", {}),
    ("reverse-sde", {}),
    ("pc", {}),
    ("ode", {}),
    ("consistent-annealed", {}),
    ("unmask", {}),
    ("unmask", {"reveal": "independent", "steps": 200}),
    ("unmask", {"kernel": ("masking", {"vocab_size": 2, "schedule": "cosine"}), "steps": 60}),
    ("euler", {}),
    ("heun", {}),
    ("edm", {"S_churn": 10.0}),
    ("euler-ancestral", {"n_steps": 100}),
    ("ddim", {"n_steps": 100}),
    ("dpm-solver", {}),
    ("dpm++2m", {}),
    ("dpm++2m-sde", {}),
    ("dpm++3m-sde", {}),
    ("unipc", {}),
    ("lms", {}),
]


def make(kind: str, name: str, params: dict):
    return get_registry().get(kind, name).factory(**{k: v for k, v in params.items() if k != "kernel"})


def kernel_of(params: dict):
    """The kernel a case names (``params["kernel"]``), or ``None`` for its family's default."""
    return make("kernel", *params["kernel"]) if "kernel" in params else None


def _ids(cases):
    return [f"{name}{params or ''}" for name, params in cases]


@pytest.mark.parametrize(("name", "params"), KERNELS, ids=_ids(KERNELS))
def test_kernel_conforms(name, params):
    check_kernel(make("kernel", name, params))


@pytest.mark.parametrize(("name", "params"), ESTIMATORS, ids=_ids(ESTIMATORS))
def test_estimator_conforms(name, params):
    check_estimator(make("estimator", name, params))


RING = GaussianMixture.ring()
TABLE = default_distribution(3)
# Exact estimators, checked against the ground truth they claim (``empirical``: test_estimators_analytic.py).
EXACT_ESTIMATORS = [
    ("gmm", {"weights": RING.weights.tolist(), "means": RING.means.tolist(), "covariances": RING.covariances.tolist()}, {"mixture": RING}),
    ("exact-discrete", {"probs": TABLE.probs.tolist()}, {"distribution": TABLE}),
]


@pytest.mark.parametrize(("name", "params", "truth"), EXACT_ESTIMATORS, ids=[c[0] for c in EXACT_ESTIMATORS])
def test_exact_estimator_conforms_and_matches_its_ground_truth(name, params, truth):
    check_estimator(make("estimator", name, params), **truth)


@pytest.mark.parametrize(("name", "params"), OBJECTIVES, ids=_ids(OBJECTIVES))
def test_objective_conforms(name, params):
    check_objective(make("objective", name, params), kernel=kernel_of(params))


@pytest.mark.parametrize(("name", "params"), SAMPLERS, ids=_ids(SAMPLERS))
def test_sampler_conforms_and_recovers_the_ring_with_the_exact_score(name, params):
    check_sampler(make("sampler", name, params), kernel=kernel_of(params))


GAUSSIAN_OBJECTIVES = [(name, params) for name, params in OBJECTIVES if name != "masked-ce"]


@pytest.mark.parametrize(("name", "params"), GAUSSIAN_OBJECTIVES, ids=_ids(GAUSSIAN_OBJECTIVES))
@given(mixture=sst.gaussian_mixtures(dim=st.integers(1, 3)), seed=st.integers(0, 2**20))
def test_objective_is_score_matching_on_random_mixtures(name, params, mixture, seed):
    assert_objective_consistent(make("objective", name, params), mixture, n=1024, seed=seed)


@given(distribution=sequence_distributions(max_vocab_size=3, max_length=4), seed=st.integers(0, 2**20))
def test_masked_objective_is_consistent_on_random_tables(distribution, seed):
    # Half uniform: no sequence is much rarer than 1/n, which Monte-Carlo errors would not cover.
    table = SequenceDistribution(0.5 * distribution.probs + 0.5 / distribution.probs.numel())
    assert_masked_objective_consistent(make("objective", "masked-ce", {}), table, n=2048, seed=seed)
