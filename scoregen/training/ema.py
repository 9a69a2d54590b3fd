"""Exponential moving average of a network's weights (Polyak averaging), used for sampling."""

import copy

import torch
from torch import nn

from scoregen import _validators as v


class EMA:
    """A shadow copy of ``module`` whose parameters follow ``θ̄_k = d_k θ̄_{k−1} + (1 − d_k) θ_k``
    after each optimiser step ``k = 1, 2, …``, with ``d_k = min(decay, (1 + k)/(10 + k))``.

    The warm-up ``(1 + k)/(10 + k)`` (as in TensorFlow's ``ExponentialMovingAverage``) keeps a
    short run from being dominated by the initial weights; after about ``10/(1 − decay)`` steps
    ``d_k = decay``. Buffers are copied, not averaged. NCSNv2 samples with ``decay = 0.999``.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        self.decay = v.check_real("ema decay", decay, non_negative=True, below=1.0)
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def rate(self, k: int) -> float:
        """``d_k``, the weight kept from the average at update ``k``."""
        return min(self.decay, (1.0 + k) / (10.0 + k))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold in ``module``'s current weights (one call per optimiser step)."""
        self.updates += 1
        d = self.rate(self.updates)
        for shadow, p in zip(self.module.parameters(), module.parameters()):
            shadow.lerp_(p.detach(), 1.0 - d)
        for own, b in zip(self.module.buffers(), module.buffers()):
            own.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = int(updates)
