import importlib.metadata
import subprocess
import sys

import pytest

import scoregen
from scoregen.errors import DuplicateComponentError, PluginLoadWarning, UnknownComponentError
from scoregen.plugins import get_registry, make_plugin_manager, registry_from
from scoregen.registry import Registry


def test_builtins_are_registered_through_the_hook_by_scoregen(registry):
    entries = {(e.kind, e.name): e.provider for e in registry}
    assert entries[("preset", "ncsn")] == "scoregen"
    assert entries[("sampler", "annealed-langevin")] == "scoregen"
    assert {"kernel", "estimator", "objective", "sampler", "preset", "dataset"} <= {k for k, _ in entries}
    assert entries[("grid", "karras")] == "scoregen"


def test_unknown_name_lists_known_names_and_closest_match(registry):
    with pytest.raises(UnknownComponentError) as info:
        registry.get("sampler", "anealed-langevin")
    message = str(info.value)
    assert "did you mean 'annealed-langevin'" in message
    assert "langevin" in message.split("Known samplers:")[1]


def test_unknown_name_without_close_match_still_lists_names(registry):
    with pytest.raises(UnknownComponentError, match="Known objectives: .*dsm"):
        registry.get("objective", "zzzz")


def test_duplicate_name_names_both_providers():
    class Plugin:
        @scoregen.hookimpl
        def scoregen_register(self, registry):
            registry.add("sampler", "annealed-langevin", object)

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="my-plugin")
    with pytest.raises(DuplicateComponentError, match="by 'scoregen' and by 'my-plugin'"):
        registry_from(pm)


def test_add_rejects_unknown_kind_and_non_callable():
    registry = Registry()
    with pytest.raises(ValueError, match="unknown component kind"):
        registry.add("sampelr", "x", object)
    with pytest.raises(TypeError, match="callable"):
        registry.add("sampler", "x", 3)


def _fake_entry_points(*eps):
    def entry_points(group=None, **kwargs):
        assert group == "scoregen"
        return importlib.metadata.EntryPoints(eps)

    return entry_points


def test_broken_plugin_warns_by_name_and_the_others_load(monkeypatch, tmp_path):
    (tmp_path / "good_plugin.py").write_text(
        "import scoregen\n"
        "@scoregen.hookimpl\n"
        "def scoregen_register(registry):\n"
        "    registry.add('sampler', 'good', object)\n"
    )
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = (
        importlib.metadata.EntryPoint("broken", "broken_plugin", "scoregen"),
        importlib.metadata.EntryPoint("good", "good_plugin", "scoregen"),
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", _fake_entry_points(*eps))
    with pytest.warns(PluginLoadWarning, match="'.*broken'.*missing dependency xyz"):
        pm = make_plugin_manager()
    registry = registry_from(pm)
    assert registry.get("sampler", "good").provider.endswith("good")
    assert "annealed-langevin" in registry.names("sampler")


def test_example_plugin_is_found_through_its_entry_point():
    entry = get_registry().get("sampler", "annealed-kinetic-langevin")
    assert entry.provider == "scoregen-kinetic:kinetic"


def test_registry_is_not_built_at_import():
    code = "import scoregen, scoregen.plugins as r; assert r._REGISTRY is None; import sys; assert 'scoregen.builtins' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_list_shows_kind_name_and_provider():
    out = subprocess.run(
        [sys.executable, "-m", "scoregen", "list"], check=True, capture_output=True, text=True
    ).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["kind", "name", "provider"]
    assert ["preset", "ncsn", "scoregen"] in lines
    assert ["sampler", "annealed-kinetic-langevin", "scoregen-kinetic:kinetic"] in lines
