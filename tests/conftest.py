import pytest
import torch
from hypothesis import settings

import scoregen.testing  # noqa: F401 - registers the hypothesis profiles dev and ci

# The suite runs the public dev profile derandomized: CI sees the same examples every run, so a
# red CI is a regression, never a draw (`--hypothesis-profile=ci` explores afresh).
settings.register_profile("suite", parent=settings.get_profile("dev"), derandomize=True)
settings.load_profile("suite")

torch.set_num_threads(1)


@pytest.fixture
def registry():
    """A fresh registry with the built-in components only (no installed plugins)."""
    from scoregen.plugins import make_plugin_manager, registry_from

    return registry_from(make_plugin_manager(load_entrypoints=False))


@pytest.fixture(scope="session")
def ring():
    from scoregen import data

    return data.ring_mixture()
