"""Exact targets of conditional generation: class-conditional mixtures, the posterior of a
mixture under a linear-Gaussian measurement, and the density classifier-free guidance tilts to.

- A :class:`ClassConditionalMixture` gives each component ``k`` of a Gaussian mixture a class
  ``c_k``: ``p(x | c) = Σ_{k: c_k = c} π_k N(x; μ_k, Σ_k) / Σ_{k: c_k = c} π_k`` and
  ``p(c) = Σ_{k: c_k = c} π_k``. Noise acts on each component (``Σ_k + σ² I``), so
  ``p_σ(x | c)`` is the perturbed mixture restricted to class ``c``'s components, renormalised,
  and the exact noisy classifier is ``p(c | x_σ) = Σ_{k: c_k = c} r_k(x; σ)``.
- :func:`linear_posterior`: for ``y = A x + η``, ``η ~ N(0, σ_y² I)`` and a mixture prior, the
  posterior is the mixture of the components' Gaussian posteriors (the Kalman update
  ``K_k = Σ_k Aᵀ S_k⁻¹``, ``S_k = A Σ_k Aᵀ + σ_y² I``, mean ``μ_k + K_k (y − A μ_k)``,
  covariance ``Σ_k − K_k A Σ_k``) with weights ``∝ π_k N(y; A μ_k, S_k)``.
- :func:`tilted_density`: ``p(x | c)^w p(x)^{1−w}`` normalised on a 2-D grid, the density that
  classifier-free guidance is often said to sample (it does not: its scores at ``σ > 0`` are not
  those of the tilted density's perturbations; ``docs/conditioning.md`` measures by how much).
"""

import attrs
import torch
from torch import Tensor

from scoregen._tensor import as_float64
from scoregen.analytic.mixture import GaussianMixture
from scoregen.errors import ConfigError, DataError


def _classes(value) -> Tensor:
    t = torch.as_tensor(value)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ConfigError(f"classes must be integers, got dtype {t.dtype}")
    return t.to(torch.int64)


@attrs.frozen(eq=False)
class ClassConditionalMixture:
    """A Gaussian mixture whose component ``k`` belongs to class ``classes[k]`` (``0 … C−1``,
    every class holding at least one component).

    ``labels`` arguments are an int or int64 ``[N]`` (class indices); ``None`` means the
    marginal ``p(x) = Σ_c p(c) p(x | c)``, i.e. the whole mixture.
    """

    mixture: GaussianMixture
    classes: Tensor = attrs.field(converter=_classes)

    def __attrs_post_init__(self) -> None:
        if self.classes.shape != (self.mixture.n_components,):
            raise ConfigError(f"classes must have shape [K={self.mixture.n_components}], got {list(self.classes.shape)}")
        if int(self.classes.min()) < 0 or bool((torch.bincount(self.classes) == 0).any()):
            raise ConfigError(f"classes must be 0 … C−1 with every class used, got {self.classes.tolist()}")

    @property
    def n_classes(self) -> int:
        """C, the number of classes."""
        return int(self.classes.max()) + 1

    @property
    def dim(self) -> int:
        return self.mixture.dim

    def class_probs(self) -> Tensor:
        """``p(c) = Σ_{k: c_k = c} π_k``, float64 ``[C]``."""
        return torch.zeros(self.n_classes, dtype=torch.float64).index_add_(0, self.classes, self.mixture.weights)

    def conditional(self, label: int) -> GaussianMixture:
        """``p(x | c)`` as a :class:`GaussianMixture` of class ``label``'s components."""
        keep = self.classes == self.check_labels(label, 1)[0]
        m = self.mixture
        return GaussianMixture(m.weights[keep], m.means[keep], m.covariances[keep])

    def check_labels(self, labels, n: int) -> Tensor:
        """``labels`` (an int or integer ``[n]``) as int64 ``[n]``; :class:`DataError` if not in ``0 … C−1``."""
        t = torch.as_tensor(labels)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise DataError(f"labels must be integers, got dtype {t.dtype}")
        t = t.to(torch.int64)
        if t.ndim == 0:
            t = t.expand(n)
        if t.shape != (n,):
            raise DataError(f"labels must be an int or have shape [N={n}], got {list(t.shape)}")
        if bool(((t < 0) | (t >= self.n_classes)).any()):
            raise DataError(f"labels must lie in 0 … {self.n_classes - 1}, got {sorted(set(t.tolist()))}")
        return t

    def _components(self, labels, n: int):
        if labels is None:
            return None
        return self.classes[None, :] == self.check_labels(labels, n)[:, None]

    def log_prob_at(self, x, sigma, labels=None) -> Tensor:
        """``log p_σ(x | c)`` (``log p_σ(x)`` without labels): x [N, D] -> [N]."""
        n = torch.as_tensor(x).shape[0]
        return self.mixture.log_prob_at(x, sigma, components=self._components(labels, n))

    def score_at(self, x, sigma, labels=None) -> Tensor:
        """``∇ₓ log p_σ(x | c)`` (``∇ₓ log p_σ(x)`` without labels): x [N, D] -> [N, D]."""
        n = torch.as_tensor(x).shape[0]
        return self.mixture.score_at(x, sigma, components=self._components(labels, n))

    def class_posterior(self, x, sigma) -> Tensor:
        """The exact noisy classifier ``p(c | x_σ) = Σ_{k: c_k = c} r_k(x; σ)``: x [N, D] -> [N, C]."""
        resp = self.mixture.responsibilities(x, sigma).to(torch.float64)
        out = resp.new_zeros(resp.shape[0], self.n_classes)
        return out.index_add_(1, self.classes.to(resp.device), resp)

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> tuple[Tensor, Tensor]:
        """``(x [n, D] float64, labels [n] int64)``: given ``labels``, ``x_i ~ p(x | c_i)``;
        without, ``c_i ~ p(c)`` then ``x_i ~ p(x | c_i)`` (a draw of the joint)."""
        m = self.mixture
        if labels is None:
            comp = torch.multinomial(m.weights, n, replacement=True, generator=generator)
        else:
            allowed = self._components(labels, n).to(torch.float64) * m.weights
            comp = torch.multinomial(allowed, 1, generator=generator).squeeze(1)
        return m.sample_components(comp, generator), self.classes[comp]


