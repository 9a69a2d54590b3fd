"""Configurations: which registered component fills each part of a model, with its parameters.

``ComponentSpec`` and ``ModelConfig`` are frozen attrs classes that round-trip through JSON.
``instantiate`` turns a spec into an object through the registry, checking parameter names first;
``describe`` turns a component object back into a spec.
"""

import difflib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from scoregen import _validators as v
from scoregen.errors import ConfigError
from scoregen.registry import Registry, parameters_of

PARTS = ("kernel", "estimator", "objective", "sampler")


def _to_spec(value) -> "ComponentSpec":
    if isinstance(value, ComponentSpec):
        return value
    if isinstance(value, str):
        return ComponentSpec(name=value)
    if isinstance(value, dict) and set(value) <= {"name", "params"}:
        return ComponentSpec(name=value.get("name"), params=value.get("params", {}))
    raise ConfigError(f"a component is given as a name or {{'name': ..., 'params': {{...}}}}, got {value!r}")


def _params(value) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"a component's params are a dict of parameter names to values, got {value!r}")
    return _jsonable(value)


def _name(instance, attribute, value) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"a component's name is a string, got {value!r}")


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@attrs.frozen(kw_only=True)
class ComponentSpec:
    """A registered component's ``name`` and the keyword ``params`` of its factory.

    ``name`` is ``None`` for a component that was passed as an unregistered object: such a
    config records its parameters but cannot rebuild it.
    """

    name: str | None = attrs.field(validator=_name)
    params: dict[str, Any] = attrs.field(factory=dict, converter=_params)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": self.params}


def _event_shape(value):
    return None if value is None else v.check_shape("event_shape", value)


def _preset(instance, attribute, value) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"preset is a name, got {value!r}")


@attrs.frozen(kw_only=True)
class ModelConfig:
    """A whole model: the four parts, the event shape (``None``: taken from the first data it is
    fitted on) and the seed of the estimator's initial weights."""

    kernel: ComponentSpec = attrs.field(converter=_to_spec)
    estimator: ComponentSpec = attrs.field(converter=_to_spec)
    objective: ComponentSpec = attrs.field(converter=_to_spec)
    sampler: ComponentSpec = attrs.field(converter=_to_spec)
    event_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_event_shape)
    seed: int = attrs.field(default=0, validator=v.seed)
    preset: str | None = attrs.field(default=None, validator=_preset)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {part: getattr(self, part).to_dict() for part in PARTS}
        out.update(event_shape=_jsonable(self.event_shape), seed=self.seed, preset=self.preset)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a model config is a dict, got {type(data).__name__}")
        known = {f.name for f in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model config field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


def check_parameters(kind: str, name: str, factory, params) -> Mapping | None:
    """The keyword parameters ``factory`` accepts (``None``: it takes ``**kwargs``); an unknown
    name in ``params`` is a :class:`ConfigError` naming the known ones and the closest match."""
    accepted = parameters_of(factory)
    if accepted is not None:
        for key in params:
            if not accepted:
                raise ConfigError(f"{kind} {name!r} takes no parameters, got {key!r}")
            if key not in accepted:
                close = difflib.get_close_matches(key, list(accepted), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{kind} {name!r} has no parameter {key!r}{hint}; its parameters: {', '.join(accepted)}")
    return accepted


def instantiate(kind: str, spec: ComponentSpec, registry: Registry, **context):
    """Build component ``spec`` of ``kind``: ``factory(**spec.params, **context)``.

    ``context`` (e.g. ``event_shape``) is passed only to factories that accept it and whose
    params do not already set it. Unknown parameter names fail before the factory runs, naming
    the known ones and the closest match; a factory's own validation errors become
    :class:`ConfigError` naming the component.
    """
    if spec.name is None:
        raise ConfigError(
            f"the {kind} was an unregistered object and cannot be rebuilt from its config; pass it again "
            f"as {kind}=..."
        )
    entry = registry.get(kind, spec.name)
    accepted = check_parameters(kind, spec.name, entry.factory, spec.params)
    kwargs = dict(spec.params)
    for key, value in context.items():
        if key not in kwargs and (accepted is None or key in accepted):
            kwargs[key] = value
    try:
        component = entry.factory(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{kind} {spec.name!r}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind} {spec.name!r} rejected its parameters {kwargs}: {exc}") from exc
    except (RuntimeError, MemoryError) as exc:  # torch's allocator: a network too large to build
        raise ConfigError(f"{kind} {spec.name!r} could not be built with {kwargs}: {exc}") from exc
    if type(component) is not entry.factory:  # a factory function: its name is not the class's
        registry.remember(kind, component, spec.name, spec.params)
    return component


def describe(kind: str, component, registry: Registry) -> ComponentSpec:
    """The spec of a component object: its registered name (``None`` if its class is not
    registered) and its parameters (the init fields of an attrs class, or a module's ``hparams``)."""
    made = registry.made_as(kind, component)
    if made is not None:  # built by a registered factory: its own name and parameters rebuild it
        return ComponentSpec(name=made[0], params=made[1])
    name = registry.name_of(kind, component)
    if attrs.has(type(component)):
        params = {f.name: getattr(component, f.name) for f in attrs.fields(type(component)) if f.init}
    else:
        params = dict(getattr(component, "hparams", {}))
    return ComponentSpec(name=name, params=params)


def resolve(kind: str, value, registry: Registry | None = None, *, needs: str = "__call__"):
    """A component of ``kind`` from a registered name (``"karras"``), a dict holding ``name`` and
    the factory's parameters (``{"name": "karras", "rho": 5}``), or an object with the method
    ``needs`` (returned as it is).

    The parts' own extension points (a sampler's ``grid``, a predictor, an objective's σ
    distribution, a network's parameterisation) are given this way, so a saved config keeps the
    name or the dict and a typo fails when the part is built.
    """
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        if isinstance(value, bool | int | float | list | tuple) or not callable(getattr(value, needs, None)):
            raise ConfigError(f"a {kind} is given as a registered name, a dict with 'name' or an object with {needs}(...), got {value!r}")
        return value
    if not isinstance(value.get("name"), str):
        raise ConfigError(f"a {kind} is given as a name or a dict with 'name', got {value!r}")
    if registry is None:
        from scoregen.plugins import get_registry

        registry = get_registry()
    params = {k: v for k, v in value.items() if k != "name"}
    return instantiate(kind, ComponentSpec(name=value["name"], params=params), registry)
