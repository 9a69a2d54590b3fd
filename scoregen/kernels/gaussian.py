"""Gaussian kernels made from a schedule: the NCSN ladder, the VE, VP, sub-VP, cosine, EDM and
flow-matching processes.

Every kernel here is :class:`ScheduledGaussian` plus the parameters of its schedule; the whole
behaviour (the :class:`~scoregen.kernels.base.GaussianKernel` contract) comes from
``schedule: x_t = m(t) x₀ + s(t) z``. Estimators are spoken to in *ladder coordinates*: the point
``x̂ = x_t / m(t) = x₀ + σ(t) z`` and the noise level ``σ(t) = s/m``, so one network (and the
exact mixture score) serves every schedule, and DSM trains unchanged (docs/sde.md). The score of
the marginal in the SDE's own coordinates is

    ∇ log p_t(x) = s_θ(x / m(t), σ(t)) / m(t).

``prior_sample`` draws ``x̂ = σ(t_max) z`` (the same point as ``x_{t_max} = s(t_max) z`` when
``m(t_max) x₀`` is negligible); samplers that step in the SDE's coordinates move it there
themselves. Times are per sample, ``t [B]``, float64.
"""

import functools
import math

import attrs
import numpy as np
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, draw_device, randn, randn_like
from scoregen.errors import ConfigError
from scoregen.kernels.schedules import (
    CosineSchedule,
    EDMSchedule,
    LinearInterpolant,
    Schedule,
    SubVPSchedule,
    VESchedule,
    VPSchedule,
    as_time,
)
from scoregen.kernels.techniques import max_pairwise_distance, n_levels


