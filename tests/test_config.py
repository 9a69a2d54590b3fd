import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build
from scoregen.config import ComponentSpec, ModelConfig, describe
from scoregen.errors import ConfigError, IncompatibleKernelError
from scoregen.objectives import MaskedCrossEntropy
from scoregen.samplers import AnnealedLangevin, Langevin, Unmask

names = st.text(alphabet="abcdefghij-", min_size=1, max_size=12)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
params = st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=8), json_scalars | st.lists(json_scalars, max_size=4), max_size=4)
specs = st.builds(ComponentSpec, name=names | st.none(), params=params)
configs = st.builds(
    ModelConfig,
    kernel=specs,
    estimator=specs,
    objective=specs,
    sampler=specs,
    event_shape=st.none() | st.lists(st.integers(1, 64), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
    preset=st.none() | names,
)


@given(configs)
def test_config_round_trips_through_json(config):
    again = ModelConfig.from_json(config.to_json())
    assert again == config
    assert again.to_json() == config.to_json()


def test_config_rejects_unknown_fields():
    data = build("ncsn").config.to_dict() | {"kernal": {}}
    with pytest.raises(ConfigError, match="kernal"):
        ModelConfig.from_dict(data)


def test_override_by_name_dict_and_object():
    assert isinstance(build("ncsn", sampler="langevin").sampler, Langevin)
    model = build("ncsn", sampler={"n_steps_each": 50})
    assert model.sampler == AnnealedLangevin(n_steps_each=50)
    mine = Langevin(n_steps=7)
    assert build("ncsn", sampler=mine).sampler is mine
    assert build("ncsn", sampler={"name": "langevin", "n_steps": 3}).sampler == Langevin(n_steps=3)


def test_unregistered_object_needs_no_registration():
    @attrs.frozen
    class MySampler:
        n_steps: int = 5

        def sample(self, estimator, kernel, x_init, *, generator=None, callback=None):
            return x_init

    model = build("ncsn", sampler=MySampler(n_steps=50), event_shape=(2,))
    assert model.sample(3, seed=0).shape == (3, 2)
    assert model.config.sampler == ComponentSpec(name=None, params={"n_steps": 50})


def test_mistyped_parameter_names_the_closest(registry):
    with pytest.raises(ConfigError, match="no parameter 'n_step_each'.*did you mean 'n_steps_each'"):
        build("ncsn", sampler={"n_step_each": 10}, registry=registry)


def test_invalid_parameter_value_is_a_config_error():
    with pytest.raises(ConfigError, match="n_steps_each must be at least 1"):
        build("ncsn", sampler={"n_steps_each": 0})


def test_unknown_override_and_preset():
    with pytest.raises(ConfigError, match="unknown override"):
        build("ncsn", smapler="langevin")
    with pytest.raises(LookupError, match="unknown preset 'ncnn'.*did you mean 'ncsn'"):
        build("ncnn")


@pytest.mark.parametrize(
    "levels, message",
    [([1.0, 1.0, 0.5], "strictly decreasing"), ([0.1, 1.0], "strictly decreasing"), ([1.0, -0.1], "positive"), ([], "at least one")],
)
def test_ladder_must_be_positive_and_strictly_decreasing(levels, message):
    with pytest.raises(ConfigError, match=message):
        build("ncsn", kernel={"levels": levels})


def test_sampler_refuses_a_kernel_of_another_family():
    @attrs.frozen
    class MaskingKernel:
        family = "masking"

        def prior_sample(self, shape, generator):
            raise AssertionError("unreachable")

    with pytest.raises(IncompatibleKernelError, match="AnnealedLangevin works with gaussian kernels"):
        build("ncsn", kernel=MaskingKernel(), objective=MaskedCrossEntropy())
    with pytest.raises(IncompatibleKernelError, match="DenoisingScoreMatching"):
        build("ncsn", kernel=MaskingKernel(), sampler=Unmask())


def test_describe_recovers_registered_name_and_params(registry):
    spec = describe("sampler", AnnealedLangevin(step_lr=1e-4), registry)
    assert spec.name == "annealed-langevin"
    assert spec.params["step_lr"] == 1e-4
