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
from scoregen.registry import PluginFailure, Registry

ENTRY_POINT_GROUP = "scoregen"
BUILTIN = "scoregen"


def _skip(failures: list[PluginFailure] | None, plugin: str, what: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    if failures is not None:
        failures.append(PluginFailure(plugin, f"{what}: {reason}"))
    warnings.warn(f"scoregen plugin {plugin!r} {what} and is skipped: {reason}", PluginLoadWarning, stacklevel=3)


def make_plugin_manager(*, load_entrypoints: bool = True, failures: list[PluginFailure] | None = None) -> pluggy.PluginManager:
    """A plugin manager with the built-in components and, optionally, the installed plugins.

    Entry points of the group ``scoregen`` are loaded one by one: a plugin that fails to import
    is reported with a :class:`PluginLoadWarning` naming it (and appended to ``failures``), and
    the others still load.
    """
    from scoregen import builtins

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtins, name=BUILTIN)
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
                _skip(failures, label, f"({ep.value}) failed to load", exc)
    pm.check_pending()
    return pm


def registry_from(pm: pluggy.PluginManager, *, failures: list[PluginFailure] | None = None) -> Registry:
    """Call every plugin's ``scoregen_register``, in registration order (built-ins first), each
    with a view that records the plugin's name as the provider.

    A plugin whose hook raises is skipped with a :class:`PluginLoadWarning` naming it, and what
    it had added is removed; a name two plugins register is ambiguous (refused when used, see
    :class:`~scoregen.registry.Registry`), each warned about once. ``failures`` (e.g. those of
    :func:`make_plugin_manager`) start the registry's :attr:`~scoregen.registry.Registry.failures`.
    """
    registry = Registry()
    registry.failures.extend(failures or [])
    for impl in pm.hook.scoregen_register.get_hookimpls():
        if impl.plugin_name == BUILTIN:  # the library's own components: a failure is a bug, shown as one
            impl.function(registry=registry.scoped(BUILTIN))
            continue
        try:
            impl.function(registry=registry.scoped(impl.plugin_name))
        except Exception as exc:  # a broken plugin must not take the registry down
            registry.remove_provider(impl.plugin_name)
            _skip(registry.failures, impl.plugin_name, "raised in scoregen_register", exc)
    for (kind, name), providers in registry.ambiguous().items():
        warnings.warn(
            f"{kind} {name!r} is registered by {' and '.join(map(repr, providers))}; the name is refused "
            "until one is uninstalled (every other component works)",
            PluginLoadWarning,
            stacklevel=2,
        )
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use from :func:`make_plugin_manager`."""
    global _REGISTRY
    if _REGISTRY is None:
        failures: list[PluginFailure] = []
        _REGISTRY = registry_from(make_plugin_manager(failures=failures), failures=failures)
    return _REGISTRY
