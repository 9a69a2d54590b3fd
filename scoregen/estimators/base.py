"""The score-estimator interface.

A Gaussian-family estimator is any callable ``estimator(x, sigma) -> score`` with ``x`` of shape
``[B, *event_shape]``, ``sigma`` of shape ``[B]`` (one noise level per sample, never an index) and
the score ``s(x, σ) ≈ ∇ₓ log p_σ(x)`` of the same shape as ``x``. It may be a ``torch.nn.Module``
(trainable) or a plain function (analytic).
"""

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ScoreEstimator(Protocol):
    """``(x [B, *E], sigma [B]) -> score [B, *E]``."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...
