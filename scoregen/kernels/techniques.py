"""NCSNv2's recipe for the noise ladder and the sampler's step (Song & Ermon 2020, "Improved
techniques for training score-based generative models"), in this library's step convention
``x ← x + (α/2) s + √α z`` with ``α_i = ε σ_i² / σ_L²``.

- Technique 1: ``σ_1`` = the largest pairwise distance of the training data (:func:`max_pairwise_distance`).
- Technique 2: the ratio ``γ = σ_{i−1}/σ_i`` such that ``Φ(√(2D)(γ−1) + 3γ) − Φ(√(2D)(γ−1) − 3γ)
  = ½`` (consecutive perturbed distributions overlap), then ``L = 1 + ⌈log(σ_1/σ_L) / log γ⌉``.
- Technique 4: ``ε`` that makes the variance after ``T`` steps at level ``i``, started from
  level ``i−1``, closest to ``σ_i²`` for a single data point.
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen.errors import ConfigError


def max_pairwise_distance(x: torch.Tensor, *, chunk: int = 2048) -> float:
    """``max_{i,j} ‖x_i − x_j‖`` over a batch ``[N, *E]``, computed in row chunks (memory ``O(chunk·N)``)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    best = 0.0
    for start in range(0, flat.shape[0], chunk):
        best = max(best, float(torch.cdist(flat[start : start + chunk], flat).max()))
    return best


def overlap(gamma: float, dim: int) -> float:
    """``Φ(√(2D)(γ−1) + 3γ) − Φ(√(2D)(γ−1) − 3γ)``: NCSNv2's measure of how much ``N(0, σ_{i−1}² I)``
    and ``N(0, σ_i² I)`` overlap in ``D`` dimensions when ``σ_{i−1}/σ_i = γ``."""
    a = math.sqrt(2 * dim) * (gamma - 1)
    phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
    return phi(a + 3 * gamma) - phi(a - 3 * gamma)


def noise_ratio(dim: int, target: float = 0.5) -> float:
    """Technique 2: the ratio ``γ > 1`` whose :func:`overlap` equals ``target`` in ``dim`` dimensions."""
    from scipy.optimize import brentq

    if dim < 1:
        raise ConfigError(f"dim must be at least 1, got {dim}")
    # overlap(1) = Φ(3) − Φ(−3) ≈ 0.997; it falls to a minimum, then rises back towards 1.
    grid = torch.linspace(1.0, 10.0, 2000, dtype=torch.float64).tolist()
    lowest = min(grid, key=lambda g: overlap(g, dim))
    if overlap(lowest, dim) > target:
        raise ConfigError(
            f"Technique 2 has no solution in D = {dim} dimensions (the overlap never falls to {target}); "
            "it is meant for high-dimensional data: choose n_levels yourself"
        )
    return brentq(lambda g: overlap(g, dim) - target, 1.0, lowest, xtol=1e-12)


def n_levels(sigma_max: float, sigma_min: float, dim: int) -> int:
    """Technique 2: ``L = 1 + ⌈log(σ_1/σ_L) / log γ⌉`` levels (consecutive ratio at most ``γ``)."""
    if not sigma_max > sigma_min > 0:
        raise ConfigError(f"need sigma_max > sigma_min > 0, got {sigma_max}, {sigma_min}")
    return 1 + math.ceil(math.log(sigma_max / sigma_min) / math.log(noise_ratio(dim)))


def variance_ratio(eps: float, gamma: float, sigma_min: float, n_steps: int) -> float:
    """``s_T² / σ_i²`` after ``T = n_steps`` steps of ``x ← x + (α/2) s + √α z`` on ``N(0, σ_i² I)``
    (score ``−x/σ_i²``) from ``s_0² = γ² σ_i²``, with ``α = ε σ_i²/σ_L²``:
    ``a^{2T} (γ² − r) + r`` where ``a = 1 − ε/(2σ_L²)``, ``r = (ε/σ_L²) / (1 − a²)``."""
    u = eps / sigma_min**2
    a = 1 - u / 2
    r = u / (1 - a * a)
    return a ** (2 * n_steps) * (gamma**2 - r) + r


