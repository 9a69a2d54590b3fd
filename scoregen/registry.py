"""The component registry: kinds, names, factories and the plugins that provided them.

Pure data, importing no component: the plugin manager that fills it lives in
:mod:`scoregen.plugins` (built-ins first, then the entry-point group ``scoregen``).
"""

import difflib
import inspect
from collections.abc import Callable, Iterator

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


def parameters_of(factory: Callable) -> dict[str, inspect.Parameter]:
    """The keyword parameters a factory accepts (empty if it takes ``**kwargs``: no checking)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {}
    return {n: p for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
