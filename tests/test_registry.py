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
    kinds = {k for k, _ in entries}
    assert {"kernel", "estimator", "objective", "sampler", "preset", "dataset", "parameterisation", "sigma-distribution", "guidance", "posterior"} <= kinds
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


def test_duplicate_name_is_refused_only_where_used_naming_both_providers():
    class Plugin:
        @scoregen.hookimpl
        def scoregen_register(self, registry):
            registry.add("sampler", "annealed-langevin", object)

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="my-plugin")
    with pytest.warns(PluginLoadWarning, match="'annealed-langevin' is registered by 'scoregen' and 'my-plugin'"):
        registry = registry_from(pm)
    with pytest.raises(DuplicateComponentError, match="by 'scoregen' and 'my-plugin'"):
        registry.get("sampler", "annealed-langevin")
    with pytest.raises(DuplicateComponentError, match="ambiguous"):
        scoregen.build("ncsn", registry=registry)  # the preset uses the ambiguous sampler
    model = scoregen.build("ve-sde", registry=registry)  # a preset that does not use it still builds
    assert type(model.sampler).__name__ == "ReverseSDE"


def test_direct_duplicate_add_still_raises():
    registry = Registry()
    registry.add("sampler", "x", object, provider="a")
    with pytest.raises(DuplicateComponentError, match="by 'a' and by 'b'"):
        registry.add("sampler", "x", object, provider="b")


def test_plugin_whose_hook_raises_is_skipped_by_name_and_the_rest_work():
    class Broken:
        @scoregen.hookimpl
        def scoregen_register(self, registry):
            registry.add("sampler", "half-registered", object)
            raise RuntimeError("boom in the hook")

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Broken(), name="broken-plugin")
    with pytest.warns(PluginLoadWarning, match="'broken-plugin' raised in scoregen_register.*boom in the hook"):
        registry = registry_from(pm)
    assert "half-registered" not in registry.names("sampler")  # what it added half-way is gone
    assert [f.plugin for f in registry.failures] == ["broken-plugin"]
    assert "boom in the hook" in registry.failures[0].reason
    assert type(scoregen.build("ncsn", registry=registry).sampler).__name__ == "AnnealedLangevin"


def test_name_of_knows_components_made_by_factory_functions():
    from scoregen.config import ComponentSpec, describe, instantiate
    from scoregen.samplers import AnnealedLangevin

    def quick_langevin(*, steps: int = 3):
        return AnnealedLangevin(n_steps_each=steps)

    registry = Registry()
    registry.add("sampler", "quick", quick_langevin)
    sampler = instantiate("sampler", ComponentSpec(name="quick", params={"steps": 2}), registry)
    assert registry.name_of("sampler", sampler) == "quick"
    spec = describe("sampler", sampler, registry)
    assert spec.to_dict() == {"name": "quick", "params": {"steps": 2}}
    assert instantiate("sampler", spec, registry) == sampler  # the spec rebuilds it
    assert registry.name_of("sampler", AnnealedLangevin(n_steps_each=2)) is None  # not made by the registry


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


def test_cli_list_shows_failed_plugins_and_why(monkeypatch, tmp_path, capsys):
    from scoregen import cli, plugins

    (tmp_path / "hook_raises.py").write_text(
        "import scoregen\n@scoregen.hookimpl\ndef scoregen_register(registry):\n    raise RuntimeError('cannot register')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = (importlib.metadata.EntryPoint("bad", "hook_raises", "scoregen"),)
    monkeypatch.setattr(importlib.metadata, "entry_points", _fake_entry_points(*eps))
    monkeypatch.setattr(plugins, "_REGISTRY", None)
    with pytest.warns(PluginLoadWarning, match="bad"):
        assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "plugins that failed and were skipped:" in out
    assert "bad: raised in scoregen_register: RuntimeError: cannot register" in out
    assert "annealed-langevin" in out


def test_cli_list_shows_kind_name_and_provider():
    out = subprocess.run(
        [sys.executable, "-m", "scoregen", "list"], check=True, capture_output=True, text=True
    ).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["kind", "name", "provider"]
    assert ["preset", "ncsn", "scoregen"] in lines
    assert ["sampler", "annealed-kinetic-langevin", "scoregen-kinetic:kinetic"] in lines
