"""Posterior sampling for linear inverse problems ``y = A x + η``, ``η ~ N(0, σ_y² I)``
(registered kind ``posterior``).

A posterior sampler draws from ``p(x | y)`` with a prior score model::

    posterior.sample(estimator, kernel, sampler, x_init, measurement, *, generator, callback=None)

``x_init`` is the kernel's prior draw (ladder coordinates ``x̂ = x₀ + σ z``,
:mod:`scoregen.kernels.gaussian`), ``estimator(x, σ)`` the plain score callable, ``sampler``
the model's sampler (used by the methods that only change the score or the known coordinates).
All of them use the denoiser ``D(x, σ) = x + σ² s(x, σ)`` (Tweedie) to look at ``y`` from a
noisy ``x``. Built in, from the roughest to the exact:

- ``replacement``: imputation (:mod:`scoregen.samplers.impute`) for a measurement that observes
  coordinates (a mask); it treats ``y`` as exact and ignores ``σ_y``.
- ``dps`` (Chung et al. 2023): an ancestral reverse step, then ``x ← x − ζ ∇ₓ ‖y − A D(x, σ)‖``.
- ``mmps`` (Rozet et al. 2024): the score of ``p(x_σ | y) ≈ p(x_σ) N(y; A D, σ_y² I + σ² A J Aᵀ)``
  with ``J = ∂D/∂x`` (so ``σ² J = Cov[x₀ | x_σ]``, exact for Gaussian data), solved by conjugate
  gradients; a score callable, so it runs inside every sampler.
- ``tds`` (Wu et al. 2023, the twisted diffusion sampler): sequential Monte Carlo over the
  ancestral reverse chain with ``K`` particles per sample, twisted towards ``y``; asymptotically
  exact as ``K → ∞`` (up to the chain's own discretisation).

``docs/conditioning.md`` measures each against the exact posterior of a Gaussian mixture
(:func:`scoregen.analytic.linear_posterior`); :func:`scoregen.testing.check_posterior_sampler`
is the conformance check.
"""

import math
from collections.abc import Callable

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, as_float64, randn_like
from scoregen.errors import ConfigError, DataError
from scoregen.kernels.base import require_family
from scoregen.samplers.impute import condition