class ScheduledGaussian:
    """The Gaussian kernel contract derived from ``self.schedule`` (see the module).

    Subclasses provide ``schedule`` and ``n_levels`` (the size of the ladder :attr:`sigmas` that
    annealed samplers and the per-level loss report use); :meth:`sample_sigma` draws
    ``σ(t)``, ``t ~ U(t_min, t_max)`` unless a subclass trains on a ladder.
    """

    family = "gaussian"
    per_sample_noise = True  # prior_sample draws through scoregen._tensor (scoregen.seeds)
    schedule: Schedule
    n_levels: int

    # ------------------------------------------------------------------ the schedule, in time
    @property
    def t_min(self) -> float:
        return float(self.schedule.t_min)

    @property
    def t_max(self) -> float:
        return float(self.schedule.t_max)

    def check_noise_range(self) -> None:
        """Build the schedule (its own parameters are validated there) and refuse one whose noise
        levels leave ``SIGMA_LIMITS``: ``σ(t_min) = 0`` (a ``t_min`` so small that ``s(t_min)``
        underflows) would divide by zero in every sampler, and ``σ^p``, ``1/σ²`` must stay finite
        in float32."""
        lo, hi = self.sigma_range()
        if not (v.SIGMA_LIMITS[0] <= lo < hi <= v.SIGMA_LIMITS[1]):
            raise ConfigError(
                f"the kernel's noise levels run from σ(t_min) = {lo:.3g} to σ(t_max) = {hi:.3g}; they must lie in "
                f"[{v.SIGMA_LIMITS[0]:g}, {v.SIGMA_LIMITS[1]:g}] with σ(t_min) < σ(t_max) (change t_min, t_max or the σ range)"
            )

    def sigma_range(self) -> tuple[float, float]:
        """``(σ(t_min), σ(t_max))``: the smallest and the largest noise level (the latter is the
        prior's std in ladder coordinates)."""
        return self.schedule.sigma_min, self.schedule.sigma_max

    def marginal(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        """``(m(t), s(t))``, float64, shaped like ``t``."""
        return self.schedule.marginal(t)

    def noise_level(self, t) -> torch.Tensor:
        """``σ(t) = s(t)/m(t)``, float64, shaped like ``t``."""
        return self.schedule.sigma(t)

    def time_of(self, sigma) -> torch.Tensor:
        """``t(σ)``, the inverse of :meth:`noise_level`, float64."""
        return self.schedule.t_of_sigma(sigma)

    def drift(self, x: torch.Tensor, t) -> torch.Tensor:
        """The forward SDE's drift ``f(t) x`` for ``x [B, *E]``, ``t [B]``."""
        return append_dims(self.schedule.drift_coefficient(as_time(t, x)), x.ndim).to(x.dtype) * x

    def diffusion(self, t) -> torch.Tensor:
        """The forward SDE's ``g(t)``, float64, shaped like ``t``."""
        return torch.sqrt(self.schedule.diffusion_squared(t))

    def score(self, estimator, x: torch.Tensor, t) -> torch.Tensor:
        """``∇ log p_t(x) = s(x/m, σ)/m`` for ``x [B, *E]`` (SDE coordinates) and ``t [B]`` or a number."""
        t = as_time(t, x).expand(x.shape[0])
        m, s = self.marginal(t)
        m_x = append_dims(m, x.ndim).to(x.dtype)
        return estimator(x / m_x, (s / m).to(x.dtype)) / m_x

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x; 0, s(t_max)² I)`` of ``x [B, *E]`` in the SDE's own coordinates, float64 ``[B]``."""
        std = float(self.marginal(as_time(self.t_max))[1])
        flat = x.flatten(1).to(torch.float64)
        d = flat.shape[1]
        return -0.5 * (flat.square().sum(1) / std**2 + d * math.log(2 * math.pi * std**2))

    def time_grid(self, n_steps: int) -> torch.Tensor:
        """``n_steps + 1`` times from ``t_max`` down to ``t_min``, evenly spaced, float64 (CPU)."""
        return torch.linspace(self.t_max, self.t_min, n_steps + 1, dtype=torch.float64)

    # ------------------------------------------------------------------ noise levels and draws
    @functools.cached_property
    def sigmas(self) -> torch.Tensor:
        """The ladder: ``n_levels`` levels ``σ(t)`` at evenly spaced ``t`` from ``t_max`` to
        ``t_min``, float32 ``[L]``, largest first (computed once)."""
        return self.noise_level(self.time_grid(self.n_levels - 1)).to(torch.float32)

    def sigmas_on(self, device) -> torch.Tensor:
        """:attr:`sigmas` on ``device``, copied there once (the training loop draws from it each step)."""
        device = torch.device(device)
        copies = self.__dict__.setdefault("_sigmas_by_device", {})
        if device not in copies:
            copies[device] = self.sigmas.to(device)
        return copies[device]

    def perturb(self, x: torch.Tensor, sigma: torch.Tensor, generator=None, *, noise=None) -> torch.Tensor:
        """``x̃ = x + σ z`` in ladder coordinates, ``x [B, *E]``, ``sigma [B]``; ``noise`` is ``z``
        (drawn from ``generator`` when not given)."""
        if noise is None:
            noise = randn_like(x, generator)
        return x + append_dims(sigma, x.ndim) * noise

    def sample_sigma(self, n: int, generator=None, *, device=None) -> torch.Tensor:
        """``σ(t)`` at ``t ~ U(t_min, t_max)`` for ``n`` training examples, float32 ``[n]``, on
        ``device`` (default: the generator's)."""
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=draw_device(generator, device))
        return self.noise_level(self.t_min + (self.t_max - self.t_min) * u).to(torch.float32)

    def prior_sample(self, shape: tuple[int, ...], generator=None, *, device=None) -> torch.Tensor:
        """``x̂ = σ_max z``, ``z ~ N(0, I)`` of ``shape = [B, *E]``, float32, on ``device``
        (default: the generator's)."""
        return self.sigma_range()[1] * randn(shape, generator, device=device)


def _levels_converter(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor | np.ndarray):
        value = value.tolist()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ConfigError(f"levels must be a list of noise levels, got {value!r}")
    return tuple(v.check_real(f"levels[{i}]", s, positive=True) for i, s in enumerate(value))


def _check_ladder(levels) -> None:
    if len(levels) < 1:
        raise ConfigError("a noise ladder needs at least one level")
    if any(a <= b for a, b in zip(levels, levels[1:])):
        raise ConfigError(
            f"noise levels must be strictly decreasing (largest first, σ_1 > … > σ_L), got {list(levels)}"
        )


