"""scoregen.testing itself: the strategies draw what they promise and validate eagerly; the
assertions pass on the truth and — property 5 — catch real bugs (mutants), with readable messages."""

import math

import attrs
import pytest
import torch
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from scoregen.analytic import GaussianMixture
from scoregen.estimators import MixtureScore
from scoregen.objectives import DenoisingScoreMatching, LossTerms
from scoregen.samplers import AnnealedLangevin
from scoregen.testing import (
    PROFILES,
    assert_objective_consistent,
    assert_sampler_recovers,
    assert_score_close,
    check_estimator,
    check_kernel,
    check_objective,
    check_sampler,
    register_profiles,
)
from scoregen.testing import strategies as sst

RING = GaussianMixture.ring()
UNEQUAL = GaussianMixture([0.7, 0.2, 0.1], [[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]], torch.full((3, 2), 0.3))


# ------------------------------------------------------------------------------------ strategies


@given(st.data(), st.integers(1, 5), st.integers(1, 4), st.sampled_from(["diag", "full"]))
def test_gaussian_mixtures_have_the_requested_shape_and_kind(data, dim, k, kind):
    g = data.draw(sst.gaussian_mixtures(dim=dim, n_components=k, covariance=kind))
    assert (g.dim, g.n_components, g.is_diagonal) == (dim, k, kind == "diag")
    assert torch.isfinite(g.log_prob(g.means)).all()


@given(sst.noise_levels(min_value=0.05, max_value=2.0))
def test_noise_levels_stay_in_their_bounds(sigma):
    assert 0.05 <= sigma <= 2.0


@given(st.data(), sst.gaussian_mixtures())
def test_points_are_batches_of_the_mixtures_dimension(data, g):
    x = data.draw(sst.points(g, min_size=2, max_size=5, dtype=torch.float32))
    assert x.dtype == torch.float32 and x.shape[1] == g.dim and 2 <= x.shape[0] <= 5
    assert torch.isfinite(x).all()


def test_points_include_far_away_ones():
    far = find(sst.points(RING), lambda x: bool(x.norm(dim=1).max() > 1e3), settings=settings(database=None, phases=[Phase.generate]))
    assert far.norm(dim=1).max() <= 1e4 + 5


@given(sst.points(RING, far=False, max_size=20))
def test_near_points_stay_within_four_standard_deviations_of_a_mean(x):
    spread = 4 * RING.covariance().diagonal().sqrt()
    assert bool(((x[:, None, :] - RING.means).abs() <= spread + 1e-9).all(dim=2).any(dim=1).all())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: sst.gaussian_mixtures(dim=0), "dim"),
        (lambda: sst.gaussian_mixtures(n_components=1.5), "n_components"),
        (lambda: sst.gaussian_mixtures(covariance="spherical"), "covariance"),
        (lambda: sst.gaussian_mixtures(min_variance=2.0, max_variance=1.0), "exceeds"),
        (lambda: sst.gaussian_mixtures(min_variance=0.0), "min_variance"),
        (lambda: sst.gaussian_mixtures(min_weight=2.0), "min_weight"),
        (lambda: sst.noise_levels(min_value=-1.0), "min_value"),
        (lambda: sst.noise_levels(min_value=3.0, max_value=1.0), "exceeds"),
        (lambda: sst.points("ring"), "GaussianMixture"),
        (lambda: sst.points(GaussianMixture.ring(), min_size=3, max_size=2), "exceeds"),
        (lambda: sst.points(GaussianMixture.ring(), max_distance=10.0), "max_distance"),
        (lambda: sst.points(GaussianMixture.ring(), dtype=torch.int64), "dtype"),
    ],
)
def test_strategies_validate_their_arguments_when_made(make, match):
    with pytest.raises(InvalidArgument, match=match):
        make()


def test_profiles_are_registered_without_overriding_the_users():
    assert settings.get_profile("dev").max_examples == PROFILES["dev"]["max_examples"]
    assert settings.get_profile("ci").max_examples > settings.get_profile("dev").max_examples
    mine = settings.get_profile("ci")
    settings.register_profile("ci", max_examples=3)
    try:
        register_profiles()
        assert settings.get_profile("ci").max_examples == 3
    finally:
        settings.register_profile("ci", mine)


# ------------------------------------------------------------------------------------ assertions