def _matrix(value) -> torch.Tensor:
    t = as_float64(value)
    if t.ndim != 2 or t.shape[0] == 0:
        raise DataError(f"A must be a matrix [M, D] with M >= 1, got shape {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise DataError("A must be finite")
    return t


def _vector(value) -> torch.Tensor:
    t = as_float64(value).flatten()
    if not bool(torch.isfinite(t).all()):
        raise DataError("y must be finite")
    return t


@attrs.frozen(eq=False)
class Linear:
    """The measurement ``y = A x + η``, ``η ~ N(0, noise² I)``: ``A [M, D]`` acts on the
    flattened sample (``D = prod(event_shape)``), ``y [M]``. Stored in float64; computations
    follow the sample's dtype and device. :meth:`mask` builds the observation of coordinates."""

    A: torch.Tensor = attrs.field(converter=_matrix)
    y: torch.Tensor = attrs.field(converter=_vector)
    noise: float = attrs.field(default=0.0, kw_only=True, validator=v.non_negative)

    def __attrs_post_init__(self) -> None:
        if self.y.shape != (self.A.shape[0],):
            raise DataError(f"y must have M = {self.A.shape[0]} entries (the rows of A), got {self.y.numel()}")

    @classmethod
    def mask(cls, mask, values, *, noise: float = 0.0) -> "Linear":
        """Observe ``values`` where the bool ``mask [*E]`` is true (``A`` = those rows of ``I``)."""
        mask, values = torch.as_tensor(mask), as_float64(values)
        if mask.dtype != torch.bool or values.shape != mask.shape:
            raise DataError(f"mask must be bool and shaped like values, got {mask.dtype} {list(mask.shape)} and {list(values.shape)}")
        flat = mask.flatten()
        return cls(torch.eye(flat.numel(), dtype=torch.float64)[flat], values.flatten()[flat], noise=noise)

    @property
    def dim(self) -> int:
        """D, the dimension of the (flattened) samples."""
        return self.A.shape[1]

    def check(self, event_shape) -> None:
        """:class:`DataError` unless ``A`` acts on samples of ``event_shape``."""
        if math.prod(event_shape) != self.dim:
            raise DataError(f"A has D = {self.dim} columns but the samples have event shape {list(event_shape)}")

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for ``x [B, *E]`` → ``[B, M]``."""
        return x.flatten(1) @ self.A.to(x.device, x.dtype).T

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``y − A x`` ``[B, M]``."""
        return self.y.to(x.device, x.dtype) - self.apply(x)

    def log_likelihood(self, x: torch.Tensor, extra_variance=0.0) -> torch.Tensor:
        """``log N(y; A x, (σ_y² + v) I)`` ``[B]``, ``v = extra_variance`` (a number or ``[B]``)."""
        var = self.noise**2 + torch.as_tensor(extra_variance, dtype=x.dtype, device=x.device).expand(x.shape[0])
        r = self.residual(x)
        return -0.5 * (r.square().sum(dim=1) / var + r.shape[1] * torch.log(2 * math.pi * var))

    def selection(self) -> torch.Tensor | None:
        """The bool mask ``[D]`` of observed coordinates when ``A`` selects coordinates (rows
        distinct unit vectors), else ``None``."""
        ones = (self.A == 1).sum(dim=1) == 1
        zeros = (self.A == 0).sum(dim=1) == self.dim - 1
        if not bool((ones & zeros).all()):
            return None
        cols = self.A.argmax(dim=1)
        if len(set(cols.tolist())) != len(cols):
            return None
        return torch.zeros(self.dim, dtype=torch.bool).index_fill_(0, cols, True)

    def posterior(self, mixture):
        """The exact posterior of ``x ~ mixture`` given this measurement (a Gaussian mixture)."""
        from scoregen.analytic import linear_posterior

        return linear_posterior(mixture, self.A, self.y, self.noise)


def geometric_sigmas(kernel, n_steps: int) -> list[float]:
    """``n_steps + 1`` noise levels from ``σ(t_max)`` down to ``σ(t_min)``, geometric."""
    lo, hi = kernel.sigma_range()
    return torch.logspace(math.log10(hi), math.log10(lo), n_steps + 1, dtype=torch.float64).tolist()


def ancestral_mean(x: torch.Tensor, score: torch.Tensor, sigma: float, sigma_next: float) -> tuple[torch.Tensor, float]:
    """The ancestral reverse step from ``σ`` to ``σ' < σ`` in ladder coordinates (DDPM's
    posterior ``q(x_σ' | x_σ, x₀)`` at ``x₀ = D(x, σ)``): mean ``x + (σ² − σ'²) s``, std
    ``τ = σ' √(1 − σ'²/σ²)``. Returns ``(mean, τ)``."""
    drop = sigma**2 - sigma_next**2
    return x + drop * score, sigma_next * math.sqrt(drop) / sigma


def _levels(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)


def _report(callback, step: int, nfe: int, sigma: float, x: torch.Tensor) -> None:
    if callback is not None:
        callback({"step": step, "nfe": nfe, "sigma": sigma, "t": None, "x": x})


@attrs.frozen(kw_only=True)
class Replacement:
    """Imputation by replacement (the model's sampler with ``known=``; it must be able to
    impute): for a measurement that selects coordinates, which are held at their noised value
    ``m(t) y + s(t) z`` along the way and set to ``y`` at the end. Rough: the other coordinates
    follow the score at a *noisy* copy of ``y``, so it misses the mode weights of multimodal
    posteriors (docs/conditioning.md) and it ignores ``σ_y``."""

    families = ("gaussian", "masking")

    def sample(self, estimator, kernel, sampler, x_init, measurement, *, generator=None, callback=None):
        event_shape = tuple(x_init.shape[1:])
        mask = measurement.selection()
        if mask is None:
            raise ConfigError("replacement needs a measurement that observes coordinates (Linear.mask); use 'mmps' or 'tds'")
        values = torch.zeros(measurement.dim, dtype=torch.float64).masked_scatter_(mask, measurement.y)
        known = condition(
            sampler, values.reshape(event_shape), mask.reshape(event_shape), x_init.shape[0], event_shape, device=x_init.device
        )
        return sampler.sample(estimator, kernel, x_init, generator=generator, callback=callback, known=known)


@attrs.frozen(kw_only=True)
class DPS:
    """Diffusion posterior sampling (Chung et al. 2023, Algorithm 1, in ladder coordinates): on
    ``n_steps`` geometric levels, an ancestral step ``x' = x + (σ² − σ'²) s + τ z``, then
    ``x ← x' − ζ ∇ₓ ‖y − A D(x, σ)‖`` (the gradient of the residual's norm, as in the paper's
    code, at the point before the step), and a final Tweedie step ``D(x, σ_min)``.

    ``ζ = zeta`` is a step length, not a likelihood: DPS neither uses ``σ_y`` nor targets the
    posterior exactly, and its bias depends on ``ζ`` (docs/conditioning.md). Score evaluations:
    ``n_steps + 1``, each with a backward pass."""

    families = ("gaussian",)

    n_steps: int = attrs.field(default=200, validator=v.count)
    zeta: float = attrs.field(default=0.3, validator=v.positive)

    def sample(self, estimator, kernel, sampler, x_init, measurement, *, generator=None, callback=None):
        require_family(self, kernel)
        sigmas = geometric_sigmas(kernel, self.n_steps)
        x = x_init
        for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
            with torch.enable_grad():
                x_req = x.detach().requires_grad_(True)
                score = estimator(x_req, _levels(x, sigma))
                distance = measurement.residual(x_req + sigma**2 * score).norm(dim=1)
                (grad,) = torch.autograd.grad(distance.sum(), x_req)
            mean, tau = ancestral_mean(x, score.detach(), sigma, sigma_next)
            x = mean + tau * randn_like(x, generator) - self.zeta * grad
            _report(callback, i, i + 1, sigma_next, x)
        return x + sigmas[-1] ** 2 * estimator(x, _levels(x, sigmas[-1]))


def conjugate_gradient(operator: Callable, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` iterations of conjugate gradients for ``operator(u) = b``, one system per row of
    ``b [B, M]`` (``operator`` symmetric positive definite per row); exact after ``M`` steps in
    exact arithmetic."""
    u = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r.square().sum(dim=1, keepdim=True)
    tiny = torch.finfo(b.dtype).tiny
    for _ in range(steps):
        ap = operator(p)
        alpha = rr / (p * ap).sum(dim=1, keepdim=True).clamp_min(tiny)
        u = u + alpha * p
        r = r - alpha * ap
        rr_next = r.square().sum(dim=1, keepdim=True)
        p = r + (rr_next / rr.clamp_min(tiny)) * p
        rr = rr_next
    return u


@attrs.frozen(kw_only=True)
class MMPS:
    """Moment-matching posterior sampling (Rozet et al. 2024): the score of
    ``p(x_σ) N(y; A D(x_σ), σ_y² I + σ² A J Aᵀ)``, ``J = ∂D/∂x``, i.e.

        ``s(x, σ) + Jᵀ Aᵀ (σ_y² I + σ² A J Aᵀ)⁻¹ (y − A D(x, σ))``

    (the covariance held fixed in the gradient, as in the paper), with the linear system solved
    by ``cg_steps`` conjugate-gradient iterations of vector–Jacobian products (``J`` is
    symmetric for a score that is a gradient). Exact when the data are Gaussian; for mixtures its
    Gaussian view of ``p(x₀ | x_σ)`` is the bias (docs/conditioning.md). A score callable: it runs
    inside the model's sampler, whichever that is. Score evaluations: the sampler's, each with
    ``cg_steps + 1`` backward passes."""

    families = ("gaussian",)

    cg_steps: int = attrs.field(default=3, validator=v.count)

    def bind(self, estimator, measurement) -> Callable:
        """The posterior score callable ``(x, σ) → score``."""

        def posterior_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            var = append_dims(sigma, x.ndim).to(x.dtype) ** 2
            with torch.enable_grad():
                x_req = x.detach().requires_grad_(True)
                score = estimator(x_req, sigma)
                d = x_req + var * score
                A = measurement.A.to(x.device, x.dtype)

                def jt(u: torch.Tensor) -> torch.Tensor:  # Jᵀ Aᵀ u, [B, M] → [B, *E]
                    (g,) = torch.autograd.grad(d, x_req, (u @ A).reshape(x.shape), retain_graph=True)
                    return g

                def operator(u: torch.Tensor) -> torch.Tensor:
                    return measurement.noise**2 * u + sigma.to(x.dtype)[:, None] ** 2 * (jt(u).flatten(1) @ A.T)

                u = conjugate_gradient(operator, measurement.residual(d.detach()), self.cg_steps)
                correction = jt(u)
            return score.detach() + correction

        return posterior_score

    def sample(self, estimator, kernel, sampler, x_init, measurement, *, generator=None, callback=None):
        require_family(self, kernel)
        return sampler.sample(self.bind(estimator, measurement), kernel, x_init, generator=generator, callback=callback)


def _twist(estimator, measurement, x: torch.Tensor, sigma: float, inflation: float):
    """The score, ``log p̃_σ(y | x) = log N(y; A D(x, σ), (σ_y² + c σ²) I)`` and its gradient."""
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        score = estimator(x_req, _levels(x, sigma))
        log_twist = measurement.log_likelihood(x_req + sigma**2 * score, inflation * sigma**2)
        (grad,) = torch.autograd.grad(log_twist.sum(), x_req)
    return score.detach(), log_twist.detach(), grad


@attrs.frozen(kw_only=True)
class TDS:
    """The twisted diffusion sampler (Wu et al. 2023): sequential Monte Carlo over the ancestral
    reverse chain (:func:`ancestral_mean`, ``n_steps`` geometric levels), ``particles = K`` per
    returned sample.

    Twist ``p̃_σ(y | x) = N(y; A D(x, σ), (σ_y² + c σ²) I)`` (``c = inflation`` widens it where
    ``D`` is uncertain). Each particle moves by the proposal ``N(x + (σ² − σ'²)(s + ∇ log p̃_σ), τ²)``
    and its weight is multiplied by ``p(x' | x) p̃_σ'(y | x') / (q(x' | x) p̃_σ(y | x))``; a group
    is resampled (multinomial) when its effective sample size falls below ``ess · K``. At the end
    ``x₀ = D(x, σ_min)`` is weighted by ``N(y; A x₀, σ_y² I) / p̃_σmin(y | x)`` (with ``σ_y = 0``
    the last twist stands in for the likelihood) and one particle per group is returned.

    Whatever the twist, the weights make it consistent: as ``K → ∞`` the returned samples follow
    ``p(x₀ | y)`` under the reverse chain's prior, so with exact scores the bias falls with ``K``
    to that of the chain's discretisation (docs/conditioning.md). Score evaluations:
    ``n_steps + 1`` on batches of ``B · K``, each with a backward pass.
    """

    families = ("gaussian",)

    n_steps: int = attrs.field(default=100, validator=v.count)
    particles: int = attrs.field(default=16, validator=v.count)
    inflation: float = attrs.field(default=1.0, validator=v.non_negative)
    ess: float = attrs.field(default=0.5, validator=v.probability)

    def sample(self, estimator, kernel, sampler, x_init, measurement, *, generator=None, callback=None):
        require_family(self, kernel)
        n, k = x_init.shape[0], self.particles
        sigmas = geometric_sigmas(kernel, self.n_steps)
        # K prior draws per returned sample: x_init's own rows start the first particle of each group.
        rest = kernel.prior_sample((n, k - 1, *x_init.shape[1:]), generator, device=x_init.device).to(x_init.dtype)
        x = torch.cat([x_init[:, None], rest], dim=1).flatten(0, 1)
        score, log_twist, grad = _twist(estimator, measurement, x, sigmas[0], self.inflation)
        log_w = log_twist.reshape(n, k)
        for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
            mean, tau = ancestral_mean(x, score, sigma, sigma_next)
            shift = (sigma**2 - sigma_next**2) * grad
            x_next = mean + shift + tau * randn_like(x, generator)
            # log p(x'|x) − log q(x'|x) for the Gaussians N(mean, τ²) and N(mean + shift, τ²).
            log_ratio = ((x_next - mean - shift).square() - (x_next - mean).square()).flatten(1).sum(1) / (2 * tau**2)
            score, log_twist_next, grad = _twist(estimator, measurement, x_next, sigma_next, self.inflation)
            log_w = log_w + (log_ratio + log_twist_next - log_twist).reshape(n, k)
            x, log_twist = x_next, log_twist_next
            if i < self.n_steps - 1:
                x, score, log_twist, grad, log_w = self._resample(x, score, log_twist, grad, log_w, generator)
            _report(callback, i, i + 2, sigma_next, x)
        x0 = x + sigmas[-1] ** 2 * score
        if measurement.noise > 0:
            log_w = log_w + (measurement.log_likelihood(x0) - log_twist).reshape(n, k)
        pick = torch.multinomial(torch.softmax(log_w.double(), dim=1), 1, generator=generator).squeeze(1)
        return x0.reshape(n, k, *x0.shape[1:])[torch.arange(n, device=x0.device), pick.to(x0.device)]

    def _resample(self, x, score, log_twist, grad, log_w, generator):
        """Multinomial resampling of the groups whose ESS ``1/Σ w̄²`` is below ``ess · K``."""
        n, k = log_w.shape
        w = torch.softmax(log_w.double(), dim=1)
        low = 1.0 / w.square().sum(dim=1) < self.ess * k
        if not bool(low.any()):
            return x, score, log_twist, grad, log_w
        drawn = torch.multinomial(w, k, replacement=True, generator=generator).to(log_w.device)
        keep = torch.arange(k, device=log_w.device).expand(n, k)
        idx = torch.where(low[:, None], drawn, keep)
        flat = (idx + k * torch.arange(n, device=idx.device)[:, None]).flatten()
        log_w = torch.where(low[:, None], torch.zeros_like(log_w), log_w)
        return x[flat], score[flat], log_twist[flat], grad[flat], log_w
