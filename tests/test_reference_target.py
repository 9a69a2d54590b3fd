"""DSM's reference-set target (Xu et al. 2023) against its definition, ``(x̃ − Σ_j w_j x_j)/σ``
with softmax weights over the batch and the reference rows, computed directly in float64."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scoregen import data
from scoregen.errors import ConfigError
from scoregen.estimators import EmpiricalScore
from scoregen.kernels import GaussianLadder
from scoregen.objectives import DenoisingScoreMatching
from scoregen.objectives import reference as reference_module
from scoregen.objectives.reference import reference_target

LADDER = torch.exp(torch.linspace(math.log(10.0), math.log(0.01), 10))


def direct(x, z, sigma, reference):
    """The definition in float64, distances by differences (no matrix-product shortcut)."""
    x, z, sigma = x.double().flatten(1), z.double().flatten(1), sigma.double()
    rows = torch.cat([x, reference.double().flatten(1)])
    x_tilde = x + sigma[:, None] * z
    d2 = (x_tilde[:, None, :] - rows[None, :, :]).pow(2).sum(-1)
    w = torch.softmax(-d2 / (2 * sigma[:, None] ** 2), dim=1)
    return (x_tilde - w @ rows) / sigma[:, None]


@given(
    n=st.integers(1, 12), r=st.integers(0, 20), shape=st.sampled_from([(2,), (3,), (1, 2, 2)]),
    log_sigma=st.floats(math.log(1e-3), math.log(50.0)), spread=st.floats(0.01, 5.0), seed=st.integers(0, 2**16),
)
def test_the_target_is_its_definition(n, r, shape, log_sigma, spread, seed):
    gen = torch.Generator().manual_seed(seed)
    x = spread * torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    z = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    reference = spread * torch.randn(r, *shape, generator=gen, dtype=torch.float64)
    sigma = math.exp(log_sigma) * torch.exp(0.5 * torch.randn(n, generator=gen, dtype=torch.float64))
    target = reference_target(x, z, sigma, reference)
    assert target.shape == x.shape
    torch.testing.assert_close(target.flatten(1), direct(x, z, sigma, reference), rtol=1e-9, atol=1e-9)


@given(sigma=st.floats(0.01, 20.0), seed=st.integers(0, 2**16), shape=st.sampled_from([(2,), (1, 2, 2)]))
def test_the_source_alone_gives_dsms_noise_exactly(sigma, seed, shape):
    gen = torch.Generator().manual_seed(seed)
    x, z = torch.randn(2, 1, *shape, generator=gen)
    target = reference_target(x, z, torch.tensor([sigma]), x[:0])
    assert torch.equal(target, z)


@given(sigma=st.floats(0.05, 10.0), seed=st.integers(0, 2**16))
@settings(max_examples=25)
def test_over_the_whole_set_it_is_minus_sigma_times_the_empirical_score(sigma, seed):
    gen = torch.Generator().manual_seed(seed)
    train = data.ring_mixture().sample(300, generator=gen)
    z = torch.randn(40, 2, generator=gen, dtype=torch.float64)
    s = torch.full((40,), sigma, dtype=torch.float64)
    empirical = EmpiricalScore(data=train)(train[:40] + sigma * z, s)
    torch.testing.assert_close(reference_target(train[:40], z, s, train[40:]), -sigma * empirical, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dim", [2, 64])
def test_float32_is_within_1e_3_of_the_float64_definition_at_every_ladder_level(dim):
    """What the matrix-product form costs in accuracy: on 4 352 rows of a clustered set (the
    ``ve-sde`` sizes), the float32 target's worst relative error at each σ of the ``ncsn``
    ladder, against the float64 definition at the same ``x + σ z`` (the float32 sums over the
    set leave up to a few 10⁻⁴ at D = 2, about what the former float32 ``cdist`` form left;
    float32 logits fail this bound at small σ; benchmarks/reference_target.py prints the errors)."""
    gen = torch.Generator().manual_seed(dim)
    centres = 2 * torch.randn(8, dim, generator=gen)
    pool = centres[torch.randint(8, (4352,), generator=gen)] + 0.3 * torch.randn(4352, dim, generator=gen)
    x, reference = pool[:256], pool[256:]
    sigma = LADDER.repeat(26)[:256].float()
    z = torch.randn(256, dim, generator=gen)
    exact = direct(x, z, sigma, reference)
    error = (reference_target(x, z, sigma, reference).double() - exact).norm(dim=1) / exact.norm(dim=1)
    for level in LADDER.float():
        assert error[sigma == level].max() < 1e-3, float(level)


def test_blocks_of_rows_give_the_whole_matrix_result(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    x, z = torch.randn(2, 37, 3, generator=gen, dtype=torch.float64)
    reference = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    sigma = torch.rand(37, generator=gen, dtype=torch.float64) + 0.05
    whole = reference_target(x, z, sigma, reference)
    monkeypatch.setattr(reference_module, "WEIGHT_BLOCK_ELEMENTS", 5 * 87)
    torch.testing.assert_close(reference_target(x, z, sigma, reference), whole, rtol=1e-12, atol=1e-12)


def test_high_dimensions_neither_overflow_nor_underflow():
    """At D = 3072 the squared distances over 2σ² run to thousands: the weights are taken about
    each row's largest logit, so the target stays finite and equals the definition."""
    gen = torch.Generator().manual_seed(1)
    x, z = torch.randn(2, 16, 3072, generator=gen)
    reference = torch.randn(64, 3072, generator=gen)
    sigma = torch.tensor([0.01, 0.1, 1.0, 10.0]).repeat(4)
    target = reference_target(x, z, sigma, reference)
    assert bool(torch.isfinite(target).all())
    torch.testing.assert_close(target.double(), direct(x, z, sigma, reference), rtol=1e-4, atol=1e-4)