def test_assert_score_close_names_the_row_the_level_and_both_values():
    exact = MixtureScore.from_mixture(UNEQUAL)
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert_score_close(exact, UNEQUAL, x, 0.5)
    with pytest.raises(AssertionError, match=r"2 of 2 rows[\s\S]*row \d: σ = 0.5, x = \[[\s\S]*expected [\s\S]*got"):
        assert_score_close(lambda x, s: 2 * exact(x, s), UNEQUAL, x, 0.5)
    with pytest.raises(AssertionError, match="1 of 2 rows"):
        assert_score_close(lambda x, s: torch.where(x > 0.5, torch.nan, exact(x, s)), UNEQUAL, x, 0.5)
    with pytest.raises(AssertionError, match=r"shape \[2, 2\]"):
        assert_score_close(lambda x, s: x[:, 0], UNEQUAL, x, 0.5)


def test_conformance_checks_name_the_broken_rule():
    class Batchwise(torch.nn.Module):
        event_shape = (2,)

        def forward(self, x, sigma):
            return -(x - x.mean(dim=0)) / sigma[:, None] ** 2  # row i depends on the other rows

    with pytest.raises(AssertionError, match="depends on the other rows"):
        check_estimator(Batchwise())

    @attrs.frozen
    class GlobalNoise(AnnealedLangevin):
        def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
            return x_init + torch.randn(x_init.shape)  # ignores the generator

    with pytest.raises(AssertionError, match="global random generator"):
        check_sampler(GlobalNoise())

    class Decreasing:
        family = "gaussian"
        sigmas = torch.tensor([0.1, 1.0])

        def prior_sample(self, shape, generator):
            return torch.randn(shape, generator=generator)

    with pytest.raises(AssertionError, match="strictly decreasing"):
        check_kernel(Decreasing())

    @attrs.frozen(kw_only=True)
    class Summed(DenoisingScoreMatching):
        def loss(self, estimator, kernel, x, *, generator=None):
            return self.per_sample(estimator, kernel, x, generator=generator).loss.sum()

    with pytest.raises(AssertionError, match="not the mean of per_sample"):
        check_objective(Summed())


# -------------------------------------------------------------------- property 5: mutants are caught


def data_score(train: torch.Tensor, *, sign: float = 1.0, inverse_variance: bool = True):
    """The empirical-data score ``Σ_i w_i (x_i − x)/σ²`` written the direct way (one softmax
    over all points), with two classic bugs available: a flipped sign and a missing 1/σ²."""

    def score(x, sigma):
        var = sigma.double()[:, None] ** 2
        w = torch.softmax(-torch.cdist(x.double(), train) ** 2 / (2 * var), dim=1)
        out = sign * (w @ train - x.double())
        return (out / var if inverse_variance else out).to(x.dtype)

    return score


@pytest.mark.parametrize(
    "mutant", [{"sign": -1.0}, {"inverse_variance": False}], ids=["flipped sign", "missing 1/sigma^2"]
)
def test_score_bugs_are_caught(mutant):
    train = GaussianMixture.ring().sample(50, generator=torch.Generator().manual_seed(0))
    truth = GaussianMixture(torch.ones(50), train, torch.full((50, 2), 1e-14))
    assert_score_close(data_score(train), truth)
    with pytest.raises(AssertionError, match="differs from the exact score"):
        assert_score_close(data_score(train, **mutant), truth)


def test_swapped_mixture_weights_are_caught():
    swapped = MixtureScore(weights=[0.1, 0.2, 0.7], means=UNEQUAL.means, covariances=UNEQUAL.covariances)
    with pytest.raises(AssertionError, match="differs from the exact score"):
        assert_score_close(swapped, UNEQUAL)


@attrs.frozen(kw_only=True)
class ForgetsLambda(DenoisingScoreMatching):
    """DSM that declares λ(σ) = σ² but computes ½‖s + z/σ‖² (λ = 1): a wrong λ(σ)."""

    def per_sample(self, estimator, kernel, x, *, generator=None):
        terms = super().per_sample(estimator, kernel, x, generator=generator)
        return LossTerms(terms.loss / terms.sigma**2, terms.sigma)


def test_wrong_weighting_is_caught():
    with pytest.raises(AssertionError, match=r"not a score-matching objective[\s\S]*σ = 0.1: loss difference"):
        assert_objective_consistent(ForgetsLambda())
    with pytest.raises(AssertionError, match="not a score-matching objective"):
        assert_objective_consistent(DenoisingScoreMatching(weight_power=1.0), weight=lambda s: s**2)


