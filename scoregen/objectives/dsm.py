"""Denoising score matching (Vincent 2011), the objective NCSN trains with."""

import attrs

from scoregen._tensor import append_dims, randn_like
from scoregen.kernels.base import require_family
from scoregen.objectives.base import GaussianObjective, LossTerms


@attrs.frozen(kw_only=True)
class DenoisingScoreMatching(GaussianObjective):
    """``ℓ(σ) = ½ λ(σ) ‖s(x̃, σ) + (x̃ − x)/σ²‖²`` with ``x̃ = x + σ z``.

    Since ``(x̃ − x)/σ² = z/σ``, this is computed as ``½ λ(σ) σ⁻² ‖σ s(x̃, σ) + z‖²``; the default
    ``λ(σ) = σ²`` leaves ``½ ‖σ s(x̃, σ) + z‖²``, whose scale is the same at every level. Its
    minimiser is the score of the perturbed data, ``∇ log p_σ(x̃)``. Per-sample losses are summed
    over the event dimensions.
    """

    def per_sample(self, estimator, kernel, x, *, generator=None) -> LossTerms:
        require_family(self, kernel)
        x, sigma = self.draw(kernel, x, generator)
        z = randn_like(x, generator)
        x_tilde = kernel.perturb(x, sigma, noise=z)
        residual = append_dims(sigma, x.ndim) * estimator(x_tilde, sigma) + z
        sq = residual.pow(2).flatten(1).sum(dim=1)
        scale = 0.5 if self.weight_power == 2 else 0.5 * self.weight(sigma) / sigma**2
        return LossTerms(loss=scale * sq, sigma=sigma)
