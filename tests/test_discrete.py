"""The masking family against exact ground truth: enumerable sequence distributions."""

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen.analytic.sequences import SequenceDistribution, sequence_distributions
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import ExactDiscrete
from scoregen.kernels import MaskingKernel
from scoregen.objectives import MaskedCrossEntropy
from scoregen.samplers import Unmask
from scoregen.samplers.impute import Known

SCHEDULES = ("linear", "cosine")


def _correlated() -> SequenceDistribution:
    """Three sequences of length 4 carry all the mass: far from the product of its marginals."""
    table = torch.zeros(2, 2, 2, 2, dtype=torch.float64)
    table[0, 0, 0, 0], table[1, 1, 1, 1], table[0, 1, 0, 1] = 0.5, 0.3, 0.2
    return SequenceDistribution(table)


class PerturbedPosterior:
    """The exact posterior's logits plus fixed noise that depends only on ``x̃`` (not on ``t``)."""

    def __init__(self, dist: SequenceDistribution, scale: float, seed: int):
        self.exact = ExactDiscrete(dist)
        v, length = dist.vocab_size, dist.length
        g = torch.Generator().manual_seed(seed)
        self.noise = scale * torch.randn(((v + 1) ** length, length, v), generator=g, dtype=torch.float64)
        self.powers = (v + 1) ** torch.arange(length)

    def __call__(self, x_t, t):
        logits = self.exact(x_t, t).double() + self.noise[(x_t * self.powers).sum(dim=1)]
        return logits.to(torch.float32)


def nelbo_bits_by_enumeration(estimator, dist: SequenceDistribution) -> torch.Tensor:
    """For every sequence x of the table, the continuous-time negative ELBO in bits per token,
    computed without the kernel: ``Σ_{M ≠ ∅} B(|M|, L − |M| + 1) Σ_{i∈M} −log q(xᵢ | x with M masked)``.

    (With ``u = 1 − α(t)``, ``∫ w(t) u^k (1 − u)^{L−k} dt = ∫ u^{k−1} (1 − u)^{L−k} du = B(k, L−k+1)``
    for any schedule, and the posterior of a masking model does not depend on t.)
    """
    xs, length, v = dist.sequences, dist.length, dist.vocab_size
    total = torch.zeros(len(xs), dtype=torch.float64)
    for k in range(1, length + 1):
        beta = math.gamma(k) * math.gamma(length - k + 1) / math.gamma(length + 1)
        for subset in itertools.combinations(range(length), k):
            x_t = xs.clone()
            x_t[:, list(subset)] = v
            log_q = torch.log_softmax(estimator(x_t, torch.full((len(xs),), 0.5)).double(), dim=-1)
            picked = log_q.gather(-1, xs[..., None]).squeeze(-1)[:, list(subset)]
            total += beta * -picked.sum(dim=1)
    return total / (length * math.log(2))


def tv_tolerance(p: torch.Tensor, n: int, delta: float = 1e-6) -> float:
    """A bound on the total variation between ``n`` exact draws and ``p`` that fails with
    probability below ``delta``: ``E TV ≤ ½ Σ √(p(1−p)/n)`` (Jensen), and TV moves by at most
    ``1/n`` per draw (McDiarmid)."""
    return float(0.5 * (p * (1 - p) / n).sqrt().sum()) + math.sqrt(math.log(1 / delta) / (2 * n))


