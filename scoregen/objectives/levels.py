"""Where training spends its noise levels: the distribution ``p_train(σ)`` of a Gaussian objective.

The loss is ``E_{σ ~ p_train} λ(σ) ℓ(σ)``, so ``p_train`` and ``λ`` together decide how much each
noise level is learned (Karras et al. 2022, §5). A distribution is named by a string or a dict:

- ``"kernel"``: the kernel's own ``sample_sigma`` (the ladder's levels, uniformly, for
  ``gaussian``; ``σ(t)`` at ``t ~ U(t_min, 1)`` for the SDEs);
- ``"ladder"``: the kernel's ladder levels ``kernel.sigmas``, uniformly;
- ``"log-uniform"``: ``log σ ~ U(log σ_min, log σ_max)`` over the kernel's range;
- ``{"name": "log-normal", "mean": P_mean, "std": P_std}``: ``log σ ~ N(P_mean, P_std²)``, EDM's
  choice (``−1.2, 1.2`` for images scaled to ``[−1, 1]``; ``|P_mean| ≤ 10``, ``0 < P_std ≤ 5``);
  ``"truncate": true`` keeps it within
  the kernel's range (the normal truncated there).
"""

import math

import torch

from scoregen import _validators as v
from scoregen._tensor import draw_device
from scoregen.errors import ConfigError

NAMES = ("kernel", "ladder", "log-uniform", "log-normal")


def _spec(value):
    """A distribution as a dict with ``name`` (a bare name becomes ``{"name": name}``)."""
    return {"name": value} if isinstance(value, str) else value


def check_sigma_distribution(value) -> None:
    """Raise :class:`ConfigError` unless ``value`` names a distribution this module draws from."""
    spec = _spec(value)
    if not isinstance(spec, dict) or spec.get("name") not in NAMES:
        raise ConfigError(f"sigma_distribution must be one of {', '.join(NAMES)} (or a dict with 'name'), got {value!r}")
    allowed = {"name", "mean", "std", "truncate"} if spec["name"] == "log-normal" else {"name"}
    extra = set(spec) - allowed
    if extra:
        raise ConfigError(f"sigma_distribution {spec['name']!r} takes {sorted(allowed)}, got also {sorted(extra)}")
    if spec["name"] == "log-normal":
        v.check_real("log-normal mean", spec.get("mean", 0.0), at_least=-10.0, at_most=10.0)
        v.check_real("log-normal std", spec.get("std", 1.0), positive=True, at_most=5.0)
        v.check_bool("log-normal truncate", spec.get("truncate", False))


def sample_sigma(value, kernel, n: int, generator) -> torch.Tensor:
    """``n`` noise levels from the distribution ``value`` (see the module), float32 ``[n]``, on
    the generator's device."""
    spec = _spec(value)
    device = draw_device(generator)
    name = spec["name"]
    if name == "kernel":
        return kernel.sample_sigma(n, generator, device=device)
    if name == "ladder":  # the ladder's levels, also on kernels that train elsewhere (ve)
        sigmas = kernel.sigmas.to(device)
        return sigmas[torch.randint(len(sigmas), (n,), generator=generator, device=device)]
    lo, hi = kernel.sigma_range()
    if name == "log-uniform":
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        return torch.exp(math.log(lo) + u * math.log(hi / lo)).to(torch.float32)
    mean, std = float(spec.get("mean", 0.0)), float(spec.get("std", 1.0))
    if not spec.get("truncate", False):
        return torch.exp(mean + std * torch.randn(n, generator=generator, dtype=torch.float64, device=device)).to(torch.float32)
    # Truncated by inverting the normal CDF between the range's quantiles: one draw a level.
    a, b = (torch.special.ndtr(torch.tensor((math.log(v) - mean) / std, dtype=torch.float64, device=device)) for v in (lo, hi))
    u = a + (b - a) * torch.rand(n, generator=generator, dtype=torch.float64, device=device)
    return torch.exp(mean + std * torch.special.ndtri(u)).clamp(lo, hi).to(torch.float32)
