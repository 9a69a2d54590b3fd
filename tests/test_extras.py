"""A missing optional extra fails before the work that needs it, naming the extra to install."""

import importlib

import pytest

from scoregen import _extras, plotting
from scoregen.cli.demo import run_demo
from scoregen.cli.main import main
from scoregen.errors import MissingExtraError


@pytest.fixture
def without(monkeypatch):
    def remove(extra: str) -> None:
        monkeypatch.setitem(_extras.EXTRAS, extra, ("scoregen_no_such_module",))

    return remove


def test_every_extra_of_the_package_is_known():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert set(_extras.EXTRAS) <= set(project["optional-dependencies"])
    _extras.require(*_extras.EXTRAS)  # installed in the development environment


def test_the_demo_refuses_before_training(without, tmp_path):
    without("plot")
    with pytest.raises(MissingExtraError, match=r"pip install 'scoregen\[plot\]'"):
        run_demo(tmp_path / "demo", steps=10**9)  # would train for hours if it did not refuse first
    assert not (tmp_path / "demo").exists()


def test_plotting_and_the_cli_name_the_extra(without, tmp_path, capsys):
    without("plot")
    with pytest.raises(MissingExtraError, match=r"scoregen\[plot\]"):
        plotting.plot_image_grid(None, tmp_path / "x.png")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    assert "pip install 'scoregen[plot]'" in capsys.readouterr().err


def test_the_digits_need_their_extra(without):
    from scoregen import data
    source = importlib.import_module("scoregen.data.digits")  # the module, not the function it exports

    source._digits_arrays.cache_clear()
    without("digits")
    try:
        with pytest.raises(MissingExtraError, match=r"scoregen\[digits\]"):
            data.digits("train")
    finally:
        source._digits_arrays.cache_clear()
