"""What a network predicts, and the conversions between the predictions, in one place.

In ladder coordinates ``x̂ = x₀ + σ ε`` (:mod:`scoregen.kernels.gaussian`) the score, the noise
and the denoised point determine each other:

    s = ∇ log p_σ(x̂) = −ε̂/σ = (x̂₀ − x̂)/σ²        (Tweedie: x̂₀ = E[x₀ | x̂] = x̂ + σ² s).

With the kernel's schedule ``x_t = m x₀ + s_t ε = m x̂`` (``σ = s_t/m``) two more predictions are
affine in ``(x₀, ε)`` and so convert too, given ``(m, s_t, m', s_t')`` at ``t(σ)``:

- ``v = m ε − s_t x₀`` (Salimans & Ho 2022): ``ε = (m v + s_t x_t)/(m² + s_t²)``;
- the flow velocity ``u = dx_t/dt = m' x₀ + s_t' ε`` (Lipman et al. 2023; ``u = z − x₀`` on the
  linear interpolant): ``u = m' x̂ + m σ'(t) ε`` since ``s_t' − m' σ = m σ'``, so
  ``ε = (u − m' x̂)/(m σ')``.

Each is a registered ``parameterisation`` (``score``, ``eps``, ``x0``, ``v``, ``velocity``): an
object that says what the network is fed (:meth:`~Parameterisation.network_input`), turns its
output into the score (:meth:`~Parameterisation.to_score`) and back
(:meth:`~Parameterisation.from_score`), and gives the training target from ``(x₀, ε)``
(:meth:`~Parameterisation.target`). Because every conversion is affine in the prediction, the
conditional expectation of any target converts to the exact score: a network trained on any of
them estimates the same thing.

What a network is fed: ``score``, ``eps`` and ``x0`` networks get the ladder point ``x̂`` (the
library's convention, DSM trains unchanged); ``v`` and ``velocity`` networks get ``x_t = m x̂``,
in whose coordinates they are defined, and which stays bounded where ``m → 0`` (at the end of the
flow path ``x̂ = x_t/(1 − t)`` has std ``σ = t/(1 − t)``, about 10³ at ``t = 0.999``, while
``x_t`` has std about 1; docs/architecture.md).

Samplers and the likelihood see only a score callable: :func:`as_score` binds a network that
declares a ``parameterisation`` (an attribute holding a registered name) and the kernel into the
plain ``(x̂, σ) → score``. Samplers use :func:`denoised` where an algorithm is written in terms of
the denoiser ``D(x̂; σ)`` (EDM, DPM-Solver++, UniPC, DDIM).

Shapes: ``x [B, *E]``, ``sigma [B]`` (broadcast with :func:`~scoregen._tensor.append_dims`).
"""

from collections.abc import Callable

import attrs
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


