"""Label conditioning of the networks: the null token, label dropping, fit(labels=), save/load."""

import json

import pytest
import torch

from scoregen import build, load
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import MaskedMLP, MaskedTransformer, NoiseConditionalMLP, NoiseConditionalUNet
from scoregen.estimators.conditioning import NULL_LABEL, check_labels, drop_labels


def _labelled(n: int = 256):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(3, (n,), generator=g)
    centres = torch.tensor([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    return centres[y] + 0.3 * torch.randn(n, 2, generator=g), y


@pytest.mark.parametrize(
    "net, x",
    [
        (NoiseConditionalMLP((2,), hidden=(16,), conditioning={"classes": 3}), torch.randn(4, 2)),
        (NoiseConditionalUNet((1, 8, 8), channels=8, conditioning={"classes": 3}), torch.randn(4, 1, 8, 8)),
        (NoiseConditionalUNet((1, 8, 8), channels=8, sigma_embedding=False, conditioning={"classes": 3}), torch.randn(4, 1, 8, 8)),
    ],
)
def test_networks_take_labels_and_the_null_token(net, x):
    sigma = torch.full((4,), 0.5)
    labels = torch.tensor([0, 1, 2, 0])
    cond, uncond = net(x, sigma, labels=labels), net(x, sigma)
    assert cond.shape == x.shape and not torch.allclose(cond, uncond)
    # NULL_LABEL in a row is the unconditional score of that row.
    mixed = net(x, sigma, labels=torch.tensor([0, NULL_LABEL, 2, NULL_LABEL]))
    torch.testing.assert_close(mixed[[1, 3]], uncond[[1, 3]])
    torch.testing.assert_close(mixed[[0, 2]], cond[[0, 2]])
    assert net.n_classes == 3


@pytest.mark.parametrize(
    "net",
    [
        MaskedMLP((6,), vocab_size=2, hidden=(16,), conditioning={"classes": 4}),
        MaskedTransformer((6,), vocab_size=2, d_model=8, n_heads=2, conditioning={"classes": 4}),
    ],
)
def test_masked_denoisers_take_labels(net):
    x_t = torch.tensor([[2, 0, 2, 1, 2, 2]] * 2)
    t = torch.full((2,), 0.5)
    cond = net(x_t, t, labels=torch.tensor([1, 3]))
    assert cond.shape == (2, 6, 2) and not torch.allclose(cond[x_t == 2], net(x_t, t)[x_t == 2])


def test_unconditioned_network_refuses_labels():
    net = NoiseConditionalMLP((2,), hidden=(8,))
    with pytest.raises(ConfigError):
        net(torch.zeros(2, 2), torch.ones(2), labels=torch.tensor([0, 1]))
    with pytest.raises(ConfigError):
        NoiseConditionalMLP((2,), conditioning={"classes": 0})
    with pytest.raises(ConfigError):
        NoiseConditionalMLP((2,), conditioning={"class": 3})


def test_drop_labels_uses_the_generator_only():
    labels = torch.zeros(20_000, dtype=torch.int64)
    state = torch.random.get_rng_state()
    a = drop_labels(labels, 0.1, torch.Generator().manual_seed(0))
    b = drop_labels(labels, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.equal(state, torch.random.get_rng_state())
    assert abs(float((a == NULL_LABEL).double().mean()) - 0.1) < 0.01
    assert drop_labels(labels, 0.0, None) is labels


def test_check_labels_refuses_bad_labels():
    assert check_labels(2, 3, 5).tolist() == [2, 2, 2]
    for bad in (torch.tensor([0.5, 1.0]), torch.tensor([True, False]), torch.tensor([0, 5]), torch.tensor([-1, 0]), torch.tensor([[0, 1]]), "a"):
        with pytest.raises(DataError):
            check_labels(bad, 2, 5)
    with pytest.raises(ConfigError):
        check_labels(0, 2, None)


def test_conditional_fit_save_load_round_trip(tmp_path):
    x, y = _labelled()
    model = build("ncsn", estimator={"hidden": [32, 32]}, conditioning={"classes": 3, "drop": 0.2})
    model.fit(x, labels=y, steps=20, batch_size=64, progress=False)
    again = build("ncsn", estimator={"hidden": [32, 32]}, conditioning={"classes": 3, "drop": 0.2})
    again.fit((x, y), steps=20, batch_size=64, progress=False)  # (x, labels) pairs: the same run
    probe, sigma = torch.randn(5, 2), torch.full((5,), 0.3)
    assert torch.equal(model.score(probe, sigma, labels=1), again.score(probe, sigma, labels=1))
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["config"]["estimator"]["params"]["conditioning"] == {"classes": 3, "drop": 0.2}
    loaded = load(tmp_path / "m")
    assert torch.equal(loaded.score(probe, sigma, labels=1), model.score(probe, sigma, labels=1))
    assert torch.equal(loaded.score(probe, sigma), model.score(probe, sigma))
    samples = loaded.sample(8, labels=2, guidance=2.0, seed=0, sampler={"n_steps_each": 2})
    assert samples.shape == (8, 2)


def test_fit_checks_labels():
    x, y = _labelled(64)
    model = build("ncsn", conditioning={"classes": 3})
    with pytest.raises(DataError):
        model.fit(x, labels=y[:10], steps=1, progress=False)
    with pytest.raises(DataError):
        model.fit(x, labels=y + 3, steps=1, progress=False)
    with pytest.raises(DataError):
        model.fit(x, labels=y.double(), steps=1, progress=False)
    plain = build("ncsn")
    with pytest.raises(ConfigError):
        plain.fit(x, labels=y, steps=1, progress=False)


def test_conditioning_override_needs_a_registered_estimator():
    with pytest.raises(ConfigError):
        build("ncsn", estimator=NoiseConditionalMLP((2,)), conditioning={"classes": 3})


def test_labelled_loss_differs_with_labels():
    x, y = _labelled(64)
    model = build("ncsn", conditioning={"classes": 3})
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.equal(model.loss(x, labels=y, generator=g()), model.loss(x, generator=g()))


def test_masked_model_trains_and_samples_with_labels_and_guidance():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(2, (64,), generator=g)
    tokens = y[:, None].expand(64, 8).clone()  # class c: all tokens c
    model = build("masked", estimator={"hidden": [32]}, conditioning={"classes": 2})
    model.fit(tokens, labels=y, steps=5, batch_size=16, progress=False)
    x = model.sample(4, labels=1, guidance=2.0, seed=0)
    assert x.shape == (4, 8) and bool(((x == 0) | (x == 1)).all())
