"""Guidance: how a condition tilts the score, bound into the plain ``(x, σ) → score`` callable
that every sampler takes (registered kind ``guidance``).

A guidance component has one method, ``bind(estimator, labels) -> callable(x, sigma)``:

- ``classifier-free`` (Ho & Salimans 2022): ``s_w = (1 − w) s(x, σ) + w s(x, σ | c)`` (the same as
  ``s_∅ + w (s_c − s_∅)``), ``w`` only inside a σ interval if one is given (Kynkäänniemi et al.
  2024; outside it ``w = 1``, the conditional score). A linear combination of outputs, so the
  masking family's logits are guided by the same code.
- ``classifier`` (Dhariwal & Nichol 2021): ``s_w = s(x, σ) + w ∇ₓ log p(c | x, σ)`` with a
  noise-conditional classifier ``(x, σ) → logits [B, C]``.
- ``autoguidance`` (Karras et al. 2024): ``s_w = (1 − w) s_guide + w s`` with a weaker model of
  the same condition (a smaller or less-trained one) as the guide.

At ``w = 0`` each gives the score it starts from and at ``w = 1`` the model's (conditional)
score: exactly for ``classifier-free`` and ``autoguidance``, through the classifier for
``classifier``. ``w > 1`` extrapolates. Shapes: ``x [B, *E]``, ``sigma [B]``, ``labels [B]``.
"""

from collections.abc import Callable

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.errors import ConfigError


def _combine(base: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``(1 − w) base + w target`` per sample (exact at ``w = 0`` and ``w = 1``); where the two
    agree (the ``±inf`` logits of visible tokens) the common value."""
    w = append_dims(weight, base.ndim).to(base.dtype)
    return torch.where(base == target, target, (1 - w) * base + w * target)


def _interval(value):
    if value is None:
        return None
    lo, hi = (float(b) for b in value)
    if not 0 <= lo < hi:
        raise ConfigError(f"interval must be (σ_lo, σ_hi) with 0 <= σ_lo < σ_hi, got {value!r}")
    return (lo, hi)


def _weights(weight: float, interval, sigma: torch.Tensor) -> torch.Tensor:
    """``w`` per sample: ``weight`` where ``σ`` lies in ``interval`` (everywhere without one), else 1."""
    full = torch.full_like(sigma, weight, dtype=torch.float64)
    if interval is None:
        return full
    inside = (sigma >= interval[0]) & (sigma <= interval[1])
    return torch.where(inside, full, torch.ones_like(full))


def _require_labels(guidance, labels) -> None:
    if labels is None:
        raise ConfigError(f"{type(guidance).__name__} guides towards a class: pass labels=...")


@attrs.frozen(kw_only=True)
class ClassifierFree:
    """``s_w = (1 − w) s(x, σ) + w s(x, σ | c)`` with one network giving both scores (its
    unconditional score is the null label's). ``interval = (σ_lo, σ_hi)`` guides only there."""

    weight: float = attrs.field(default=1.0, validator=v.real())
    interval: tuple[float, float] | None = attrs.field(default=None, converter=_interval)

    def bind(self, estimator, labels) -> Callable:
        _require_labels(self, labels)

        def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            cond = estimator(x, sigma, labels=labels)
            w = _weights(self.weight, self.interval, sigma)
            if bool((w == 1).all()):
                return cond
            return _combine(estimator(x, sigma), cond, w)

        return guided


@attrs.frozen(kw_only=True, eq=False)
class ClassifierGuidance:
    """``s_w = s(x, σ) + w ∇ₓ log softmax(classifier(x, σ))[c]``: the model's unconditional score
    tilted by a noise-conditional classifier ``classifier(x, σ) → logits [B, C]`` (a model with
    the ``classifier`` estimator trained by ``noisy-ce``, or ``MixtureScore.class_logits`` for the
    exact one)."""

    classifier: Callable = attrs.field(default=None)
    weight: float = attrs.field(default=1.0, validator=v.real())

    def __attrs_post_init__(self) -> None:
        if hasattr(self.classifier, "sampling_estimator"):  # a ScoreModel trained with noisy-ce
            object.__setattr__(self, "classifier", self.classifier.sampling_estimator("guide"))
        if not callable(self.classifier):
            raise ConfigError("classifier guidance needs classifier=a callable (x, sigma) -> logits [B, C]")

    @property
    def n_classes(self) -> int | None:
        """The classifier's number of classes, where it says (``n_classes``)."""
        owner = getattr(self.classifier, "__self__", self.classifier)  # a bound method: its object's
        return getattr(owner, "n_classes", None)

    def log_prob_grad(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``∇ₓ log p(c | x, σ)`` ``[B, *E]`` by autograd through the classifier."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            log_p = torch.log_softmax(self.classifier(x, sigma), dim=-1)
            picked = log_p.gather(1, labels.to(x.device)[:, None]).sum()
            (grad,) = torch.autograd.grad(picked, x)
        return grad

    def bind(self, estimator, labels) -> Callable:
        _require_labels(self, labels)

        def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            score = estimator(x, sigma)
            if self.weight == 0:
                return score
            return score + self.weight * self.log_prob_grad(x, sigma, labels).to(score.dtype)

        return guided


@attrs.frozen(kw_only=True, eq=False)
class Autoguidance:
    """``s_w = (1 − w) s_guide(x, σ) + w s(x, σ)``, given the labels when there are any: the
    model is pushed away from the errors of a weaker ``guide`` (an estimator callable or a
    :class:`~scoregen.model.ScoreModel`, e.g. a smaller network or an earlier checkpoint)."""

    guide: Callable = attrs.field(default=None)
    weight: float = attrs.field(default=1.0, validator=v.real())

    def __attrs_post_init__(self) -> None:
        guide = self.guide
        if hasattr(guide, "sampling_estimator"):  # a ScoreModel: its (EMA) estimator
            object.__setattr__(self, "guide", guide.sampling_estimator("guide"))
        if not callable(self.guide):
            raise ConfigError("autoguidance needs guide=a score estimator or a ScoreModel")

    def bind(self, estimator, labels) -> Callable:
        extra = {} if labels is None else {"labels": labels}

        def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            w = _weights(self.weight, None, sigma)
            return _combine(self.guide(x, sigma, **extra), estimator(x, sigma, **extra), w)

        return guided


def bind_labels(estimator, labels) -> Callable:
    """The conditional score ``(x, σ) → s(x, σ | c)`` with ``labels`` bound (no guidance)."""

    def conditional(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return estimator(x, sigma, labels=labels)

    return conditional
