"""Sliced score matching (Song, Garg, Shi & Ermon 2019) on noised data, and its variance-reduced form."""

from typing import ClassVar, Literal

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.estimators.parameterisation import as_score
from scoregen.kernels.base import require_family
from scoregen.numerics.traces import projected_jacobian
from scoregen.objectives.base import GaussianObjective, LossTerms, conditioned


def projections(kind: str, shape: tuple[int, ...], generator, *, like: torch.Tensor) -> torch.Tensor:
    """Random directions ``v`` of ``shape`` with ``E[v vᵀ] = I``: standard normal (``"gaussian"``)
    or uniform signs ``±1`` (``"rademacher"``), drawn from ``generator``."""
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    signs = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * signs - 1).to(like.dtype)


@attrs.frozen(kw_only=True)
class SlicedScoreMatching(GaussianObjective):
    """``ℓ(σ) = λ(σ) (1/M) Σ_m [v_mᵀ ∇ₓs(x̃, σ) v_m + ½ (v_mᵀ s(x̃, σ))²]`` with ``x̃ = x + σ z``
    and ``M = n_projections`` directions per example.

    Since ``E[v vᵀ] = I`` for both projections, ``E_v[vᵀ A v] = tr A`` and ``E_v (vᵀs)² = ‖s‖²``:
    the expectation over projections is implicit score matching, so the loss is ``λ(σ)/2`` times
    the Fisher divergence to ``∇log p_σ`` plus a constant, minimised by the perturbed score.
    Each projection costs one vector-Jacobian product, batched over the ``M`` projections
    (:func:`scoregen.numerics.traces.projected_jacobian`); the cost does not grow with the dimension
    (one projection: 2.15–2.55× a DSM step with the ``ncsn`` MLP, against a floor of 2× by counting
    matrix products; docs/objectives.md).
    Rademacher directions (the default) give ``vᵀAv`` and ``(vᵀs)²`` a smaller variance than
    Gaussian ones (the diagonal of ``A`` and ``‖s‖²`` enter exactly); on the 8-mode ring they
    trained better models (docs/objectives.md). ``projection="gaussian"`` is the paper's choice.

    ``control_sigma = c`` adds control variates that pair each term with its denoising
    counterpart: by Stein's lemma, for ``x̃ = x + σ z``, ``E_z[s(x̃)ᵀ z / σ] = E_z[tr ∇ₓs(x̃)]`` for
    any ``s``, and ``E_v (vᵀs)² = ‖s‖²``, so ``(1 − β) ℓ_SSM + β ℓ_DSM`` with
    ``ℓ_DSM = λ(σ) [s(x̃)ᵀ z / σ + ½ ‖s(x̃)‖²]`` (DSM's loss less ``½ λ ‖z‖²/σ²``, free of ``s``) has
    the same expectation at each level (the same minimiser, the same expected gradient) for any
    ``β`` that depends on ``σ`` alone. Here ``β(σ) = σ² / (σ² + c²)``: the denoising terms where
    the noise is large, whose gradient is the quieter one there, the Jacobian where it is small
    (``benchmarks/objectives.py noise`` measures both per level, and the best ``β``). ``c = 0``
    computes no Jacobian product and is DSM up to that constant; ``None`` (the default) is plain
    sliced score matching.
    """

    variance_reduced: ClassVar[bool] = False

    n_projections: int = attrs.field(default=1, validator=v.count)
    projection: Literal["gaussian", "rademacher"] = attrs.field(default="rademacher", validator=v.choice("gaussian", "rademacher"))
    control_sigma: float | None = attrs.field(default=None, validator=v.optional(v.real(non_negative=True)))

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        require_family(self, kernel)
        x, sigma = self.draw(kernel, x, generator)
        z = randn_like(x, generator)
        x_tilde = kernel.perturb(x, sigma, noise=z)
        score_fn = conditioned(as_score(estimator, kernel), labels, x.shape[0])
        v = projections(self.projection, (self.n_projections, *x.shape), generator, like=x)
        if self.control_sigma == 0:
            score = score_fn(x_tilde, sigma)
            trace = x.new_zeros(x.shape[0])
        else:
            score, quad = projected_jacobian(lambda y: score_fn(y, sigma), x_tilde, v)
            trace = quad.mean(dim=0)
        exact_sq = 0.5 * score.pow(2).flatten(1).sum(dim=1)
        half_sq = exact_sq if self.variance_reduced else 0.5 * (v * score).flatten(2).sum(-1).pow(2).mean(dim=0)
        if self.control_sigma is not None:  # (1 − β) ℓ_SSM + β ℓ_DSM
            beta = sigma**2 / (sigma**2 + self.control_sigma**2)
            trace = torch.lerp(trace, (score * z).flatten(1).sum(dim=1) / sigma, beta)
            half_sq = torch.lerp(half_sq, exact_sq, beta)
        return LossTerms(loss=self.weight(sigma) * (trace + half_sq), sigma=sigma)


@attrs.frozen(kw_only=True)
class VarianceReducedSSM(SlicedScoreMatching):
    """Sliced score matching with ``½ ‖s‖²`` in place of ``½ (vᵀs)²`` (its expectation over
    ``v``, computed exactly): ``ℓ(σ) = λ(σ) [(1/M) Σ_m v_mᵀ ∇ₓs v_m + ½ ‖s(x̃, σ)‖²]``
    (SSM-VR, Song et al. 2019)."""

    variance_reduced: ClassVar[bool] = True
