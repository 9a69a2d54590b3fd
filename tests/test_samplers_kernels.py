import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build
from scoregen.kernels import GaussianLadder
from scoregen.objectives import DenoisingScoreMatching
from scoregen.samplers import AnnealedLangevin, Langevin


@given(
    sigma_max=st.floats(0.5, 100.0),
    ratio=st.floats(1.5, 1e4),
    n_levels=st.integers(2, 30),
)
def test_ladder_is_geometric_largest_first(sigma_max, ratio, n_levels):
    sigmas = GaussianLadder(sigma_max=sigma_max, sigma_min=sigma_max / ratio, n_levels=n_levels).sigmas.double()
    assert len(sigmas) == n_levels
    assert sigmas[0] == pytest.approx(sigma_max, rel=1e-6)
    assert sigmas[-1] == pytest.approx(sigma_max / ratio, rel=1e-5)
    steps = sigmas[1:] / sigmas[:-1]
    assert torch.all(steps < 1)
    assert torch.allclose(steps, steps.mean().expand_as(steps), rtol=1e-5)


def test_perturb_adds_noise_of_std_sigma():
    kernel = GaussianLadder()
    x = torch.full((200_000, 2), 3.0)
    sigma = torch.full((200_000,), 0.5)
    xt = kernel.perturb(x, sigma, torch.Generator().manual_seed(0))
    assert (xt - 3.0).mean().abs() < 0.01
    assert (xt - 3.0).std().item() == pytest.approx(0.5, rel=0.01)


def test_sample_sigma_draws_every_level_uniformly():
    kernel = GaussianLadder(n_levels=5)
    drawn = kernel.sample_sigma(50_000, torch.Generator().manual_seed(0))
    counts = torch.stack([(drawn == s).sum() for s in kernel.sigmas])
    assert counts.sum() == 50_000
    assert torch.all((counts - 10_000).abs() < 500)


def test_dsm_with_every_level_pairs_each_example_with_each_sigma():
    kernel = GaussianLadder(n_levels=4)
    x = torch.randn(3, 2)
    terms = DenoisingScoreMatching(levels="all").per_sample(lambda x, s: -x, kernel, x, generator=None)
    assert terms.loss.shape == (12,)
    assert torch.equal(terms.sigma, kernel.sigmas.repeat_interleave(3))
    assert torch.all(terms.by_level(kernel.sigmas) > 0)


def test_dsm_is_smallest_at_the_true_score(ring):
    """DSM's minimiser is the perturbed data score: scaling or shifting it raises the loss."""
    kernel = GaussianLadder()
    x = ring.sample(20_000, generator=torch.Generator().manual_seed(0)).float()
    objective = DenoisingScoreMatching(levels="all")

    def loss(estimator):
        return objective.loss(estimator, kernel, x, generator=torch.Generator().manual_seed(1)).item()

    best = loss(ring.score_at)
    assert best < loss(lambda x, s: 1.2 * ring.score_at(x, s))
    assert best < loss(lambda x, s: 0.8 * ring.score_at(x, s))
    assert best < loss(lambda x, s: ring.score_at(x, s) + 0.3 / s[:, None])


def test_annealed_langevin_step_sizes_follow_the_ladder():
    """α_i = ε σ_i²/σ_L²: with a zero score the spread after level i is √(T α_i) per coordinate."""
    kernel = GaussianLadder(sigma_max=1.0, sigma_min=0.1, n_levels=2)
    seen = {}
    sampler = AnnealedLangevin(n_steps_each=2000, step_lr=1e-4, denoise=False)
    x0 = torch.zeros(2000, 1)

    def record(info):
        if info["step"] % 2000 == 1999:
            seen[info["level"]] = info["x"].var().item()

    sampler.sample(lambda x, s: torch.zeros_like(x), kernel, x0, generator=torch.Generator().manual_seed(0), callback=record)
    alpha = [1e-4 * 100, 1e-4]
    assert seen[0] == pytest.approx(2000 * alpha[0], rel=0.1)
    assert seen[1] - seen[0] == pytest.approx(2000 * alpha[1], abs=0.05 * seen[0])


def test_langevin_on_a_gaussian_targets_its_variance():
    """With the score of N(0, v) Langevin's stationary variance is v (up to O(α) bias)."""
    v = 2.0
    sampler = Langevin(n_steps=2000, step_size=0.01)
    x = sampler.sample(lambda x, s: -x / v, GaussianLadder(), torch.zeros(20_000, 1), generator=torch.Generator().manual_seed(0))
    assert x.var().item() == pytest.approx(v / (1 - 0.01 / (4 * v)), rel=0.05)


def test_nfe_is_reported():
    model = build("ncsn")
    assert model.sampler.nfe(model.kernel) == 10 * 100 + 1
    assert Langevin(n_steps=7).nfe(model.kernel) == 7
    assert math.isfinite(model.kernel.sigmas.sum())
