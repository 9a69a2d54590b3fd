"""The noise-kernel interface: how data are corrupted at a noise level, and the prior.

A kernel belongs to a *family* (``"gaussian"`` or ``"masking"``); samplers and objectives declare
the families they accept, and a sampler never branches on a kernel's type: what differs between
kernels is a method of the kernel.
"""

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class NoiseKernel(Protocol):
    """Any noise kernel: a family name and a prior to start sampling from."""

    family: str

    def prior_sample(self, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
        """Draw ``shape = [B, *event_shape]`` from the prior the reverse process starts at."""


@runtime_checkable
class GaussianKernel(NoiseKernel, Protocol):
    """Gaussian perturbation ``x̃ = x + σ z``, ``z ~ N(0, I)``, at noise levels ``sigmas``.

    ``sigmas`` is the ladder ``σ_1 > σ_2 > … > σ_L`` (shape ``[L]``, largest first, the order in
    which samplers visit it).
    """

    @property
    def sigmas(self) -> torch.Tensor: ...

    def perturb(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x [B, *E]``, ``sigma [B]`` → ``x̃ [B, *E]``; ``noise`` (``z``) is drawn when not given."""

    def sample_sigma(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Noise levels for ``n`` training examples, shape ``[n]``."""


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
