"""Predictors: one step of the reverse SDE from ``t`` to ``t_next < t`` in the SDE's coordinates
(registered kind ``predictor``; :class:`~scoregen.samplers.sde.PredictorCorrector` takes one by
name or as an object). Each is called as
``predictor(estimator, kernel, x, t, t_next, generator, noise=True) -> x_next`` and makes one score
evaluation. A predictor may also have ``step(estimator, x, table, t, t_next, generator, noise=True)``,
the same step with the schedule read from ``table`` (:func:`~scoregen.kernels.coordinates.tabulate`
of the sampler's whole time grid, made once): the samplers use it when it is there.
"""

import math

import attrs

from scoregen._tensor import randn_like, rounded
from scoregen.kernels.coordinates import score_at, tabulate


@attrs.frozen
class EulerMaruyama:
    """Euler–Maruyama on the reverse SDE (``dt < 0``): ``x + [f − g² s] dt + g √|dt| z``."""

    def __call__(self, estimator, kernel, x, t: float, t_next: float, generator, noise: bool = True):
        return self.step(estimator, x, tabulate(kernel, [t, t_next], x.dtype), t, t_next, generator, noise)

    def step(self, estimator, x, table, t: float, t_next: float, generator, noise: bool = True):
        dt = t_next - t
        at = table[t]
        # g·g is exact in float64 for a g of the state's dtype: the op rounds it as g² of a tensor would be.
        diffused = (at.g * at.g) * score_at(estimator, x, at)
        if at.f == 0:  # no drift (VE): 0·x − a is −a, so this is the same bits without the two ops
            x_mean = x - diffused * dt
        else:
            x_mean = x + (at.f * x - diffused) * dt
        if not noise:
            return x_mean
        return x_mean + rounded(at.g * rounded(math.sqrt(-dt), x.dtype), x.dtype) * randn_like(x, generator)


@attrs.frozen
class ReverseDiffusion:
    """Reverse diffusion (Song et al. 2021, Eq. 46, with the exact marginals): the forward
    transition is ``x_t = a x_{t'} + b ε`` with ``a = m(t)/m(t')``, ``b² = s(t)² − a² s(t')²``; the
    step is ``x_{t'} = (x_t + b² s(x_t, t))/a + (b/a) z``. For VE this is
    ``x + (σ_t² − σ_{t'}²) s + √(σ_t² − σ_{t'}²) z``, NCSN's ladder step."""

    def __call__(self, estimator, kernel, x, t: float, t_next: float, generator, noise: bool = True):
        return self.step(estimator, x, tabulate(kernel, [t, t_next], x.dtype), t, t_next, generator, noise)

    def step(self, estimator, x, table, t: float, t_next: float, generator, noise: bool = True):
        at, to = table[t], table[t_next]
        a = at.m / to.m
        b2 = max(at.s**2 - a**2 * to.s**2, 0.0)
        x_mean = (x + b2 * score_at(estimator, x, at)) / a
        return x_mean + (math.sqrt(b2) / a) * randn_like(x, generator) if noise else x_mean
