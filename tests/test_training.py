"""The trainer: EMA, checkpoints (round trip, corruption, pickle refusal), exact resume."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from scoregen import build, data, load
from scoregen.errors import CheckpointError, CheckpointWarning, ConfigError
from scoregen.training import EMA, TrainConfig, train
from scoregen.training.checkpoint import MANIFEST, checkpoint_dirs, read_checkpoint

X = data.gaussian_mixture_2d(512, seed=0)
CONFIG = TrainConfig(steps=20, batch_size=16, seed=1, log_every=5, checkpoint_every=10, keep=5)


def _weights(model) -> dict:
    state = {f"net/{k}": v for k, v in model.estimator.state_dict().items()}
    state.update({f"ema/{k}": v for k, v in model.ema.state_dict().items()})
    return state


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with checkpoints at steps 10 and 20."""
    out = tmp_path_factory.mktemp("ref")
    model = train(build("ncsn"), X, CONFIG, out=out, progress=False)
    return out, model


def test_ema_is_the_weighted_average_of_the_weight_history():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.9)
    history = [net.weight.detach().clone().double()]
    for _ in range(40):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        ema.update(net)
        history.append(net.weight.detach().clone().double())
    # Unrolled: θ̄_K = Π_k d_k θ_0 + Σ_k (1 − d_k) Π_{j>k} d_j θ_k, with d_k = min(0.9, (1+k)/(10+k)).
    d = [min(0.9, (1 + k) / (10 + k)) for k in range(1, 41)]
    weights = [1.0] * 41
    for k in range(41):
        w = 1.0 if k == 0 else 1 - d[k - 1]
        for j in range(k + 1, 41):
            w *= d[j - 1]
        weights[k] = w
    assert sum(weights) == pytest.approx(1.0)
    expected = sum(w * theta for w, theta in zip(weights, history))
    torch.testing.assert_close(ema.module.weight.double(), expected, rtol=1e-5, atol=1e-6)
    assert ema.updates == 40 and not ema.module.weight.requires_grad


