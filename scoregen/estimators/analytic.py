"""Exact estimators: a Gaussian mixture's perturbed score and its flow velocity, and the
empirical-data score.

None has trainable parameters. ``MixtureScore`` (registered as ``gmm``) is the ground truth
for data drawn from a known mixture; ``MixtureVelocity`` is the same mixture's exact velocity on a
kernel's path (a ``velocity``-parameterised estimator); ``EmpiricalScore`` (``empirical``) is the
exact score of the noised *training set* — what a perfectly trained score network converges to,
and why it memorises.
"""

import math
from typing import Any

import attrs
import torch
from torch import nn

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.analytic import ClassConditionalMixture, GaussianMixture
from scoregen.errors import ConfigError, DataError


def _nested_floats(value) -> list:
    """A tensor or array-like as nested lists of floats (so a config holds plain JSON)."""
    return torch.as_tensor(value, dtype=torch.float64).tolist()


def _shape(value):
    return None if value is None else tuple(int(d) for d in value)


def _check_sigma(sigma: torch.Tensor, batch: int) -> None:
    if sigma.shape != (batch,):
        raise DataError(f"sigma must have shape [B={batch}], got {list(sigma.shape)}")


@attrs.frozen(kw_only=True, eq=False)
class MixtureScore:
    """``s(x, σ) = ∇ₓ log (p * N(0, σ² I))(x)`` for a :class:`~scoregen.analytic.GaussianMixture`
    ``p = Σ_k w_k N(μ_k, Σ_k)``: ``−Σ_k r_k(x; σ) (Σ_k + σ² I)⁻¹ (x − μ_k)``, each sample at its own σ.

    ``weights`` [K], ``means`` [K, D] and ``covariances`` ([K, D] diagonal or [K, D, D] full) are
    kept as nested lists, so a model's config holds them as JSON; :meth:`from_mixture` builds one
    from a mixture. ``event_shape`` (default ``(D,)``) lets the mixture live on ``[B, C, H, W]``
    data with ``C·H·W = D``: inputs are flattened, scored, and reshaped.

    With ``classes`` (``[K]`` class indices, one per component) it is the exact *conditional*
    estimator of a :class:`~scoregen.analytic.ClassConditionalMixture`: ``labels=`` (int64
    ``[B]``) gives ``∇ log p_σ(x | c)`` (the components of class ``c``, renormalised) and no labels
    the marginal score; :meth:`class_logits` is the exact noisy classifier ``log p(c | x_σ)``.

    Shapes: ``x [B, *event_shape]``, ``sigma [B]`` → ``[B, *event_shape]`` in ``x``'s dtype (the
    arithmetic runs in float64).
    """

    weights: list = attrs.field(converter=_nested_floats)
    means: list = attrs.field(converter=_nested_floats)
    covariances: list = attrs.field(converter=_nested_floats)
    event_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_shape)
    classes: list | None = attrs.field(default=None, converter=lambda c: None if c is None else [int(v) for v in c])
    mixture: GaussianMixture = attrs.field(init=False, repr=False)
    conditional: ClassConditionalMixture | None = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        mixture = GaussianMixture(self.weights, self.means, self.covariances)
        object.__setattr__(self, "mixture", mixture)
        conditional = None if self.classes is None else ClassConditionalMixture(mixture, self.classes)
        object.__setattr__(self, "conditional", conditional)
        if self.event_shape is None:
            object.__setattr__(self, "event_shape", (mixture.dim,))
        elif math.prod(self.event_shape) != mixture.dim:
            raise ConfigError(
                f"the mixture has D = {mixture.dim} dimensions, but event_shape {list(self.event_shape)} "
                f"holds {math.prod(self.event_shape)}"
            )

    @classmethod
    def from_mixture(cls, mixture, *, event_shape=None) -> "MixtureScore":
        """The exact perturbed score of ``mixture`` (a :class:`GaussianMixture`, or a
        :class:`~scoregen.analytic.ClassConditionalMixture` for a conditional estimator)."""
        classes = None
        if isinstance(mixture, ClassConditionalMixture):
            mixture, classes = mixture.mixture, mixture.classes.tolist()
        return cls(
            weights=mixture.weights, means=mixture.means, covariances=mixture.covariances, event_shape=event_shape,
            classes=classes,
        )

    @property
    def n_classes(self) -> int | None:
        """The number of classes of a conditional estimator, else ``None``."""
        return None if self.conditional is None else self.conditional.n_classes

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, *, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_sigma(sigma, x.shape[0])
        if labels is None:
            return self.mixture.score_at(x.flatten(1), sigma).reshape(x.shape)
        if self.conditional is None:
            raise ConfigError("this mixture has no classes: build it with classes=[...] to condition on labels")
        return self.conditional.score_at(x.flatten(1), sigma, labels).reshape(x.shape)

    def class_logits(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``log p(c | x_σ)`` ``[B, C]`` of a conditional mixture (the exact noise-conditional classifier)."""
        if self.conditional is None:
            raise ConfigError("this mixture has no classes: build it with classes=[...]")
        _check_sigma(sigma, x.shape[0])
        return self.conditional.class_posterior(x.flatten(1), sigma).log().to(x.dtype)


@attrs.frozen(kw_only=True, eq=False)
class MixtureVelocity:
    """The exact flow velocity ``u(x_t, t) = E[m' x₀ + s' z | x_t]`` of ``mixture`` on the path of
    ``kernel`` (:meth:`GaussianMixture.velocity_at <scoregen.analytic.GaussianMixture.velocity_at>`),
    as an estimator that predicts ``velocity``: called like a velocity network, with ``x_t = m x̂``
    and ``σ``, at ``t = kernel.time_of(σ)``. :func:`~scoregen.estimators.parameterisation.as_score`
    turns it into the exact score.

    Shapes: ``x_t [B, *event_shape]``, ``sigma [B]`` → ``[B, *event_shape]`` in ``x``'s dtype.
    """

    mixture: GaussianMixture
    kernel: Any
    event_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_shape)
    parameterisation = "velocity"

    def __attrs_post_init__(self) -> None:
        if self.event_shape is None:
            object.__setattr__(self, "event_shape", (self.mixture.dim,))

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        _check_sigma(sigma, x.shape[0])
        t = self.kernel.time_of(sigma.to(torch.float64))
        return self.mixture.velocity_at(x.flatten(1), t, self.kernel.schedule).reshape(x.shape)


class EmpiricalScore(nn.Module):
    """The exact score of the training set ``{x_i}_{i=1..N}`` noised at ``σ``: the mixture
    ``(1/N) Σ_i N(x_i, σ² I)`` has

        ``∇ₓ log p_σ(x) = Σ_i w_i(x) (x_i − x) / σ²``,  ``w_i(x) = softmax_i(−‖x − x_i‖² / 2σ²)``.

    The weighted mean ``Σ_i w_i x_i`` is accumulated over chunks of ``chunk_size`` data points with
    a streaming log-sum-exp (running maximum, rescaled sums), so memory is ``O(B · chunk_size)``
    whatever ``N``; the arithmetic runs in float64 on data centred at their mean. At small ``σ``
    the score pulls every point onto its nearest training point: sampling with it reproduces the
    training set (memorisation).

    The data come from ``data=`` or, inside a model, from the first :meth:`~scoregen.model.ScoreModel.fit`
    (through :meth:`with_data`). They are a buffer, so they are saved and loaded with the model.
    It has no trainable parameters.

    Shapes: ``x [B, *event_shape]``, ``sigma [B]`` → ``[B, *event_shape]`` in ``x``'s dtype.
    """

    def __init__(self, event_shape=None, *, data: torch.Tensor | None = None, chunk_size: int = 1024) -> None:
        super().__init__()
        chunk_size = v.check_int("chunk_size", chunk_size, minimum=1)
        if event_shape is not None:
            event_shape = v.check_shape("event_shape", event_shape)
        if data is not None:
            data = torch.as_tensor(data).detach()
            if data.ndim < 2 or data.shape[0] == 0:
                raise DataError(f"data must have shape [N, *event_shape] with N >= 1, got {list(data.shape)}")
            if event_shape is not None and tuple(data.shape[1:]) != tuple(event_shape):
                raise DataError(f"data have event shape {list(data.shape[1:])}, expected {list(event_shape)}")
            event_shape = tuple(data.shape[1:])
        self.event_shape = _shape(event_shape)
        self.chunk_size = int(chunk_size)
        self.hparams = {"event_shape": None if event_shape is None else list(self.event_shape), "chunk_size": self.chunk_size}
        shape = (0, *(self.event_shape or ()))
        if data is not None and not data.is_floating_point():
            data = data.to(torch.get_default_dtype())
        self.register_buffer("data", torch.empty(shape) if data is None else data)

    @property
    def has_data(self) -> bool:
        """Whether the training set has been given."""
        return self.data.shape[0] > 0

    def with_data(self, x: torch.Tensor) -> "EmpiricalScore":
        """This estimator holding the training set ``x [N, *E]``; itself if it already holds one
        (like ``sigma_max="auto"``, it is resolved from the first data it sees)."""
        if self.has_data:
            return self
        return EmpiricalScore(data=x, chunk_size=self.chunk_size)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The training set's size is known only from the saved tensor: make room for it first.
        saved = state_dict.get(prefix + "data")
        if saved is not None:
            self.data = torch.empty_like(saved)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if not self.has_data:
            raise ConfigError(
                "the empirical score has no training set yet: fit the model on the data (model.fit(x) "
                "stores it, without training) or pass EmpiricalScore(data=x)"
            )
        _check_sigma(sigma, x.shape[0])
        flat_data = self.data.flatten(1).to(torch.float64)
        if x[0].numel() != flat_data.shape[1]:
            raise DataError(f"x has event shape {list(x.shape[1:])}, the data have {list(self.data.shape[1:])}")
        centre = flat_data.mean(dim=0)
        query = x.flatten(1).to(torch.float64) - centre  # [B, D]
        var2 = 2.0 * sigma.to(torch.float64).square()[:, None]  # 2σ², [B, 1]
        q_sq = query.square().sum(dim=1, keepdim=True)
        run_max = torch.full((x.shape[0], 1), -math.inf, dtype=torch.float64, device=x.device)
        run_sum = torch.zeros_like(run_max)  # Σ_i exp(l_i − max)
        run_mean = torch.zeros_like(query)  # Σ_i exp(l_i − max) x_i
        for start in range(0, flat_data.shape[0], self.chunk_size):
            chunk = flat_data[start : start + self.chunk_size] - centre  # [c, D]
            sq = (q_sq - 2.0 * query @ chunk.T + chunk.square().sum(dim=1)).clamp_min(0.0)
            logits = -sq / var2  # [B, c]: −‖x − x_i‖² / 2σ²
            new_max = torch.maximum(run_max, logits.amax(dim=1, keepdim=True))
            rescale = (run_max - new_max).exp()
            weights = (logits - new_max).exp()
            run_sum = run_sum * rescale + weights.sum(dim=1, keepdim=True)
            run_mean = run_mean * rescale + weights @ chunk
            run_max = new_max
        posterior_mean = run_mean / run_sum  # Σ_i w_i x_i (centred)
        score = (posterior_mean - query) / append_dims(sigma.to(torch.float64), 2).square()
        return score.reshape(x.shape).to(x.dtype)
