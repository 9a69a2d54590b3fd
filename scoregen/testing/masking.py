"""The masking family's ground truth and conformance checks: an enumerable table with a
long-range dependency, the probe denoiser, the assertions against the exact un-masking posterior,
and the interface checks of kernels, estimators, objectives and samplers (called by
:mod:`scoregen.testing.conformance`, which dispatches on ``kernel.family``).

- :func:`assert_posterior_close`: an estimator's ``softmax(logits)`` is the exact posterior
  ``P(x₀ᵢ | x̃)`` at masked positions, and carries every visible token over with certainty.
- :func:`assert_masked_objective_consistent`: for estimators ``q₁, q₂``, ``E[ℓ(q₁)] − E[ℓ(q₂)]``
  equals the difference of their weighted posterior KL divergences, and (for the ELBO weighting)
  the exact posterior's loss averages to ``−log₂ p(x)`` per token (the bound is tight).
- :func:`assert_sampler_recovers_table`: driven by the exact posterior, a sampler reproduces the
  table, total variation within a factor of its floor.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from scoregen.analytic.sequences import SequenceDistribution, sampling_floor
from scoregen.errors import ConfigError, ScoregenError
from scoregen.estimators.discrete import ExactDiscrete, carry_over
from scoregen.kernels import MaskingKernel
from scoregen.testing._common import check_seeded, check_tensor, evaluating, fail, seeded

LENGTH = 4
"""The length of the sequences the interface checks use, and the shortest default table's."""
N_SAMPLES = 20_000
"""Samples a sampler draws for its ground-truth check."""


def default_kernel(kind: str = "sampler", *, vocab_size: int = 3) -> MaskingKernel:
    """The kernel a component of any ``kind`` is checked with: linear masking over ``vocab_size`` tokens."""
    return MaskingKernel(vocab_size=vocab_size)


def default_distribution(vocab_size: int = 3, length: int | None = None) -> SequenceDistribution:
    """A table over ``{0 … V−1}^L`` with a long-range dependency: the last token repeats the first
    in 95 % of the mass; the rest is spiky (squared exponential draws, seed 0). ``length``
    defaults to the shortest ``L ≥ 4`` with ``V^L ≥ 64`` entries (a total variation over fewer
    entries varies too much from draw to draw to judge a sampler by)."""
    if length is None:
        length = LENGTH
        while vocab_size**length < 64:
            length += 1
    weights = torch.empty([vocab_size] * length, dtype=torch.float64).exponential_(generator=seeded(0)).square()
    index = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
    same = (index[0] == index[-1]).to(torch.float64)
    table = weights * same / (weights * same).sum() * 0.95 + weights * (1 - same) / (weights * (1 - same)).sum() * 0.05
    return SequenceDistribution(table)


class TokenPrior(nn.Module):
    """``logits[b, i, v] = θ_v``: one learnable logit per token, the same at every masked position
    (the probe estimator of objectives and samplers). With ``carry=False`` it breaks the carry-over
    convention (visible positions get ``θ`` too), to check that an objective ignores them."""

    families = ("masking",)

    def __init__(self, vocab_size: int, *, carry: bool = True) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.carry = carry
        self.theta = nn.Parameter(torch.linspace(-0.5, 0.5, vocab_size))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = self.theta.expand(*x_t.shape, self.vocab_size)
        return carry_over(logits, x_t, self.vocab_size) if self.carry else logits


def probe(kernel: Any) -> nn.Module:
    """The estimator objectives and samplers are exercised with."""
    return TokenPrior(kernel.vocab_size)


