"""An example scoregen plugin: consistent annealed sampling, registered through the ``scoregen``
entry point as the sampler ``consistent-annealed``.

Install it (``pip install ./plugins/scoregen-cas``) and ``build("ncsn", sampler="consistent-annealed")``
finds it by name.
"""

import math

import attrs
import torch

import scoregen
from scoregen import _validators as v
from scoregen.errors import ConfigError
from scoregen.kernels import require_family


@attrs.frozen(kw_only=True)
class ConsistentAnnealedSampling:
    """Consistent annealed sampling (Jolicoeur-Martineau et al. 2021, "Adversarial score matching
    and improved sampling for image generation", Algorithm 2): one step per level,

        x ← x + α_i s(x, σ_i) + β_i σ_{i+1} z,    α_i = η σ_i² / σ_L²,    σ_{L+1} = 0,

    with ``β_i`` chosen so that the noise in ``x`` is exactly ``σ_{i+1}`` after the step. If
    ``x = x_0 + σ_i ε``, the score step ``x + α_i s ≈ x_0 + (1 − η/σ_L²) σ_i ε`` leaves noise
    ``(1 − η/σ_L²) σ_i``; adding ``β_i σ_{i+1} z`` makes it ``σ_{i+1}`` when

        β_i² = 1 − ((1 − η/σ_L²) σ_i / σ_{i+1})²

    (``β = √(1 − (1 − η/σ_L²)²/γ²)`` on a geometric ladder with ratio ``γ = σ_{i+1}/σ_i``), which
    needs ``η/σ_L² ≥ 1 − σ_{i+1}/σ_i`` (else a :class:`ConfigError` says the smallest ``η``). The
    last step (to ``σ_{L+1} = 0``) adds no noise; with ``η = σ_L²`` it is the Tweedie step.
    Unlike annealed Langevin, the noise level of the iterates follows the ladder at every step.

    ``n_levels`` replaces the kernel's ladder by a geometric one of that many levels between its
    end levels (CAS wants many levels, one step each); ``None`` keeps the kernel's ladder.
    Score evaluations: ``L``. Cannot impute.
    """

    families = ("gaussian",)

    n_levels: int | None = attrs.field(default=100, validator=v.optional(v.count))
    step_lr: float = attrs.field(default=2e-5, validator=v.positive)

    def ladder(self, kernel) -> torch.Tensor:
        """The levels visited, largest first, float64 ``[L]``."""
        sigmas = kernel.sigmas.to(torch.float64)
        if self.n_levels is None:
            return sigmas
        return torch.logspace(math.log10(sigmas[0]), math.log10(sigmas[-1]), self.n_levels, dtype=torch.float64)

    def nfe(self, kernel) -> int:
        return len(self.ladder(kernel))

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
        require_family(self, kernel)
        sigmas = self.ladder(kernel).tolist()
        keep = 1 - self.step_lr / sigmas[-1] ** 2  # the fraction of the noise a score step leaves
        ratios = [b / a for a, b in zip(sigmas, sigmas[1:])]
        if keep < -1e-9 or any(keep > r + 1e-9 for r in ratios):  # tolerance: float rounding
            smallest = sigmas[-1] ** 2 * (1 - min(ratios, default=1.0))
            raise ConfigError(
                f"step_lr={self.step_lr} does not fit the ladder: need {smallest:.3g} <= step_lr <= {sigmas[-1] ** 2:.3g}"
            )
        x = x_init
        for i, sigma in enumerate(sigmas):
            alpha = self.step_lr * (sigma / sigmas[-1]) ** 2
            sigma_vec = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
            x = x + alpha * estimator(x, sigma_vec)
            if i + 1 < len(sigmas):
                beta = math.sqrt(max(1 - (keep * sigma / sigmas[i + 1]) ** 2, 0.0))
                x = x + beta * sigmas[i + 1] * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            if callback is not None:
                callback({"step": i, "level": i, "sigma": sigma, "x": x})
        return x


@scoregen.hookimpl
def scoregen_register(registry):
    registry.add("sampler", "consistent-annealed", ConsistentAnnealedSampling)
