"""The component registry, filled by plugins through the ``scoregen_register`` hook.

:func:`make_plugin_manager` makes the pluggy manager (built-ins first, then the entry-point group
``scoregen``); :func:`get_registry` builds the process-wide registry lazily, on first use, never
at import.
"""

import difflib
import importlib.metadata
import inspect
import warnings
from collections.abc import Callable, Iterator

import attrs
import pluggy

from scoregen import hookspecs
from scoregen.errors import DuplicateComponentError, PluginLoadWarning, UnknownComponentError

KINDS = ("kernel", "estimator", "objective", "sampler", "preset")
ENTRY_POINT_GROUP = "scoregen"


@attrs.frozen
class Entry:
    """One registered component: its kind, name, factory and the plugin that provided it."""

    kind: str
    name: str
    factory: Callable
    provider: str


class Registry:
    """Components by kind and name. Filled by plugins; read by :func:`scoregen.build`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}

    def add(self, kind: str, name: str, factory: Callable, *, provider: str = "<direct>") -> None:
        """Register ``factory`` as component ``name`` of ``kind``.

        Raises :class:`DuplicateComponentError` naming both providers if the name is taken.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
        if not callable(factory):
            raise TypeError(f"factory for {kind} {name!r} must be callable, got {factory!r}")
        key = (kind, name)
        if key in self._entries:
            first = self._entries[key].provider
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered twice: by {first!r} and by {provider!r}"
            )
        self._entries[key] = Entry(kind, name, factory, provider)

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``(kind, name)``; an unknown name lists the known ones and the closest."""
        try:
            return self._entries[(kind, name)]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownComponentError(
                f"unknown {kind} {name!r}{hint} Known {kind}s: {', '.join(known) or '(none)'}"
            ) from None

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(name for (k, name) in self._entries if k == kind)

    def name_of(self, kind: str, component) -> str | None:
        """The registered name whose factory is the class of ``component``, if any."""
        for entry in self:
            if entry.kind == kind and entry.factory is type(component):
                return entry.name
        return None

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: (KINDS.index(e.kind), e.name)))

    def scoped(self, provider: str) -> "ScopedRegistry":
        """A view whose ``add`` records ``provider`` as the source of what it adds."""
        return ScopedRegistry(self, provider)


@attrs.frozen
class ScopedRegistry:
    """What a plugin's ``scoregen_register`` receives: ``add(kind, name, factory)``."""

    registry: Registry
    provider: str

    def add(self, kind: str, name: str, factory: Callable) -> None:
        self.registry.add(kind, name, factory, provider=self.provider)


def make_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in components and, optionally, the installed plugins.

    Entry points of the group ``scoregen`` are loaded one by one: a plugin that fails to import
    is reported with a :class:`PluginLoadWarning` naming it, and the others still load.
    """
    from scoregen import builtins

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtins, name="scoregen")
    if load_entrypoints:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "?"
            label = f"{dist}:{ep.name}"
            if pm.get_plugin(label) is not None or pm.is_blocked(label):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=label)
            except Exception as exc:  # a broken plugin must not take the others down
                warnings.warn(
                    f"scoregen plugin {label!r} ({ep.value}) failed to load and is skipped: "
                    f"{type(exc).__name__}: {exc}",
                    PluginLoadWarning,
                    stacklevel=2,
                )
    pm.check_pending()
    return pm


def registry_from(pm: pluggy.PluginManager) -> Registry:
    """Call every plugin's ``scoregen_register``, in registration order (built-ins first), each
    with a view that records the plugin's name as the provider."""
    registry = Registry()
    for impl in pm.hook.scoregen_register.get_hookimpls():
        impl.function(registry=registry.scoped(impl.plugin_name))
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use from :func:`make_plugin_manager`."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = registry_from(make_plugin_manager())
    return _REGISTRY


def parameters_of(factory: Callable) -> dict[str, inspect.Parameter]:
    """The keyword parameters a factory accepts (empty if it takes ``**kwargs``: no checking)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {}
    return {n: p for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
