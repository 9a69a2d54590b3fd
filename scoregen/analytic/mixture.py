"""An exact Gaussian mixture: the analytic ground truth for densities, scores and samples.

The density is ``p(x) = Σ_k w_k N(x; μ_k, Σ_k)``. Convolving it with ``N(0, σ² I)`` gives the
mixture with covariances ``Σ_k + σ² I``, so every noise level of a score-based model has an exact
log-density and score. Arithmetic runs in float64 through log-sum-exp, which keeps the density,
the score and the responsibilities finite and accurate far from every mode.
"""

import math

import attrs
import numpy as np
import torch
from torch import Tensor

from scoregen import _validators as v
from scoregen._tensor import as_float64, check_fits_in_memory
from scoregen.errors import ConfigError, DataError

_LOG_2PI = math.log(2.0 * math.pi)


@attrs.frozen(eq=False)
class GaussianMixture:
    """A mixture of ``K`` Gaussians in ``D`` dimensions with diagonal or full covariances.

    ``weights`` [K] must be positive and finite; they are normalised to sum to 1. ``means`` is
    [K, D]. ``covariances`` is either [K, D] (the diagonal variances) or [K, D, D] (symmetric
    positive definite matrices). All three are stored as float64 tensors. Full covariances are
    eigendecomposed once, ``Σ_k = U_k diag(λ_k) U_kᵀ``, so that
    ``Σ_k + σ² I = U_k diag(λ_k + σ²) U_kᵀ`` is inverted at any noise level without a new
    factorisation.

    Methods take points ``x`` [N, D] as tensors or array-likes and return results in ``x``'s
    floating dtype (float64 for integer input) on ``x``'s device; they are differentiable in ``x``.
    """

    weights: Tensor = attrs.field(converter=as_float64)
    means: Tensor = attrs.field(converter=as_float64)
    covariances: Tensor = attrs.field(converter=as_float64)
    _eigvals: Tensor = attrs.field(init=False, repr=False)  # [K, D]: λ_k (the variances if diagonal)
    _eigvecs: Tensor | None = attrs.field(init=False, repr=False)  # [K, D, D]: U_k; None if diagonal

    def __attrs_post_init__(self):
        w, mu, cov = self.weights, self.means, self.covariances
        if w.ndim != 1 or w.numel() == 0:
            raise ConfigError(f"weights must have shape [K] with K >= 1, got {list(w.shape)}")
        if not bool(torch.all(torch.isfinite(w) & (w > 0))):
            raise ConfigError(f"weights must be positive and finite, got {w.tolist()}")
        k = w.shape[0]
        if mu.ndim != 2 or mu.shape[0] != k or mu.shape[1] == 0:
            raise ConfigError(f"means must have shape [K={k}, D] with D >= 1, got {list(mu.shape)}")
        if not bool(torch.isfinite(mu).all()):
            raise ConfigError("means must be finite")
        d = mu.shape[1]
        if cov.shape not in ((k, d), (k, d, d)):
            raise ConfigError(
                f"covariances must have shape [K, D] = [{k}, {d}] (diagonal) or [K, D, D] = "
                f"[{k}, {d}, {d}] (full), got {list(cov.shape)}"
            )
        if not bool(torch.isfinite(cov).all()):
            raise ConfigError("covariances must be finite")
        if cov.ndim == 2:
            if not bool(torch.all(cov > 0)):
                raise ConfigError("diagonal covariances (variances) must be positive")
            eigvals, eigvecs = cov, None
        else:
            if not torch.allclose(cov, cov.mT, rtol=1e-8, atol=1e-12 * float(cov.abs().max())):
                raise ConfigError("full covariances must be symmetric")
            cov = 0.5 * (cov + cov.mT)
            eigvals, eigvecs = torch.linalg.eigh(cov)
            floor = d * torch.finfo(torch.float64).eps * eigvals.abs().amax(dim=-1)
            if not bool(torch.all(eigvals.amin(dim=-1) > floor)):
                bad = torch.nonzero(eigvals.amin(dim=-1) <= floor).flatten().tolist()
                raise ConfigError(f"full covariances must be positive definite; components {bad} are not")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "covariances", cov)
        object.__setattr__(self, "_eigvals", eigvals)
        object.__setattr__(self, "_eigvecs", eigvecs)

    @classmethod
    def ring(cls, n_modes: int = 8, radius: float = 4.0, std: float = 0.3) -> "GaussianMixture":
        """Equal-weight 2-D mixture with means ``radius (cos θ_k, sin θ_k)``, ``θ_k = 2πk / n_modes``,
        and isotropic variances ``std²``."""
        n_modes = v.check_int("n_modes", n_modes, minimum=1)
        check_fits_in_memory((n_modes, 2, 4), f"{n_modes} modes", element_size=8)
        radius = v.check_real("radius", radius, non_negative=True, at_most=1e6)
        std = v.check_real("std", std, positive=True, at_most=1e6)
        angle = 2.0 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
        means = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        return cls(torch.ones(n_modes), means, torch.full((n_modes, 2), float(std) ** 2))

    @property
    def dim(self) -> int:
        """D, the dimension of the space."""
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        """K, the number of components."""
        return self.means.shape[0]

    @property
    def is_diagonal(self) -> bool:
        """Whether the covariances are stored as [K, D] variances."""
        return self._eigvecs is None

    def log_prob(self, x) -> Tensor:
        """``log p(x) = logsumexp_k [log w_k + log N(x; μ_k, Σ_k)]``: x [N, D] -> [N]."""
        return self.log_prob_at(x, 0.0)

    def score(self, x) -> Tensor:
        """``∇_x log p(x) = -Σ_k r_k(x) Σ_k⁻¹ (x - μ_k)``: x [N, D] -> [N, D]."""
        return self.score_at(x, 0.0)

    def responsibilities(self, x, sigma=None) -> Tensor:
        """Posterior component probabilities ``r_k(x) = w_k N_k(x) / Σ_j w_j N_j(x)``: x [N, D] -> [N, K].

        With ``sigma`` (a number or [N]) the components are those of the perturbed mixture,
        ``N_k = N(μ_k, Σ_k + σ_n² I)``.
        """
        x, out_dtype = self._as_points(x)
        log_joint, _ = self._components(x, self._as_sigma(0.0 if sigma is None else sigma, x))
        return torch.softmax(log_joint, dim=1).to(out_dtype)

    def log_prob_at(self, x, sigma, *, components=None) -> Tensor:
        """Log-density of the mixture convolved with ``N(0, σ_n² I)`` at each row:
        ``log Σ_k w_k N(x_n; μ_k, Σ_k + σ_n² I)``. x [N, D], sigma a number or [N] -> [N].

        ``components`` (bool ``[K]`` or ``[N, K]``) keeps only those components, their weights
        renormalised: the density of the sub-mixture (row ``n``'s own with ``[N, K]``)."""
        x, out_dtype = self._as_points(x)
        log_joint, _ = self._components(x, self._as_sigma(sigma, x))
        log_joint, log_mass = self._restrict(log_joint, components)
        return (torch.logsumexp(log_joint, dim=1) - log_mass).to(out_dtype)

    def score_at(self, x, sigma, *, components=None) -> Tensor:
        """Score of the mixture convolved with ``N(0, σ_n² I)`` at each row:
        ``-Σ_k r_k(x_n; σ_n) (Σ_k + σ_n² I)⁻¹ (x_n - μ_k)``.
        x [N, D], sigma a number or [N] -> [N, D]; ``components`` as in :meth:`log_prob_at`
        (the responsibilities are then those of the sub-mixture)."""
        x, out_dtype = self._as_points(x)
        log_joint, whitened = self._components(x, self._as_sigma(sigma, x))
        log_joint, _ = self._restrict(log_joint, components)
        resp = torch.softmax(log_joint, dim=1)  # [N, K]
        if self._eigvecs is not None:  # back from each component's eigenbasis: U_k (·)
            whitened = torch.einsum("kij,nkj->nki", self._eigvecs.to(x.device), whitened)
        return -torch.einsum("nk,nkd->nd", resp, whitened).to(out_dtype)

    def velocity_at(self, x, t, schedule) -> Tensor:
        """The exact velocity of the Gaussian path ``x_t = m(t) x₀ + s(t) z`` (``x₀`` from this
        mixture, ``z ~ N(0, I)``; ``schedule`` gives ``m, s, m', s'``, e.g. a kernel's):
        ``u(x_t, t) = E[m' x₀ + s' z | x_t] = m' x̂₀ + s' ε̂`` with ``x̂ = x_t/m``, ``σ = s/m``,
        ``x̂₀ = x̂ + σ² ∇log p_σ(x̂)`` and ``ε̂ = −σ ∇log p_σ(x̂)`` (Tweedie). It is also the
        probability-flow ODE's drift ``f x_t − ½ g² ∇log p_t(x_t)``, and ``z − E[x₀ | x_t]``
        on the linear interpolant. x [N, D] (the path's coordinates), t a number or [N] -> [N, D]."""
        x_t, out_dtype = self._as_points(x)
        t = torch.as_tensor(t, dtype=torch.float64, device=x_t.device).expand(x_t.shape[0])
        m, s = (v.to(x_t.device)[:, None] for v in schedule.marginal(t))
        dm, ds = (v.to(x_t.device)[:, None] for v in schedule.marginal_derivative(t))
        x_hat, sigma = x_t / m, s / m
        score = self.score_at(x_hat, sigma[:, 0])
        return (dm * (x_hat + sigma**2 * score) - ds * sigma * score).to(out_dtype)

    def perturb(self, sigma: float) -> "GaussianMixture":
        """The mixture convolved with ``N(0, σ² I)``: covariances ``Σ_k + σ² I``, of the same kind
        (diagonal or full)."""
        var = float(sigma) ** 2
        if self.is_diagonal:
            cov = self.covariances + var
        else:
            cov = self.covariances + var * torch.eye(self.dim).to(self.covariances)
        return GaussianMixture(self.weights, self.means, cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` float64 draws [n, D]: a component ``k ~ Categorical(w)`` (torch.multinomial), then
        ``μ_k + U_k diag(√λ_k) z`` with ``z ~ N(0, I)`` (``μ_k + √v_k ⊙ z`` for diagonal variances
        ``v_k``). Both the component choice and the Gaussian draw use ``generator``."""
        if n == 0:
            return self.means.new_empty(0, self.dim)
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.sample_components(comp, generator)

    def sample_components(self, comp: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One float64 draw [n, D] of component ``comp[i]`` for each ``i`` (``comp [n]`` int64):
        ``μ_k + U_k diag(√λ_k) z``, ``z ~ N(0, I)`` from ``generator``."""
        z = torch.randn(len(comp), self.dim, generator=generator, dtype=torch.float64, device=self.means.device)
        step = self._eigvals[comp].sqrt() * z
        if self._eigvecs is not None:
            step = torch.einsum("nij,nj->ni", self._eigvecs[comp], step)
        return self.means[comp] + step

    def mean(self) -> Tensor:
        """Mixture mean ``m = Σ_k w_k μ_k``: [D]."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Mixture covariance ``Σ_k w_k [Σ_k + (μ_k - m)(μ_k - m)ᵀ]``: [D, D]."""
        cov = torch.diag_embed(self.covariances) if self.is_diagonal else self.covariances
        centred = self.means - self.mean()
        spread = torch.einsum("k,ki,kj->ij", self.weights, centred, centred)
        return torch.einsum("k,kij->ij", self.weights, cov) + spread

    def _as_points(self, x) -> tuple[Tensor, torch.dtype]:
        """x as float64 [N, D] and the dtype to return results in (x's own if floating point)."""
        t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise DataError(f"x must have shape [N, D={self.dim}], got {list(t.shape)}")
        return t.to(torch.float64), t.dtype if t.is_floating_point() else torch.float64

    def _as_sigma(self, sigma, x: Tensor) -> Tensor:
        """sigma as float64 [N] on x's device; a number is shared by all rows."""
        s = torch.as_tensor(sigma, dtype=torch.float64, device=x.device)
        if s.ndim == 0:
            s = s.expand(x.shape[0])
        if s.shape != (x.shape[0],):
            raise DataError(f"sigma must be a number or have shape [N={x.shape[0]}], got {list(s.shape)}")
        if not bool(torch.all(torch.isfinite(s) & (s >= 0))):
            raise DataError("sigma must be finite and non-negative")
        return s

    def _restrict(self, log_joint: Tensor, components) -> tuple[Tensor, Tensor]:
        """``log_joint [N, K]`` with the components outside ``components`` at ``−∞``, and the log
        of the kept weight mass per row ``[N]`` (zero without ``components``)."""
        if components is None:
            return log_joint, log_joint.new_zeros(log_joint.shape[0])
        keep = torch.as_tensor(components, device=log_joint.device)
        if keep.dtype != torch.bool or keep.shape not in ((self.n_components,), tuple(log_joint.shape)):
            raise DataError(
                f"components must be a bool mask [K={self.n_components}] or [N, K], got {keep.dtype} {list(keep.shape)}"
            )
        keep = keep.expand(log_joint.shape)
        if not bool(keep.any(dim=1).all()):
            raise DataError("components must keep at least one component in every row")
        log_w = self.weights.to(log_joint.device).log().expand(log_joint.shape)
        log_mass = torch.logsumexp(log_w.masked_fill(~keep, -math.inf), dim=1)
        return log_joint.masked_fill(~keep, -math.inf), log_mass

    def _components(self, x: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """Per-component terms of the mixture perturbed at ``σ_n`` (x [N, D] and sigma [N], float64).

        Returns ``log w_k + log N(x_n; μ_k, C_nk)`` [N, K] with ``C_nk = Σ_k + σ_n² I``, and
        ``diag(λ_k + σ_n²)⁻¹ U_kᵀ (x_n - μ_k)`` [N, K, D] (``C_nk⁻¹ (x_n - μ_k)`` in the k-th
        eigenbasis; ``U_k = I`` for diagonal covariances).
        """
        device = x.device
        diff = x.unsqueeze(1) - self.means.to(device)  # [N, K, D]
        if self._eigvecs is not None:  # U_kᵀ (x_n - μ_k)
            diff = torch.einsum("kji,nkj->nki", self._eigvecs.to(device), diff)
        var = self._eigvals.to(device) + sigma.square()[:, None, None]  # [N, K, D]
        whitened = diff / var
        # Sums over D as contractions: torch's reduction kernels are slow on a short last axis.
        mahalanobis = torch.einsum("nkd,nkd->nk", diff, whitened)
        log_det = var.log() @ torch.ones(self.dim, dtype=var.dtype, device=device)
        log_normal = -0.5 * (mahalanobis + log_det + self.dim * _LOG_2PI)
        return self.weights.to(device).log() + log_normal, whitened
