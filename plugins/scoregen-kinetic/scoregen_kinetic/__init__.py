"""An example scoregen plugin: one sampler, registered through the ``scoregen`` entry point.

Install it (``pip install ./plugins/scoregen-kinetic``) and ``build("ncsn",
sampler="annealed-kinetic-langevin")`` finds it by name.
"""

import math

import attrs
import torch

import scoregen
from scoregen import _validators as v
from scoregen.kernels import require_family


@attrs.frozen(kw_only=True)
class AnnealedKineticLangevin:
    """Annealed *underdamped* Langevin dynamics: position ``x`` and velocity ``v`` (unit mass)
    follow ``dx = v dt``, ``dv = s(x, σ_i) dt − γ v dt + √(2γ) dW`` at each level ``σ_1 > … > σ_L``,
    whose stationary law is ``p_σi(x) N(v; 0, I)``.

    Each step is the OBAB splitting with one score evaluation: refresh the velocity
    ``v ← e^{−γh} v + √(1 − e^{−2γh}) z`` (O), half kick ``v ← v + (h/2) s`` (B), drift
    ``x ← x + h v`` (A), half kick with the new score (B). The step is ``h = step_scale · σ_i``
    (the level's own length scale) and ``γh = damping``, so every level sees the same dynamics in
    its own units. Velocities start from ``N(0, I)`` at every level; a final Tweedie step
    ``x + σ_L² s(x, σ_L)`` removes the last level's noise. Score evaluations: ``L · (n_steps_each + 1) + 1``.
    """

    families = ("gaussian",)

    n_steps_each: int = attrs.field(default=20, validator=v.count)
    step_scale: float = attrs.field(default=0.3, validator=v.positive)
    damping: float = attrs.field(default=1.0, validator=v.positive)

    def nfe(self, kernel) -> int:
        return len(kernel.sigmas) * (self.n_steps_each + 1) + 1

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
        require_family(self, kernel)
        x = x_init
        sigmas = kernel.sigmas.tolist()
        keep = math.exp(-self.damping)
        refresh = math.sqrt(1 - keep**2)
        for level, sigma in enumerate(sigmas):
            h = self.step_scale * sigma
            sigma_vec = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
            v = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            score = estimator(x, sigma_vec)
            for k in range(self.n_steps_each):
                v = keep * v + refresh * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)  # O
                v = v + 0.5 * h * score  # B
                x = x + h * v  # A
                score = estimator(x, sigma_vec)
                v = v + 0.5 * h * score  # B
                if callback is not None:
                    callback({"step": level * self.n_steps_each + k, "level": level, "sigma": sigma, "x": x})
        sigma_vec = torch.full((x.shape[0],), sigmas[-1], dtype=x.dtype, device=x.device)
        return x + sigmas[-1] ** 2 * estimator(x, sigma_vec)


@scoregen.hookimpl
def scoregen_register(registry):
    registry.add("sampler", "annealed-kinetic-langevin", AnnealedKineticLangevin)