@attrs.frozen(kw_only=True, eq=False)
class GaussianLadder(ScheduledGaussian):
    """NCSN's geometric ladder ``σ_i = σ_1 (σ_L/σ_1)^{(i-1)/(L-1)}``, ``i = 1..L``, largest first:
    the VE schedule between ``σ_L`` and ``σ_1`` seen at ``L`` evenly spaced times, and trained on
    those levels only (uniformly). The continuous samplers run on it as on the ``ve`` kernel.

    ``sigma_max="auto"`` takes ``σ_1`` from the data when the model is first fitted (the largest
    pairwise distance, NCSNv2's Technique 1); ``n_levels="auto"`` takes ``L`` from the data's
    dimension (Technique 2, :mod:`scoregen.kernels.techniques`). ``levels`` gives an explicit
    ladder instead (strictly decreasing; the schedule then joins its end levels). The prior is
    ``N(0, σ_1² I)``.
    """

    sigma_max: float | str = attrs.field(default=10.0, validator=v.or_auto(v.positive))  # type: ignore[assignment]
    sigma_min: float = attrs.field(default=0.01, validator=v.positive)  # type: ignore[assignment]
    n_levels: int | str = attrs.field(default=10, validator=v.or_auto(v.count))  # type: ignore[assignment]
    levels: tuple[float, ...] | None = attrs.field(default=None, converter=_levels_converter)

    def __attrs_post_init__(self) -> None:
        if self.levels is not None:
            _check_ladder(self.levels)
        elif self.resolved and int(self.n_levels) > 1 and not float(self.sigma_max) > self.sigma_min:
            raise ConfigError(
                f"need sigma_max > sigma_min > 0, got sigma_max={self.sigma_max}, sigma_min={self.sigma_min}"
            )
        if self.resolved:
            lo, hi = float(self.sigmas[-1]), float(self.sigmas[0])
            if not v.SIGMA_LIMITS[0] <= lo <= hi <= v.SIGMA_LIMITS[1]:
                raise ConfigError(
                    f"the ladder runs from {lo:.3g} to {hi:.3g}; noise levels must lie in [{v.SIGMA_LIMITS[0]:g}, {v.SIGMA_LIMITS[1]:g}]"
                )

    @property
    def resolved(self) -> bool:
        """False while ``sigma_max`` or ``n_levels`` waits for data (``"auto"``)."""
        return self.levels is not None or "auto" not in (self.sigma_max, self.n_levels)

    def with_data(self, x: torch.Tensor) -> "GaussianLadder":
        """Resolve ``sigma_max="auto"`` and ``n_levels="auto"`` from the training data ``x [N, *E]``."""
        if self.resolved:
            return self
        sigma_max = max_pairwise_distance(x) if self.sigma_max == "auto" else float(self.sigma_max)
        levels = n_levels(sigma_max, self.sigma_min, math.prod(x.shape[1:])) if self.n_levels == "auto" else self.n_levels
        return attrs.evolve(self, sigma_max=sigma_max, n_levels=levels)

    def _require_resolved(self) -> None:
        if not self.resolved:
            raise ConfigError("sigma_max or n_levels is 'auto': fit the model on data first, or give numbers")

    @functools.cached_property
    def schedule(self) -> VESchedule:  # type: ignore[override]
        """The VE schedule through the end levels ``(σ_L, σ_1)`` (one level: a flat schedule's ends
        are nudged apart by one part in 10⁶ so that ``t(σ)`` stays defined)."""
        self._require_resolved()
        hi, lo = float(self.sigmas[0]), float(self.sigmas[-1])
        return VESchedule(sigma_min=lo, sigma_max=hi if hi > lo else lo * (1 + 1e-6))

    @functools.cached_property
    def sigmas(self) -> torch.Tensor:
        """The ladder, shape ``[L]``, float32, largest first (computed once)."""
        if self.levels is not None:
            return torch.tensor(self.levels, dtype=torch.float32)
        self._require_resolved()
        if self.n_levels == 1:
            return torch.tensor([self.sigma_max], dtype=torch.float32)
        # resolved: both are numbers now
        log = torch.linspace(math.log(float(self.sigma_max)), math.log(self.sigma_min), int(self.n_levels), dtype=torch.float64)
        return log.exp().to(torch.float32)

    def sample_sigma(self, n: int, generator=None, *, device=None) -> torch.Tensor:
        """A level drawn uniformly from the ladder for each of ``n`` examples, float32 ``[n]``."""
        device = draw_device(generator, device)
        index = torch.randint(len(self.sigmas), (n,), generator=generator, device=device)
        return self.sigmas_on(device)[index]


