"""The score-matching objectives against analytic ground truth (the 8-mode ring, a GaussianMixture)
and against independent computations (full autograd Jacobians)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from scoregen import build
from scoregen.errors import ConfigError
from scoregen.estimators import NoiseConditionalMLP
from scoregen.kernels import GaussianLadder
from scoregen.numerics.traces import jacobian_trace, projected_jacobian
from scoregen.objectives import (
    DenoisingScoreMatching,
    ImplicitScoreMatching,
    SlicedScoreMatching,
    VarianceReducedSSM,
)

OBJECTIVES = {
    "dsm": DenoisingScoreMatching,
    "ism": ImplicitScoreMatching,
    "ssm": SlicedScoreMatching,
    "ssm-gaussian": lambda **kw: SlicedScoreMatching(projection="gaussian", **kw),
    "ssm-vr": VarianceReducedSSM,
    "ssm-vr-cv": lambda **kw: VarianceReducedSSM(control_sigma=0.5, **kw),
}
LADDER = GaussianLadder(levels=(2.0, 0.6, 0.15))


def paired_mean(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean of ``a − b`` and its standard error (pairs independent across rows)."""
    d = (a - b).detach().double()
    return float(d.mean()), float(d.std() / math.sqrt(len(d)))


def level_terms(objective, estimator, x, seed):
    terms = objective.per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(seed))
    idx = terms.level_index(LADDER.sigmas)
    return [terms.loss[idx == i] for i in range(len(LADDER.sigmas))]


def perturbations(ring, size: float = 1.0):
    """Estimators ``s* + size·δ`` near the ring's perturbed score ``s*``: scaled, shifted, bent."""
    w = torch.tensor([[0.8, -0.5], [0.3, 0.9]])
    return {
        "scaled": lambda x, s: (1 + 0.3 * size) * ring.score_at(x, s),
        "shifted": lambda x, s: ring.score_at(x, s) + size * torch.tensor([0.4, -0.2]) / s[:, None],
        "bent": lambda x, s: ring.score_at(x, s) + size * 0.5 * torch.tanh(x @ w) / s[:, None],
    }


@pytest.mark.parametrize("name", OBJECTIVES)
def test_loss_differences_are_weighted_fisher_divergence_differences(ring, name):
    """E ℓ(s₁) − E ℓ(s₂) = ½ λ(σ) (E‖s₁ − s*‖² − E‖s₂ − s*‖²) at each level, within Monte-Carlo
    error; the right-hand side is computed on independent draws of the perturbed mixture."""
    objective = OBJECTIVES[name](levels="all")
    x = ring.sample(12_000, generator=torch.Generator().manual_seed(0)).float()
    est = perturbations(ring)
    pairs = [("scaled", "bent"), ("shifted", "scaled")]
    for first, second in pairs:
        losses = zip(level_terms(objective, est[first], x, 1), level_terms(objective, est[second], x, 1))
        for sigma, (l1, l2) in zip(LADDER.sigmas.tolist(), losses):
            y = ring.perturb(sigma).sample(20_000, generator=torch.Generator().manual_seed(2)).float()
            s = torch.full((len(y),), sigma)
            truth = ring.score_at(y, s)
            fisher = [0.5 * sigma**2 * (est[k](y, s) - truth).pow(2).sum(1) for k in (first, second)]
            lhs, lhs_se = paired_mean(l1, l2)
            rhs, rhs_se = paired_mean(*fisher)
            assert abs(lhs - rhs) < 5 * math.hypot(lhs_se, rhs_se), (first, second, sigma, lhs, rhs)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_minimum_at_the_true_perturbed_score(ring, name):
    """Every objective is smallest at ``s* = ∇log p_σ``, and its value there is the known constant:
    ``−½ λ E‖s*‖²`` for ISM/SSM (integration by parts), ``½ λ (D/σ² − E‖s*‖²)`` for DSM."""
    objective = OBJECTIVES[name](levels="all")
    x = ring.sample(12_000, generator=torch.Generator().manual_seed(3)).float()
    best = level_terms(objective, ring.score_at, x, 4)
    for other in perturbations(ring, size=2.0).values():
        for l_other, l_best in zip(level_terms(objective, other, x, 4), best):
            gap, se = paired_mean(l_other, l_best)
            assert gap > 5 * se
    for sigma, l_best in zip(LADDER.sigmas.tolist(), best):
        y = ring.perturb(sigma).sample(20_000, generator=torch.Generator().manual_seed(5)).float()
        sq = ring.score_at(y, torch.full((len(y),), sigma)).pow(2).sum(1)
        expected = -0.5 * sigma**2 * sq + (1.0 if name == "dsm" else 0.0)  # ½ λ D/σ² = 1 in 2-D
        se = math.hypot(l_best.detach().double().std() / math.sqrt(len(l_best)), expected.double().std() / math.sqrt(len(y)))
        assert abs(float(l_best.detach().double().mean() - expected.double().mean())) < 5 * se


