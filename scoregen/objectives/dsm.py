"""Denoising score matching (Vincent 2011), the objective NCSN trains with, and its
reference-batch target (Xu et al. 2023, "stable target field")."""

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, draw_device, randn_like
from scoregen.errors import ConfigError
from scoregen.estimators.parameterisation import as_score
from scoregen.kernels.base import require_family
from scoregen.objectives.base import GaussianObjective, LossTerms, conditioned


def reference_target(x_tilde: torch.Tensor, sigma: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``(x̃ − Σ_j w_j x_j)/σ`` with ``w_j ∝ exp(−‖x̃ − x_j‖²/2σ²)`` over ``reference [R, *E]``:
    ``−σ`` times the score of the reference set perturbed at ``σ`` ("NCSN is secretly a GMM"),
    for ``x̃ [N, *E]``, ``sigma [N]`` → ``[N, *E]``. With the source point alone it is ``z``.

    Distances are computed without the ``‖a‖² + ‖b‖² − 2ab`` shortcut, which loses the small
    ones to cancellation exactly where σ is small and the weights are sharp.
    """
    flat, ref = x_tilde.flatten(1), reference.flatten(1).to(x_tilde.dtype)
    d2 = torch.cdist(flat, ref, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    w = torch.softmax(-d2 / (2 * sigma[:, None] ** 2), dim=1)
    return ((flat - w @ ref) / sigma[:, None]).reshape(x_tilde.shape)


@attrs.frozen(kw_only=True, slots=False)  # no slots: a mixin beside GaussianObjective's
class ReferenceRows:
    """``reference = R`` rows of the training set (given through :meth:`with_data`), drawn from
    the objective's generator at each step beside the batch: the reference set of
    :func:`reference_target`, shared by ``dsm`` and ``flow-matching``."""

    reference: int = attrs.field(default=0, validator=v.non_negative_count)
    _data: torch.Tensor | None = attrs.field(default=None, init=False, repr=False)

    def with_data(self, x: torch.Tensor) -> "ReferenceRows":
        """This objective drawing its reference rows from the training set ``x [N, *E]``."""
        if not self.reference:
            return self
        resolved = attrs.evolve(self)
        object.__setattr__(resolved, "_data", x.detach())
        return resolved

    def to(self, device) -> "ReferenceRows":
        """This objective with its reference set on ``device``."""
        if self._data is None or self._data.device == torch.device(device):
            return self
        moved = attrs.evolve(self)
        object.__setattr__(moved, "_data", self._data.to(device))
        return moved

    def _reference(self, x: torch.Tensor, generator) -> torch.Tensor:
        if self._data is None:
            raise ConfigError(
                f"{type(self).__name__} with reference > 0 draws from the training set: fit the model (or call with_data) first"
            )
        rows = torch.randint(self._data.shape[0], (int(self.reference),), generator=generator, device=draw_device(generator))
        return torch.cat([x.detach(), self._data[rows.to(self._data.device)].to(x.device, x.dtype)])


@attrs.frozen(kw_only=True)
class DenoisingScoreMatching(ReferenceRows, GaussianObjective):
    """``ℓ(σ) = ½ λ(σ) ‖s(x̃, σ) + (x̃ − x)/σ²‖²`` with ``x̃ = x + σ z``.

    Since ``(x̃ − x)/σ² = z/σ``, this is computed as ``½ λ(σ) σ⁻² ‖σ s(x̃, σ) + z‖²``; the default
    ``λ(σ) = σ²`` leaves ``½ ‖σ s(x̃, σ) + z‖²``, whose scale is the same at every level. Its
    minimiser is the score of the perturbed data, ``∇ log p_σ(x̃)``. Per-sample losses are summed
    over the event dimensions.

    ``reference = R > 0`` replaces the single-example target ``−z/σ`` by the score of a reference
    set perturbed at ``σ``, the batch itself plus ``R`` rows drawn from the training set
    (:func:`reference_target`; Xu et al. 2023). The source example is always in the set, so at
    small ``σ`` the target is DSM's; at large ``σ``, where DSM's target is mostly noise, it
    averages over the set. The bias this trades for the variance vanishes as ``R`` grows.
    """

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        require_family(self, kernel)
        x_rep, sigma = self.draw(kernel, x, generator)
        z = randn_like(x_rep, generator)
        x_tilde = kernel.perturb(x_rep, sigma, noise=z)
        if self.reference:
            z = reference_target(x_tilde, sigma, self._reference(x, generator))
        score = conditioned(as_score(estimator, kernel), labels, x_rep.shape[0])(x_tilde, sigma)
        if score.shape != x_tilde.shape:
            raise ConfigError(
                f"the estimator returned shape {list(score.shape)} for data {list(x_tilde.shape)}: a score has the "
                "data's shape (a classifier is a guide for sampling, not a model's estimator)"
            )
        residual = append_dims(sigma, x_rep.ndim) * score + z
        sq = residual.pow(2).flatten(1).sum(dim=1)
        scale = 0.5 if self.weight_power == 2 else 0.5 * self.weight(sigma) / sigma**2
        return LossTerms(loss=scale * sq, sigma=sigma)