@attrs.frozen(eq=False)
class Coefficients:
    """The schedule at each sample's time ``t(σ)``: ``sigma``, ``m``, ``s`` (``= σ m``, so that
    ``s/m`` is the σ given), ``dm = m'`` and ``ds = s'``, each ``[B]`` in the dtype of the data.
    :meth:`b` broadcasts one over ``[B, *E]``."""

    sigma: torch.Tensor
    m: torch.Tensor
    s: torch.Tensor
    dm: torch.Tensor
    ds: torch.Tensor

    def b(self, value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``value [B]`` broadcast over ``x [B, *E]``."""
        return append_dims(value, x.ndim)


def coefficients(kernel, sigma: torch.Tensor, like: torch.Tensor) -> Coefficients:
    """:class:`Coefficients` of ``kernel``'s schedule at ``t(σ)`` for ``sigma [B]``, in ``like``'s
    dtype and device. ``s`` is taken as ``σ m`` rather than ``s(t(σ))`` so that a σ outside the
    kernel's range (clamped by ``t(σ)``) still gives ``s/m = σ`` exactly."""
    sig64 = sigma.detach().to(torch.float64)
    t = kernel.time_of(sig64)
    m, _ = kernel.marginal(t)
    dm, ds = kernel.schedule.marginal_derivative(t)

    def cast(v: torch.Tensor) -> torch.Tensor:
        return v.to(device=like.device, dtype=like.dtype)

    return Coefficients(sigma=sigma.to(like.dtype), m=cast(m), s=cast(sig64 * m), dm=cast(dm), ds=cast(ds))


class Parameterisation:
    """What a network predicts. Subclasses define the four conversions below for
    ``x [B, *E]`` (ladder coordinates) and :class:`Coefficients` ``c``."""

    name: str

    def network_input(self, x: torch.Tensor, c: Coefficients) -> torch.Tensor:
        """The point the network is fed: the ladder point ``x̂`` (overridden where another suits)."""
        return x

    def to_score(self, out: torch.Tensor, x: torch.Tensor, c: Coefficients) -> torch.Tensor:
        """The score ``∇ log p_σ(x̂)`` from the network's output ``out [B, *E]``."""
        raise NotImplementedError

    def from_score(self, score: torch.Tensor, x: torch.Tensor, c: Coefficients) -> torch.Tensor:
        """The prediction that :meth:`to_score` maps to ``score`` (its inverse)."""
        raise NotImplementedError

    def target(self, x0: torch.Tensor, noise: torch.Tensor, c: Coefficients) -> torch.Tensor:
        """The training target at ``x̂ = x₀ + σ ε`` (``noise = ε``); its conditional mean given
        ``x̂`` is ``from_score`` of the exact score."""
        raise NotImplementedError


@attrs.frozen
class Score(Parameterisation):
    """The network predicts the score ``s`` itself; target ``−ε/σ``."""

    name = "score"

    def to_score(self, out, x, c):
        return out

    def from_score(self, score, x, c):
        return score

    def target(self, x0, noise, c):
        return eps_to_score(noise, c.sigma)


@attrs.frozen
class Eps(Parameterisation):
    """The network predicts the noise ``ε`` (DDPM): ``s = −ε̂/σ``; target ``ε``."""

    name = "eps"

    def to_score(self, out, x, c):
        return eps_to_score(out, c.sigma)

    def from_score(self, score, x, c):
        return score_to_eps(score, c.sigma)

    def target(self, x0, noise, c):
        return noise


@attrs.frozen
class X0(Parameterisation):
    """The network predicts the clean point ``x₀`` (a denoiser): ``s = (x̂₀ − x̂)/σ²``; target ``x₀``."""

    name = "x0"

    def to_score(self, out, x, c):
        return x0_to_score(out, x, c.sigma)

    def from_score(self, score, x, c):
        return score_to_x0(score, x, c.sigma)

    def target(self, x0, noise, c):
        return x0


@attrs.frozen
class V(Parameterisation):
    """The network predicts ``v = m ε − s x₀`` (Salimans & Ho 2022) from ``x_t = m x̂``:
    ``ε̂ = (m v + s x_t)/(m² + s²)``, ``s = −ε̂/σ``."""

    name = "v"

    def network_input(self, x, c):
        return c.b(c.m, x) * x

    def to_score(self, out, x, c):
        m, s = c.b(c.m, x), c.b(c.s, x)
        eps = (m * out + s * m * x) / (m**2 + s**2)
        return eps_to_score(eps, c.sigma)

    def from_score(self, score, x, c):
        m, s = c.b(c.m, x), c.b(c.s, x)
        return m * score_to_eps(score, c.sigma) - s * score_to_x0(score, x, c.sigma)

    def target(self, x0, noise, c):
        return c.b(c.m, x0) * noise - c.b(c.s, x0) * x0


@attrs.frozen
class Velocity(Parameterisation):
    """The network predicts the flow velocity ``u = dx_t/dt = m' x₀ + s' ε`` from ``x_t = m x̂``:
    ``ε̂ = (u − m' x̂)/(s' − m' σ)`` (``s' − m' σ = m σ'(t) > 0``), ``s = −ε̂/σ``. On the linear
    interpolant ``u = z − x₀``."""

    name = "velocity"

    def network_input(self, x, c):
        return c.b(c.m, x) * x

    def to_score(self, out, x, c):
        dm, ds, sigma = c.b(c.dm, x), c.b(c.ds, x), c.b(c.sigma, x)
        return eps_to_score((out - dm * x) / (ds - dm * sigma), c.sigma)

    def from_score(self, score, x, c):
        return c.b(c.dm, x) * score_to_x0(score, x, c.sigma) + c.b(c.ds, x) * score_to_eps(score, c.sigma)

    def target(self, x0, noise, c):
        return c.b(c.dm, x0) * x0 + c.b(c.ds, x0) * noise


PARAMETERISATIONS = {p.name: p for p in (Score, Eps, X0, V, Velocity)}


_BY_NAME: dict[str, Parameterisation] = {}


def resolve(value) -> Parameterisation:
    """A :class:`Parameterisation` from a registered name or an object with ``to_score`` (returned
    as it is), through :func:`scoregen.config.resolve`. A name is looked up once: every
    estimator call asks, and parameterisations hold no state."""
    from scoregen.config import resolve as resolve_component

    if isinstance(value, str):
        if value not in _BY_NAME:
            _BY_NAME[value] = resolve_component("parameterisation", value, needs="to_score")
        return _BY_NAME[value]
    return resolve_component("parameterisation", value, needs="to_score")


def check_parameterisation(name: str, value) -> str:
    """``value`` a registered parameterisation name (:class:`ConfigError` listing them otherwise)."""
    from scoregen import _validators as v
    from scoregen.plugins import get_registry

    return v.check_choice(name, value, get_registry().names("parameterisation"))


def parameterisation_of(estimator) -> Parameterisation:
    """What ``estimator`` predicts: its ``parameterisation`` attribute (looked for on the module a
    ``DistributedDataParallel`` wraps, too), ``score`` when it declares none."""
    declared = getattr(estimator, "parameterisation", None)
    if declared is None and isinstance(estimator, torch.nn.parallel.DistributedDataParallel):
        declared = getattr(estimator.module, "parameterisation", None)
    return Score() if declared is None else resolve(declared)


@attrs.frozen(eq=False)
class Predictor:
    """``(x̂ [B, *E], σ [B], **kwargs) -> prediction`` in parameterisation ``target`` from a
    network that predicts in ``source``, on ``kernel``'s schedule: the network is fed
    ``source.network_input`` and its output converted through the score unless the two agree.
    Keyword arguments (``labels=``) go to the network."""

    network: Callable
    kernel: object
    source: Parameterisation
    target: Parameterisation

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
        c = coefficients(self.kernel, sigma, x)
        out = self.network(self.source.network_input(x, c), sigma, **kwargs)
        if type(self.source) is type(self.target):
            return out
        return self.target.from_score(self.source.to_score(out, x, c), x, c)


def as_prediction(estimator, kernel, target: Parameterisation | str) -> Callable:
    """``estimator`` seen as predicting ``target`` on ``kernel`` (itself when it already predicts
    ``target`` from the ladder point, as a score network does for ``target="score"``)."""
    source, target = parameterisation_of(estimator), resolve(target)
    if type(source) is type(target) and isinstance(source, Score | Eps | X0):
        return estimator
    return Predictor(estimator, kernel, source, target)


def as_score(estimator, kernel) -> Callable:
    """The plain score callable ``(x̂, σ) -> ∇ log p_σ(x̂)`` that samplers, objectives and the
    likelihood use, from any estimator on ``kernel`` (a score estimator is returned as it is)."""
    return as_prediction(estimator, kernel, Score())