def data(kernel: Any, shape: tuple[int, ...], batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Clean tokens ``[B, *shape]`` int64, uniform over the vocabulary."""
    return torch.randint(kernel.vocab_size, (batch_size, *shape), generator=generator)


def _masked_at_random(x: torch.Tensor, mask_id: int, generator: torch.Generator) -> torch.Tensor:
    """``x`` with each row masked at its own rate: row 0 all masked, row 1 none, the rest random."""
    rate = torch.rand(x.shape[0], generator=generator)
    rate[0], rate[1 % len(rate)] = 1.0, 0.0
    masked = torch.rand(x.shape, generator=generator) < rate.reshape(-1, *(1,) * (x.ndim - 1))
    return torch.where(masked, torch.full_like(x, mask_id), x)


def _tracks(kernel: Any, what: str, t: torch.Tensor) -> torch.Tensor:
    value = getattr(kernel, what)(t)
    if not isinstance(value, torch.Tensor) or value.shape != t.shape or not bool(torch.isfinite(value).all()):
        raise fail(kernel, f"{what}(t) must return a finite tensor shaped like t {list(t.shape)}")
    return value.to(torch.float64)


# ---------------------------------------------------------------------------------------- kernels


def check_kernel(kernel: Any, event_shapes: Sequence[tuple[int, ...]], n: int) -> None:
    """``mask_id = vocab_size``; ``prior_sample`` is all masks (int64); ``mask_prob`` rises from 0
    at ``t = 0`` to 1 at ``t = 1``; ``elbo_weight = q'/q`` (``q`` the mask probability, checked by
    central differences); ``sample_t`` seeded in ``(0, 1]``; ``perturb`` seeded, keeps shape and
    dtype, only ever replaces a token by the mask, at the rate ``mask_prob(t)`` over ``n`` draws;
    ``check_logits`` refuses a wrong shape and ``as_data`` a token outside the vocabulary."""
    __tracebackhide__ = True
    vocab = getattr(kernel, "vocab_size", None)
    if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1 or kernel.mask_id != vocab:
        raise fail(kernel, f"a masking kernel needs an int vocab_size >= 1 and mask_id == vocab_size, got {vocab!r}, {getattr(kernel, 'mask_id', None)!r}")
    for shape in event_shapes:
        label = f"prior_sample {[4, *shape]}"
        out = check_seeded(kernel, label, lambda g: kernel.prior_sample((4, *shape), g))
        check_tensor(kernel, out, (4, *shape), torch.int64, label)
        if not bool((out == kernel.mask_id).all()):
            raise fail(kernel, f"{label} must be all masks ({kernel.mask_id})")
    t = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    q = _tracks(kernel, "mask_prob", t)
    if abs(float(q[0])) > 1e-7 or abs(float(q[-1]) - 1) > 1e-7 or not bool((q[1:] >= q[:-1]).all()):
        raise fail(kernel, f"mask_prob must rise from 0 at t = 0 to 1 at t = 1, got {float(q[0]):.4g} … {float(q[-1]):.4g}")
    inner, h = torch.linspace(0.05, 0.95, 19, dtype=torch.float64), 1e-5
    derivative = (_tracks(kernel, "mask_prob", inner + h) - _tracks(kernel, "mask_prob", inner - h)) / (2 * h)
    expected, weight = derivative / _tracks(kernel, "mask_prob", inner), _tracks(kernel, "elbo_weight", inner)
    if not torch.allclose(weight, expected, rtol=1e-4):
        worst = int((weight - expected).abs().argmax())
        raise fail(
            kernel,
            f"elbo_weight(t) must be −α'(t)/(1 − α(t)) = q'(t)/q(t); at t = {float(inner[worst]):.2f} it is "
            f"{float(weight[worst]):.6g}, expected {float(expected[worst]):.6g}",
        )
    times = check_seeded(kernel, "sample_t", lambda g: kernel.sample_t(n, g), must_vary=True)
    check_tensor(kernel, times, (n,), times.dtype, "sample_t")
    if not bool(((times > 0) & (times <= 1)).all()):
        raise fail(kernel, "sample_t must draw times in (0, 1]")
    for shape in event_shapes:
        x = torch.randint(vocab, (4, *shape), generator=seeded(0))
        kept, half = x.clone(), torch.full((4,), 0.5)
        label = f"perturb on {[4, *shape]}"
        out = check_seeded(kernel, label, lambda g: kernel.perturb(x, half, g), must_vary=True)
        check_tensor(kernel, out, x.shape, torch.int64, label)
        if not torch.equal(x, kept):
            raise fail(kernel, f"{label} modified its input x in place")
        if not bool(((out == x) | (out == kernel.mask_id)).all()):
            raise fail(kernel, f"{label} changed a token into another token; it may only mask")
    for level in (0.0, 0.25, 0.75, 1.0):
        x = torch.randint(vocab, (n, 2), generator=seeded(5))
        rate = float((kernel.perturb(x, torch.full((n,), level), seeded(6)) == kernel.mask_id).double().mean())
        p = float(kernel.mask_prob(torch.tensor(level, dtype=torch.float64)))
        if abs(rate - p) > 5 * math.sqrt(p * (1 - p) / (2 * n)) + 1e-12:
            raise fail(kernel, f"perturb at t = {level:g} masked {rate:.4f} of the tokens, expected mask_prob = {p:.4f}")
    x = torch.zeros(2, 3, dtype=torch.int64)
    for bad in (torch.zeros(2, 3, vocab + 1), torch.zeros(2, 3)):
        try:
            kernel.check_logits(bad, x)
        except ScoregenError:
            continue
        raise fail(kernel, f"check_logits accepted logits of shape {list(bad.shape)} for tokens {list(x.shape)}")
    try:
        kernel.as_data(torch.full((2, 3), vocab))
    except ScoregenError:
        return
    raise fail(kernel, f"as_data accepted the token {vocab} (the mask), outside the vocabulary 0 … {vocab - 1}")


# ------------------------------------------------------------------------------------- estimators


def _probabilities(estimator: Callable, x_t: torch.Tensor, t: torch.Tensor, vocab: int, label: str) -> torch.Tensor:
    """``softmax(estimator(x_t, t))`` [B, *E, V] float64, checked: shape, no NaN or +inf, rows sum to 1."""
    __tracebackhide__ = True
    logits = estimator(x_t, t)
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise fail(estimator, f"{label} must return floating-point logits, got {type(logits).__name__}")
    check_tensor(estimator, logits, (*x_t.shape, vocab), logits.dtype, label, finite=False)
    if bool(torch.isnan(logits).any() | torch.isposinf(logits).any()):
        raise fail(estimator, f"{label} returned NaN or +inf logits")
    probs = torch.softmax(logits.detach().double(), dim=-1)
    if not bool(torch.isfinite(probs).all()):
        raise fail(estimator, f"{label}: some position has no possible token (every logit −inf)")
    return probs


def assert_carries_over(estimator: Callable, x_t: torch.Tensor, t: torch.Tensor, vocab: int) -> None:
    """At every visible position of ``x_t`` the estimator returns that token with certainty."""
    __tracebackhide__ = True
    probs = _probabilities(estimator, x_t, t, vocab, f"estimator(x_t {list(x_t.shape)}, t)")
    visible = x_t != vocab
    onehot = nn.functional.one_hot(x_t.clamp(max=vocab - 1), vocab).to(torch.float64)
    error = (probs - onehot).abs().amax(dim=-1)
    bad = visible & (error > 1e-6)
    if bool(bad.any()):
        where = [int(i) for i in torch.nonzero(bad)[0]]
        raise fail(
            estimator,
            f"a visible token must be returned with certainty (carry-over convention, "
            f"scoregen.estimators.discrete.carry_over); at {where} the token is {int(x_t[tuple(where)])} but the "
            f"estimator gives {probs[tuple(where)].tolist()}",
        )


def check_estimator(
    estimator: Any,
    shape: tuple[int, ...],
    *,
    kernel: Any = None,
    truth: SequenceDistribution | None = None,
    batch_size: int = 6,
    seed: int = 0,
) -> None:
    """On int64 tokens ``[B, *shape]`` (one row all masked, one clean, the others masked at random
    rates) and random times in ``(0, 1]``: logits ``[B, *shape, V]`` with no NaN or +inf and a
    possible token everywhere; visible tokens carried over with certainty; input unmodified;
    deterministic; each row independent of the others. With ``truth`` (a
    :class:`SequenceDistribution`), the estimator claims to be exact: :func:`assert_posterior_close`."""
    __tracebackhide__ = True
    vocab = kernel.vocab_size if kernel is not None else getattr(estimator, "vocab_size", None)
    if vocab is None:
        raise ConfigError("check_estimator needs kernel=... (the estimator has no vocab_size attribute)")
    generator = seeded(seed)
    x_t = _masked_at_random(torch.randint(vocab, (batch_size, *shape), generator=generator), vocab, generator)
    t = 1.0 - torch.rand(batch_size, generator=generator)
    label = f"estimator(x_t {[batch_size, *shape]}, t)"
    with evaluating(estimator), torch.no_grad():
        kept = x_t.clone()
        probs = _probabilities(estimator, x_t, t, vocab, label)
        if not torch.equal(x_t, kept):
            raise fail(estimator, f"{label} modified its input x_t in place")
        if not torch.equal(probs, _probabilities(estimator, x_t, t, vocab, label)):
            raise fail(estimator, f"{label} is not deterministic: two calls differ")
        rows = torch.cat([_probabilities(estimator, x_t[i : i + 1], t[i : i + 1], vocab, label) for i in range(batch_size)])
        if not torch.allclose(rows, probs, rtol=1e-4, atol=1e-6):
            raise fail(estimator, f"{label}: a row's posterior depends on the other rows of the batch")
        assert_carries_over(estimator, x_t, t, vocab)
        if truth is not None:
            assert_posterior_close(estimator, truth, generator=seeded(seed + 1))


def _noised(distribution: SequenceDistribution, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` draws ``x̃`` of the table masked at uniform times ``t``: ``(x̃ [n, L], t [n])``."""
    x0 = distribution.sample(n, generator=generator)
    t = torch.rand(n, generator=generator)
    masked = torch.rand(x0.shape, generator=generator) < t[:, None]
    return torch.where(masked, torch.full_like(x0, distribution.vocab_size), x0), t


