"""What a network predicts, and the conversions between the predictions, in one place.

In ladder coordinates ``x̂ = x₀ + σ ε`` (:mod:`scoregen.kernels.gaussian`) the score, the noise
and the denoised point determine each other:

    s = ∇ log p_σ(x̂) = −ε̂/σ = (x̂₀ − x̂)/σ²        (Tweedie: x̂₀ = E[x₀ | x̂] = x̂ + σ² s).

Samplers work with the score callable ``estimator(x̂, σ)`` and use :func:`denoised` where an
algorithm is written in terms of the denoiser ``D(x̂; σ)`` (EDM, DPM-Solver++, UniPC, DDIM).
Shapes: ``x [B, *E]``, ``sigma [B]`` (broadcast with :func:`~scoregen._tensor.append_dims`).
"""

import torch

from scoregen._tensor import append_dims


def score_to_x0(score: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x̂₀ = x̂ + σ² s`` (Tweedie's formula)."""
    return x + append_dims(sigma, x.ndim).to(x.dtype) ** 2 * score


def x0_to_score(x0: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``s = (x̂₀ − x̂)/σ²``."""
    return (x0 - x) / append_dims(sigma, x.ndim).to(x.dtype) ** 2


def score_to_eps(score: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``ε̂ = −σ s``."""
    return -append_dims(sigma, score.ndim).to(score.dtype) * score


def eps_to_score(eps: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``s = −ε̂/σ``."""
    return -eps / append_dims(sigma, eps.ndim).to(eps.dtype)


def denoised(estimator, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The denoiser ``D(x̂; σ) = x̂ + σ² s(x̂, σ)`` of a score estimator, ``[B, *E]`` (one evaluation)."""
    return score_to_x0(estimator(x, sigma), x, sigma)
