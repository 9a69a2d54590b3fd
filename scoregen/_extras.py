"""Optional dependencies: one check, made before the work that needs them.

``require("plot")`` raises :class:`~scoregen.errors.MissingExtraError` naming the extra
(``pip install scoregen[plot]``) unless every module it brings can be imported — so a demo refuses
at once instead of after minutes of training. The modules themselves are still imported inside
the functions that use them.
"""

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "plot": ("matplotlib",),
    "digits": ("sklearn",),
}
"""Each extra of ``pyproject.toml`` and the top-level modules it provides."""


def require(*extras: str) -> None:
    """Raise :class:`MissingExtraError` for the first of ``extras`` whose modules are missing."""
    from scoregen.errors import MissingExtraError

    for extra in extras:
        missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingExtraError(
                f"this needs {', '.join(missing)}, which is not installed: pip install 'scoregen[{extra}]'"
            )
