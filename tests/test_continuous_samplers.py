"""Reverse-SDE, predictor–corrector and probability-flow samplers against GaussianMixture ground
truth; likelihoods through the ODE; imputation."""

import math

import pytest
import torch

from scoregen import build
from scoregen.analytic import GaussianMixture
from scoregen.errors import ConfigError
from scoregen.metrics import mode_stats, sliced_wasserstein
from scoregen.samplers import PredictorCorrector, ProbabilityFlowODE, ReverseSDE

N = 2000
CASES = [  # every sampler on the ladder (the VE SDE); the main ones on VP and sub-VP
    ("gaussian", "reverse-sde", {"n_steps": 200}),
    ("gaussian", "pc", {"n_steps": 100}),
    pytest.param("gaussian", "pc", {"n_steps": 100, "predictor": "euler-maruyama"}, marks=pytest.mark.slow),
    ("gaussian", "ode", {"n_steps": 50}),
    ("gaussian", "ode", {"method": "RK45", "rtol": 1e-4, "atol": 1e-4}),
    ("vp", "reverse-sde", {"n_steps": 200}),
    ("vp", "pc", {"n_steps": 100}),
    pytest.param("vp", "ode", {"method": "RK45", "rtol": 1e-4, "atol": 1e-4}, marks=pytest.mark.slow),
    pytest.param("subvp", "reverse-sde", {"n_steps": 200}, marks=pytest.mark.slow),
    ("subvp", "ode", {"n_steps": 50}),
]


def _floor_and_truth(ring):
    """A truth draw and the floor: sliced-W2 between two truth draws, averaged over 4 pairs (one
    pair's value varies by about ±40%: the mode counts fluctuate)."""
    g = torch.Generator().manual_seed(123)
    truth = ring.sample(N, generator=g).float()
    pairs = [(ring.sample(N, generator=g), ring.sample(N, generator=g)) for _ in range(4)]
    return truth, sum(sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(0)) for a, b in pairs) / 4


def _assert_matches_ring(x, ring, truth, floor):
    """Distance to the truth near the floor, every mode with its share, and the right spread
    within modes (std 0.3 per coordinate)."""
    assert torch.isfinite(x).all()
    assert sliced_wasserstein(x, truth, generator=torch.Generator().manual_seed(0)) < 1.6 * floor
    stats = mode_stats(x, ring.means, radius=1.0)
    assert stats["coverage"] > 0.98 and stats["modes_covered"] == 8 and stats["occupancy_ratio"] < 1.4
    nearest = torch.cdist(x.double(), ring.means).argmin(dim=1)
    assert (x.double() - ring.means[nearest]).std().item() == pytest.approx(0.3, rel=0.05)


def _case_id(value):
    return "-".join(map(str, value.values())) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize(("kernel", "name", "params"), CASES, ids=_case_id)
def test_sampler_recovers_the_mixture_with_the_exact_score(ring, kernel, name, params):
    truth, floor = _floor_and_truth(ring)
    calls = []

    def estimator(x, sigma):
        calls.append(1)
        return ring.score_at(x, sigma)

    model = build("ncsn", kernel=kernel, estimator=estimator, event_shape=(2,), sampler={"name": name, **params})
    _assert_matches_ring(model.sample(N, seed=1), ring, truth, floor)
    expected = model.sampler.nfe(model.kernel)
    assert expected is None or len(calls) == expected


def test_consistent_annealed_plugin_recovers_the_mixture(ring):
    """The example plugin distribution plugins/scoregen-cas, found through its entry point."""
    from scoregen.plugins import get_registry

    assert get_registry().get("sampler", "consistent-annealed").provider == "scoregen-cas:cas"
    truth, floor = _floor_and_truth(ring)
    model = build("ncsn", estimator=ring.score_at, event_shape=(2,), sampler="consistent-annealed")
    _assert_matches_ring(model.sample(N, seed=1), ring, truth, floor)
    with pytest.raises(ConfigError, match="step_lr"):
        model.sample(4, sampler={"n_levels": 10})  # σ_{i+1}/σ_i = 0.46 < 1 − η/σ_L² = 0.8


def test_consistent_annealed_keeps_the_noise_on_the_ladder():
    """With the exact score of a point mass at 0, x after level i is exactly N(0, σ_{i+1}²)."""
    from scoregen_cas import ConsistentAnnealedSampling

    sampler = ConsistentAnnealedSampling(n_levels=20, step_lr=5e-5)
    kernel = build("ncsn").kernel
    ladder = sampler.ladder(kernel)
    seen = {}
    x0 = ladder[0].item() * torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    sampler.sample(lambda x, s: -x / s[:, None] ** 2, kernel, x0, generator=torch.Generator().manual_seed(1),
                   callback=lambda info: seen.setdefault(info["level"], info["x"].std().item()))
    for i in range(len(ladder) - 1):
        assert seen[i] == pytest.approx(ladder[i + 1].item(), rel=0.02)