def test_an_objective_not_minimised_by_the_score_is_caught():
    @attrs.frozen(kw_only=True)
    class Biased(DenoisingScoreMatching):  # minimised by s* + 1/σ, not by s*
        def per_sample(self, estimator, kernel, x, *, generator=None):
            return super().per_sample(lambda x, s: estimator(x, s) - 1 / s[:, None], kernel, x, generator=generator)

    with pytest.raises(AssertionError, match="score-matching|does not minimise"):
        assert_objective_consistent(Biased())


@attrs.frozen(kw_only=True)
class NoiselessAnnealedLangevin(AnnealedLangevin):
    """Annealed Langevin with the noise term √α z dropped: gradient ascent onto the modes."""

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
        sigmas, x = kernel.sigmas.tolist(), x_init
        for sigma in sigmas:
            alpha = self.step_lr * (sigma / sigmas[-1]) ** 2
            sigma_vec = torch.full((x.shape[0],), sigma)
            for _ in range(self.n_steps_each):
                x = x + 0.5 * alpha * estimator(x, sigma_vec)
        return x + sigmas[-1] ** 2 * estimator(x, torch.full((x.shape[0],), sigmas[-1]))


def test_a_sampler_without_its_noise_term_is_caught():
    budget = {"n_steps_each": 100, "step_lr": 2e-5}
    assert_sampler_recovers(AnnealedLangevin(**budget))
    with pytest.raises(AssertionError, match=r"does not recover[\s\S]*sample std"):
        assert_sampler_recovers(NoiselessAnnealedLangevin(**budget))


def test_sampler_check_reports_wrong_mode_weights():
    wrong = MixtureScore(weights=[0.1, 0.2, 0.7], means=UNEQUAL.means, covariances=UNEQUAL.covariances)
    with pytest.raises(AssertionError, match=r"share of samples per component \[0\.\d+, 0\.\d+, 0\.[5-9]"):
        assert_sampler_recovers(AnnealedLangevin(n_steps_each=30, step_lr=5e-5), UNEQUAL, estimator=wrong)
    assert math.isclose(float(UNEQUAL.weights[0]), 0.7)


def test_a_sign_error_in_a_band_of_noise_levels_is_caught():
    """A sign error confined to 0.02 < σ < 0.08 passes a fixed grid (0.01, 0.1, 1, 10); the noise
    levels are drawn at random, so both the assertion and the conformance check catch it."""
    exact = MixtureScore.from_mixture(UNEQUAL)

    def banded(x, sigma):
        band = ((sigma > 0.02) & (sigma < 0.08)).reshape(-1, *(1,) * (x.ndim - 1))
        return torch.where(band, -exact(x, sigma), exact(x, sigma))

    banded.event_shape = (2,)
    assert_score_close(banded, UNEQUAL, sigma=[0.01, 0.1, 1.0, 10.0])  # the fixed grid is blind to it
    with pytest.raises(AssertionError, match=r"differs from the exact score[\s\S]*σ = 0\.0[2-7]"):
        assert_score_close(banded, UNEQUAL)
    with pytest.raises(AssertionError, match="differs from the exact score"):
        check_estimator(banded, mixture=UNEQUAL)


@attrs.frozen(kw_only=True)
class DenoisesBySigma(AnnealedLangevin):
    """Annealed Langevin whose final denoising step is ``x + σ_L s`` instead of ``x + σ_L² s``."""

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        plain = AnnealedLangevin(n_steps_each=self.n_steps_each, step_lr=self.step_lr, denoise=False)
        x = plain.sample(estimator, kernel, x_init, generator=generator, callback=callback)
        last = float(kernel.sigmas[-1])
        return x + last * estimator(x, torch.full((x.shape[0],), last))


def test_a_final_denoising_step_wrong_by_a_factor_sigma_is_caught():
    """Sliced-W2 is blind to it (samples collapse onto the modes); the within-mode spread is not."""
    with pytest.raises(AssertionError, match=r"within-mode spread is 0\.0"):
        check_sampler(DenoisesBySigma())


def test_the_checks_hide_their_own_frames_from_tracebacks():
    with pytest.raises(AssertionError) as excinfo:
        check_sampler(DenoisesBySigma(n_steps_each=2))
    shown = [str(entry.path) for entry in excinfo.traceback.filter(excinfo)]
    assert shown and not any("scoregen/testing" in path for path in shown)
