"""``scoregen train | sample | plot | suggest-sigmas`` end to end on tiny budgets, a run killed
with SIGKILL and resumed, and two-process data-parallel training under torchrun."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from scoregen import data
from scoregen.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def gmm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "gmm.npy"
    np.save(path, data.gaussian_mixture_2d(2000, seed=0).numpy())
    return str(path)


def _weights(folder) -> dict:
    return load_file(Path(folder) / "weights.safetensors")


def _assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _train_args(gmm_file, out, steps, *extra):
    return ["train", "ncsn", "--data", gmm_file, "--steps", str(steps), "--batch-size", "32",
            "--checkpoint-every", "20", "--log-every", "10", "--out", str(out), "--quiet", *extra]


def test_sigkill_then_resume_ends_with_the_same_weights(gmm_file, tmp_path):
    steps = 600
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "scoregen", *_train_args(gmm_file, run, steps)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list((run / "checkpoints").glob("step-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.05 * (os.getpid() % 7))  # somewhere after the first checkpoint, maybe mid-write
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (run / "model").exists()
    assert main(_train_args(gmm_file, run, steps, "--resume")) == 0
    assert main(_train_args(gmm_file, tmp_path / "straight", steps)) == 0
    _assert_equal(_weights(run / "model"), _weights(tmp_path / "straight" / "model"))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == list(range(10, steps + 1, 10))


def test_two_processes_match_one_at_the_same_global_batch(gmm_file, tmp_path):
    args = ["ncsn", "--data", gmm_file, "--steps", "40", "--batch-size", "64", "--log-every", "5",
            "--checkpoint-every", "20", "--quiet"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "scoregen", "train", *args, "--out", str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", *args, "--shards", "2", "--out", str(tmp_path / "one")]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "unsharded")]) == 0

    def losses(name):
        return [json.loads(x)["loss"] for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]

    assert len(losses("ddp")) == 8
    np.testing.assert_allclose(losses("ddp"), losses("one"), rtol=1e-5)
    assert not np.allclose(losses("ddp"), losses("unsharded"), rtol=1e-3)  # the check can fail
    ddp, one = _weights(tmp_path / "ddp" / "model"), _weights(tmp_path / "one" / "model")
    for key in ddp:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-6)
    # Rank 0 wrote both shards' generator states: one process resumes the two-process run.
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "ddp" / "checkpoints" / "step-00000020", resumed / "checkpoints" / "step-00000020")
    assert main(["train", *args, "--shards", "2", "--out", str(resumed), "--resume"]) == 0
    for key, value in _weights(resumed / "model").items():
        torch.testing.assert_close(value, ddp[key], rtol=1e-4, atol=1e-6)


def test_cli_end_to_end_on_digits(tmp_path, capsys):
    run = tmp_path / "digits"
    assert main(["train", "ncsnv2", "--data", "digits", "--steps", "4", "--batch-size", "8",
                 "--checkpoint-every", "2", "--log-every", "2", "--out", str(run), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["step"] == 4
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "grid.png"), "--npy", str(tmp_path / "s.npy"), "--quiet"]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 8, 8)
    assert main(["sample", str(run), "-n", "2", "--sampler", "annealed-langevin", "--out", str(tmp_path / "l.png"), "--quiet"]) == 0
    assert main(["plot", str(run), "-n", "4", "--quiet"]) == 0
    assert {"loss.png", "samples.png"} <= {p.name for p in run.iterdir()}


def test_cli_plot_shows_the_score_field_for_2d(gmm_file, tmp_path):
    run = tmp_path / "gmm"
    assert main(["train", "ncsn", "--data", gmm_file, "--steps", "20", "--log-every", "10", "--out", str(run), "--quiet"]) == 0
    assert main(["plot", str(run), "-n", "50", "--quiet"]) == 0
    assert {"loss.png", "samples.png", "score_field.png"} <= {p.name for p in run.iterdir()}


def test_suggest_sigmas_prints_the_three_with_reasoning(capsys):
    assert main(["suggest-sigmas", "digits", "--steps-each", "5"]) == 0
    out = capsys.readouterr().out
    for needle in ("Technique 1: sigma_max = 4.736", "Technique 2: gamma = 1.36", "n_levels", "Technique 4", "step_lr"):
        assert needle in out


def test_bad_data_and_pickled_npy_are_refused(tmp_path, capsys):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["train", "ncsn", "--data", str(tmp_path / "obj.npy"), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    assert "pickled" in capsys.readouterr().err
    assert main(["train", "ncsn", "--data", "mnist", "--steps", "1", "--out", str(tmp_path / "r")]) == 2