class ConvScore(nn.Module):
    """A small convolutional score for images ``[B, C, H, W]``, to test a second architecture."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, channels, 3, padding=1)

    def forward(self, x, sigma):
        return self.conv2(torch.tanh(self.conv1(x))) / sigma.view(-1, 1, 1, 1)


event_shapes = st.lists(st.integers(1, 6), min_size=1, max_size=1) | st.tuples(
    st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)
).map(list)


def make_estimator(event_shape, conv: bool, seed: int):
    torch.manual_seed(seed)
    if conv and len(event_shape) == 3:
        return ConvScore(event_shape[0])
    return NoiseConditionalMLP(event_shape, hidden=(16, 16))


@given(
    event_shape=event_shapes,
    batch=st.integers(1, 4),
    chunk_size=st.none() | st.integers(1, 5),
    conv=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_trace_equals_the_trace_of_the_full_autograd_jacobian(event_shape, batch, chunk_size, conv, seed):
    estimator = make_estimator(event_shape, conv, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *event_shape, generator=gen)
    sigma = torch.rand(batch, generator=gen) + 0.5
    fn = lambda y: estimator(y, sigma)  # noqa: E731
    d = math.prod(event_shape)
    full = torch.autograd.functional.jacobian(fn, x, create_graph=True).reshape(batch, d, batch, d)
    reference = torch.einsum("nini->n", full)
    out, trace = jacobian_trace(fn, x, chunk_size=chunk_size)
    torch.testing.assert_close(out, fn(x))
    torch.testing.assert_close(trace, reference, rtol=1e-4, atol=1e-5)
    params = list(estimator.parameters())
    got = torch.autograd.grad(trace.sum(), params, allow_unused=True, materialize_grads=True)
    want = torch.autograd.grad(reference.sum(), params, allow_unused=True, materialize_grads=True)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_trace_is_exact_under_no_grad_and_for_functions_without_parameters(chunk_size):
    x = torch.randn(5, 3)
    a = torch.randn(3, 3)
    fn = lambda y: torch.tanh(y @ a)  # noqa: E731 - J_n = diag(1 − tanh²(a ᵀ y_n)) aᵀ
    expected = ((1 - torch.tanh(x @ a) ** 2) * a.diagonal()).sum(1)
    v = torch.randn(2, 5, 3)
    with torch.no_grad():
        _, trace = jacobian_trace(fn, x, chunk_size=chunk_size)
        _, quad = projected_jacobian(fn, x, v)
    torch.testing.assert_close(trace, expected)
    jac = (1 - torch.tanh(x @ a) ** 2)[:, :, None] * a.T[None]  # J_n = diag(1 − tanh²) aᵀ, [N, D, D]
    torch.testing.assert_close(quad, torch.einsum("mni,nij,mnj->mn", v, jac, v))
    _, zero = jacobian_trace(lambda y: torch.ones_like(y), x, chunk_size=chunk_size)
    assert torch.equal(zero, torch.zeros(5))
    assert torch.equal(projected_jacobian(lambda y: torch.ones_like(y), x, v)[1], torch.zeros(2, 5))


@given(event_shape=event_shapes, batch=st.integers(1, 4), n_projections=st.integers(1, 3), seed=st.integers(0, 1000))
def test_projected_jacobian_is_the_quadratic_form_of_the_full_jacobian(event_shape, batch, n_projections, seed):
    estimator = make_estimator(event_shape, True, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *event_shape, generator=gen)
    sigma = torch.rand(batch, generator=gen) + 0.5
    v = torch.randn(n_projections, batch, *event_shape, generator=gen)
    fn = lambda y: estimator(y, sigma)  # noqa: E731
    d = math.prod(event_shape)
    blocks = torch.autograd.functional.jacobian(fn, x).reshape(batch, d, batch, d).diagonal(dim1=0, dim2=2)
    reference = torch.einsum("mni,ijn,mnj->mn", v.flatten(2), blocks, v.flatten(2))
    _, quad = projected_jacobian(fn, x, v)
    torch.testing.assert_close(quad, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
@pytest.mark.parametrize("variance_reduced", [False, True])
@pytest.mark.parametrize("event_shape", [(2,), (1, 3, 3)])
def test_ssm_expectation_over_projections_is_ism(projection, variance_reduced, event_shape):
    """Same generator → same levels and x̃; SSM − ISM per example has mean zero over projections."""
    estimator = make_estimator(list(event_shape), True, 0)
    x = torch.randn(2000, *event_shape, generator=torch.Generator().manual_seed(0))
    cls = VarianceReducedSSM if variance_reduced else SlicedScoreMatching
    ssm = cls(n_projections=64, projection=projection)
    ism = ImplicitScoreMatching()
    l_ssm = ssm.per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(1))
    l_ism = ism.per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(l_ssm.sigma, l_ism.sigma)
    gap, se = paired_mean(l_ssm.loss.detach(), l_ism.loss.detach())
    assert abs(gap) < 5 * se
    # with 64 projections each example is already close to its ISM value
    scale = l_ism.loss.detach().abs().mean()
    assert (l_ssm.loss - l_ism.loss).detach().abs().mean() < 0.3 * scale


@pytest.mark.parametrize("control_sigma", [None, 0.0, 0.5])
@pytest.mark.parametrize("cls", [SlicedScoreMatching, VarianceReducedSSM])
def test_control_variate_leaves_the_expected_loss_unchanged(control_sigma, cls):
    """Data ``N(μ, c² I)`` in 3-D and a linear estimator ``s(x̃) = −A (x̃ − b)``: at every level the
    expected loss is exactly ``λ(σ) [−tr A + ½ (tr(AᵀA)(c² + σ²) + ‖A(μ − b)‖²)]`` (ISM's), for every
    ``β(σ)``: Stein's lemma gives ``E_z[sᵀz/σ] = E[tr ∇s] = −tr A``."""
    mu, c, b = torch.tensor([1.0, -0.5, 0.3]), 0.7, torch.tensor([0.2, 0.1, -0.4])
    a = torch.tensor([[1.5, 0.8, -0.3], [-0.6, 0.9, 0.4], [0.2, -0.7, 1.2]])
    x = mu + c * torch.randn(40_000, 3, generator=torch.Generator().manual_seed(0))
    objective = cls(levels="all", control_sigma=control_sigma)
    terms = level_terms(objective, lambda y, s: -(y - b) @ a.T, x, 1)
    for sigma, loss in zip(LADDER.sigmas.tolist(), (t.detach() for t in terms)):
        exact = sigma**2 * (-a.trace() + 0.5 * ((a.T @ a).trace() * (c**2 + sigma**2) + (a @ (mu - b)).pow(2).sum()))
        se = loss.double().std() / math.sqrt(len(loss))
        assert abs(float(loss.double().mean() - exact)) < 5 * se, (sigma, float(loss.mean()), float(exact))


@pytest.mark.parametrize("cls", [SlicedScoreMatching, VarianceReducedSSM])
def test_control_variate_one_is_dsm_up_to_a_constant(cls):
    """With ``c = 0`` (``β = 1`` at every level) the loss is ``½ λ ‖s + z/σ‖² − ½ λ ‖z‖²/σ²``: DSM
    on the same draws, less a term free of the estimator."""
    estimator = make_estimator([2], True, 4)
    x = torch.randn(64, 2)
    cv = cls(control_sigma=0.0).per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(3))
    dsm = DenoisingScoreMatching().per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    LADDER.sample_sigma(64, gen)
    z = torch.randn(64, 2, generator=gen)
    torch.testing.assert_close(cv.loss, dsm.loss - 0.5 * z.pow(2).sum(1))