@pytest.mark.parametrize("kernel", ["gaussian", "vp"])
def test_probability_flow_is_invertible(ring, kernel):
    model = build("ncsn", kernel=kernel, estimator=ring.score_at, event_shape=(2,))
    ode = ProbabilityFlowODE(method="RK45", rtol=1e-7, atol=1e-7)
    x = ring.sample(200, generator=torch.Generator().manual_seed(0)).float()
    z, _ = ode.encode(ring.score_at, model.kernel, x)
    back, _ = ode.decode(ring.score_at, model.kernel, z)
    assert torch.allclose(back, x, atol=1e-3)
    latent_std = model.kernel.prior_sample((50_000, 2), torch.Generator().manual_seed(1)).std().item()
    assert z.std().item() == pytest.approx(latent_std, rel=0.1)  # the latent looks like the prior


@pytest.mark.parametrize("kernel", [{"name": "gaussian", "sigma_max": 100.0}, "vp", "subvp"], ids=str)
def test_log_prob_matches_the_exact_mixture_density(ring, kernel):
    """Within 0.01 nats per dimension of the mixture perturbed at the smallest level, at every point."""
    model = build("ncsn", kernel=kernel, estimator=ring.score_at, event_shape=(2,))
    x = ring.sample(64, generator=torch.Generator().manual_seed(0)).float()
    sigma_min = model.kernel.noise_level(torch.tensor(model.kernel.t_min)).item()
    exact = ring.log_prob_at(x.double(), sigma_min)
    got = model.log_prob(x)
    assert ((got - exact) / 2).abs().max() < 0.01
    bpd = model.bits_per_dim(x)
    assert torch.allclose(bpd, -got / (2 * math.log(2)), rtol=1e-3)


def test_hutchinson_log_prob_is_unbiased_in_higher_dimension():
    """D = 20: the Hutchinson estimate's batch mean matches the exact density to 0.01 nats/dim."""
    g = torch.Generator().manual_seed(0)
    mix = GaussianMixture(torch.ones(3), 2 * torch.randn(3, 20, generator=g, dtype=torch.float64), torch.full((3, 20), 0.5))
    model = build("ncsn", kernel="vp", estimator=mix.score_at, event_shape=(20,))
    x = mix.sample(32, generator=g).float()
    sigma_min = model.kernel.noise_level(torch.tensor(model.kernel.t_min)).item()
    exact = mix.log_prob_at(x.double(), sigma_min)
    got = model.log_prob(x, divergence="hutchinson", rtol=1e-4, atol=1e-4)
    assert abs((got - exact).mean().item()) / 20 < 0.01
    assert (got - exact).std().item() > 0  # a stochastic estimate, not the exact divergence


# ----------------------------------------------------------------------------- imputation

IMPUTERS = [("annealed-langevin", {"n_steps_each": 100}), ("reverse-sde", {"n_steps": 300}), ("pc", {"n_steps": 150})]


@pytest.mark.parametrize(("name", "params"), IMPUTERS, ids=[n for n, _ in IMPUTERS])
def test_imputation_keeps_known_coordinates_and_draws_the_conditional(name, params):
    """x₁ is independent of x₂ here, so the conditional of x₂ given x₁ = y is its marginal
    0.3 N(−3, 0.25) + 0.7 N(3, 0.25); the known x₁ comes back untouched."""
    mix = GaussianMixture(torch.tensor([0.3, 0.7]), torch.tensor([[0.0, -3.0], [0.0, 3.0]]), torch.full((2, 2), 0.25))
    model = build("ncsn", estimator=mix.score_at, event_shape=(2,), sampler={"name": name, **params})
    known = torch.tensor([[0.7, 123.0]])
    x = model.sample(N, seed=0, known=known, mask=torch.tensor([True, False]))
    assert torch.all(x[:, 0] == 0.7)
    upper = x[:, 1] > 0
    share = upper.double().mean().item()
    assert share == pytest.approx(0.7, abs=4 * math.sqrt(0.21 / N))
    assert (x[upper, 1] - 3).std().item() == pytest.approx(0.5, rel=0.1)
    assert (x[~upper, 1] + 3).std().item() == pytest.approx(0.5, rel=0.15)