def assert_posterior_close(
    estimator: Callable, distribution: SequenceDistribution, *, n: int = 512, atol: float = 1e-4, generator: torch.Generator | None = None
) -> None:
    """Assert that ``softmax(estimator(x̃, t))`` is the exact posterior ``P(x₀ᵢ = v | x̃)`` of
    ``distribution`` at every position, within ``atol``, on ``n`` draws of the table masked at
    uniform times (from ``generator``, default seed 0): at masked positions the table conditioned
    on the visible tokens, at visible ones the token itself."""
    __tracebackhide__ = True
    x_t, t = _noised(distribution, n, generator or seeded(0))
    vocab = distribution.vocab_size
    with torch.no_grad():
        probs = _probabilities(estimator, x_t, t, vocab, f"estimator(x_t {list(x_t.shape)}, t)")
    expected = distribution.posterior(x_t, vocab)
    error = (probs - expected).abs().amax(dim=-1)
    bad = error > atol
    if not bool(bad.any()):
        return
    rows = torch.nonzero(bad.any(dim=1)).flatten()
    lines = [f"the estimator's posterior differs from the exact one in {len(rows)} of {n} rows (atol = {atol:g}); worst rows:"]
    for i in rows[error[rows].amax(dim=1).argsort(descending=True)][:5].tolist():
        j = int(error[i].argmax())
        lines.append(
            f"  row {i}: x̃ = {x_t[i].tolist()}, position {j}: expected {[round(p, 4) for p in expected[i, j].tolist()]}, "
            f"got {[round(p, 4) for p in probs[i, j].tolist()]}"
        )
    raise AssertionError("\n".join(lines))


