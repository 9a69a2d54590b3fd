"""The one set of parameter validators every component uses (attrs ``validator=`` callables).

Each raises :class:`~scoregen.errors.ConfigError` naming the parameter and the value. Numbers are
checked for type first (a step count is an ``int``, never ``2.5`` or ``True``), then for
finiteness, then for range, so a bad value fails when the component is built, not deep inside a
sampler.
"""

import difflib
import math
import numbers
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scoregen.errors import ConfigError

Validator = Callable[[Any, Any, Any], None]  # Any, not object: attrs infers the field type from it


def _name(attribute) -> str:
    name = getattr(attribute, "name", None)  # not getattr's default: str() of an attrs field costs more than the check
    return str(attribute) if name is None else name


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (``bool`` and non-integral numbers refused), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value,
    *,
    positive: bool = False,
    non_negative: bool = False,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> float:
    """``value`` as a finite ``float`` (``bool`` and strings refused) within the given range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    if non_negative and not value >= 0:
        raise ConfigError(f"{name} must be non-negative, got {value!r}")
    if at_least is not None and not value >= at_least:
        raise ConfigError(f"{name} must be at least {at_least}, got {value!r}")
    if below is not None and not value < below:
        raise ConfigError(f"{name} must be below {below}, got {value!r}")
    if at_most is not None and not value <= at_most:
        raise ConfigError(f"{name} must be at most {at_most}, got {value!r}")
    return value


MAX_SEED = 2**62
"""Seeds are integers in ``[0, MAX_SEED]`` (room for the per-shard offsets a trainer adds)."""


def check_seed(name: str, value) -> int:
    """``value`` as a seed: an ``int`` in ``[0, MAX_SEED]``."""
    value = check_int(name, value, minimum=0)
    if value > MAX_SEED:
        raise ConfigError(f"{name} must be at most 2**62, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` a real ``bool`` (``0``, ``"yes"`` refused)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def check_counts(name: str, value, *, minimum: int = 1, min_length: int = 1) -> tuple[int, ...]:
    """``value`` a list or tuple of at least ``min_length`` integers, each at least ``minimum``
    (a string such as ``"16"`` is refused, not read as the widths ``[1, 6]``)."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of integers, got {value!r}")
    if len(value) < min_length:
        raise ConfigError(f"{name} must hold at least {min_length} integer(s), got {value!r}")
    return tuple(check_int(f"{name}[{i}]", d, minimum=minimum) for i, d in enumerate(value))


def check_shape(name: str, value) -> tuple[int, ...]:
    """``value`` an event shape: a non-empty list or tuple of positive integers."""
    return check_counts(name, value)


def check_path(name: str, value) -> Path:
    """``value`` as a file-system path: a non-empty ``str`` or ``os.PathLike`` without NUL bytes."""
    if not isinstance(value, str | os.PathLike) or isinstance(value, bytes):
        raise ConfigError(f"{name} must be a path (a string or a pathlib.Path), got {value!r}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ConfigError(f"{name} must be a non-empty path without NUL characters, got {value!r}")
    return Path(text)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` one of ``choices``; otherwise the error lists them and the closest match."""
    choices = list(choices)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
    return value


def integer(minimum: int | None = None) -> Validator:
    """attrs validator: an ``int`` of at least ``minimum``."""

    def validate(instance, attribute, value) -> None:
        check_int(_name(attribute), value, minimum=minimum)

    return validate


def real(
    *,
    positive: bool = False,
    non_negative: bool = False,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> Validator:
    """attrs validator: a finite number in the given range."""

    def validate(instance, attribute, value) -> None:
        check_real(
            _name(attribute), value, positive=positive, non_negative=non_negative, at_least=at_least, below=below, at_most=at_most
        )

    return validate


def optional(validator: Validator) -> Validator:
    """attrs validator: ``None`` or what ``validator`` accepts."""

    def validate(instance, attribute, value) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return validate


def or_auto(validator: Validator) -> Validator:
    """attrs validator: the string ``"auto"`` or what ``validator`` accepts."""

    def validate(instance, attribute, value) -> None:
        if value != "auto":
            if isinstance(value, str):
                raise ConfigError(f"{_name(attribute)} must be a number or 'auto', got {value!r}")
            validator(instance, attribute, value)

    return validate


def choice(*choices: str) -> Validator:
    """attrs validator: one of ``choices``."""

    def validate(instance, attribute, value) -> None:
        check_choice(_name(attribute), value, choices)

    return validate


def boolean(instance, attribute, value) -> None:
    """attrs validator: a real ``bool`` (``0``, ``"yes"`` refused)."""
    check_bool(_name(attribute), value)


def seed(instance, attribute, value) -> None:
    """attrs validator: a seed (:func:`check_seed`)."""
    check_seed(_name(attribute), value)


def counts(minimum: int = 1, min_length: int = 1) -> Validator:
    """attrs validator: a list of integers of at least ``minimum`` (:func:`check_counts`)."""

    def validate(instance, attribute, value) -> None:
        check_counts(_name(attribute), value, minimum=minimum, min_length=min_length)

    return validate


SIGMA_LIMITS = (1e-12, 1e12)
"""The noise levels a Gaussian component may use: ``σ^p`` (``|p| ≤ 8``) and ``1/σ²`` stay finite in float32."""

positive = real(positive=True)
noise_level = real(at_least=SIGMA_LIMITS[0], at_most=SIGMA_LIMITS[1])
non_negative = real(non_negative=True)
count = integer(minimum=1)
non_negative_count = integer(minimum=0)
probability = real(non_negative=True, at_most=1.0)


def registered(kind: str) -> Validator:
    """attrs validator: a registered component of ``kind`` by name or as a dict with ``name``
    (:func:`scoregen.config.resolve`), or an object; an unknown name lists the known ones."""

    def validate(instance, attribute, value) -> None:
        from scoregen.config import resolve
        from scoregen.errors import UnknownComponentError

        if not isinstance(value, str | dict) and not callable(value):
            raise ConfigError(f"{_name(attribute)} must be a {kind} name, a dict with 'name' or a {kind} object, got {value!r}")
        try:
            resolve(kind, value)
        except UnknownComponentError as exc:
            raise ConfigError(f"{_name(attribute)}: {exc}") from None

    return validate
