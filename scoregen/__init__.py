"""scoregen: score-based generative modelling you can see, extend and verify.

The public entry points are :func:`build` (compose a model from registered parts),
:func:`load` (read a saved model) and :data:`hookimpl` (mark a plugin's hook).
"""

from scoregen.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["build", "load", "hookimpl", "__version__"]


def __getattr__(name):
    # build and load pull in torch and the registry; import them on first use only.
    if name in ("build", "load"):
        from scoregen import model

        return getattr(model, name)
    raise AttributeError(f"module 'scoregen' has no attribute {name!r}")
