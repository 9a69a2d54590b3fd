"""Per-sample seeds: sample i depends on the seed and i, not on the batch it is drawn in."""

import pytest
import torch

from scoregen import build
from scoregen.errors import ConfigError
from scoregen.plugins import get_registry
from scoregen.registry import parameters_of
from scoregen.seeds import BLOCK, SampleGenerators

REGISTRY = get_registry()
SHORT = {"n_steps": 4, "n_steps_each": 2, "steps": 6}
# pc's step size averages norms over the batch (Song et al. 2021), so its samples are coupled.
COUPLED = {"pc"}


def _per_sample_samplers():
    names = []
    for name in REGISTRY.names("sampler"):
        factory = REGISTRY.get("sampler", name).factory
        if getattr(factory, "per_sample_noise", False) and name not in COUPLED:
            names.append(name)
    return names


def _model(sampler_name):
    factory = REGISTRY.get("sampler", sampler_name).factory
    sampler = factory(**{k: v for k, v in SHORT.items() if k in parameters_of(factory)})
    if "masking" in getattr(sampler, "families", ()):
        return build("masked", sampler=sampler, kernel={"vocab_size": 3}, event_shape=(5,), estimator={"hidden": [16]})
    return build("ncsn", sampler=sampler, kernel={"n_levels": 4}, event_shape=(2,), estimator={"hidden": [16]})


def test_the_built_in_samplers_draw_per_sample():
    assert {"annealed-langevin", "langevin", "reverse-sde", "ode", "unmask"} <= set(_per_sample_samplers())


@pytest.mark.parametrize("name", _per_sample_samplers())
def test_a_sample_does_not_depend_on_its_batch(name):
    model = _model(name)
    n = BLOCK + 9  # spans two blocks
    whole = model.sample(n, seed=7, per_sample=True)
    torch.testing.assert_close(model.sample(5, seed=7, per_sample=True), whole[:5], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.sample(20, seed=7, per_sample=True, first=n - 20), whole[-20:], rtol=1e-5, atol=1e-5)
    assert not torch.equal(model.sample(5, seed=8, per_sample=True), whole[:5])
    assert not torch.equal(model.sample(5, seed=7), whole[:5])  # the default draws the batch as one


def test_pieces_of_a_set_are_the_set():
    model = _model("annealed-langevin")
    pieces = torch.cat([model.sample(30, seed=1, per_sample=True, first=k) for k in range(0, 150, 30)])
    torch.testing.assert_close(pieces, model.sample(150, seed=1, per_sample=True), rtol=1e-5, atol=1e-5)


def test_block_draws_are_standard_normal_and_independent_across_samples():
    z = SampleGenerators(0, 4096, first=3).draw(torch.randn, (4096, 2))
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    assert abs(float(torch.corrcoef(torch.stack([z[:-1, 0], z[1:, 0]]))[0, 1])) < 0.05


def test_per_sample_refuses_a_generator_first_without_it_and_parts_that_cannot():
    model = _model("annealed-langevin")
    with pytest.raises(ConfigError, match="pass seed, not generator"):
        model.sample(4, generator=torch.Generator().manual_seed(0), per_sample=True)
    with pytest.raises(ConfigError, match="pass per_sample=True"):
        model.sample(4, seed=0, first=4)
    with pytest.raises(ConfigError, match="first must be"):
        model.sample(4, seed=0, per_sample=True, first=-1)

    class BatchOnly:
        families = ("gaussian",)

        def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
            return x_init

    with pytest.raises(ConfigError, match="BatchOnly do"):
        model.sample(4, seed=0, per_sample=True, sampler=BatchOnly())
