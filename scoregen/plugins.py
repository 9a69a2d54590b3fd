"""The plugin manager that fills the registry through the ``scoregen_register`` hook.

:func:`make_plugin_manager` makes the pluggy manager (built-ins first, then the entry-point group
``scoregen``); :func:`get_registry` builds the process-wide registry lazily, on first use, never
at import.
"""

import importlib.metadata
import warnings

import pluggy

from scoregen import hookspecs
from scoregen.errors import PluginLoadWarning
from scoregen.registry import Registry

ENTRY_POINT_GROUP = "scoregen"


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
