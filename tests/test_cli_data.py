"""The CLI over every part and every data kind: ``--set`` typed into config.json, clear one-line
errors for bad keys and values, a folder of PNGs trained from the command line, ``--version``,
``--threads``; and (slow) SIGKILL + ``--resume`` on an image folder read by worker processes, and a
``DataLoader`` trained on without being materialised."""

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import scoregen
from scoregen.cli import main
from scoregen.cli.overrides import coerce, parse_sets
from scoregen.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
EMPTY = inspect.Parameter.empty


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def _train(data, out, *extra, steps=3):
    return ["train", "ncsnv2", "--data", str(data), "--steps", str(steps), "--batch-size", "4", "--out", str(out),
            "--quiet", *extra]


def test_a_folder_of_pngs_trains_with_set_overrides_into_config_json(pngs, tmp_path, capsys):
    sets = ["--set", "data.size=8", "--set", "estimator.channels=8", "--set", "estimator.channel_mult=1,2",
            "--set", "sampler.n_steps_each=2", "--set", "kernel.n_levels=5", "--set", "objective.weight_power=2"]
    assert main(_train(pngs, tmp_path / "run", *sets, "--num-workers", "1")) == 0
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())["config"]
    assert config["event_shape"] == [1, 8, 8]
    assert config["estimator"]["params"]["channels"] == 8 and config["estimator"]["params"]["channel_mult"] == [1, 2]
    assert config["sampler"]["params"]["n_steps_each"] == 2
    assert config["kernel"]["params"]["n_levels"] == 5
    assert main(["sample", str(tmp_path / "run"), "-n", "2", "--out", str(tmp_path / "s.png"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(_train(pngs, tmp_path / "swap", "--set", "data.size=8", "--set", "sampler=langevin",
                       "--set", "sampler.n_steps=3", steps=1)) == 0
    swapped = json.loads((tmp_path / "swap" / "model" / "config.json").read_text())["config"]["sampler"]
    assert swapped["name"] == "langevin" and swapped["params"]["n_steps"] == 3


@pytest.mark.parametrize(
    "given, message",
    [
        ("estimator.chanels=8", "no parameter 'chanels' (did you mean 'channels'?)"),
        ("estimater.channels=8", "no part 'estimater' (did you mean 'estimator'?)"),
        ("estimator.channels=abc", "estimator.channels=abc: expected int, got 'abc'"),
        ("objective.levels=some", "expected one of random, all"),
        ("data.sise=8", "no parameter 'sise' (did you mean 'size'?)"),
        ("sampler=anealed-langevin", "did you mean 'annealed-langevin'"),
        ("estimator.channels", "part.param=value"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(pngs, tmp_path, capsys, given, message):
    assert main(_train(pngs, tmp_path / "r", "--set", "data.size=8", "--set", given, steps=1)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("scoregen: error:")
    assert not (tmp_path / "r" / "model").exists()


def test_data_errors_and_unknown_names_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for data, message in [("mnist", "Known datasets: csv, digits"), (tmp_path / "empty", "holds no PNG or JPEG"),
                          (tmp_path / "x.txt", "does not exist")]:
        assert main(["train", "ncsn", "--data", str(data), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_a_csv_trains_and_labels_stay_out_of_the_data(tmp_path):
    x = scoregen.data.gaussian_mixture_2d(64, seed=0)
    lines = ["a,b,label"] + [f"{u},{v},{i % 3}" for i, (u, v) in enumerate(x.tolist())]
    (tmp_path / "d.csv").write_text("\n".join(lines))
    args = ["train", "ncsn", "--data", str(tmp_path / "d.csv"), "--set", "data.label_column=label",
            "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 0
    assert json.loads((tmp_path / "r" / "model" / "config.json").read_text())["config"]["event_shape"] == [2]


def test_values_are_typed_from_the_parameters():
    assert coerce("3", int, EMPTY, where="w") == 3
    assert coerce("3", float | str, EMPTY, where="w") == 3.0 and coerce("auto", float | str, EMPTY, where="w") == "auto"
    assert coerce("none", int | None, EMPTY, where="w") is None
    assert coerce("false", bool, EMPTY, where="w") is False
    assert coerce("64,64", EMPTY, (128, 128), where="w") == (64, 64)
    assert coerce("[1, 2]", tuple[int, ...], EMPTY, where="w") == (1, 2)
    assert coerce("all", Literal["random", "all"], EMPTY, where="w") == "all"
    assert coerce('{"a": 1}', dict, EMPTY, where="w") == {"a": 1}
    for raw, annotation in [("2.5", int), ("maybe", bool), ("x", float), ("1,x", tuple[int, ...])]:
        with pytest.raises(ConfigError, match="expected"):
            coerce(raw, annotation, EMPTY, where="w")
    assert parse_sets(["kernel=ve", "kernel.sigma_max=3"]) == {"kernel": {"name": "ve", "sigma_max": "3"}}


def test_version_and_threads(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"scoregen {scoregen.__version__}"
    before = torch.get_num_threads()
    assert main(["suggest-sigmas", "digits", "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    assert main(["suggest-sigmas", "digits", "--threads", "0"]) == 2
    torch.set_num_threads(before)


def test_hardware_options_are_passed_on_or_refused_in_one_line(pngs, tmp_path, capsys):
    from scoregen import build
    from scoregen.training import TrainConfig

    has_device = "device" in inspect.signature(build).parameters
    code = main(_train(pngs, tmp_path / "d", "--set", "data.size=8", "--device", "cpu", steps=1))
    assert code == (0 if has_device else 2)
    if not has_device:
        assert "--device" in capsys.readouterr().err
    import attrs

    if "precision" not in attrs.fields_dict(TrainConfig):
        assert main(_train(pngs, tmp_path / "p", "--set", "data.size=8", "--precision", "bf16", steps=1)) == 2
        assert "--precision" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_then_resume_on_an_image_folder_with_workers_is_exact(pngs, tmp_path):
    steps = 60
    args = _train(pngs, tmp_path / "killed", "--set", "data.size=8", "--set", "estimator.channels=8",
                  "--num-workers", "2", "--checkpoint-every", "5", "--log-every", "5", steps=steps)
    proc = subprocess.Popen([sys.executable, "-m", "scoregen", *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    run = tmp_path / "killed"
    while not list((run / "checkpoints").glob("step-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.05 * (os.getpid() % 7))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (run / "model").exists()
    assert main([*args, "--resume"]) == 0
    straight = [*args[: args.index("--out") + 1], str(tmp_path / "straight"), *args[args.index("--out") + 2:]]
    assert main(straight) == 0
    a, b = load_file(run / "model" / "weights.safetensors"), load_file(tmp_path / "straight" / "model" / "weights.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


MEMORY_CHILD = """
import resource, sys, torch
from torch.utils.data import DataLoader, Dataset
from scoregen import build

class Lazy(Dataset):
    # n rows of [3, 32, 32] float32, made on demand.
    def __init__(self, n):
        self.n = n
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        return torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i))

torch.set_num_threads(1)
kind, n = sys.argv[1], int(sys.argv[2])
source = Lazy(n) if kind == "dataset" else DataLoader(Lazy(n), batch_size=128, shuffle=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
build("ncsn", estimator={"hidden": [16]}).fit(source, steps=120, batch_size=128, progress=False)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["loader", "dataset"])
def test_a_large_data_set_is_streamed_not_materialised(kind):
    def growth(n: int) -> int:
        done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, kind, str(n)], env=ENV, capture_output=True, text=True, check=True)
        return int(done.stdout)

    # A set 100 times the batch (157 MB if materialised) grows the peak memory as one batch does.
    materialised = 128 * 100 * 3 * 32 * 32 * 4
    assert growth(128 * 100) - growth(128) < materialised / 4


def _spiral(n: int = 200, *, turns: float = 2.0) -> torch.Tensor:
    t = torch.linspace(0, turns * 2 * torch.pi, n)
    return torch.stack([t * t.cos(), t * t.sin()], dim=1) / turns


class SpiralPlugin:
    """A dataset plugin: the kind ``dataset`` through the same hook as every component."""

    @scoregen.hookimpl
    def scoregen_register(self, registry):
        registry.add("dataset", "spiral", _spiral)


def test_a_dataset_plugin_is_listed_and_trained_on_from_the_cli(tmp_path, capsys, monkeypatch):
    from scoregen import plugins

    pm = plugins.make_plugin_manager(load_entrypoints=False)
    pm.register(SpiralPlugin(), name="spiral-plugin")
    monkeypatch.setattr(plugins, "_REGISTRY", plugins.registry_from(pm))
    assert main(["list", "dataset"]) == 0
    assert ["dataset", "spiral", "spiral-plugin"] in [line.split() for line in capsys.readouterr().out.splitlines()]
    args = ["train", "ncsn", "--data", "spiral", "--set", "data.turns=3", "--set", "data.n=64",
            "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 0
    assert main([*args[:4], "--set", "data.turn=3", *args[8:]]) == 2
    assert "did you mean 'turns'" in capsys.readouterr().err