def test_autocast_does_not_lower_the_targets_precision():
    gen = torch.Generator().manual_seed(2)
    x, z = torch.randn(2, 64, 2, generator=gen)
    reference, sigma = torch.randn(500, 2, generator=gen), LADDER.repeat(7)[:64].float()
    plain = reference_target(x, z, sigma, reference)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(reference_target(x, z, sigma, reference), plain)


def test_every_level_of_levels_all_shares_one_draw_over_the_batch_itself():
    """With ``levels="all"`` the set is the batch (once, not once per level) plus one draw of
    ``R`` rows: DSM's per-level losses are those of the target computed level by level."""
    kernel = GaussianLadder(sigma_max=5.0, sigma_min=0.1, n_levels=3)
    train = data.ring_mixture().sample(1000, generator=torch.Generator().manual_seed(3)).float()
    objective = DenoisingScoreMatching(levels="all", reference=32).with_data(train)
    x = train[:8]

    def estimator(y, s):
        return -y / (1 + s[:, None] ** 2)

    terms = objective.per_sample(estimator, kernel, x, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(24, 2, generator=gen)
    rows = objective._reference(x, gen)
    sigma = kernel.sigmas.float().repeat_interleave(8)
    target = torch.cat([reference_target(x, z_l, s_l, rows) for z_l, s_l in zip(z.split(8), sigma.split(8))])
    x_tilde = x.repeat(3, 1) + sigma[:, None] * z
    expected = 0.5 * (sigma[:, None] * estimator(x_tilde, sigma) + target).pow(2).sum(1)
    torch.testing.assert_close(terms.loss, expected)


@pytest.mark.parametrize("sigma", [2.0, 5.0])
def test_it_is_near_the_exact_score_where_dsms_target_is_mostly_noise(sigma):
    """On the ring at large σ, the reference target with 4096 rows is closer to the exact
    ``−σ ∇log p_σ`` than DSM's ``z`` by more than an order of magnitude in mean square."""
    ring = data.ring_mixture()
    gen = torch.Generator().manual_seed(0)
    train = ring.sample(50_000, generator=gen).float()
    objective = DenoisingScoreMatching(reference=4096).with_data(train)
    x = train[:512]
    s = torch.full((512,), sigma)
    z = torch.randn(x.shape, generator=gen)
    exact = -sigma * ring.score_at((x + sigma * z).double(), s.double()).float()
    target = reference_target(x, z, s, objective._reference(x, gen))
    assert (target - exact).pow(2).mean() < 0.05 * (z - exact).pow(2).mean()


def test_the_reference_rows_need_the_training_set():
    with pytest.raises(ConfigError, match="training set"):
        DenoisingScoreMatching(reference=16).per_sample(
            lambda x, s: x, GaussianLadder(levels=(1.0,)), torch.randn(4, 2), generator=torch.Generator()
        )
