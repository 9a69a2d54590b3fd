"""The masking family's conformance checks and assertions catch real bugs (mutants) of every
kind of component, with messages that say what broke; the built-ins pass them
(tests/test_conformance.py)."""

import math

import attrs
import pytest
import torch

from scoregen.estimators import ExactDiscrete, MaskedMLP
from scoregen.kernels import MaskingKernel
from scoregen.objectives import LossTerms
from scoregen.objectives.masked_ce import MaskedCrossEntropy
from scoregen.samplers.unmask import Unmask
from scoregen.testing import (
    assert_masked_objective_consistent,
    assert_posterior_close,
    assert_sampler_recovers_table,
    check_estimator,
    check_kernel,
    check_objective,
    check_sampler,
    default_distribution,
)

TABLE = default_distribution(3)


def test_the_default_table_has_a_long_range_dependency():
    x = TABLE.sample(20_000, torch.Generator().manual_seed(0))
    assert TABLE.length == 4 and float((x[:, 0] == x[:, -1]).double().mean()) == pytest.approx(0.95, abs=0.01)
    assert default_distribution(2).length == 6  # at least 64 entries


def test_the_masking_kernel_passes_without_a_varying_prior():
    check_kernel(MaskingKernel(vocab_size=2))  # its prior is deterministic: all masks


@attrs.frozen(kw_only=True)
class CosineWithLinearWeight(MaskingKernel):
    """The cosine schedule with the linear schedule's ELBO weight 1/t."""

    def elbo_weight(self, t):
        return 1.0 / t


@attrs.frozen(kw_only=True)
class Scrambles(MaskingKernel):
    """A kernel that replaces some tokens by other tokens instead of the mask."""

    def perturb(self, x, t, generator=None):
        out = super().perturb(x, t, generator)
        return torch.where(out == self.mask_id, (x + 1) % self.vocab_size, out)


@pytest.mark.parametrize(
    ("kernel", "match"),
    [(CosineWithLinearWeight(vocab_size=3, schedule="cosine"), "elbo_weight"), (Scrambles(vocab_size=3), "only mask")],
    ids=["wrong ELBO weight", "replaces tokens"],
)
def test_kernel_bugs_are_caught(kernel, match):
    with pytest.raises(AssertionError, match=match):
        check_kernel(kernel)


class NoCarryOver(MaskedMLP):
    """A denoiser that returns its raw logits at visible positions too."""

    def forward(self, x_t, t):
        tokens = torch.nn.functional.one_hot(x_t.flatten(1), self.vocab_size + 1).flatten(1).float()
        return self.net(torch.cat([tokens, t.float()[:, None]], dim=1)).reshape(*x_t.shape, self.vocab_size)


def test_an_estimator_that_breaks_the_carry_over_convention_is_caught():
    check_estimator(MaskedMLP((4,), vocab_size=3, hidden=(16,)))
    with pytest.raises(AssertionError, match="carry-over convention"):
        check_estimator(NoCarryOver((4,), vocab_size=3, hidden=(16,)))


def test_the_posterior_of_a_wrong_table_is_caught():
    assert_posterior_close(ExactDiscrete(TABLE), TABLE)
    wrong = ExactDiscrete(TABLE.probs.flip(0))
    with pytest.raises(AssertionError, match=r"differs from the exact one[\s\S]*position \d: expected"):
        assert_posterior_close(wrong, TABLE)
    with pytest.raises(AssertionError, match="differs from the exact one"):
        check_estimator(wrong, distribution=TABLE)


@attrs.frozen(kw_only=True)
class CountsVisible(MaskedCrossEntropy):
    """The masked cross-entropy summed over every position, not only the masked ones."""

    def per_sample(self, estimator, kernel, x, *, generator=None):
        t = kernel.sample_t(x.shape[0], generator)
        logits = estimator(kernel.perturb(x, t, generator), t)
        nll = -torch.log_softmax(logits.float(), dim=-1).gather(-1, x[..., None]).squeeze(-1).flatten(1).sum(dim=1)
        return LossTerms(loss=kernel.elbo_weight(t) * nll / (x[0].numel() * math.log(2)), sigma=t)


@attrs.frozen(kw_only=True)
class Unweighted(MaskedCrossEntropy):
    """The masked cross-entropy without its ELBO weight w(t)."""

    def per_sample(self, estimator, kernel, x, *, generator=None):
        terms = super().per_sample(estimator, kernel, x, generator=generator)
        return LossTerms(loss=terms.loss / kernel.elbo_weight(terms.sigma), sigma=terms.sigma)


def test_an_objective_that_counts_visible_positions_is_caught():
    with pytest.raises(AssertionError, match="visible positions"):
        check_objective(CountsVisible())


def test_an_objective_with_a_wrong_weight_is_caught():
    with pytest.raises(AssertionError, match="not a masked-posterior objective"):
        assert_masked_objective_consistent(Unweighted())
    cosine = CosineWithLinearWeight(vocab_size=3, schedule="cosine")
    with pytest.raises(AssertionError, match="masked-posterior objective|entropy"):
        assert_masked_objective_consistent(MaskedCrossEntropy(), kernel=cosine, weight=MaskingKernel(vocab_size=3, schedule="cosine").elbo_weight)


def test_a_sampler_that_reveals_everything_at_once_is_caught():
    assert_sampler_recovers_table(Unmask())
    with pytest.raises(AssertionError, match=r"does not recover the table[\s\S]*the floor"):
        assert_sampler_recovers_table(Unmask(steps=1))


@attrs.frozen(kw_only=True)
class Redraws(Unmask):
    """An un-masking sampler that re-draws the visible tokens of ``x_init`` too."""

    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        everything = torch.full_like(x_init, kernel.mask_id)
        return super().sample(estimator, kernel, everything, generator=generator, callback=callback)


def test_a_sampler_that_redraws_visible_tokens_is_caught():
    with pytest.raises(AssertionError, match="changed visible tokens"):
        check_sampler(Redraws())