def _full(mixture: GaussianMixture) -> Tensor:
    cov = mixture.covariances
    return torch.diag_embed(cov) if mixture.is_diagonal else cov


def linear_posterior(mixture: GaussianMixture, A, y, noise: float) -> GaussianMixture:
    """The exact posterior ``p(x | y)`` of ``x ~ mixture`` given ``y = A x + η``,
    ``η ~ N(0, σ_y² I)``: ``A [M, D]``, ``y [M]``, ``noise = σ_y > 0``.

    Component ``k`` becomes ``N(μ_k + K_k (y − A μ_k), Σ_k − K_k A Σ_k)`` with
    ``K_k = Σ_k Aᵀ S_k⁻¹`` and ``S_k = A Σ_k Aᵀ + σ_y² I``, weighted ``∝ π_k N(y; A μ_k, S_k)``
    (float64; full covariances). ``noise = 0`` would make the posterior singular where ``A``
    observes coordinates exactly: it is refused.
    """
    A, y = as_float64(A), as_float64(y)
    d = mixture.dim
    if A.ndim != 2 or A.shape[1] != d:
        raise DataError(f"A must have shape [M, D={d}], got {list(A.shape)}")
    if y.shape != (A.shape[0],):
        raise DataError(f"y must have shape [M={A.shape[0]}], got {list(y.shape)}")
    if not float(noise) > 0:
        raise ConfigError(f"the exact posterior needs noise > 0 (a singular posterior has no density), got {noise!r}")
    cov = _full(mixture)  # [K, D, D]
    eye = torch.eye(A.shape[0], dtype=torch.float64)
    S = A @ cov @ A.T + float(noise) ** 2 * eye  # [K, M, M]
    gain = torch.linalg.solve(S, A @ cov).mT  # K_k = Σ_k Aᵀ S_k⁻¹ (S_k, Σ_k symmetric), [K, D, M]
    residual = y - mixture.means @ A.T  # [K, M]
    means = mixture.means + torch.einsum("kdm,km->kd", gain, residual)
    post_cov = cov - gain @ A @ cov
    post_cov = 0.5 * (post_cov + post_cov.mT)
    log_evidence = torch.distributions.MultivariateNormal(torch.zeros_like(residual), covariance_matrix=S).log_prob(residual)
    log_w = mixture.weights.log() + log_evidence
    return GaussianMixture(torch.softmax(log_w, dim=0), means, post_cov)


@attrs.frozen(eq=False)
class Grid2D:
    """A regular grid over ``[lo, hi]²`` with ``n × n`` cells: ``centres [n², 2]`` (float64,
    row-major with ``x₁`` fastest) and the cell area."""

    lo: float
    hi: float
    n: int = 200

    def __attrs_post_init__(self) -> None:
        if not self.hi > self.lo or self.n < 2:
            raise ConfigError(f"need hi > lo and n >= 2, got lo={self.lo}, hi={self.hi}, n={self.n}")

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.n

    @property
    def centres(self) -> Tensor:
        axis = self.lo + self.width * (torch.arange(self.n, dtype=torch.float64) + 0.5)
        x2, x1 = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([x1.flatten(), x2.flatten()], dim=1)

    def histogram(self, samples: Tensor) -> Tensor:
        """Cell probabilities ``[n²]`` of ``samples [N, 2]`` (those outside the grid count as lost mass)."""
        idx = ((samples.to(torch.float64) - self.lo) / self.width).floor().long()
        inside = ((idx >= 0) & (idx < self.n)).all(dim=1)
        flat = idx[inside, 1] * self.n + idx[inside, 0]
        return torch.bincount(flat, minlength=self.n * self.n).to(torch.float64) / samples.shape[0]


def tilted_density(problem: ClassConditionalMixture, label: int, weight: float, grid: Grid2D) -> Tensor:
    """Cell probabilities ``[n²]`` of ``p(x | c)^w p(x)^{1−w}`` (``w = weight``), normalised on
    ``grid`` (2-D only): the target classifier-free guidance with weight ``w`` tilts towards at
    ``σ = 0``, where ``∇ log`` of it is exactly ``s_∅ + w (s_c − s_∅)``."""
    if problem.dim != 2:
        raise ConfigError(f"tilted_density works on 2-D mixtures, got D = {problem.dim}")
    x = grid.centres
    labels = torch.full((x.shape[0],), int(label), dtype=torch.int64)
    log_p = weight * problem.log_prob_at(x, 0.0, labels) + (1.0 - weight) * problem.log_prob_at(x, 0.0)
    return torch.softmax(log_p, dim=0)
