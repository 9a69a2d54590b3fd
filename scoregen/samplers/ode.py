"""The probability-flow ODE (Song et al. 2021, Eq. 13): ``dx/dt = f(x, t) − ½ g(t)² ∇log p_t(x)``,
whose solution has the same marginals ``p_t`` as the forward SDE. Deterministic: it maps a
prior draw to a sample (``decode``) and data to a latent (``encode``), and is invertible up to the
solver's error.
"""

import itertools

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.kernels.base import require_family
from scoregen.kernels.coordinates import finish, scalar_marginal, score_at, start, tabulate, times
from scoregen.numerics import ode_bridge

METHODS = ("heun", *ode_bridge.METHODS)
"""``"heun"`` (fixed steps, in torch) or a ``scipy.integrate.solve_ivp`` method."""


def probability_flow(estimator, kernel, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``f(x, t) − ½ g(t)² ∇log p_t(x)`` for ``x [B, *E]``, ``t [B]`` (float64)."""
    g = append_dims(kernel.diffusion(t), x.ndim).to(x.dtype)
    return kernel.drift(x, t) - 0.5 * g**2 * kernel.score(estimator, x, t)


@attrs.frozen(kw_only=True)
class ProbabilityFlowODE:
    """Sample by integrating the probability-flow ODE from ``t = 1`` to ``t_min``.

    ``method="heun"``: fixed-step Heun (2nd-order) in torch on ``n_steps`` equal time steps,
    ``x' = x + Δt d(x, t)``, ``x ← x + ½ Δt [d(x, t) + d(x', t + Δt)]`` (EDM's Algorithm 1);
    ``2 n_steps`` score evaluations. Any other ``method`` (``"RK45"``, ``"DOP853"``, …) goes to
    ``scipy.integrate.solve_ivp`` with tolerances ``rtol``/``atol``, the whole batch as one system
    (so its steps are shared by the batch); its evaluation count is known only afterwards.
    Either way every score evaluation is reported through ``callback`` as ``info["nfe"]``.
    If ``denoise``, a final Tweedie step (+1 evaluation). Cannot impute.
    """

    families = ("gaussian",)
    per_sample_noise = True  # only the prior is random; scipy's adaptive steps are shared by the batch

    method: str = attrs.field(default="heun", validator=v.choice(*METHODS))
    n_steps: int = attrs.field(default=50, validator=v.count)
    rtol: float = attrs.field(default=1e-5, validator=v.real(positive=True, below=1.0))
    atol: float = attrs.field(default=1e-5, validator=v.positive)
    denoise: bool = attrs.field(default=False, validator=v.boolean)

    def nfe(self, kernel) -> int | None:
        """Score evaluations of one :meth:`sample`; ``None`` for an adaptive solver (not known ahead)."""
        return 2 * self.n_steps + int(self.denoise) if self.method == "heun" else None

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
        require_family(self, kernel)
        x, _ = self.integrate(estimator, kernel, start(kernel, x_init), kernel.t_max, kernel.t_min, callback)
        return finish(estimator, kernel, x, self.denoise)

    def decode(self, estimator, kernel, z, *, callback=None) -> tuple[torch.Tensor, int]:
        """Latent ``z`` (estimator coordinates at ``t = 1``, like ``kernel.prior_sample``) → data
        at ``t_min`` (data coordinates); returns ``(x, nfe)``."""
        require_family(self, kernel)
        x, nfe = self.integrate(estimator, kernel, start(kernel, z), kernel.t_max, kernel.t_min, callback)
        return finish(estimator, kernel, x, False), nfe

    def encode(self, estimator, kernel, x, *, callback=None) -> tuple[torch.Tensor, int]:
        """Data ``x`` at ``t_min`` → latent at ``t = 1`` (estimator coordinates); the inverse of
        :meth:`decode` up to the solver's error. Returns ``(z, nfe)``."""
        require_family(self, kernel)
        x_t = x * scalar_marginal(kernel, kernel.t_min)[0]
        z, nfe = self.integrate(estimator, kernel, x_t, kernel.t_min, kernel.t_max, callback)
        return z / scalar_marginal(kernel, kernel.t_max)[0], nfe

    @torch.no_grad()
    def integrate(self, estimator, kernel, x, t0: float, t1: float, callback=None) -> tuple[torch.Tensor, int]:
        """Solve the ODE from ``x`` at ``t0`` to ``t1`` (either direction) in the SDE's coordinates;
        returns ``(x(t1), nfe)``."""
        count = [0]
        table: dict = {}  # the schedule at the fixed steps' times (tabulate); scipy's adaptive times are not known ahead

        def drift(x, t):
            count[0] += 1
            at = table.get(t)
            if at is None:
                d = probability_flow(estimator, kernel, x, times(x, t))
            else:  # the same field with the schedule read from the table; ½ g² is exact for a g of x's dtype
                d = (-0.5 * (at.g * at.g)) * score_at(estimator, x, at)  # 0·x − a is −a: no drift, no op (VE)
                if at.f != 0:
                    d = at.f * x + d
            if callback is not None:
                sigma = float(kernel.noise_level(torch.tensor(t, dtype=torch.float64)))
                callback({"step": count[0] - 1, "nfe": count[0], "sigma": sigma, "t": t, "x": x})
            return d

        if self.method == "heun":  # fixed steps in torch; otherwise scipy's adaptive solver
            grid = torch.linspace(t0, t1, self.n_steps + 1, dtype=torch.float64).tolist()
            table.update(tabulate(kernel, grid, x.dtype))
            for t, t_next in itertools.pairwise(grid):
                dt = t_next - t
                d = drift(x, t)  # Euler step
                x_euler = x + dt * d
                x = x + 0.5 * dt * (d + drift(x_euler, t_next))  # 2nd-order (trapezoidal) correction
            return x, count[0]

        shape, dtype = x.shape, x.dtype
        end = ode_bridge.solve(
            lambda t, y: drift(y.reshape(shape).to(dtype), t), x.reshape(-1), t0, t1, method=self.method, rtol=self.rtol, atol=self.atol
        )
        return end.reshape(shape).to(dtype), count[0]
