"""The objective interface and what every Gaussian score-matching objective shares: how noise
levels are drawn for a batch, the weighting ``λ(σ)``, and the per-level breakdown of a loss."""

from typing import Literal, Protocol, runtime_checkable

import attrs
import torch

from scoregen import _validators as v
from scoregen.objectives.noise_levels import resolved_field


@attrs.frozen(eq=False)
class LossTerms:
    """Per-sample losses ``loss [N]`` at noise levels ``sigma [N]`` (already weighted by ``λ(σ)``)."""

    loss: torch.Tensor
    sigma: torch.Tensor

    @classmethod
    def cat(cls, terms: list["LossTerms"]) -> "LossTerms":
        """Pool several batches' terms into one."""
        return cls(loss=torch.cat([t.loss for t in terms]), sigma=torch.cat([t.sigma for t in terms]))

    def detach(self) -> "LossTerms":
        """The same terms, cut from the autograd graph."""
        return LossTerms(loss=self.loss.detach(), sigma=self.sigma.detach())

    def mean(self) -> torch.Tensor:
        """The scalar training loss."""
        return self.loss.mean()

    def level_index(self, sigmas: torch.Tensor) -> torch.Tensor:
        """Index of the ladder level each term belongs to, ``[N]``."""
        return level_index(self.sigma, sigmas)

    def by_level(self, sigmas: torch.Tensor) -> torch.Tensor:
        """Mean loss at each level of the ladder ``sigmas [L]`` (nearest level in log σ), ``[L]``;
        ``nan`` where a level drew no sample."""
        idx = self.level_index(sigmas)
        loss = self.loss.detach()
        total = loss.new_zeros(len(sigmas)).index_add_(0, idx, loss)
        count = loss.new_zeros(len(sigmas)).index_add_(0, idx, torch.ones_like(loss))
        return total / count


def level_index(sigma: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Index of the ladder level nearest to each ``sigma [N]`` in log scale, ``[N]``."""
    return (sigma.detach().log()[:, None] - sigmas.to(sigma.device).log()[None, :]).abs().argmin(dim=1)


def conditioned(estimator, labels: torch.Tensor | None, rows: int):
    """``estimator`` with ``labels [B]`` bound (repeated to ``rows``, a multiple of ``B``, in the
    order ``x.repeat`` makes: ``levels="all"``); ``estimator`` itself without labels. The
    objectives' one path for conditioning (:mod:`scoregen.estimators.conditioning`)."""
    if labels is None:
        return estimator
    labels = labels.repeat(rows // labels.shape[0])

    def with_labels(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return estimator(x, sigma, labels=labels)

    return with_labels


@runtime_checkable
class Objective(Protocol):
    """``per_sample(estimator, kernel, x, *, generator, labels=None) -> LossTerms``; ``loss`` is
    its mean. ``labels [B]`` (int64), when the data carry them, go to a conditional estimator."""

    def per_sample(self, estimator, kernel, x: torch.Tensor, *, generator, labels=None) -> LossTerms: ...

    def loss(self, estimator, kernel, x: torch.Tensor, *, generator, labels=None) -> torch.Tensor: ...


@attrs.frozen(kw_only=True)
class GaussianObjective:
    """Shared behaviour of the Gaussian score-matching objectives.

    ``levels="random"`` draws one level per example from ``sigma_distribution`` (by default the
    kernel's own, ``kernel.sample_sigma``; :mod:`scoregen.objectives.noise_levels` lists the others);
    ``levels="all"`` evaluates every example at every level of the ladder (``N = B·L`` terms).
    Each term is weighted by ``λ(σ) = σ^weight_power`` (``2`` gives NCSN's ``λ(σ) = σ²``; the power
    is within ``[−8, 8]``, so that ``λ`` stays finite in float32 over any noise range in use).
    """

    families = ("gaussian",)

    levels: Literal["random", "all"] = attrs.field(default="random", validator=v.choice("random", "all"))
    weight_power: float = attrs.field(default=2.0, validator=v.real(at_least=-8.0, at_most=8.0))
    sigma_distribution: str | dict = attrs.field(default="kernel")
    _sigma_sampler = resolved_field()

    def draw(self, kernel, x: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x_rep [N, *E], sigma [N])``: the batch paired with its noise levels. The data
        are cut from the autograd graph: a loss trains the estimator, never its input."""
        x = x.detach()
        if self.levels == "all":
            sigmas = kernel.sigmas.to(x.device, x.dtype)
            return x.repeat((len(sigmas),) + (1,) * (x.ndim - 1)), sigmas.repeat_interleave(x.shape[0])
        return x, self._sigma_sampler.sample(kernel, x.shape[0], generator).to(x.device, x.dtype)

    def weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """``λ(σ) = σ^p``, shape ``[N]``."""
        return sigma**self.weight_power

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        """The per-example losses, each objective's own."""
        raise NotImplementedError

    def loss(self, estimator, kernel, x, *, generator=None, labels=None) -> torch.Tensor:
        """The scalar loss: the mean of :meth:`per_sample`."""
        extra = {} if labels is None else {"labels": labels}
        return self.per_sample(estimator, kernel, x, generator=generator, **extra).mean()
