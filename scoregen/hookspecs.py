"""The hook specifications of scoregen: one hook, through which every component is registered.

A plugin is a module (or object) with a function marked ``@scoregen.hookimpl``::

    import scoregen

    @scoregen.hookimpl
    def scoregen_register(registry):
        registry.add("sampler", "my-sampler", MySampler)

The library registers its own built-in components through this very hook.
"""

import pluggy

PROJECT = "scoregen"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def scoregen_register(registry) -> None:
    """Add components with ``registry.add(kind, name, factory)``.

    ``kind`` is one of ``kernel``, ``estimator``, ``objective``, ``sampler``, ``preset``;
    ``factory(**params)`` returns the component (a preset's factory returns a ``ModelConfig``).
    """
