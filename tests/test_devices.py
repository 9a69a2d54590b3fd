"""Every part keeps its tensors on the data's device and draws from a generator there.

The "device" is :func:`scoregen.testing.devices.virtual_device` (real CPU values reported on
``meta``; any CPU/virtual mix raises, as CUDA does, and so does a CPU generator used for a draw
on it). Every registered kernel, objective and sampler is run there — a part added by another
module or a plugin is covered by being registered — and so are ``fit``, ``sample``, ``score``,
``log_prob``, ``save`` and ``load``.
"""

import pytest
import torch

from scoregen import build, load
from scoregen._tensor import make_generator
from scoregen.errors import ConfigError
from scoregen.plugins import get_registry
from scoregen.registry import parameters_of
from scoregen.testing.devices import DeviceMixError, VirtualTensor, virtual_device

REGISTRY = get_registry()
SHORT = {"n_steps": 3, "n_steps_each": 2, "steps": 4}  # a short run of any part that has these
TINY_UNET = {"name": "unet", "channels": 8, "channel_mult": [1, 2]}


def _short(kind: str, name: str, **params):
    """The registered part ``name`` with a short budget where it has the usual parameters."""
    factory = REGISTRY.get(kind, name).factory
    accepted = parameters_of(factory)
    return factory(**{**{k: v for k, v in SHORT.items() if k in accepted}, **params})


def _kernel_for(family: str):
    return _short("kernel", "masking", vocab_size=3) if family == "masking" else _short("kernel", "gaussian", n_levels=4)


def _on_virtual(t: torch.Tensor) -> bool:
    return isinstance(t, VirtualTensor) and t.device.type == "meta"


# ----------------------------------------------------------------------- the harness itself


def test_the_virtual_device_catches_a_cpu_tensor_and_a_cpu_generator():
    with virtual_device() as device:
        x = torch.randn(3, 2, device=device, generator=make_generator(device, 0))
        assert _on_virtual(x) and _on_virtual(x + torch.tensor(1.0))  # 0-d CPU scalars mix, as in torch
        with pytest.raises(DeviceMixError):
            x + torch.ones(3, 2)
        with pytest.raises(DeviceMixError):
            torch.randn(3, device=device, generator=torch.Generator().manual_seed(0))
        with pytest.raises(DeviceMixError):
            torch.randn(3, generator=make_generator(device, 0))
        with pytest.raises(TypeError):
            x.numpy()
        assert x.cpu().device.type == "cpu" and float(x.sum()) == pytest.approx(float(x.cpu().sum()))


# ----------------------------------------------------------------------- every registered part


@pytest.mark.parametrize("name", REGISTRY.names("kernel"))
def test_every_kernel_draws_on_the_generators_device(name):
    kernel = _short("kernel", name, vocab_size=3) if name == "masking" else _short("kernel", name)
    with virtual_device() as device:
        g = make_generator(device, 0)
        x0 = kernel.prior_sample((3, 2), g)
        assert _on_virtual(x0)
        if kernel.family == "gaussian":
            sigma = kernel.sample_sigma(3, g)
            assert _on_virtual(sigma) and _on_virtual(kernel.perturb(x0, sigma, g))
            t = torch.full((3,), 0.5, dtype=torch.float64, device=device)
            assert _on_virtual(kernel.drift(x0, t)) and _on_virtual(kernel.diffusion(t))
        else:
            t = kernel.sample_t(3, g)
            assert _on_virtual(t) and _on_virtual(kernel.perturb(x0.clamp(max=2), t, g))