def test_ema_copies_buffers_that_were_replaced_and_follows_another_module():
    """The EMA looks its lists up once per module: a buffer replaced (as ``.to()`` does) is still
    copied, and a second module passed in is the one averaged from then on."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.5)
    ema.update(net)
    net[1].running_mean = torch.full((2,), 7.0)  # a new tensor object, not an in-place change
    ema.update(net)
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((2,), 7.0))
    net[1].running_mean.add_(1.0)  # an in-place change of the same tensor
    ema.update(net)
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((2,), 8.0))
    other = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    before = ema.module[0].weight.clone()
    ema.update(other)
    d = ema.rate(ema.updates)
    torch.testing.assert_close(ema.module[0].weight, d * before + (1 - d) * other[0].weight.detach())


def test_sampling_and_scores_use_the_ema_weights(reference):
    _, model = reference
    x = torch.randn(8, 2)
    sigma = torch.full((8,), 0.3)
    with torch.no_grad():
        assert torch.equal(model.score(x, 0.3), model.ema.module(x, sigma))
        assert not torch.equal(model.score(x, 0.3), model.estimator(x, sigma))


def test_checkpoint_round_trip(reference):
    out, model = reference
    steps = [p.name for p in checkpoint_dirs(out / "checkpoints")]
    assert steps == ["step-00000020", "step-00000010"]
    again = load(out / "checkpoints" / "step-00000020")  # a checkpoint is a loadable model
    _assert_same_weights(_weights(again), _weights(model))
    assert again.step == model.step == 20 and again.history == model.history
    assert again.config == model.config
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [5, 10, 15, 20]
    assert [e["loss"] for e in lines] == [e["loss"] for e in model.history]
    for e in lines:  # the speed since the previous line: positive, samples = steps × the batch
        assert e["steps_per_s"] > 0 and e["samples_per_s"] == pytest.approx(e["steps_per_s"] * CONFIG.batch_size, rel=0.01, abs=0.1)
    files = read_checkpoint(out / "checkpoints" / "step-00000010")
    assert set(files) == {"config.json", "weights.safetensors", "trainer.json", "trainer.safetensors"}
    assert not any(p.name.endswith(".tmp") for p in (out / "checkpoints").iterdir())


def _resume_from(reference_out, tmp_path, keep=("step-00000010",)):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    for name in keep:
        shutil.copytree(reference_out / "checkpoints" / name, out / "checkpoints" / name)
    shutil.copy(reference_out / "metrics.jsonl", out / "metrics.jsonl")  # includes lines past step 10
    return out


def test_resume_gives_the_same_weights_bit_for_bit(reference, tmp_path):
    ref_out, ref_model = reference
    out = _resume_from(ref_out, tmp_path)
    model = train(build("ncsn"), X, CONFIG, out=out, resume=True, progress=False)
    _assert_same_weights(_weights(model), _weights(ref_model))
    assert model.history == ref_model.history
    assert (out / "metrics.jsonl").read_text().count("\n") == 4


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "trainer-json"])
def test_a_damaged_checkpoint_is_reported_and_the_previous_one_used(reference, tmp_path, damage):
    ref_out, ref_model = reference
    out = _resume_from(ref_out, tmp_path, keep=("step-00000010", "step-00000020"))
    newest = out / "checkpoints" / "step-00000020"
    if damage == "flip":
        raw = bytearray((newest / "weights.safetensors").read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (newest / "weights.safetensors").write_bytes(bytes(raw))
    elif damage == "truncate":
        raw = (newest / "trainer.safetensors").read_bytes()
        (newest / "trainer.safetensors").write_bytes(raw[: len(raw) // 3])
    elif damage == "manifest":
        (newest / MANIFEST).unlink()
    else:
        (newest / "trainer.json").write_text("{\"k\": 2")
    with pytest.raises(CheckpointError, match="step-00000020"):
        read_checkpoint(newest)
    with pytest.warns(CheckpointWarning, match="step-00000020.*previous good checkpoint .*step-00000010"):
        model = train(build("ncsn"), X, CONFIG, out=out, resume=True, progress=False)
    _assert_same_weights(_weights(model), _weights(ref_model))


class _Payload:
    """Unpickling this runs ``open(path, "w")``: the marker file shows whether it happened."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_payload_is_refused_without_running_it(reference, tmp_path):
    ref_out, _ = reference
    out = _resume_from(ref_out, tmp_path)
    ckpt = out / "checkpoints" / "step-00000010"
    marker = tmp_path / "pwned"
    torch.save({"weight": _Payload(marker)}, ckpt / "weights.safetensors")
    manifest = json.loads((ckpt / MANIFEST).read_text())  # an attacker can fix up the manifest too
    import hashlib

    raw = (ckpt / "weights.safetensors").read_bytes()
    manifest["files"]["weights.safetensors"] = {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    (ckpt / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="pickle"):
        load(ckpt)
    with pytest.raises(CheckpointError, match="no usable checkpoint.*pickle"):
        train(build("ncsn"), X, CONFIG, out=out, resume=True, progress=False)
    assert not marker.exists()


def test_resume_refuses_other_settings_and_fresh_runs_refuse_old_checkpoints(reference, tmp_path):
    ref_out, _ = reference
    out = _resume_from(ref_out, tmp_path)
    with pytest.raises(CheckpointError, match="other settings"):
        train(build("ncsn"), X, TrainConfig(steps=30, batch_size=16, seed=1), out=out, resume=True, progress=False)
    with pytest.raises(ConfigError, match="earlier run"):
        train(build("ncsn"), X, CONFIG, out=out, progress=False)


def test_gradients_are_clipped_to_the_norm():
    from scoregen.data import as_source
    from scoregen.training.trainer import _Run

    model = build("ncsn")
    model.prepare(X)
    run = _Run(model, as_source(X), TrainConfig(steps=1, batch_size=16, grad_clip=1e-3), None)
    run.run(progress=False)
    # After one Adam step the first moment is (1 − β₁) g: its norm shows the clipped gradient.
    first = torch.cat([run.optimizer.state[p]["exp_avg"].flatten() for p in run.params])
    assert float(first.norm()) == pytest.approx(0.1 * 1e-3, rel=1e-4)


def test_fit_keeps_its_signature(tmp_path):
    a = build("ncsn").fit(X, steps=10, batch_size=16, lr=1e-3, lr_decay="none", seed=0, progress=False, log_every=5)
    assert [h["step"] for h in a.history] == [5, 10] and a.ema is not None
    assert build("ncsn").fit(X, steps=3, progress=False, ema_decay=None).ema is None
    a.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert torch.equal(again.score(X[:5], 0.1), a.score(X[:5], 0.1))
    names = set(a.estimator.state_dict())
    assert set(load_file(tmp_path / "m" / "weights.safetensors")) == names | {"ema/" + k for k in names}


def test_a_safetensors_header_whose_length_starts_like_a_pickle_is_read():
    from safetensors.torch import save

    from scoregen import io

    tensors = {"w": torch.zeros(3)}
    for pad in range(300):  # header lengths run through every low byte, 0x80 among them
        blob = save(tensors, metadata={"pad": "x" * pad})
        if blob[:1] == b"\x80":
            break
    assert blob[:1] == b"\x80"
    assert torch.equal(io.decode_tensors(blob, "w.safetensors")["w"], tensors["w"])
