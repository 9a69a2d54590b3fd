"""The sampler contract.

A sampler turns a draw from the kernel's prior into data with a score estimator::

    sampler.sample(estimator, kernel, x_init, *, generator, callback=None) -> Tensor
    sampler.nfe(kernel) -> int | None      # score evaluations of one call (None: adaptive)

- ``x_init [B, *event_shape]`` comes from ``kernel.prior_sample`` (ladder coordinates, on the
  device the samples are wanted on); every tensor the sampler makes lives on ``x_init``'s device
  and every random draw uses ``generator`` (on that device), so a seed reproduces the samples
  exactly on the CPU.
- ``estimator(x, sigma) -> score`` is the only way a sampler sees the network: a plain callable of
  ladder coordinates ``x [B, *E]`` and per-sample ``sigma [B]`` (:mod:`scoregen.estimators.base`).
  Parameterisations (ε, x₀, v, velocity), conditioning and guidance are bound into that callable
  *before* the sampler is called, so no sampler knows of them.
- Continuous-time samplers walk a σ *grid* (k-diffusion's convention: a descending float64 tensor
  ``[n + 1]``, ending in ``0`` when the sampler ends on the data), made by a registered ``grid``
  component from the kernel; stepping in the SDE's own time uses ``kernel.time_of(σ)``.
- Progress goes through ``callback(info)``, once per score evaluation or per step, with ``info``
  a dict holding at least ``step`` (0-based), ``nfe`` (score evaluations so far), ``sigma`` (the
  current noise level, a float), ``t`` (the kernel time, a float; ``None`` for ladder-only
  samplers) and ``x`` (the current state). Progress bars live in the caller and count ``nfe``.

Samplers that can impute (sample unknown coordinates given known ones) say so with the class
attribute ``can_impute = True`` and accept ``known=`` a :class:`~scoregen.samplers.impute.Known`;
``ScoreModel.sample`` refuses imputation with any other sampler.
"""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Sampler(Protocol):
    """``sample(estimator, kernel, x_init, *, generator, callback=None) -> x [B, *E]`` and
    ``nfe(kernel)``."""

    def sample(
        self,
        estimator,
        kernel,
        x_init: torch.Tensor,
        *,
        generator: torch.Generator | None,
        callback: Callable[[dict], None] | None = None,
    ) -> torch.Tensor: ...

    def nfe(self, kernel) -> int | None: ...