def step_size(sigmas, n_steps: int) -> float:
    """Technique 4: the ``ε`` minimising ``|variance_ratio − 1|`` for the ladder ``sigmas`` (largest
    first; ``γ`` from its first two levels) and ``T = n_steps`` steps per level."""
    from scipy.optimize import minimize_scalar

    sigmas = [float(s) for s in sigmas]
    if len(sigmas) < 2:
        raise ConfigError("the step-size rule needs a ladder of at least two levels")
    gamma, sigma_min = sigmas[0] / sigmas[1], sigmas[-1]
    lo, hi = math.log(1e-8 * sigma_min**2), math.log(2 * sigma_min**2 * (1 - 1e-9))
    grid = torch.linspace(lo, hi, 400, dtype=torch.float64).tolist()
    cost = lambda t: abs(variance_ratio(math.exp(t), gamma, sigma_min, n_steps) - 1)  # noqa: E731
    best = min(grid, key=cost)
    width = (hi - lo) / 399
    found = minimize_scalar(cost, bounds=(max(lo, best - width), min(hi, best + width)), method="bounded")
    return math.exp(found.x)


@attrs.frozen(kw_only=True)
class Suggestion:
    """Techniques 1, 2 and 4 applied to a data set, with the numbers behind them."""

    n: int
    dim: int
    sigma_max: float
    sigma_min: float
    gamma: float
    n_levels: int
    n_steps_each: int
    step_lr: float
    variance_ratio: float

    def report(self) -> str:
        """The suggestion with its reasoning, as printed by ``scoregen suggest-sigmas``."""
        return "\n".join([
            f"data: {self.n} examples of dimension D = {self.dim}",
            f"Technique 1: sigma_max = {self.sigma_max:.4g}, the largest distance between two training examples,",
            "  so the widest perturbed distribution covers the whole data set.",
            f"Technique 2: gamma = {self.gamma:.5f}, the ratio sigma_(i-1)/sigma_i at which",
            f"  Phi(sqrt(2D)(gamma-1) + 3 gamma) - Phi(sqrt(2D)(gamma-1) - 3 gamma) = 0.5 for D = {self.dim};",
            f"  from sigma_max = {self.sigma_max:.4g} down to sigma_min = {self.sigma_min:.4g} that needs",
            f"  n_levels = 1 + ceil(log(sigma_max/sigma_min) / log gamma) = {self.n_levels}.",
            f"Technique 4: with T = {self.n_steps_each} Langevin steps per level, step_lr (epsilon) = {self.step_lr:.4g}",
            f"  makes the variance after T steps {self.variance_ratio:.4f} x sigma_i^2 (the closest to 1);",
            "  step x <- x + (alpha/2) s + sqrt(alpha) z with alpha_i = epsilon sigma_i^2 / sigma_L^2",
            f"  (NCSNv2's code steps x + alpha s + sqrt(2 alpha) z: there epsilon = {self.step_lr / 2:.4g}).",
            f"use: build('ncsnv2', kernel={{'sigma_max': {self.sigma_max:.6g}, 'sigma_min': {self.sigma_min:.6g}, "
            f"'n_levels': {self.n_levels:d}}}, sampler={{'n_steps_each': {self.n_steps_each:d}, 'step_lr': {self.step_lr:.6g}}})",
        ])


def suggest(x: torch.Tensor, *, sigma_min: float = 0.01, n_steps_each: int = 5) -> Suggestion:
    """Apply Techniques 1, 2 and 4 to data ``x [N, *E]``."""
    from scoregen._tensor import as_data

    x = as_data(x)
    sigma_min = v.check_real("sigma_min", sigma_min, positive=True)
    n_steps_each = v.check_int("n_steps_each", n_steps_each, minimum=1)
    dim = math.prod(x.shape[1:])
    sigma_max = max_pairwise_distance(x)
    levels = n_levels(sigma_max, sigma_min, dim)
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), levels, dtype=torch.float64).exp().tolist()
    eps = step_size(sigmas, n_steps_each)
    ratio = variance_ratio(eps, sigmas[0] / sigmas[1], sigma_min, n_steps_each)
    return Suggestion(
        n=x.shape[0], dim=dim, sigma_max=sigma_max, sigma_min=sigma_min, gamma=noise_ratio(dim),
        n_levels=levels, n_steps_each=n_steps_each, step_lr=eps, variance_ratio=ratio,
    )