@attrs.frozen(kw_only=True, eq=False)
class VESDE(ScheduledGaussian):
    """The continuous NCSN: the VE schedule ``σ(t) = σ_min (σ_max/σ_min)^t``, ``t ∈ [0, 1]``,
    trained at every level (``t ~ U(0, 1)``, so log-uniform σ); its ``n_levels``-level ladder
    serves the annealed samplers and the per-level loss report."""

    sigma_max: float = attrs.field(default=10.0, validator=v.positive)  # type: ignore[assignment]
    sigma_min: float = attrs.field(default=0.01, validator=v.positive)  # type: ignore[assignment]
    n_levels: int = attrs.field(default=10, validator=v.integer(minimum=2))

    @functools.cached_property
    def schedule(self) -> VESchedule:  # type: ignore[override]
        return VESchedule(sigma_min=self.sigma_min, sigma_max=self.sigma_max)

    def __attrs_post_init__(self) -> None:
        self.check_noise_range()


@attrs.frozen(kw_only=True, eq=False)
class VPSDE(ScheduledGaussian):
    """DDPM as an SDE: the VP schedule with linear ``β`` (:class:`~scoregen.kernels.schedules.VPSchedule`),
    prior ``N(0, s(1)² I) ≈ N(0, I)``."""

    beta_min: float = attrs.field(default=0.1, validator=v.positive)
    beta_max: float = attrs.field(default=20.0, validator=v.positive)
    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))  # type: ignore[assignment]
    n_levels: int = attrs.field(default=10, validator=v.integer(minimum=2))

    @functools.cached_property
    def schedule(self) -> Schedule:  # type: ignore[override]
        return VPSchedule(beta_min=self.beta_min, beta_max=self.beta_max, t_min=self.t_min)

    def __attrs_post_init__(self) -> None:
        self.check_noise_range()


@attrs.frozen(kw_only=True, eq=False)
class SubVPSDE(VPSDE):
    """The sub-VP SDE (:class:`~scoregen.kernels.schedules.SubVPSchedule`)."""

    @functools.cached_property
    def schedule(self) -> Schedule:  # type: ignore[override]
        return SubVPSchedule(beta_min=self.beta_min, beta_max=self.beta_max, t_min=self.t_min)


@attrs.frozen(kw_only=True, eq=False)
class CosineVP(ScheduledGaussian):
    """The cosine VP process (Nichol & Dhariwal 2021; :class:`~scoregen.kernels.schedules.CosineSchedule`)."""

    offset: float = attrs.field(default=0.008, validator=v.non_negative)
    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))  # type: ignore[assignment]
    t_max: float = attrs.field(default=0.999, validator=v.real(positive=True, below=1.0))  # type: ignore[assignment]
    n_levels: int = attrs.field(default=10, validator=v.integer(minimum=2))

    @functools.cached_property
    def schedule(self) -> Schedule:  # type: ignore[override]
        return CosineSchedule(offset=self.offset, t_min=self.t_min, t_max=self.t_max)

    def __attrs_post_init__(self) -> None:
        self.check_noise_range()


@attrs.frozen(kw_only=True, eq=False)
class EDMKernel(ScheduledGaussian):
    """EDM's process (Karras et al. 2022): ``x_σ = x₀ + σ z``, time is σ, ``σ ∈ [σ_min, σ_max]``
    (:class:`~scoregen.kernels.schedules.EDMSchedule`)."""

    sigma_min: float = attrs.field(default=0.002, validator=v.positive)  # type: ignore[assignment]
    sigma_max: float = attrs.field(default=80.0, validator=v.positive)  # type: ignore[assignment]
    n_levels: int = attrs.field(default=10, validator=v.integer(minimum=2))

    @functools.cached_property
    def schedule(self) -> Schedule:  # type: ignore[override]
        return EDMSchedule(sigma_min=self.sigma_min, sigma_max=self.sigma_max)

    def __attrs_post_init__(self) -> None:
        self.check_noise_range()


@attrs.frozen(kw_only=True, eq=False)
class FlowKernel(ScheduledGaussian):
    """The flow-matching / rectified-flow path ``x_t = (1 − t) x₀ + t z``
    (:class:`~scoregen.kernels.schedules.LinearInterpolant`)."""

    t_min: float = attrs.field(default=1e-3, validator=v.real(positive=True, below=1.0))  # type: ignore[assignment]
    t_max: float = attrs.field(default=0.999, validator=v.real(positive=True, below=1.0))  # type: ignore[assignment]
    n_levels: int = attrs.field(default=10, validator=v.integer(minimum=2))

    @functools.cached_property
    def schedule(self) -> Schedule:  # type: ignore[override]
        return LinearInterpolant(t_min=self.t_min, t_max=self.t_max)

    def __attrs_post_init__(self) -> None:
        self.check_noise_range()
