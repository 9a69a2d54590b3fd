"""The masking family inside the library: build, fit, sample, save/load, refusals, the demo."""

import json

import pytest
import torch

from scoregen import build, data, load
from scoregen.analytic.sequences import SequenceDistribution
from scoregen.errors import ConfigError, DataError, IncompatibleKernelError
from scoregen.estimators import ExactDiscrete, MaskedMLP, MaskedTransformer
from scoregen.kernels import MaskingKernel
from scoregen.objectives import DenoisingScoreMatching


def _table() -> SequenceDistribution:
    table = torch.zeros(2, 2, 2, 2, dtype=torch.float64)
    table[0, 0, 0, 0], table[1, 1, 1, 1], table[0, 1, 0, 1] = 0.5, 0.3, 0.2
    return SequenceDistribution(table)


def test_build_masked_composes_the_discrete_parts(registry):
    model = build("masked", registry=registry, event_shape=(16,))
    parts = {p: type(getattr(model, p)).__name__ for p in ("kernel", "estimator", "objective", "sampler")}
    assert parts == {"kernel": "MaskingKernel", "estimator": "MaskedMLP", "objective": "MaskedCrossEntropy", "sampler": "Unmask"}
    assert model.estimator.vocab_size == model.kernel.vocab_size == 2  # the estimator takes V from the kernel
    three = build("masked", registry=registry, event_shape=(5,), kernel={"vocab_size": 3})
    assert three.estimator.vocab_size == 3
    assert three.sample(4, seed=0).max() <= 2


@pytest.mark.parametrize(
    ("preset", "override"),
    [("masked", {"sampler": "annealed-langevin"}), ("masked", {"objective": "dsm"}), ("ncsn", {"sampler": "unmask"}),
     ("ncsn", {"objective": "masked-ce"}), ("ncsn", {"estimator": "transformer"}), ("masked", {"sampler": "langevin"})],
)
def test_the_two_families_refuse_each_other(registry, preset, override):
    with pytest.raises(IncompatibleKernelError, match="kernels, not with"):
        build(preset, registry=registry, event_shape=(4,), **override)


def test_gaussian_objective_refuses_the_masking_kernel_directly():
    with pytest.raises(IncompatibleKernelError, match="works with gaussian kernels, not with MaskingKernel"):
        DenoisingScoreMatching().loss(lambda x, s: x, MaskingKernel(vocab_size=2), torch.zeros(3, 4))


def test_token_data_are_checked(registry):
    model = build("masked", registry=registry)
    with pytest.raises(DataError, match="integer tokens"):
        model.fit([[0.0, 0.5]], steps=1, progress=False)
    with pytest.raises(DataError, match="vocabulary is 0 … 1"):
        model.fit([[0, 2]], steps=1, progress=False)
    with pytest.raises(ConfigError, match="expects"):
        build("masked", registry=registry, kernel={"vocab_size": 3}, estimator=ExactDiscrete(_table())).sample(2, seed=0)


@pytest.mark.parametrize(
    "net",
    [MaskedTransformer((6,), vocab_size=3, d_model=16, n_layers=1, n_heads=2), MaskedMLP((6,), vocab_size=3, hidden=(32,))],
    ids=["transformer", "mlp"],
)
def test_denoisers_never_predict_the_mask_and_carry_clean_tokens_over(net):
    x_t = torch.tensor([[0, 3, 2, 3, 1, 3], [3, 3, 3, 3, 3, 3]])
    logits = net(x_t, torch.tensor([0.5, 1.0]))
    assert logits.shape == (2, 6, 3)
    logits.masked_fill(~torch.isfinite(logits), 0).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    probs = logits.softmax(dim=-1)
    visible = x_t != 3
    assert torch.equal(probs[visible], torch.nn.functional.one_hot(x_t[visible], 3).float())
    assert bool(torch.isfinite(logits[~visible]).all())


def test_fit_learns_an_enumerable_distribution_and_saves(registry, tmp_path):
    """A small transformer trained on draws from the table: its bound approaches the entropy,
    its samples the table; save/load reproduces the samples exactly."""
    dist = _table()
    x = dist.sample(4000, torch.Generator().manual_seed(0))
    model = build("masked", registry=registry, estimator={"name": "transformer", "d_model": 32, "n_layers": 1})
    model.fit(x, steps=300, batch_size=128, lr=3e-3, seed=0, progress=False)
    assert "loss_by_level" not in model.history[-1]
    bound, stderr = model.objective.bound(model.estimator, model.kernel, x[:1000], generator=torch.Generator().manual_seed(1))
    assert bound >= dist.entropy_bits_per_token() - 3 * stderr
    assert bound <= dist.entropy_bits_per_token() + 0.05
    samples = model.sample(4000, seed=2)
    assert dist.total_variation(samples) < 0.06
    model.save(tmp_path / "m")
    again = load(tmp_path / "m", registry=registry)
    assert json.loads(again.config.to_json()) == json.loads(model.config.to_json())
    assert torch.equal(again.sample(50, seed=3), model.sample(50, seed=3))


def test_model_imputation_keeps_known_tokens(registry):
    model = build("masked", registry=registry, estimator=ExactDiscrete(_table()))
    mask = torch.tensor([False, True, False, False])
    samples = model.sample(500, seed=0, known=torch.tensor([0, 1, 0, 0]), mask=mask)
    assert bool((samples[:, 1] == 1).all())
    assert set(map(tuple, samples.tolist())) <= {(1, 1, 1, 1), (0, 1, 0, 1)}
    with pytest.raises(ConfigError, match="both known"):
        model.sample(2, seed=0, known=torch.zeros(4))
    with pytest.raises(DataError, match="vocabulary"):
        model.sample(2, seed=0, known=torch.tensor([0, 5, 0, 0]), mask=mask)


def test_exact_discrete_is_built_by_name_and_its_config_round_trips(registry, tmp_path):
    probs = _table().probs.tolist()
    model = build("masked", registry=registry, estimator={"name": "exact-discrete", "probs": probs}, event_shape=(4,))
    with pytest.raises(ConfigError, match="shape \\[4\\], not \\[5\\]"):
        build("masked", registry=registry, estimator={"name": "exact-discrete", "probs": probs}, event_shape=(5,))
    model.save(tmp_path / "exact")
    assert torch.equal(load(tmp_path / "exact", registry=registry).sample(20, seed=1), model.sample(20, seed=1))


def test_digits_tokens_are_binary_sequences_of_64():
    train, test = data.digits_tokens("train"), data.digits_tokens("test")
    assert train.shape == (1437, 64) and test.shape == (360, 64) and train.dtype == torch.int64
    assert set(torch.unique(train).tolist()) == {0, 1}
    assert torch.equal(test, (data.digits("test").flatten(1) * 16 >= 8).long())
    assert len(data.digits_tokens("all")) == 1797


def test_masked_demo_writes_its_outputs(tmp_path):
    from scoregen.cli import main

    assert main(["demo", "--preset", "masked", "--steps", "3", "--samples", "4", "--out", str(tmp_path), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"test_nll_bound_bits_per_token", "independent_pixel_bits_per_token"} <= set(metrics)
    assert (tmp_path / "samples.png").stat().st_size > 0 and (tmp_path / "imputation.png").stat().st_size > 0
