"""Reverse-time SDE samplers (Song et al. 2021): Euler–Maruyama and predictor–corrector.

They work on any kernel with the forward-SDE methods (``marginal``, ``drift``, ``diffusion``,
``score``, ``time_grid``; see :mod:`scoregen.kernels.base`), the NCSN ladder included. The reverse
SDE of ``dx = f dt + g dW`` is ``dx = [f − g² ∇log p_t(x)] dt + g dW̄``, integrated from ``t = 1``
to ``t_min`` on ``n_steps`` equal time steps. The prior draw ``x̂_1`` (estimator coordinates) is
moved to the SDE's own, ``x_1 = m(1) x̂_1``; the result is returned in data coordinates,
``x / m(t_min)``, after an optional Tweedie step ``x̂ + σ² s(x̂, σ)`` at ``t_min``.
"""

import itertools

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.config import resolve
from scoregen.kernels.base import require_family
from scoregen.kernels.coordinates import finish, scalar_marginal, score_at, start, tabulate
from scoregen.samplers.predictors import EulerMaruyama


def _report(callback, kernel, step: int, nfe: int, t: float, x) -> None:
    if callback is not None:
        callback({"step": step, "nfe": nfe, "sigma": float(kernel.noise_level(torch.tensor(t, dtype=torch.float64))), "t": t, "x": x})


def _impute(known, kernel, x, t, generator):
    if known is None:
        return x
    m, s = scalar_marginal(kernel, t)
    return known.replace(x, m, s, generator)


@attrs.frozen(kw_only=True)
class ReverseSDE:
    """Euler–Maruyama on the reverse SDE: ``n_steps`` steps
    ``x ← x + [f(x, t) − g(t)² s(x, t)] Δt + g(t) √|Δt| z`` from ``t = 1`` to ``t_min``, then, if
    ``denoise``, a Tweedie step. Score evaluations: ``n_steps (+1)``. Imputes (``known``)."""

    families = ("gaussian",)
    can_impute = True
    per_sample_noise = True  # draws only through scoregen._tensor (scoregen.seeds)

    n_steps: int = attrs.field(default=1000, validator=v.count)
    denoise: bool = attrs.field(default=True, validator=v.boolean)

    def nfe(self, kernel) -> int:
        return self.n_steps + int(self.denoise)

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        require_family(self, kernel)
        grid = kernel.time_grid(self.n_steps).tolist()
        x = _impute(known, kernel, start(kernel, x_init), grid[0], generator)
        predict, table = EulerMaruyama(), tabulate(kernel, grid, x.dtype)
        for i, (t, t_next) in enumerate(itertools.pairwise(grid)):
            x = predict.step(estimator, x, table, t, t_next, generator)
            x = _impute(known, kernel, x, t_next, generator)
            _report(callback, kernel, i, i + 1, t_next, x)
        x = finish(estimator, kernel, x, self.denoise)
        if self.denoise:
            _report(callback, kernel, self.n_steps, self.nfe(kernel), kernel.t_min, x)
        return x if known is None else known.restore(x)


@attrs.frozen(kw_only=True)
class PredictorCorrector:
    """Predictor–corrector sampling (Song et al. 2021, Algorithm 1).

    At each of ``n_steps`` times ``t_i`` (from 1 to ``t_min``): the **predictor** takes one step of
    the reverse SDE to ``t_{i+1}`` (``"reverse-diffusion"``, Eq. 46, or ``"euler-maruyama"``), then
    the **corrector** runs ``n_corrector_steps`` Langevin steps at ``t_{i+1}``:
    ``x ← x + ε s + √(2ε) z`` with ``ε = 2 (snr ‖z‖/‖s‖)²`` (norms averaged over the batch), so the
    step's signal-to-noise ratio is ``snr``. Finally, if ``denoise``, a Tweedie step.

    Order: predictor then corrector, as in the paper's Algorithm 1 (score_sde's code runs the
    corrector first). The corrector then relaxes, towards ``p_{t_{i+1}}``, the discretisation
    error the predictor just made, and the last operation is a correction at ``t_min``, the level
    the samples are returned at; corrector-first would spend its first steps on the prior draw
    (already distributed as ``p_1``) and leave the last predictor step uncorrected.

    Score evaluations: ``n_steps (1 + n_corrector_steps) (+1)``. Imputes (``known``).

    Its noise is per sample (:mod:`scoregen.seeds`), but its step ``ε`` averages norms over the
    batch, so a sample still depends on the others drawn with it.
    """

    families = ("gaussian",)
    can_impute = True
    per_sample_noise = True

    n_steps: int = attrs.field(default=500, validator=v.count)
    n_corrector_steps: int = attrs.field(default=1, validator=v.non_negative_count)
    snr: float = attrs.field(default=0.16, validator=v.positive)
    predictor: object = attrs.field(default="reverse-diffusion", validator=v.registered("predictor"))
    denoise: bool = attrs.field(default=True, validator=v.boolean)

    def nfe(self, kernel) -> int:
        return self.n_steps * (1 + self.n_corrector_steps) + int(self.denoise)

    def correct(self, estimator, kernel, x, t, generator, table=None):
        """One Langevin corrector step at time ``t`` with signal-to-noise ratio ``snr`` (the
        schedule read from ``table``, a :func:`~scoregen.kernels.coordinates.tabulate` holding ``t``, when given)."""
        score = score_at(estimator, x, (table or tabulate(kernel, [t], x.dtype))[t])
        z = randn_like(x, generator)
        ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean()
        eps = 2 * (self.snr * ratio) ** 2
        return x + eps * score + torch.sqrt(2 * eps) * z

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        require_family(self, kernel)
        predict = resolve("predictor", self.predictor)
        grid = kernel.time_grid(self.n_steps).tolist()
        x = _impute(known, kernel, start(kernel, x_init), grid[0], generator)
        table = tabulate(kernel, grid, x.dtype)
        step = getattr(predict, "step", None)  # a predictor that reads the table (the built-in ones)
        for i, (t, t_next) in enumerate(itertools.pairwise(grid)):
            if step is None:
                x = predict(estimator, kernel, x, t, t_next, generator)
            else:
                x = step(estimator, x, table, t, t_next, generator)
            x = _impute(known, kernel, x, t_next, generator)
            for _ in range(self.n_corrector_steps):
                x = _impute(known, kernel, self.correct(estimator, kernel, x, t_next, generator, table), t_next, generator)
            _report(callback, kernel, i, (i + 1) * (1 + self.n_corrector_steps), t_next, x)
        x = finish(estimator, kernel, x, self.denoise)
        if self.denoise:
            _report(callback, kernel, self.n_steps, self.nfe(kernel), kernel.t_min, x)
        return x if known is None else known.restore(x)
