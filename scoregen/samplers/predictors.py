"""Predictors: one step of the reverse SDE from ``t`` to ``t_next < t`` in the SDE's coordinates
(registered kind ``predictor``; :class:`~scoregen.samplers.sde.PredictorCorrector` takes one by
name or as an object). Each is called as
``predictor(estimator, kernel, x, t, t_next, generator, noise=True) -> x_next`` and makes one score
evaluation."""

import math

import attrs

from scoregen._tensor import append_dims, randn_like
from scoregen.kernels.coordinates import scalar_marginal, times


@attrs.frozen
class EulerMaruyama:
    """Euler–Maruyama on the reverse SDE (``dt < 0``): ``x + [f − g² s] dt + g √|dt| z``."""

    def __call__(self, estimator, kernel, x, t: float, t_next: float, generator, noise: bool = True):
        dt = t_next - t
        tb = times(x, t)
        g = append_dims(kernel.diffusion(tb), x.ndim).to(x.dtype)
        x_mean = x + (kernel.drift(x, tb) - g**2 * kernel.score(estimator, x, tb)) * dt
        return x_mean + g * math.sqrt(-dt) * randn_like(x, generator) if noise else x_mean


@attrs.frozen
class ReverseDiffusion:
    """Reverse diffusion (Song et al. 2021, Eq. 46, with the exact marginals): the forward
    transition is ``x_t = a x_{t'} + b ε`` with ``a = m(t)/m(t')``, ``b² = s(t)² − a² s(t')²``; the
    step is ``x_{t'} = (x_t + b² s(x_t, t))/a + (b/a) z``. For VE this is
    ``x + (σ_t² − σ_{t'}²) s + √(σ_t² − σ_{t'}²) z``, NCSN's ladder step."""

    def __call__(self, estimator, kernel, x, t: float, t_next: float, generator, noise: bool = True):
        m, s = scalar_marginal(kernel, t)
        m_next, s_next = scalar_marginal(kernel, t_next)
        a = m / m_next
        b2 = max(s**2 - a**2 * s_next**2, 0.0)
        x_mean = (x + b2 * kernel.score(estimator, x, times(x, t))) / a
        return x_mean + (math.sqrt(b2) / a) * randn_like(x, generator) if noise else x_mean
