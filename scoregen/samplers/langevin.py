"""Langevin dynamics and annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1).

Both use the step ``x ← x + (α/2) s(x, σ) + √α z``, ``z ~ N(0, I)`` — the paper's form, equal to
``x + τ s + √(2τ) z`` with ``τ = α/2``. (NCSN's released code steps ``x + α s + √(2α) z``, so its
``step_lr`` values are half of the paper's ``ε`` for the same dynamics.)
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.kernels.base import require_family
from scoregen.samplers.impute import Known


def _langevin_level(estimator, x, sigma, alpha, n_steps, generator, callback, level, step0, known=None):
    """``n_steps`` Langevin steps of size ``alpha`` at noise level ``sigma`` (a float). With
    ``known``, its coordinates are held at one noised draw ``y + σ z`` for the whole level."""
    sigma_vec = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
    noise_scale = math.sqrt(alpha)
    if known is not None:
        known = Known(known.replace(x, 1.0, sigma, generator), known.mask)
        x = known.restore(x)
    for k in range(n_steps):
        x = x + (0.5 * alpha) * estimator(x, sigma_vec) + noise_scale * randn_like(x, generator)
        if known is not None:
            x = known.restore(x)
        if callback is not None:
            callback({"step": step0 + k, "level": level, "sigma": sigma, "x": x})
    return x


@attrs.frozen(kw_only=True)
class AnnealedLangevin:
    """Annealed Langevin dynamics (NCSN): ``n_steps_each`` steps at each level ``σ_1 > … > σ_L``
    with step ``α_i = ε σ_i² / σ_L²`` (``ε = step_lr``), then, if ``denoise``, one Tweedie step
    ``x ← x + σ_L² s(x, σ_L)`` that removes the last level's noise.

    Because ``α_i/σ_i² = ε/σ_L²`` at every level, each level runs for the same number of its own
    relaxation times; ``ε/σ_L²`` must stay well below 2 for the discretisation to be accurate.
    ``step_lr="auto"`` takes ``ε`` from the ladder by NCSNv2's Technique 4
    (:func:`scoregen.kernels.techniques.step_size`).
    Score evaluations: ``L · n_steps_each (+1)``.

    Imputes (``known``): at each level the known coordinates are held at one noised draw
    ``y + σ_i z`` (NCSN's inpainting), and set to ``y`` at the end.
    """

    families = ("gaussian",)
    can_impute = True
    per_sample_noise = True  # draws only through scoregen._tensor (scoregen.seeds)

    n_steps_each: int = attrs.field(default=100, validator=v.count)
    step_lr: float | str = attrs.field(default=2e-5, validator=v.or_auto(v.positive))
    denoise: bool = attrs.field(default=True, validator=v.boolean)

    def nfe(self, kernel) -> int:
        """Number of score evaluations for one call of :meth:`sample`."""
        return len(kernel.sigmas) * self.n_steps_each + int(self.denoise)

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        require_family(self, kernel)
        sigmas = kernel.sigmas.tolist()
        step_lr = self.step_lr
        if step_lr == "auto":
            from scoregen.kernels.techniques import step_size

            step_lr = step_size(sigmas, self.n_steps_each)
        x = x_init
        for i, sigma in enumerate(sigmas):
            alpha = step_lr * (sigma / sigmas[-1]) ** 2
            x = _langevin_level(
                estimator, x, sigma, alpha, self.n_steps_each, generator, callback, i, i * self.n_steps_each, known
            )
        if self.denoise:
            sigma_vec = torch.full((x.shape[0],), sigmas[-1], dtype=x.dtype, device=x.device)
            x = x + sigmas[-1] ** 2 * estimator(x, sigma_vec)
        return x if known is None else known.restore(x)


@attrs.frozen(kw_only=True)
class Langevin:
    """Plain (unadjusted) Langevin dynamics at one noise level: ``n_steps`` steps of size
    ``step_size`` with the score at ``sigma`` (default: the kernel's smallest level ``σ_L``).

    Without annealing it mixes poorly between separated modes and gets their weights wrong in
    low-density regions — the failure that motivated NCSN. Score evaluations: ``n_steps``.
    """

    families = ("gaussian",)
    per_sample_noise = True

    n_steps: int = attrs.field(default=1000, validator=v.count)
    step_size: float = attrs.field(default=1e-3, validator=v.positive)
    sigma: float | None = attrs.field(default=None, validator=v.optional(v.noise_level))

    def nfe(self, kernel) -> int:
        """Number of score evaluations for one call of :meth:`sample`."""
        return self.n_steps

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
        require_family(self, kernel)
        sigma = float(kernel.sigmas[-1]) if self.sigma is None else float(self.sigma)
        return _langevin_level(estimator, x_init, sigma, self.step_size, self.n_steps, generator, callback, 0, 0)
