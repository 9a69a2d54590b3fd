"""The sampler interface.

A sampler turns a draw from the kernel's prior into data with a score estimator::

    sampler.sample(estimator, kernel, x_init, *, generator, callback=None) -> Tensor

``x_init [B, *event_shape]`` comes from ``kernel.prior_sample``; every random draw uses
``generator``, so a seed reproduces the samples exactly on the CPU. Progress is reported through
``callback(info)`` with ``info`` a dict (``step``, ``level``, ``sigma``, ``x``): progress bars live
in the caller, never in the numerics.

Samplers that can impute (sample unknown coordinates given known ones) say so with the class
attribute ``can_impute = True`` and accept ``known=`` a :class:`~scoregen.samplers.impute.Known`;
``ScoreModel.sample`` refuses imputation with any other sampler.
"""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Sampler(Protocol):
    """``sample(estimator, kernel, x_init, *, generator, callback=None) -> x [B, *E]``."""

    def sample(
        self,
        estimator,
        kernel,
        x_init: torch.Tensor,
        *,
        generator: torch.Generator | None,
        callback: Callable[[dict], None] | None = None,
    ) -> torch.Tensor: ...
