"""Denoising score matching (Vincent 2011), the objective NCSN trains with, optionally with the
reference-batch target (:mod:`scoregen.objectives.reference`)."""

import attrs
import torch

from scoregen._tensor import append_dims, randn_like
from scoregen.errors import ConfigError
from scoregen.estimators.parameterisation import as_score
from scoregen.kernels.base import require_family
from scoregen.objectives.base import GaussianObjective, LossTerms, conditioned
from scoregen.objectives.reference import ReferenceRows, reference_target


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
        if self.reference:  # one draw of rows for every level of the batch (levels="all")
            rows, n = self._reference(x, generator), x.shape[0]
            if len(z) == n:
                z = reference_target(x, z, sigma, rows)
            else:
                z = torch.cat([reference_target(x, z_l, s_l, rows) for z_l, s_l in zip(z.split(n), sigma.split(n))])
        score = conditioned(as_score(estimator, kernel), labels, x_rep.shape[0])(x_tilde, sigma)
        if score.shape != x_tilde.shape:
            raise ConfigError(
                f"the estimator returned shape {list(score.shape)} for data {list(x_tilde.shape)}: a score has the "
                "data's shape (a classifier is a guide for sampling, not a model's estimator)"
            )
        sq = torch.addcmul(z, append_dims(sigma, x_rep.ndim), score).square().sum(dim=tuple(range(1, x_rep.ndim)))
        scale = 0.5 if self.weight_power == 2 else 0.5 * self.weight(sigma) / sigma**2
        return LossTerms(loss=scale * sq, sigma=sigma)
