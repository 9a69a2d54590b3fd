"""The component registry: kinds, names, factories and the plugins that provided them.

Pure data, importing no component: the plugin manager that fills it lives in
:mod:`scoregen.plugins` (built-ins first, then the entry-point group ``scoregen``).
"""

import difflib
import functools
import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import attrs

from scoregen.errors import DuplicateComponentError, UnknownComponentError

KINDS = (
    "kernel",
    "estimator",
    "objective",
    "sampler",
    "preset",
    # Extension points of the parts above (docs/architecture.md, "Kinds"):
    "schedule",  # Gaussian schedules x_t = m(t) x0 + s(t) z
    "grid",  # sigma grids (time discretisations) a sampler walks
    "predictor",  # one reverse step of the predictor-corrector family
    "sigma-distribution",  # where a Gaussian objective spends its noise levels
    "parameterisation",  # what a network predicts: score, eps, x0, v, velocity
    "preconditioning",  # how a score network's raw output becomes a score (none, ncsn, edm)
    "guidance",  # how a condition tilts the score (classifier-free, classifier, autoguidance)
    "posterior",  # posterior samplers for inverse problems y = A x + noise
    "dataset",  # data sources fit and the CLI read
)


@attrs.frozen
class Entry:
    """One registered component: its kind, name, factory and the plugin that provided it."""

    kind: str
    name: str
    factory: Callable
    provider: str


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded or whose ``scoregen_register`` raised: skipped."""

    plugin: str
    reason: str


class Registry:
    """Components by kind and name. Filled by plugins; read by :func:`scoregen.build`.

    A name that two plugins both register is *ambiguous*: it stays listed, and only using it
    (:meth:`get`) fails, naming both providers, so the other components still work. Plugins that
    failed to load are kept in :attr:`failures`.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._ambiguous: dict[tuple[str, str], list[str]] = {}
        self._made: dict[int, tuple[weakref.ref, str, str, dict]] = {}  # by id: components need not hash
        self.failures: list[PluginFailure] = []

    def add(self, kind: str, name: str, factory: Callable, *, provider: str = "<direct>") -> None:
        """Register ``factory`` as component ``name`` of ``kind``.

        Raises :class:`DuplicateComponentError` naming both providers if the name is taken
        (a plugin's registrations go through :meth:`add_from_plugin`, which marks it ambiguous).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
        if not callable(factory):
            raise TypeError(f"factory for {kind} {name!r} must be callable, got {factory!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {kind} name must be a non-empty string, got {name!r}")
        key = (kind, name)
        if key in self._entries:
            first = self._entries[key].provider
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered twice: by {first!r} and by {provider!r}"
            )
        self._entries[key] = Entry(kind, name, factory, provider)

    def add_from_plugin(self, kind: str, name: str, factory: Callable, *, provider: str) -> None:
        """:meth:`add` for a plugin: a name already taken becomes ambiguous instead of failing."""
        try:
            self.add(kind, name, factory, provider=provider)
        except DuplicateComponentError:
            providers = self._ambiguous.setdefault((kind, name), [self._entries[(kind, name)].provider])
            providers.append(provider)

    def ambiguous(self) -> dict[tuple[str, str], list[str]]:
        """Each ambiguous ``(kind, name)`` and the plugins that register it."""
        return {key: list(providers) for key, providers in self._ambiguous.items()}

    def remove_provider(self, provider: str) -> None:
        """Forget everything ``provider`` added (a plugin whose hook failed half-way)."""
        self._entries = {k: e for k, e in self._entries.items() if e.provider != provider}
        for key, providers in list(self._ambiguous.items()):
            providers[:] = [p for p in providers if p != provider]
            if len(providers) < 2:
                del self._ambiguous[key]

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``(kind, name)``; an unknown name lists the known ones and the closest,
        an ambiguous one names the plugins that both register it."""
        if not isinstance(name, str):
            raise UnknownComponentError(f"a {kind} is named by a string, got {name!r}")
        if (kind, name) in self._ambiguous:
            providers = " and ".join(repr(p) for p in self._ambiguous[(kind, name)])
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered by {providers}: it is ambiguous, so scoregen refuses to "
                "guess; uninstall one of them, or pass the component as an object"
            )
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

    def remember(self, kind: str, component, name: str, params: dict) -> None:
        """Record that ``component`` was made as ``name`` with ``params`` (by :func:`~scoregen.config.instantiate`),
        so :meth:`made_as` and :meth:`name_of` know it even when its factory is a function."""
        key = id(component)
        def forget(_: object) -> None:
            self._made.pop(key, None)

        try:
            ref = weakref.ref(component, forget)
        except TypeError:  # not weakly referenceable: the class is matched instead
            return
        self._made[key] = (ref, kind, name, dict(params))

    def made_as(self, kind: str, component) -> tuple[str, dict] | None:
        """``(name, params)`` that :meth:`remember` recorded for ``component``, if any."""
        made = self._made.get(id(component))
        if made is None or made[0]() is not component or made[1] != kind:
            return None
        return made[2], dict(made[3])

    def name_of(self, kind: str, component) -> str | None:
        """The registered name ``component`` was made as, else the one whose factory is its class."""
        made = self.made_as(kind, component)
        if made is not None:
            return made[0]
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
        self.registry.add_from_plugin(kind, name, factory, provider=self.provider)


def parameters_of(factory: Callable) -> Mapping[str, inspect.Parameter] | None:
    """The keyword parameters a factory accepts (read-only); ``None`` if it takes ``**kwargs`` (no
    checking). Read once per factory: every ``model.sample(sampler="euler")`` builds its sampler
    (and the sampler its grid) through here, and ``inspect.signature`` costs more than the rest."""
    try:
        return _parameters_of(factory)
    except TypeError:  # an unhashable callable object: read its signature each time
        return _parameters_of.__wrapped__(factory)


@functools.lru_cache(maxsize=1024)
def _parameters_of(factory: Callable) -> Mapping[str, inspect.Parameter] | None:
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return MappingProxyType({n: p for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)})
