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
    The update is one ``torch._foreach_lerp_`` over the parameter lists, which are looked up
    once per trained module (not at every step).
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        self.decay = v.check_real("ema decay", decay, non_negative=True, below=1.0)
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self._shadows: list[torch.Tensor] = list(self.module.parameters())  # ``.to()`` keeps Parameter objects
        self._source: nn.Module | None = None
        self._params: list[torch.Tensor] = []
        self._buffer_slots: list[_BufferSlot] = []

    def rate(self, k: int) -> float:
        """``d_k``, the weight kept from the average at update ``k``."""
        return min(self.decay, (1.0 + k) / (10.0 + k))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold in ``module``'s current weights (one call per optimiser step)."""
        self.updates += 1
        if module is not self._source:
            self._source, self._params = module, list(module.parameters())
            self._buffer_slots = [
                _BufferSlot(own, theirs, name) for (own, _), (theirs, name) in zip(_slots(self.module), _slots(module), strict=True)
            ]
        if self._shadows:
            torch._foreach_lerp_(self._shadows, self._params, 1.0 - self.rate(self.updates))
        for slot in self._buffer_slots:
            slot.copy()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = int(updates)


def _slots(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(owner, name)`` of every buffer of ``module``, in ``module.buffers()`` order."""
    return [(owner, name) for _, owner in module.named_modules() for name, b in owner._buffers.items() if b is not None]


class _BufferSlot:
    """A buffer of the shadow copy and the same buffer of the trained module, copied only when the
    trained one changed since the last copy: a new tensor (``.to()`` replaces buffers) or a new
    in-place version (``Tensor._version``), e.g. batch-norm statistics after a step."""

    def __init__(self, own: nn.Module, theirs: nn.Module, name: str) -> None:
        self.own, self.theirs, self.name = own, theirs, name
        self.seen: tuple[torch.Tensor, int] | None = None

    def copy(self) -> None:
        buffer = self.theirs.get_buffer(self.name)
        if self.seen is None or self.seen[0] is not buffer or self.seen[1] != buffer._version:
            self.own.get_buffer(self.name).copy_(buffer)
            self.seen = (buffer, buffer._version)
