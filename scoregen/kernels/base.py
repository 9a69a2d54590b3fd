"""The noise-kernel contract: everything samplers, objectives and the likelihood may ask of a
kernel, and nothing else.

A kernel belongs to a *family* (``"gaussian"`` or ``"masking"``); samplers and objectives declare
the families they accept, and a sampler never branches on a kernel's type: what differs between
kernels is a method of the kernel.

Devices: a kernel holds no device. Every draw takes ``generator`` and an optional ``device``;
without ``device`` the draw happens on the generator's device (the CPU without a generator), and
every tensor a method returns from a tensor argument lives on that argument's device. Schedule
arithmetic is float64; draws are float32 unless stated.
"""

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class NoiseKernel(Protocol):
    """Any noise kernel: a family name and a prior to start sampling from."""

    family: str

    def prior_sample(
        self, shape: tuple[int, ...], generator: torch.Generator | None = None, *, device=None
    ) -> torch.Tensor:
        """Draw ``shape = [B, *event_shape]`` from the prior the reverse process starts at."""
        ...


@runtime_checkable
class GaussianKernel(NoiseKernel, Protocol):
    """A Gaussian process ``x_t = m(t) x₀ + s(t) z`` made from a schedule
    (:mod:`scoregen.kernels.schedules`), spoken to estimators in ladder coordinates
    ``x̂ = x_t/m = x₀ + σ z`` with ``σ(t) = s/m`` (:mod:`scoregen.kernels.gaussian`).

    Time and noise level:

    - ``schedule``: the :class:`~scoregen.kernels.schedules.Schedule` (``m, s, m', s'``, ``σ(t)``,
      ``t(σ)``, ``t(λ)``, ``f``, ``g²``);
    - ``t_min``, ``t_max``: the time range; ``sigma_range() -> (σ(t_min), σ(t_max))``;
    - ``marginal(t) -> (m, s)``, ``noise_level(t) -> σ``, ``time_of(σ) -> t`` (float64, shaped
      like the argument);
    - ``drift(x, t) -> f(t) x`` and ``diffusion(t) -> g(t)``: the forward SDE
      ``dx = f x dt + g dW`` (reverse SDE drift ``f − g² ∇log p``; probability-flow ODE
      ``f − ½ g² ∇log p``);
    - ``score(estimator, x, t) -> ∇ log p_t(x) = s(x/m, σ)/m`` in the SDE's coordinates;
    - ``time_grid(n) -> [n + 1]`` times from ``t_max`` to ``t_min``; ``sigmas [L]``, the ladder
      (largest first) of the annealed samplers and the per-level loss report.

    Training and sampling:

    - ``perturb(x, sigma, generator, *, noise) -> x + σ z`` (``x [B, *E]``, ``sigma [B]``);
    - ``sample_sigma(n, generator, *, device) -> [n]``, the kernel's own training levels;
    - ``prior_sample(shape, generator, *, device) -> σ(t_max) z`` (ladder coordinates);
    - ``prior_log_prob(x_T) -> [B]`` in the SDE's coordinates (for the likelihood).
    """

    @property
    def schedule(self): ...

    @property
    def t_min(self) -> float: ...

    @property
    def t_max(self) -> float: ...

    @property
    def sigmas(self) -> torch.Tensor: ...

    def sigma_range(self) -> tuple[float, float]: ...

    def marginal(self, t) -> tuple[torch.Tensor, torch.Tensor]: ...

    def noise_level(self, t) -> torch.Tensor: ...

    def time_of(self, sigma) -> torch.Tensor: ...

    def drift(self, x: torch.Tensor, t) -> torch.Tensor: ...

    def diffusion(self, t) -> torch.Tensor: ...

    def score(self, estimator, x: torch.Tensor, t) -> torch.Tensor: ...

    def time_grid(self, n_steps: int) -> torch.Tensor: ...

    def perturb(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor: ...

    def sample_sigma(self, n: int, generator: torch.Generator | None = None, *, device=None) -> torch.Tensor: ...

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class MaskingFamilyKernel(NoiseKernel, Protocol):
    """An absorbing-state kernel over tokens ``0 … V−1`` with mask token ``mask_id = V``
    (:mod:`scoregen.kernels.masking`): ``mask_prob(t)``, ``alpha(t)``, ``elbo_weight(t)``,
    ``sample_t(n, generator, *, device)``, ``perturb(x, t, generator)``, ``as_data``,
    ``check_logits``; the prior is the all-mask sequence."""

    vocab_size: int

    @property
    def mask_id(self) -> int: ...

    def mask_prob(self, t: torch.Tensor) -> torch.Tensor: ...

    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor: ...

    def sample_t(self, n: int, generator: torch.Generator | None = None, *, device=None) -> torch.Tensor: ...

    def perturb(self, x: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


def require_family(component, kernel) -> None:
    """Raise :class:`IncompatibleKernelError` if ``component`` declares families and the kernel's
    family is not among them."""
    from scoregen.errors import IncompatibleKernelError

    families = getattr(component, "families", None)
    family = getattr(kernel, "family", None)
    if families is not None and family not in families:
        raise IncompatibleKernelError(
            f"{type(component).__name__} works with {' or '.join(families)} kernels, "
            f"not with {type(kernel).__name__} (family {family!r})"
        )