# ----------------------------------------------------------------- the kernel


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_elbo_weight_is_minus_alpha_prime_over_one_minus_alpha(schedule):
    kernel = MaskingKernel(vocab_size=3, schedule=schedule)
    t = torch.linspace(0.01, 1.0, 50, dtype=torch.float64, requires_grad=True)
    (alpha_prime,) = torch.autograd.grad(kernel.alpha(t).sum(), t)
    expected = -alpha_prime / (1 - kernel.alpha(t))
    torch.testing.assert_close(kernel.elbo_weight(t.detach()), expected.detach(), rtol=1e-9, atol=0)
    ends = kernel.alpha(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(ends, torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_perturb_masks_each_token_with_probability_one_minus_alpha(schedule):
    kernel = MaskingKernel(vocab_size=4, schedule=schedule)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(4, (20_000, 6), generator=g)
    for t in (0.1, 0.5, 0.9):
        x_t = kernel.perturb(x, torch.full((len(x),), t), g)
        masked = x_t == kernel.mask_id
        q = float(kernel.mask_prob(torch.tensor(t)))
        assert abs(float(masked.double().mean()) - q) < 5 * math.sqrt(q * (1 - q) / x.numel())
        assert torch.equal(x_t[~masked], x[~masked])
    assert torch.equal(kernel.prior_sample((3, 5)), torch.full((3, 5), 4))


def test_training_times_are_stratified_over_the_unit_interval():
    t = MaskingKernel(vocab_size=2).sample_t(64, torch.Generator().manual_seed(1)).double()
    assert bool(((t > 0) & (t <= 1)).all())
    assert sorted(((64 * t).ceil().long() - 1).tolist()) == list(range(64))  # one time in each (k/64, (k+1)/64]


def test_kernel_checks_its_token_data():
    kernel = MaskingKernel(vocab_size=3)
    assert kernel.as_data([[0, 2, 1]]).dtype == torch.int64
    with pytest.raises(DataError, match="integer tokens"):
        kernel.as_data([[0.5, 1.0]])
    with pytest.raises(DataError, match="vocabulary is 0 … 2"):
        kernel.as_data([[0, 3]])
    with pytest.raises(ConfigError, match="vocab_size"):
        MaskingKernel(vocab_size=0)
    with pytest.raises(ConfigError, match="schedule"):
        MaskingKernel(vocab_size=2, schedule="square")


# ----------------------------------------------------------------- the ground truth


@given(dist=sequence_distributions(max_entries=256), data=st.data())
def test_posterior_is_the_conditional_marginal_by_brute_force(dist, data):
    v, length = dist.vocab_size, dist.length
    x_t = torch.tensor([data.draw(st.lists(st.integers(0, v), min_size=length, max_size=length)) for _ in range(4)])
    flat = dist.flat.tolist()
    rows = list(itertools.product(range(v), repeat=length))
    got = dist.posterior(x_t, strict=False)
    for b, pattern in enumerate(x_t.tolist()):
        fits = [k for k, row in enumerate(rows) if all(c == v or c == r for c, r in zip(pattern, row))]
        mass = sum(flat[k] for k in fits)
        for i in range(length):
            for token in range(v):
                expected = sum(flat[k] for k in fits if rows[k][i] == token) / mass
                assert got[b, i, token].item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_distribution_samples_log_prob_and_errors():
    dist = _correlated()
    x = dist.sample(40_000, torch.Generator().manual_seed(0))
    assert dist.total_variation(x) < tv_tolerance(dist.flat, len(x))
    torch.testing.assert_close(dist.log_prob(torch.tensor([[1, 1, 1, 1], [0, 1, 0, 1]])).exp(), torch.tensor([0.3, 0.2], dtype=torch.float64))
    assert dist.entropy_bits_per_token() == pytest.approx(-(0.5 * math.log2(0.5) + 0.3 * math.log2(0.3) + 0.2 * math.log2(0.2)) / 4)
    with pytest.raises(DataError, match="probability 0"):
        dist.posterior(torch.tensor([[1, 0, 2, 2]]))
    with pytest.raises(ConfigError, match="same size on every axis"):
        SequenceDistribution(torch.ones(2, 3))
    with pytest.raises(ConfigError, match="no table"):
        sequence_distributions(min_vocab_size=4, min_length=6, max_entries=100)


# ----------------------------------------------------------------- the objective


@given(dist=sequence_distributions(max_entries=256))
def test_elbo_of_the_exact_posterior_is_the_nll_and_other_posteriors_do_worse(dist):
    """Per sequence, the exact posterior's ELBO is −log₂ p(x)/L (no gap); averaged over the data,
    every other posterior's bound is larger (the exact posterior minimises masked-ce)."""
    exact = nelbo_bits_by_enumeration(ExactDiscrete(dist), dist)
    nll = -dist.flat.log() / (dist.length * math.log(2))
    torch.testing.assert_close(exact, nll, rtol=1e-5, atol=1e-6)
    expected_exact = float((dist.flat * exact).sum())
    assert expected_exact == pytest.approx(dist.entropy_bits_per_token(), rel=1e-5, abs=1e-7)
    for seed, scale in enumerate((0.05, 0.5, 2.0)):
        other = nelbo_bits_by_enumeration(PerturbedPosterior(dist, scale, seed), dist)
        assert float((dist.flat * other).sum()) > expected_exact


@pytest.mark.parametrize("schedule", SCHEDULES)
@given(dist=sequence_distributions(max_entries=64, concentrations=(0.3, 1.0, 5.0)), seed=st.integers(0, 2**16))
def test_masked_ce_estimates_the_enumerated_bound(schedule, dist, seed):
    """The objective's Monte-Carlo mean over times and masks (through the kernel) equals the bound
    computed by enumeration on the same sequences, for the exact and for a wrong posterior, under
    either schedule. (Tables of concentration 0.05 are left out, and the others are mixed half and
    half with the uniform table: entries much below 1/2000 make the per-sample loss so
    heavy-tailed that 2 000 draws underestimate its standard error — hypothesis found one of
    7·10⁻⁴.)"""
    dist = SequenceDistribution(0.5 * dist.probs + 0.5 / dist.probs.numel())
    kernel = MaskingKernel(vocab_size=dist.vocab_size, schedule=schedule)
    g = torch.Generator().manual_seed(seed)
    x = dist.sample(2000, g)
    for estimator in (ExactDiscrete(dist), PerturbedPosterior(dist, 1.0, seed)):
        loss = MaskedCrossEntropy().per_sample(estimator, kernel, x, generator=g).loss.double()
        expected = float(nelbo_bits_by_enumeration(estimator, dist)[dist.index(x)].mean())
        stderr = float(loss.std()) / math.sqrt(len(loss))
        assert abs(float(loss.mean()) - expected) < 6 * stderr + 1e-6


def test_masked_ce_refuses_logits_of_another_vocabulary():
    dist = _correlated()
    with pytest.raises(ConfigError, match="expects \\[8, 4, 3\\]"):
        MaskedCrossEntropy().loss(ExactDiscrete(dist), MaskingKernel(vocab_size=3), dist.sample(8))


# ----------------------------------------------------------------- the sampler


def _unmask(dist, n, seed, **params):
    kernel = MaskingKernel(vocab_size=dist.vocab_size, schedule=params.pop("schedule", "linear"))
    x_init = kernel.prior_sample((n, dist.length))
    return Unmask(**params).sample(ExactDiscrete(dist), kernel, x_init, generator=torch.Generator().manual_seed(seed))


@given(dist=sequence_distributions(max_vocab_size=3, max_entries=81), factor=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_unmask_with_the_exact_posterior_reproduces_the_table(dist, factor, seed):
    """One token per step (steps = L), or fewer (steps = 2L, 3L): exact, so only Monte-Carlo error."""
    samples = _unmask(dist, 10_000, seed, steps=factor * dist.length)
    assert dist.total_variation(samples) <= tv_tolerance(dist.flat, len(samples))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_independent_reveals_converge_and_few_steps_do_not(schedule):
    """MDLM's ancestral reveals: with many steps two tokens rarely share a step, so the table is
    recovered; revealing everything in one step draws from the product of the marginals."""
    dist = _correlated()
    many = _unmask(dist, 10_000, 0, steps=100, reveal="independent", schedule=schedule)
    # The bias shrinks like 1/steps: measured 0.009 (linear) and 0.013 (cosine) at 100 steps.
    assert dist.total_variation(many) <= tv_tolerance(dist.flat, 10_000) + 0.02
    for reveal in ("independent", "count"):
        one = _unmask(dist, 10_000, 0, steps=1, reveal=reveal, schedule=schedule)
        assert dist.total_variation(one) > 0.5  # the product of the marginals is far from the table


def test_unmask_reveals_one_token_per_step_and_never_changes_a_revealed_one():
    dist = SequenceDistribution(torch.rand(3, 3, 3, 3, 3, generator=torch.Generator().manual_seed(0)))
    kernel = MaskingKernel(vocab_size=3)
    history = []
    Unmask().sample(ExactDiscrete(dist), kernel, kernel.prior_sample((500, 5)), generator=torch.Generator().manual_seed(0),
                    callback=lambda info: history.append(info["x"].clone()))
    assert len(history) == 5
    previous = kernel.prior_sample((500, 5))
    for x in history:
        revealed = previous != kernel.mask_id
        assert torch.equal(x[revealed], previous[revealed])
        assert torch.equal((x != kernel.mask_id).sum(dim=1), (previous != kernel.mask_id).sum(dim=1) + 1)
        previous = x


def test_imputation_draws_from_the_exact_conditional():
    dist = _correlated()
    kernel = MaskingKernel(vocab_size=2)
    known = torch.tensor([0, 0, 0, 0]).expand(20_000, 4)
    mask = torch.tensor([True, False, False, False]).expand(20_000, 4)
    samples = Unmask().sample(ExactDiscrete(dist), kernel, kernel.prior_sample((20_000, 4)),
                              generator=torch.Generator().manual_seed(3), known=Known(known, mask))
    assert bool((samples[:, 0] == 0).all())
    conditional = SequenceDistribution(dist.probs * (torch.arange(2) == 0).double().reshape(2, 1, 1, 1))
    assert conditional.total_variation(samples) <= tv_tolerance(conditional.flat, 20_000)


def test_low_temperature_takes_the_most_likely_token():
    table = torch.tensor([0.1, 0.6, 0.3])[:, None, None] * torch.tensor([0.7, 0.2, 0.1])[None, :, None] * torch.tensor([0.2, 0.3, 0.5])
    samples = _unmask(SequenceDistribution(table), 200, 0, temperature=1e-3)
    assert bool((samples == torch.tensor([1, 0, 2])).all())


def test_unmask_is_reproducible_from_its_generator():
    dist = _correlated()
    assert torch.equal(_unmask(dist, 300, 7, steps=2), _unmask(dist, 300, 7, steps=2))
    with pytest.raises(ConfigError, match="temperature"):
        Unmask(temperature=0.0)
    with pytest.raises(ConfigError, match="reveal"):
        Unmask(reveal="all")


def test_carry_over_keeps_masked_logits_and_pins_visible_tokens():
    """Masked positions keep their logits (non-finite ones too), a visible token gets 0 for itself
    and −inf elsewhere whatever the network said there (NaN included), and the gradient reaches
    the masked positions only."""
    from scoregen.estimators.discrete import carry_over

    x_t = torch.tensor([[0, 3, 2, 3], [3, 1, 3, 0]])  # V = 3, mask 3
    logits = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    special = torch.zeros(2, 4, 3)
    special[0, 1, 0], special[0, 0, 1], special[1, 1, 2] = float("-inf"), float("nan"), float("inf")
    out = carry_over(logits + special, x_t, 3)
    masked = x_t == 3
    assert torch.equal(out[masked], (logits + special)[masked])
    expected = torch.full((2, 4, 3), float("-inf"))
    expected[0, 0, 0] = expected[0, 2, 2] = expected[1, 1, 1] = expected[1, 3, 0] = 0.0
    assert torch.equal(out[~masked], expected[~masked])
    (grad,) = torch.autograd.grad(torch.where(out.isfinite(), out, 0.0).sum(), logits)
    assert torch.equal(grad[~masked], torch.zeros_like(grad[~masked])) and bool((grad[masked] != 0).any())
