"""Imputation (inpainting): sample the unknown coordinates given known ones.

A sampler that can impute (``can_impute = True``) takes ``known``, a :class:`Known`, and after
each update replaces the known coordinates by their noised value at the current noise level,
``m(t) y + s(t) z`` (``y + σ z`` on a ladder), so the unknown ones are driven by the score of the
joint perturbed density at the noisy known part (Song & Ermon 2019, Song et al. 2021, App. I).
At the end the known coordinates are set to ``y`` exactly.
"""

import attrs
import torch

from scoregen._tensor import as_data, randn_like
from scoregen.errors import ConfigError, DataError


@attrs.frozen(eq=False)
class Known:
    """Known values ``values [B, *E]`` (data coordinates) where ``mask [B, *E]`` (bool) is true."""

    values: torch.Tensor
    mask: torch.Tensor

    def replace(self, x: torch.Tensor, mean_scale: float, std: float, generator) -> torch.Tensor:
        """``x`` with its known coordinates set to ``mean_scale · y + std · z``, ``z ~ N(0, I)``."""
        noised = mean_scale * self.values + std * randn_like(x, generator)
        return torch.where(self.mask, noised, x)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with its known coordinates set to ``y`` exactly."""
        return torch.where(self.mask, self.values, x)


def condition(sampler, known, mask, n: int, event_shape, *, convert=as_data, device=None) -> Known:
    """Check an imputation request and broadcast it to ``[n, *event_shape]``.

    ``known`` is ``[n, *E]``, ``[1, *E]`` or ``[*E]`` (its values where ``mask`` is false are
    ignored); ``mask`` is a bool tensor broadcastable to ``[n, *E]``, true at the known
    coordinates. ``convert(x, event_shape, name=)`` checks the known values as the kernel's data
    (float32 for Gaussian kernels, tokens for masking); both are moved to ``device`` (the samples').
    """
    if not getattr(sampler, "can_impute", False):
        raise ConfigError(
            f"the sampler {type(sampler).__name__} cannot impute (it has no known/mask support); "
            "use 'annealed-langevin', 'reverse-sde', 'pc' or, for tokens, 'unmask'"
        )
    if known is None or mask is None:
        raise ConfigError("imputation needs both known=... and mask=...")
    values, mask = torch.as_tensor(known), torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        raise DataError(f"mask must be a bool tensor (true where known), got dtype {mask.dtype}")
    shape = (n, *event_shape)
    try:
        values, mask = values.expand(shape), mask.expand(shape)
    except RuntimeError:
        raise DataError(
            f"known {list(values.shape)} and mask {list(mask.shape)} must broadcast to [n, *event_shape] = {list(shape)}"
        ) from None
    values = convert(torch.where(mask, values, torch.zeros_like(values)), event_shape, name="known")
    return Known(values.to(device), mask.to(device))