@pytest.mark.parametrize("cls", [SlicedScoreMatching, VarianceReducedSSM])
def test_control_variate_weight_is_sigma_squared_over_sigma_squared_plus_c_squared(cls):
    """On the same draws the control variate moves the loss by ``β(σ)`` times the whole swap of
    the trace for its Stein counterpart (``c = 0``), ``β(σ) = σ²/(σ² + c²)``."""
    estimator = make_estimator([2, 3], True, 5)
    x = torch.randn(32, 2, 3)
    losses = {
        c: cls(levels="all", control_sigma=c).per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(6))
        for c in (None, 0.0, 0.7)
    }
    sigma = losses[None].sigma
    beta = sigma**2 / (sigma**2 + 0.7**2)
    swap = losses[0.0].loss - losses[None].loss
    torch.testing.assert_close(losses[0.7].loss - losses[None].loss, beta * swap, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", OBJECTIVES)
@pytest.mark.parametrize("event_shape", [(3,), (2, 3, 3)])
def test_gradients_reach_the_parameters_and_not_the_data(name, event_shape):
    estimator = make_estimator(list(event_shape), True, 1)
    x = torch.randn(16, *event_shape).requires_grad_()
    loss = OBJECTIVES[name]().loss(estimator, LADDER, x, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert x.grad is None
    for p in estimator.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", OBJECTIVES)
@pytest.mark.parametrize("levels", ["random", "all"])
def test_the_same_generator_gives_the_same_loss(name, levels):
    estimator = make_estimator([2, 2, 2], True, 2)
    x = torch.randn(8, 2, 2, 2)
    objective = OBJECTIVES[name](levels=levels)
    runs = [objective.per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(runs[0].loss, runs[1].loss) and torch.equal(runs[0].sigma, runs[1].sigma)
    assert not torch.equal(runs[0].loss, runs[2].loss)
    n = 8 * (len(LADDER.sigmas) if levels == "all" else 1)
    assert runs[0].loss.shape == runs[0].sigma.shape == (n,)


@pytest.mark.parametrize("name", ["ism", "ssm", "ssm-vr"])
def test_weight_power_sets_lambda(name):
    """``λ(σ) = σ^p``: changing p multiplies each term by σ^(p − 2)."""
    estimator = make_estimator([2], True, 3)
    x = torch.randn(32, 2)
    cls = OBJECTIVES[name]
    a = cls(levels="all").per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(0))
    b = cls(levels="all", weight_power=0.0).per_sample(estimator, LADDER, x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(b.loss * a.sigma**2, a.loss)


@pytest.mark.parametrize("name", ["ism", "ssm", "ssm-vr"])
def test_registered_and_rebuilt_from_config(name, registry):
    model = build("ncsn", objective={"name": name}, registry=registry)
    spec = model.config.objective
    assert spec.name == name
    again = build(model.config, registry=registry)
    assert type(again.objective) is type(model.objective) and again.objective == model.objective


@pytest.mark.parametrize(
    ("name", "params"),
    [("ssm", {"n_projections": 0}), ("ssm", {"projection": "uniform"}), ("ssm", {"control_sigma": -1.0}), ("ism", {"chunk_size": 0}), ("ism", {"levels": "some"})],
)
def test_bad_parameters_are_config_errors(name, params, registry):
    with pytest.raises(ConfigError):
        build("ncsn", objective={"name": name, **params}, registry=registry)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ism", "ssm", "ssm-vr"])
def test_short_ncsn_run_with_each_objective_finds_every_mode(ring, name):
    """As tests/test_end_to_end.py does for DSM: 1 500 steps, a 300-evaluation sampler."""
    from scoregen import data
    from scoregen.metrics import mode_stats, sliced_wasserstein

    x = data.gaussian_mixture_2d(4000, seed=0)
    model = build("ncsn", objective=name).fit(x, steps=1500, batch_size=256, seed=0, progress=False)
    samples = model.sample(2000, seed=0, sampler={"n_steps_each": 30, "step_lr": 5e-5})
    assert mode_stats(samples, ring.means, 0.9)["modes_covered"] == 8
    ref, other = (ring.sample(2000, generator=torch.Generator().manual_seed(s)).float() for s in (100, 200))
    sw = sliced_wasserstein(samples, ref, generator=torch.Generator().manual_seed(0))
    floor = sliced_wasserstein(other, ref, generator=torch.Generator().manual_seed(0))
    assert sw / floor <= 3.0
