"""Where training spends its noise levels: the distribution ``p_train(σ)`` of a Gaussian objective.

The loss is ``E_{σ ~ p_train} λ(σ) ℓ(σ)``, so ``p_train`` and ``λ`` together decide how much each
noise level is learned (Karras et al. 2022, §5). Each distribution is a registered component of
kind ``sigma-distribution`` with ``sample(kernel, n, generator) -> σ [n]`` (float32, on the CPU
unless the generator lives elsewhere):

- ``kernel``: the kernel's own ``sample_sigma`` (the ladder's levels, uniformly, for
  ``gaussian``; ``σ(t)`` at ``t ~ U(t_min, t_max)`` for the SDEs);
- ``ladder``: the kernel's ladder levels ``kernel.sigmas``, uniformly;
- ``log-uniform``: ``log σ ~ U(log σ_min, log σ_max)`` over the kernel's range;
- ``log-normal`` (``mean``, ``std``, ``truncate``): ``log σ ~ N(P_mean, P_std²)``, EDM's choice
  (``−1.2, 1.2`` for images scaled to ``[−1, 1]``; ``|P_mean| ≤ 10``, ``0 < P_std ≤ 5``); ``truncate=True`` keeps it within the
  kernel's range (the normal truncated there). On the flow kernel ``log σ = logit t``, so this is
  the logit-normal time of Esser et al. (2024);
- ``uniform-t``: ``σ(t)`` at ``t ~ U(t_min, t_max)`` of the kernel's schedule (flow matching's
  choice; log-uniform σ on the ladder's VE schedule).

An objective's ``sigma_distribution`` is written as in a config file, a name or a dict with
``name`` and the parameters (``"log-uniform"``, ``{"name": "log-normal", "mean": 0, "std": 1.5}``),
so a saved ``config.json`` holds plain JSON; :func:`resolve` makes the object through the registry.
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import draw_device
from scoregen.errors import ConfigError, UnknownComponentError


def _uniform(n: int, generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64, device=draw_device(generator))


@attrs.frozen
class KernelLevels:
    """The kernel's own training levels, ``kernel.sample_sigma``."""

    def sample(self, kernel, n: int, generator) -> torch.Tensor:
        return kernel.sample_sigma(n, generator, device=draw_device(generator))


@attrs.frozen
class LadderLevels:
    """A level of the ladder ``kernel.sigmas``, uniformly (also on kernels that train elsewhere)."""

    def sample(self, kernel, n: int, generator) -> torch.Tensor:
        sigmas = kernel.sigmas.to(draw_device(generator))
        return sigmas[torch.randint(len(sigmas), (n,), generator=generator, device=sigmas.device)]


@attrs.frozen
class LogUniform:
    """``log σ ~ U(log σ_min, log σ_max)`` over ``kernel.sigma_range()``."""

    def sample(self, kernel, n: int, generator) -> torch.Tensor:
        lo, hi = kernel.sigma_range()
        return torch.exp(math.log(lo) + _uniform(n, generator) * math.log(hi / lo)).to(torch.float32)


@attrs.frozen(kw_only=True)
class LogNormal:
    """``log σ ~ N(mean, std²)``; ``truncate`` keeps it within ``kernel.sigma_range()`` by
    inverting the normal CDF between the range's quantiles (one draw a level)."""

    mean: float = attrs.field(default=0.0, validator=v.real(at_least=-10.0, at_most=10.0))
    std: float = attrs.field(default=1.0, validator=v.real(positive=True, at_most=5.0))
    truncate: bool = attrs.field(default=False, validator=v.boolean)

    def sample(self, kernel, n: int, generator) -> torch.Tensor:
        if not self.truncate:
            normal = torch.randn(n, generator=generator, dtype=torch.float64, device=draw_device(generator))
            return torch.exp(self.mean + self.std * normal).to(torch.float32)
        lo, hi = kernel.sigma_range()
        a, b = (torch.special.ndtr(torch.tensor((math.log(s) - self.mean) / self.std, dtype=torch.float64)) for s in (lo, hi))
        u = a.item() + (b - a).item() * _uniform(n, generator)
        return torch.exp(self.mean + self.std * torch.special.ndtri(u)).clamp(lo, hi).to(torch.float32)


@attrs.frozen
class UniformTime:
    """``σ(t)`` at ``t ~ U(t_min, t_max)`` of the kernel's schedule."""

    def sample(self, kernel, n: int, generator) -> torch.Tensor:
        t = kernel.t_min + (kernel.t_max - kernel.t_min) * _uniform(n, generator)
        return kernel.noise_level(t).to(torch.float32)


SIGMA_DISTRIBUTIONS = {
    "kernel": KernelLevels,
    "ladder": LadderLevels,
    "log-uniform": LogUniform,
    "log-normal": LogNormal,
    "uniform-t": UniformTime,
}


def resolve(value):
    """The distribution named by ``value`` (a name, or a dict with ``name`` and parameters), made
    through the registry (:func:`scoregen.config.resolve`); an object with ``sample`` is returned
    as it is. Anything else, an unknown name or a bad parameter is a :class:`ConfigError` naming
    ``sigma_distribution``."""
    from scoregen.config import resolve as resolve_component

    try:
        return resolve_component("sigma-distribution", value, needs="sample")
    except (ConfigError, UnknownComponentError) as exc:
        raise ConfigError(f"sigma_distribution: {exc}") from None


def resolved_field():
    """The field an objective keeps its ``sigma_distribution`` in, made once (so a bad one fails
    when the objective is made, and a training step does not look it up again): declare it after
    ``sigma_distribution`` and draw with ``self._sigma_sampler.sample(kernel, n, generator)``."""
    return attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(lambda self: resolve(self.sigma_distribution), takes_self=True)
    )


def sample_sigma(value, kernel, n: int, generator) -> torch.Tensor:
    """``n`` noise levels from the distribution ``value`` (see the module), float32 ``[n]``."""
    return resolve(value).sample(kernel, n, generator)