@pytest.mark.parametrize("name", REGISTRY.names("objective"))
def test_every_objective_keeps_the_datas_device(name):
    objective = _short("objective", name)
    family = getattr(objective, "families", ("gaussian",))[0]
    # An objective that trains a classifier (needs_labels) gets the classifier and labels.
    labelled = getattr(objective, "needs_labels", False)
    extra = {"estimator": {"name": "classifier", "classes": 2}} if labelled else {}
    model = build("masked" if family == "masking" else "ncsn", objective=objective, kernel=_kernel_for(family), event_shape=(4,), **extra)
    data = torch.randint(0, 3, (8, 4)) if family == "masking" else torch.randn(8, 4)
    with virtual_device() as device:
        model.to(device)
        model.prepare(model.convert(data))
        labels = {"labels": torch.arange(8, device=device) % 2} if labelled else {}
        terms = model.objective.per_sample(model.estimator, model.kernel, data.to(device), generator=make_generator(device, 0), **labels)
        assert _on_virtual(terms.loss) and _on_virtual(terms.sigma)
        terms.loss.mean().backward()
        assert all(_on_virtual(p.grad) for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", REGISTRY.names("sampler"))
def test_every_sampler_keeps_the_datas_device(name):
    sampler = _short("sampler", name)
    family = getattr(sampler, "families", ("gaussian",))[0]
    model = build("masked" if family == "masking" else "ncsn", sampler=sampler, kernel=_kernel_for(family), event_shape=(4,))
    with virtual_device() as device:
        model.to(device)
        x = model.sample(3, seed=0)
        assert _on_virtual(x) and x.shape == (3, 4)


# ----------------------------------------------------------------------- the model's verbs


@pytest.mark.parametrize(
    ("preset", "overrides", "data"),
    [
        ("ncsn", {"kernel": {"n_levels": 3}, "sampler": {"n_steps_each": 2}}, lambda: torch.randn(32, 2)),
        ("ve-sde", {"objective": {"reference": 8}, "sampler": {"n_steps": 3}}, lambda: torch.randn(32, 2)),
        ("ncsnv2", {"estimator": TINY_UNET, "kernel": {"n_levels": 3}, "sampler": {"n_steps_each": 1}}, lambda: torch.rand(16, 1, 8, 8)),
        ("masked", {"estimator": {"hidden": [16]}, "sampler": {"steps": 3}}, lambda: torch.randint(0, 2, (16, 6))),
    ],
    ids=["ncsn", "ve-sde", "ncsnv2", "masked"],
)
def test_fit_sample_score_on_the_device(preset, overrides, data, tmp_path):
    torch.manual_seed(0)
    x = data()
    with virtual_device() as device:
        model = build(preset, device=device, **overrides)
        model.fit(x, steps=3, batch_size=4, progress=False, log_every=1, out=tmp_path / "run", checkpoint_every=2)
        assert model.device == device
        assert all(_on_virtual(p) for p in model.parameters())
        assert all(_on_virtual(p) for p in model.ema.module.parameters())
        assert model.history[-1]["step"] == 3
        samples = model.sample(3, seed=0)
        assert _on_virtual(samples)
        if model.kernel.family == "gaussian":
            assert _on_virtual(model.score(samples, 0.5))
        model.save(tmp_path / "saved")
        resumed = build(preset, device=device, **overrides)
        resumed.fit(x, steps=3, batch_size=4, progress=False, log_every=1, out=tmp_path / "run", checkpoint_every=2, resume=True)
    back = load(tmp_path / "saved")  # saved on the device, loaded on the CPU
    assert back.device.type == "cpu" and all(p.device.type == "cpu" for p in back.parameters())
    for p, q in zip(back.parameters(), model.parameters()):
        torch.testing.assert_close(p, q.cpu())


def test_log_prob_and_the_empirical_score_on_the_device():
    x = torch.randn(16, 2)
    with virtual_device() as device:
        model = build("ncsn", estimator="empirical", kernel={"n_levels": 3}, device=device).fit(x, progress=False)
        assert _on_virtual(model.estimator.data)
        assert _on_virtual(model.score(x[:3], 0.3))
        log_p = model.log_prob(x[:2], rtol=1e-3, atol=1e-3)
        assert _on_virtual(log_p) and log_p.shape == (2,)


def test_saved_on_the_cpu_loads_on_the_device(tmp_path):
    model = build("ncsn", event_shape=(2,), kernel={"n_levels": 3}, sampler={"n_steps_each": 2})
    model.fit(torch.randn(32, 2), steps=2, batch_size=8, progress=False)
    model.save(tmp_path / "m")
    with virtual_device() as device:
        again = load(tmp_path / "m", device=device)
        assert again.device == device and all(_on_virtual(p) for p in again.parameters())
        assert all(_on_virtual(p) for p in again.ema.module.parameters())
        for p, q in zip(again.parameters(), model.parameters()):
            torch.testing.assert_close(p.cpu(), q)
        assert _on_virtual(again.sample(2, seed=0))
        again.to("cpu")
    assert all(p.device.type == "cpu" for p in again.ema.module.parameters())
    torch.testing.assert_close(again.sample(2, seed=0), model.sample(2, seed=0))


def test_a_generator_on_another_device_is_refused():
    model = build("ncsn", event_shape=(2,))
    with virtual_device() as device:
        model.to(device)
        with pytest.raises(ConfigError, match="generator lives on cpu"):
            model.sample(2, generator=torch.Generator().manual_seed(0))


def test_the_trainers_generators_live_on_the_models_device(monkeypatch):
    from scoregen.training import trainer

    made = []
    original = trainer.make_generator
    monkeypatch.setattr(trainer, "make_generator", lambda device, seed: made.append(torch.device(device)) or original(device, seed))
    with virtual_device() as device:
        build("ncsn", device=device, kernel={"n_levels": 3}).fit(torch.randn(16, 2), steps=1, batch_size=4, progress=False)
    assert made == [device]


def test_torchrun_gives_each_process_its_gpu_and_nccl(monkeypatch):
    from scoregen.training import distributed

    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.rank_device("cuda") == torch.device("cuda", 3)
    assert distributed.rank_device("cuda:1") == torch.device("cuda", 1)  # an explicit GPU is kept
    assert distributed.rank_device("cpu") == torch.device("cpu")
    assert (distributed.backend_for("cuda:0"), distributed.backend_for("cpu")) == ("nccl", "gloo")
