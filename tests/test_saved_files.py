"""Saved files are untrusted input: every field is checked, manifests are verified and confined to
their folder, resume passes over what is malformed, and what a killed writer left is cleaned up."""

import hashlib
import json
import os
import stat

import pytest
import torch

from scoregen import build, data, load
from scoregen.errors import CheckpointError, CheckpointWarning
from scoregen.training import TrainConfig, train
from scoregen.training.checkpoint import MANIFEST, checkpoint_dirs, read_checkpoint

X = data.gaussian_mixture_2d(64, seed=0)
CONFIG = TrainConfig(steps=4, batch_size=8, log_every=1, checkpoint_every=2, ema_decay=0.9)


def _small():
    return build("ncsn", estimator={"hidden": [8]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run with checkpoints at steps 2 and 4, and its final model saved."""
    out = tmp_path_factory.mktemp("run")
    model = train(_small(), X, CONFIG, out=out, progress=False)
    model.save(out / "model")
    return out


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rewrite_manifest(folder, edit):
    manifest = json.loads((folder / MANIFEST).read_text())
    edit(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def _fix_digest(folder, name):
    raw = (folder / name).read_bytes()
    _rewrite_manifest(folder, lambda m: m["files"].__setitem__(name, {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}))


def test_load_verifies_a_checkpoint_manifest(run, tmp_path):
    ckpt = _copy(run / "checkpoints" / "step-00000004", tmp_path / "ckpt")
    load(ckpt)  # intact: loads
    raw = bytearray((ckpt / "weights.safetensors").read_bytes())
    raw[-3] ^= 0x01  # one bit of the last weight's data: still a valid safetensors file
    (ckpt / "weights.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="weights.safetensors is corrupted: its SHA-256 differs"):
        load(ckpt)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.__setitem__("ema", {"updates": 3}), "ema"),
        (lambda d: d["config"].pop("kernel"), "config"),
        (lambda d: d.__setitem__("step", "x"), "step"),
        (lambda d: d.__setitem__("step", -1), "step"),
        (lambda d: d.__setitem__("history", {"loss": 1}), "history"),
        (lambda d: d.__setitem__("has_weights", "yes"), "has_weights"),
        (lambda d: d.__setitem__("config", [1, 2]), "config"),
        (lambda d: d["config"].__setitem__("seed", -5), "config"),
        (lambda d: d["config"].__setitem__("event_shape", [0]), "config"),
        (lambda d: d["config"]["sampler"].__setitem__("name", 5), "config"),
        (lambda d: d["config"]["sampler"]["params"].__setitem__("n_steps_each", 2.5), "config"),
    ],
)
def test_a_bad_config_field_names_the_file_and_the_field(run, tmp_path, edit, field):
    folder = _copy(run / "model", tmp_path / "model")
    document = json.loads((folder / "config.json").read_text())
    edit(document)
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=rf"config.json.*'{field}'"):
        load(folder)


@pytest.mark.parametrize("name", ["../config.json", "/etc/hostname", "/dev/zero", "sub/x", "..", ""])
def test_manifest_names_stay_inside_their_folder(run, tmp_path, name):
    ckpt = _copy(run / "checkpoints" / "step-00000004", tmp_path / "ckpt")
    _rewrite_manifest(ckpt, lambda m: m["files"].__setitem__(name, {"sha256": "0" * 64, "bytes": 4}))
    with pytest.raises(CheckpointError, match="not a plain file name"):
        read_checkpoint(ckpt)


def test_a_link_in_a_checkpoint_is_never_followed(run, tmp_path):
    ckpt = _copy(run / "checkpoints" / "step-00000004", tmp_path / "ckpt")
    (ckpt / "trainer.json").unlink()
    os.symlink("/dev/zero", ckpt / "trainer.json")
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_checkpoint(ckpt)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.__setitem__("files", []),
        lambda m: m["files"]["config.json"].__setitem__("bytes", "12"),
        lambda m: m["files"]["config.json"].__setitem__("sha256", None),
        lambda m: m.pop("step"),
    ],
)
def test_resume_falls_back_past_a_malformed_manifest(run, tmp_path, edit):
    out = _copy(run, tmp_path / "run")
    _rewrite_manifest(out / "checkpoints" / "step-00000004", edit)
    with pytest.warns(CheckpointWarning, match="step-00000004.*previous good checkpoint .*step-00000002"):
        model = train(_small(), X, CONFIG, out=out, resume=True, progress=False)
    assert model.step == 4


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.pop("k"),
        lambda t: t.__setitem__("k", "2"),
        lambda t: t.__setitem__("data", None),
        lambda t: t.__setitem__("param_groups", {"lr": 1}),
        lambda t: t.__setitem__("param_groups", [{"lr": 1}]),
        lambda t: t.__setitem__("optim_scalars", {"x": "y"}),
    ],
)
def test_resume_falls_back_past_a_malformed_trainer_state(run, tmp_path, edit):
    out = _copy(run, tmp_path / "run")
    newest = out / "checkpoints" / "step-00000004"
    trainer = json.loads((newest / "trainer.json").read_text())
    edit(trainer)
    (newest / "trainer.json").write_text(json.dumps(trainer))
    _fix_digest(newest, "trainer.json")
    with pytest.warns(CheckpointWarning, match="trainer"):
        model = train(_small(), X, CONFIG, out=out, resume=True, progress=False)
    assert model.step == 4


def test_stale_temporary_checkpoints_are_removed(tmp_path):
    stale = tmp_path / "checkpoints" / ".step-00000002.abcd.tmp"
    stale.mkdir(parents=True)
    (stale / "weights.safetensors").write_bytes(b"half")
    (tmp_path / "model").mkdir()
    orphan = tmp_path / "model" / ".config.json.xyz.tmp"
    orphan.write_bytes(b"half")
    model = train(_small(), X, CONFIG, out=tmp_path, progress=False)
    model.save(tmp_path / "model")
    assert not stale.exists() and not orphan.exists()
    assert [p.name for p in checkpoint_dirs(tmp_path / "checkpoints")] == ["step-00000004", "step-00000002"]


def test_resume_without_a_checkpoint_starts_clean(tmp_path):
    # A run killed before its first checkpoint leaves metrics and no checkpoint.
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": k, "loss": 9.0}) + "\n" for k in (1, 2, 3)))
    model = train(_small(), X, CONFIG, out=tmp_path, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4] and model.step == 4
    assert all(json.loads(line)["loss"] != 9.0 for line in (tmp_path / "metrics.jsonl").read_text().splitlines())


def test_saved_files_get_ordinary_permissions(run, tmp_path):
    mask = os.umask(0o022)
    try:
        model = load(run / "model")
        model.save(tmp_path / "m")
        out = tmp_path / "run"
        train(_small(), X, CONFIG, out=out, progress=False)
    finally:
        os.umask(mask)
    for path in [tmp_path / "m" / "config.json", tmp_path / "m" / "weights.safetensors"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    for folder in checkpoint_dirs(out / "checkpoints"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder


def test_resume_extends_a_finished_run(run, tmp_path):
    out = _copy(run, tmp_path / "run")
    longer = TrainConfig(steps=6, batch_size=8, log_every=1, checkpoint_every=2, ema_decay=0.9)
    model = train(_small(), X, longer, out=out, resume=True, progress=False)
    assert model.step == 6
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
    assert checkpoint_dirs(out / "checkpoints")[0].name == "step-00000006"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    shorter = TrainConfig(steps=2, batch_size=8, log_every=1, checkpoint_every=2, ema_decay=0.9)
    with pytest.raises(CheckpointError, match="beyond this run's steps=2"):
        train(_small(), X, shorter, out=out, resume=True, progress=False)