def test_pc_imputation_matches_a_correlated_gaussian_conditional():
    """x ~ N((1, −1), [[1, ρ], [ρ, 1]]): x₂ | x₁ = y is N(−1 + ρ (y − 1), 1 − ρ²)."""
    rho, y = 0.8, 1.5
    mix = GaussianMixture(torch.ones(1), torch.tensor([[1.0, -1.0]]), torch.tensor([[[1.0, rho], [rho, 1.0]]]))
    model = build("ncsn", estimator=mix.score_at, event_shape=(2,), sampler={"name": "pc", "n_steps": 150})
    x = model.sample(N, seed=1, known=torch.tensor([[y, 0.0]]), mask=torch.tensor([True, False]))[:, 1]
    std = math.sqrt(1 - rho**2)
    assert x.mean().item() == pytest.approx(-1 + rho * (y - 1), abs=4 * std / math.sqrt(N))
    assert x.std().item() == pytest.approx(std, rel=0.06)


@pytest.mark.parametrize("sampler", ["ode", "langevin", "consistent-annealed"])
def test_samplers_that_cannot_impute_refuse(ring, sampler):
    model = build("ncsn", estimator=ring.score_at, event_shape=(2,))
    with pytest.raises(ConfigError, match="cannot impute"):
        model.sample(4, sampler=sampler, known=torch.zeros(1, 2), mask=torch.tensor([True, False]))


def test_imputation_input_is_checked(ring):
    model = build("ncsn", estimator=ring.score_at, event_shape=(2,))
    with pytest.raises(ConfigError, match="both"):
        model.sample(4, known=torch.zeros(1, 2))
    with pytest.raises(ValueError, match="bool"):
        model.sample(4, known=torch.zeros(1, 2), mask=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="broadcast"):
        model.sample(4, known=torch.zeros(3, 2), mask=torch.tensor([True, False]))


def test_predictor_runs_before_corrector(ring):
    """Algorithm 1: at each step the predictor moves to t_{i+1}, then the corrector acts at t_{i+1};
    so the first score evaluation is at t = 1 and the last (without denoising) at t_min."""
    seen = []
    kernel = build("ncsn").kernel

    def estimator(x, sigma):
        seen.append(sigma[0].item())
        return ring.score_at(x, sigma)

    PredictorCorrector(n_steps=4, denoise=False).sample(estimator, kernel, kernel.prior_sample((8, 2), None))
    levels = kernel.noise_level(kernel.time_grid(4)).tolist()
    assert seen == pytest.approx([levels[0], levels[1], levels[1], levels[2], levels[2], levels[3], levels[3], levels[4]], rel=1e-5)
    assert isinstance(ReverseSDE().nfe(kernel), int)


# ------------------------------------------------- the callback schema, the progress bar, predictors


@pytest.mark.parametrize(
    ("sampler", "total"),
    [({"name": "reverse-sde", "n_steps": 7}, 8), ({"name": "pc", "n_steps": 5, "n_corrector_steps": 2}, 16),
     ({"name": "ode", "n_steps": 4}, 8), ({"name": "dpm++2m", "n_steps": 6}, 6)],
)
def test_callbacks_report_the_schema_and_the_evaluations_so_far(sampler, total):
    from scoregen.estimators.analytic import MixtureScore

    ring = GaussianMixture.ring()
    model = build("ncsn", estimator=MixtureScore.from_mixture(ring), sampler=sampler, event_shape=(2,))
    seen = []
    model.sample(3, seed=0, callback=seen.append)
    assert all({"step", "nfe", "sigma", "t", "x"} <= set(info) for info in seen)
    assert seen[-1]["nfe"] == total == model.sampler.nfe(model.kernel)
    assert [info["nfe"] for info in seen] == sorted(info["nfe"] for info in seen)


def test_the_progress_bar_counts_score_evaluations(monkeypatch):
    """The predictor–corrector bar reaches its total (it stopped near half when it counted steps)."""
    import tqdm.auto

    from scoregen.estimators.analytic import MixtureScore

    bars = []

    class Bar:
        def __init__(self, total, **kwargs):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    model = build("ncsn", estimator=MixtureScore.from_mixture(GaussianMixture.ring()), sampler={"name": "pc", "n_steps": 5}, event_shape=(2,))
    model.sample(2, seed=0, progress=True)
    assert bars[0].total == 11 and bars[0].n == 11


def test_predictors_are_registered_components():
    from scoregen.samplers.predictors import EulerMaruyama

    ring = GaussianMixture.ring()
    from scoregen.estimators.analytic import MixtureScore

    model = build("ncsn", estimator=MixtureScore.from_mixture(ring), event_shape=(2,))
    by_name = model.sample(50, seed=0, sampler={"name": "pc", "n_steps": 20, "predictor": "euler-maruyama"})
    by_object = model.sample(50, seed=0, sampler=PredictorCorrector(n_steps=20, predictor=EulerMaruyama()))
    assert torch.equal(by_name, by_object)
    with pytest.raises(ConfigError, match="did you mean 'euler-maruyama'"):
        PredictorCorrector(predictor="euler-maruyam")