# ------------------------------------------------------------------------------------- objectives


class _Perturbed:
    """``log P(x₀ᵢ | x̃) + a tanh(W onehot(x̃))ᵢ``, carried over: a smooth random estimator near the exact one."""

    def __init__(self, exact: ExactDiscrete, generator: torch.Generator, amplitude: float) -> None:
        length, vocab = exact.distribution.length, exact.vocab_size
        self.exact, self.amplitude, self.vocab = exact, amplitude, vocab
        self.w = torch.randn(length * (vocab + 1), length * vocab, generator=generator, dtype=torch.float64)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        features = nn.functional.one_hot(x_t, self.vocab + 1).flatten(1).to(torch.float64)
        bump = self.amplitude * torch.tanh(features @ self.w).reshape(*x_t.shape, self.vocab)
        return carry_over(self.exact(x_t, t).double() + bump, x_t, self.vocab).float()


def assert_masked_objective_consistent(
    objective: Any,
    distribution: SequenceDistribution | None = None,
    *,
    kernel: Any = None,
    weight: Callable[[torch.Tensor], torch.Tensor] | None = None,
    elbo: bool | None = None,
    n: int = 4096,
    n_se: float = 5.0,
    amplitude: float = 1.0,
    seed: int = 0,
) -> None:
    """Assert the defining property of a masked objective on data from ``distribution``.

    For estimators ``q₁, q₂`` (the exact posterior ``p*`` and two random perturbations of it),
    ``E[ℓ(q₁)] − E[ℓ(q₂)] = K(q₁) − K(q₂)`` with the weighted posterior divergence
    ``K(q) = E_t E_{x̃} c(t, m) Σ_{i masked} KL(p*ᵢ(·|x̃) ‖ qᵢ(·|x̃))``, within ``n_se``
    Monte-Carlo standard errors (``ℓ`` with common random numbers, ``K`` on fresh draws at the
    objective's own times; ``m`` the number of masked positions); the exact posterior has the
    lowest loss; and with ``elbo`` its loss averages to ``−log₂ p(x) / P`` on the same sequences
    (the bound is tight; over the table, the entropy in bits per token). ``c`` is the objective's
    ``scale(kernel, t, m, P)``, or with ``weight`` (``w(t)``) ``w(t) / (P ln 2)``, by default
    ``kernel.elbo_weight``'s; ``elbo`` defaults to whether the objective's ``weighting`` is
    ``"elbo"`` (true when it has none). ``kernel`` defaults to the linear masking kernel,
    ``distribution`` to :func:`default_distribution`. Sequences much rarer
    than ``1/n`` bias both sides beyond their standard errors (they are seldom drawn): mix such a
    table with a uniform one.
    """
    __tracebackhide__ = True
    distribution = distribution or default_distribution()
    kernel = kernel or default_kernel(vocab_size=distribution.vocab_size)
    positions = distribution.length
    own_scale = weight is None and callable(getattr(objective, "scale", None))
    w = weight or kernel.elbo_weight

    def scale_of(t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return objective.scale(kernel, t, m, positions) if own_scale else w(t) / (positions * math.log(2))

    if elbo is None:
        elbo = getattr(objective, "weighting", "elbo") == "elbo"
    exact = ExactDiscrete(distribution)
    gen = seeded(seed + 1)
    named = [("the exact posterior", exact)] + [(f"estimator {i + 1}", _Perturbed(exact, gen, amplitude)) for i in range(2)]
    x = distribution.sample(n, generator=seeded(seed))
    losses = []
    for _, est in named:
        terms = objective.per_sample(est, kernel, x, generator=seeded(seed + 2))
        losses.append(terms.loss.detach().to(torch.float64))
    t = terms.sigma.detach().to(torch.float32)
    gen = seeded(seed + 3)
    fresh = distribution.sample(len(t), generator=gen)
    x_t = kernel.perturb(fresh, t, gen)
    truth = distribution.posterior(x_t, kernel.mask_id)
    masked = (x_t == kernel.mask_id).to(torch.float64)
    scale = scale_of(t, masked.sum(dim=1)).to(torch.float64)
    divergence = []
    for _, est in named:
        log_q = torch.log_softmax(est(x_t, t).double(), dim=-1)
        kl = torch.where(truth > 0, truth * (truth.clamp_min(1e-300).log() - log_q), torch.zeros_like(truth)).sum(dim=-1)
        divergence.append(scale * (masked * kl).sum(dim=1))
    name = type(objective).__name__
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        d_loss, se_loss = _mean_se(losses[a] - losses[b])
        d_div, se_div = _mean_se(divergence[a] - divergence[b])
        slack = 1e-5 * (1 + float(losses[a].abs().mean()))  # float32 round-off of the objective's loss
        if abs(d_loss - d_div) > n_se * math.hypot(se_loss, se_div) + slack:
            raise AssertionError(
                f"{name} is not a masked-posterior objective for the table over {{0 … {distribution.vocab_size - 1}}}^"
                f"{distribution.length}: E[ℓ(q₁)] − E[ℓ(q₂)] = {d_loss:.5g} ± {se_loss:.2g}, but the weighted posterior "
                f"KL divergences differ by {d_div:.5g} ± {se_div:.2g} (q₁ = {named[a][0]}, q₂ = {named[b][0]}; "
                f"{n_se:g} standard errors allowed)"
            )
        if a == 0 and d_loss > n_se * se_loss + slack:
            raise AssertionError(f"the exact posterior does not minimise {name}: its loss exceeds that of {named[b][0]} by {d_loss:.5g} ± {se_loss:.2g}")
    # The ELBO is tight for every sequence: E_{t, x̃} ℓ(x) = −log₂ p(x) / P, so compare on the same x.
    nll = (-distribution.log_prob(x) / (distribution.length * math.log(2))).repeat(len(losses[0]) // n)
    gap, se = _mean_se(losses[0] - nll)
    if elbo and abs(gap) > n_se * se + 1e-5 * (1 + float(nll.mean())):
        raise AssertionError(
            f"{name} with the exact posterior should equal −log₂ p(x) per token on average over its draws of "
            f"(t, x̃) (the ELBO is tight): its mean loss is {float(losses[0].mean()):.5g}, the sequences' "
            f"{float(nll.mean()):.5g} bits per token (difference {gap:.3g} ± {se:.2g})"
        )


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / math.sqrt(values.numel()))


def check_objective(objective: Any, kernel: Any, *, truth: SequenceDistribution | None = None) -> None:
    """The loss ignores what an estimator says at visible positions (a probe that breaks the
    carry-over convention gets the same losses), then :func:`assert_masked_objective_consistent`."""
    __tracebackhide__ = True
    x = data(kernel, (LENGTH,), 64, seeded(0))
    with torch.no_grad():
        carried = objective.per_sample(TokenPrior(kernel.vocab_size), kernel, x, generator=seeded(1)).loss
        broken = objective.per_sample(TokenPrior(kernel.vocab_size, carry=False), kernel, x, generator=seeded(1)).loss
    if not torch.allclose(carried, broken, rtol=1e-6, atol=1e-7):
        raise fail(
            objective,
            "the loss depends on the estimator's output at visible positions; only masked positions may count "
            f"(losses {carried[:3].tolist()} with carry-over, {broken[:3].tolist()} without)",
        )
    if truth is None and kernel.vocab_size**LENGTH > 4096:
        return
    assert_masked_objective_consistent(objective, truth or default_distribution(kernel.vocab_size), kernel=kernel)


# --------------------------------------------------------------------------------------- samplers


def assert_sampler_recovers_table(
    sampler: Any,
    distribution: SequenceDistribution | None = None,
    *,
    kernel: Any = None,
    estimator: Callable | None = None,
    n: int = 20_000,
    factor: float = 1.5,
    seed: int = 0,
) -> None:
    """Assert that ``sampler``, driven by the exact posterior of ``distribution`` (or by
    ``estimator``), draws from it: the total variation of ``n`` samples to the table is at most
    ``factor`` times its floor, the mean total variation of ``n`` true draws (over 8 such draws:
    one alone varies by ±25 %). ``distribution`` defaults
    to :func:`default_distribution` (a long-range dependency), ``kernel`` to the linear kernel."""
    __tracebackhide__ = True
    distribution = distribution or default_distribution()
    kernel = kernel or default_kernel(vocab_size=distribution.vocab_size)
    estimator = estimator or ExactDiscrete(distribution)
    generator = seeded(seed)
    x_init = kernel.prior_sample((n, distribution.length), generator)
    with torch.no_grad():
        samples = sampler.sample(estimator, kernel, x_init, generator=generator)
    name = type(sampler).__name__
    if tuple(samples.shape) != (n, distribution.length) or bool((samples == kernel.mask_id).any()):
        raise AssertionError(f"{name} returned shape {list(samples.shape)} or masks left, for x_init of shape {list(x_init.shape)}")
    tv = distribution.total_variation(samples)
    floor = sampling_floor(distribution, n, seed=seed + 1)
    if tv > factor * floor:
        raise AssertionError(
            f"{name} does not recover the table over {{0 … {distribution.vocab_size - 1}}}^{distribution.length} with "
            f"its exact posterior: total variation {tv:.4g} over {n} samples, {tv / floor:.3g}× the floor {floor:.4g} "
            f"(mean over {n} true draws); allowed {factor:g}×"
        )


def check_sampler(sampler: Any, kernel: Any, *, truth: SequenceDistribution | None = None, n: int = N_SAMPLES, factor: float = 1.5) -> None:
    """From a partly masked ``x_init``: no mask is left, every token is in the vocabulary, and the
    visible tokens of ``x_init`` are kept; then :func:`assert_sampler_recovers_table`."""
    __tracebackhide__ = True
    vocab = kernel.vocab_size
    x_init = _masked_at_random(data(kernel, (LENGTH,), 8, seeded(0)), kernel.mask_id, seeded(1))
    with torch.no_grad():
        out = sampler.sample(TokenPrior(vocab), kernel, x_init, generator=seeded(2))
    label = f"sample from a partly masked x_init {list(x_init.shape)}"
    if bool(((out < 0) | (out >= vocab)).any()):
        raise fail(sampler, f"{label} left masks or tokens outside 0 … {vocab - 1}")
    visible = x_init != kernel.mask_id
    if not torch.equal(out[visible], x_init[visible]):
        raise fail(sampler, f"{label} changed visible tokens; only masked positions may be drawn")
    if truth is None and vocab**LENGTH > 4096:
        return
    assert_sampler_recovers_table(sampler, truth or default_distribution(vocab), kernel=kernel, n=n, factor=factor)
