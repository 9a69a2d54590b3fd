"""The score-estimator contract.

A Gaussian-family estimator is any callable ``estimator(x, sigma) -> score`` with ``x`` of shape
``[B, *event_shape]`` (ladder coordinates, see :mod:`scoregen.kernels.gaussian`), ``sigma`` of
shape ``[B]`` (one noise level per sample, never an index) and the score
``s(x, σ) ≈ ∇ₓ log p_σ(x)`` of the same shape as ``x``, on ``x``'s device and dtype. It may be a
``torch.nn.Module`` (trainable) or a plain function (analytic).

Conditioning: a conditional estimator also accepts the keyword ``labels`` (int64 ``[B]``, class
indices; the null label for the unconditional score is the estimator's own, see
:mod:`scoregen.estimators.conditioning`). Objectives pass ``labels=`` only when the data carry
labels; samplers never do: the model binds labels and guidance into a plain
``(x, sigma) -> score`` callable before sampling.

A network that predicts something else than the score (ε, x₀, v, a flow velocity) declares it with
the attribute ``parameterisation``; :mod:`scoregen.estimators.parameterisation` converts its
output to the score (and back, for training targets) given the kernel's ``(m, s)``.
"""

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ScoreEstimator(Protocol):
    """``(x [B, *E], sigma [B]) -> score [B, *E]``."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...
