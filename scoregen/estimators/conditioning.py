"""Conditioning a network on a class label, with a learned null token for the unconditional score.

A conditioned network takes ``labels`` (int64 ``[B]``, classes ``0 … C−1``) beside ``(x, σ)``;
the label enters through a learned embedding (``C + 1`` rows, the last the *null* token), so
``labels=None`` — or the entry :data:`NULL_LABEL` for one sample — gives the unconditional score
``s(x, σ | ∅)``. Training replaces each label by the null token with probability ``drop``
(:func:`drop_labels`, drawn from the trainer's generator), so one network learns both scores, as
classifier-free guidance needs (Ho & Salimans 2022).

``conditioning={"classes": C, "drop": p}`` is a parameter of the networks (``mlp``, ``unet``,
``masked-mlp``); ``build(..., conditioning=...)`` sets it, and it is saved in ``config.json``.
"""

import attrs
import torch
from torch import nn

from scoregen import _validators as v
from scoregen._tensor import draw_device
from scoregen.errors import ConfigError, DataError

NULL_LABEL = -1


@attrs.frozen(kw_only=True)
class Conditioning:
    """``classes = C`` labels, dropped to the null token with probability ``drop`` in training;
    ``width`` is the embedding's size (``None``: the network chooses)."""

    classes: int = attrs.field(validator=v.count)
    drop: float = attrs.field(default=0.1, validator=v.probability)
    width: int | None = attrs.field(default=None, validator=v.optional(v.count))

    @classmethod
    def of(cls, value) -> "Conditioning | None":
        """``None``, a :class:`Conditioning` or its dict of parameters, as a :class:`Conditioning`."""
        if value is None or isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"conditioning must be a dict like {{'classes': 10, 'drop': 0.1}}, got {value!r}")
        unknown = set(value) - {"classes", "drop", "width"}
        if unknown:
            raise ConfigError(f"unknown conditioning parameter(s) {sorted(unknown)}; known: classes, drop, width")
        if "classes" not in value:
            raise ConfigError("conditioning needs 'classes', the number of labels")
        return cls(**value)

    def to_dict(self) -> dict:
        return attrs.asdict(self)


class LabelEmbedding(nn.Module):
    """``labels [B] → [B, width]``: a learned row per class and one for the null token
    (``labels=None`` or :data:`NULL_LABEL`)."""

    def __init__(self, classes: int, width: int) -> None:
        super().__init__()
        self.classes = classes
        self.table = nn.Embedding(classes + 1, width)

    def forward(self, labels: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        if labels is None:
            index = torch.full((batch,), self.classes, dtype=torch.int64, device=device)
        else:
            labels = labels.to(device)
            index = torch.where(labels == NULL_LABEL, torch.full_like(labels, self.classes), labels)
        return self.table(index)


def embedding(conditioning: Conditioning | None, width: int) -> LabelEmbedding | None:
    """The embedding a network with ``conditioning`` needs (its ``width`` if set, else ``width``)."""
    if conditioning is None:
        return None
    return LabelEmbedding(conditioning.classes, conditioning.width or width)


def refuse_labels(estimator, labels) -> None:
    """:class:`ConfigError` if an unconditioned network is given labels."""
    if labels is not None:
        raise ConfigError(
            f"{type(estimator).__name__} was built without conditioning: build the model with "
            "conditioning={'classes': C} to pass labels"
        )


def check_labels(labels, n: int, classes: int | None) -> torch.Tensor:
    """User labels as int64 ``[n]``: an int (broadcast) or an integer tensor/array ``[n]`` with
    values in ``0 … classes−1``. :class:`DataError` on a float or bool dtype, a wrong shape or an
    out-of-range value; :class:`ConfigError` if the estimator takes no labels (``classes=None``)."""
    if classes is None:
        raise ConfigError("the estimator is not conditional: build the model with conditioning={'classes': C}")
    try:
        t = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise DataError(f"labels must be an int or an integer tensor [N], got {type(labels).__name__}") from None
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise DataError(f"labels must be integers (int64), got dtype {t.dtype}")
    t = t.to(torch.int64)
    if t.ndim == 0:
        t = t.expand(n).clone()
    if t.shape != (n,):
        raise DataError(f"labels must be an int or have shape [N={n}], got {list(t.shape)}")
    bad = (t < 0) | (t >= classes)
    if bool(bad.any()):
        raise DataError(f"labels must lie in 0 … {classes - 1}; got {sorted(set(t[bad].tolist()))[:5]}")
    return t


def drop_labels(labels: torch.Tensor, drop: float, generator: torch.Generator | None) -> torch.Tensor:
    """``labels [B]`` with each entry replaced by :data:`NULL_LABEL` with probability ``drop``
    (one uniform draw per entry from ``generator``; none when ``drop = 0``)."""
    if drop == 0:
        return labels
    u = torch.rand(labels.shape, generator=generator, dtype=torch.float64, device=draw_device(generator)).to(labels.device)
    return torch.where(u < drop, torch.full_like(labels, NULL_LABEL), labels)


def classes_of(estimator) -> int | None:
    """The number of classes an estimator is conditioned on (``n_classes``), ``None`` if none."""
    return getattr(estimator, "n_classes", None)
