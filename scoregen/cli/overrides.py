"""``--set part.param=value``: command-line values typed from the component's own parameters.

``part`` is ``kernel``, ``estimator``, ``objective``, ``sampler`` or ``data``; ``--set part=name``
swaps the part for another registered component (its parameters then apply to that one). A value
is typed from the annotation of the factory's parameter (an attrs field or an ``__init__``
argument), else from its default: ``int``, ``float``, ``bool`` (``true``/``false``), ``str``,
``Literal`` choices, ``None`` (``none``), tuples and lists (``32,64`` or ``[32, 64]``), dicts
(JSON). Unknown parts and parameters are errors with the known names and the closest match, as in
:func:`scoregen.build`.
"""

import difflib
import inspect
import json
import types
import typing

from scoregen.config import PARTS, check_parameters
from scoregen.errors import ConfigError
from scoregen.registry import Registry

SET_PARTS = (*PARTS, "data")


def parse_sets(items: list[str]) -> dict[str, dict]:
    """``["estimator.channels=64", "sampler=pc"]`` → ``{"estimator": {"channels": "64"},
    "sampler": {"name": "pc"}}`` (values still strings)."""
    sets: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        part, dot, param = key.strip().partition(".")
        if not sep or not part or (dot and not param):
            raise ConfigError(f"--set takes part.param=value or part=name, got {item!r}")
        if part not in SET_PARTS:
            close = difflib.get_close_matches(part, SET_PARTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"--set {item}: no part {part!r}{hint}; the parts are {', '.join(SET_PARTS)}")
        sets.setdefault(part, {})[param if dot else "name"] = value
    return sets


def _parameter_types(factory) -> dict[str, tuple[object, object]]:
    """``name → (annotation, default)`` of the factory's parameters (``inspect.Parameter.empty``
    where there is none)."""
    try:
        signature = inspect.signature(factory, eval_str=True)
    except (NameError, TypeError, ValueError):
        signature = inspect.signature(factory)
    return {name: (p.annotation, p.default) for name, p in signature.parameters.items()}


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def coerce(raw: str, annotation, default, *, where: str):
    """``raw`` as a value of ``annotation`` (or of ``default``'s type when there is none)."""
    empty = inspect.Parameter.empty
    if annotation is empty or annotation is typing.Any:
        if default is empty or default is None:
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return raw
        annotation = type(default)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and raw.lower() in ("none", "null"):
            return None
        errors = []
        for arm in (a for a in args if a is not type(None)):
            try:
                return coerce(raw, arm, empty, where=where)
            except ConfigError:
                errors.append(_type_name(arm))
        raise ConfigError(f"{where}: expected {' or '.join(errors)}, got {raw!r}")
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == raw:
                return choice
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, args))}, got {raw!r}")
    if annotation is bool:
        if raw.lower() in ("true", "yes", "1"):
            return True
        if raw.lower() in ("false", "no", "0"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if annotation in (int, float):
        try:
            return annotation(raw)
        except ValueError:
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {raw!r}") from None
    if annotation is str:
        return raw
    if annotation in (tuple, list) or origin in (tuple, list):
        text = raw.strip()
        try:
            items = json.loads(text) if text.startswith("[") else [s for s in text.split(",") if s.strip()]
        except json.JSONDecodeError:
            raise ConfigError(f"{where}: expected a list like 32,64 or [32, 64], got {raw!r}") from None
        element = args[0] if args else (type(default[0]) if isinstance(default, tuple | list) and default else empty)
        values = [coerce(str(v), element, empty, where=where) for v in items]
        return tuple(values) if (annotation is tuple or origin is tuple) else values
    if annotation is dict or origin is dict:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {raw!r}")
        return value
    return raw


def typed_params(kind: str, name: str, factory, raw: dict[str, str]) -> dict:
    """``raw`` string values typed for ``factory``'s parameters (unknown names refused)."""
    check_parameters(kind, name, factory, raw)
    types_ = _parameter_types(factory)
    empty = (inspect.Parameter.empty, inspect.Parameter.empty)
    return {
        param: coerce(value, *types_.get(param, empty), where=f"--set {kind if kind != 'dataset' else 'data'}.{param}={value}")
        for param, value in raw.items()
    }


def model_overrides(config, sets: dict[str, dict], registry: Registry) -> dict:
    """``build`` overrides for the parts in ``sets``, typed against the preset ``config``'s
    components (or the component a ``part=name`` swaps in)."""
    overrides = {}
    for part in PARTS:
        if part not in sets:
            continue
        params = dict(sets[part])
        name = params.pop("name", None) or getattr(config, part).name
        entry = registry.get(part, name)
        typed = typed_params(part, name, entry.factory, params)
        overrides[part] = {"name": name, **typed} if "name" in sets[part] else typed
    return overrides
