"""The bad inputs of issue 15, each refused with scoregen's own error where it enters (before any
training or sampling): type, finiteness and range of every parameter, and of each verb's arguments."""

import math

import pytest
import torch

from scoregen import build, data
from scoregen.errors import ConfigError, DataError, IncompatibleKernelError, NumericalError, ScoregenError

X = data.gaussian_mixture_2d(32, seed=0)
INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    "overrides",
    [
        {"kernel": {"sigma_max": INF}},
        {"kernel": {"n_levels": 1, "sigma_max": -1.0}},
        {"kernel": {"n_levels": 2.5}},
        {"kernel": {"n_levels": True}},
        {"kernel": {"name": "cosine", "t_min": 1e-300}},  # σ(t_min) underflows to 0
        {"kernel": {"name": "vp", "t_min": 1e-300}},
        {"objective": {"weight_power": NAN}},
        {"objective": {"reference": 2.5}},
        {"objective": {"sigma_distribution": {"name": "log-normal", "std": INF}}},
        {"sampler": {"step_lr": INF}},
        {"sampler": {"n_steps_each": 2.5}},
        {"sampler": {"denoise": "yes"}},
        {"sampler": {"name": "langevin", "sigma": 1e300}},
        {"sampler": {"name": "ode", "rtol": NAN}},
        {"sampler": {"name": "annealed-kinetic-langevin", "damping": -1}},  # the example plugins validate too
        {"sampler": {"name": "consistent-annealed", "n_levels": 2.5}},
        {"estimator": {"hidden": "16"}},
        {"estimator": {"hidden": [16.5]}},
        {"estimator": {"activation": "relu6"}},
        {"event_shape": (-1,)},
        {"event_shape": (2.5,)},
        {"seed": -1},
        {"sampler": 5},
        {"objective": object()},
    ],
)
def test_build_refuses_bad_parameters(overrides):
    overrides = {"event_shape": (2,), **overrides}
    with pytest.raises(ConfigError):
        build("ncsn", **overrides)


def test_a_masked_estimator_with_another_vocabulary_is_refused():
    with pytest.raises(ConfigError, match="vocab_size"):
        build("masked", estimator={"vocab_size": 1}, event_shape=(4,))


@pytest.fixture(scope="module")
def model():
    return build("ncsn", estimator={"hidden": [8]}, event_shape=(2,))


@pytest.mark.parametrize(
    "kwargs",
    [{"steps": INF}, {"steps": "3"}, {"steps": 2.5}, {"steps": True}, {"lr": INF}, {"lr": NAN}, {"lr": 1e30},
     {"batch_size": 0}, {"batch_size": 10**15}, {"seed": "a"}, {"seed": 2**70}, {"ema_decay": 1.0}, {"grad_clip": -1.0},
     {"progress": "no"}, {"out": 5}],
)
def test_fit_checks_its_arguments(model, kwargs):
    with pytest.raises(ConfigError):
        model.fit(X, **{"steps": 1, "progress": False, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 1.5}, {"n": 0}, {"n": True}, {"n": 10**15}, {"n": 3, "seed": "a"}, {"n": 3, "seed": -1},
     {"n": 3, "generator": 7}, {"n": 3, "sampler": 5}, {"n": 3, "callback": 5}],
)
def test_sample_checks_its_arguments(model, kwargs):
    with pytest.raises(ConfigError):
        model.sample(**kwargs)


@pytest.mark.parametrize("sigma", [1e300, "0.1", NAN, -1.0, 0.0, 1e-50, True, [0.1, 0.2]])
def test_score_checks_sigma_in_float64_before_the_cast(model, sigma):
    with pytest.raises(DataError):
        model.score(X[:3], sigma)


@pytest.mark.parametrize("kwargs", [{"rtol": NAN}, {"atol": INF}, {"rtol": 0.0}, {"divergence": "exakt"}, {"seed": 1.5}])
def test_log_prob_checks_its_tolerances(model, kwargs):
    with pytest.raises(ConfigError):
        model.log_prob(X[:2], **kwargs)


def test_verbs_of_the_other_family_are_refused():
    masked = build("masked", event_shape=(4,), estimator={"hidden": [8]})
    with pytest.raises(IncompatibleKernelError):
        masked.score(torch.zeros(2, 4), 0.5)
    with pytest.raises(IncompatibleKernelError):
        masked.log_prob(torch.zeros(2, 4))


def test_an_estimator_object_without_event_shape_fails_clearly_at_sample():
    model = build("ve-sde", estimator=lambda x, sigma: -x)
    with pytest.raises(ConfigError, match="event shape is unknown"):
        model.sample(3)


def test_a_diverging_sampler_raises_instead_of_returning_nan():
    model = build("ncsn", estimator=lambda x, sigma: x * 1e30, event_shape=(2,), sampler={"n_steps_each": 3})
    with pytest.raises(NumericalError, match="non-finite"):
        model.sample(4, seed=0)


def test_a_diverging_training_run_raises_instead_of_training_on():
    model = build("ncsn", estimator={"hidden": [8]})
    with pytest.raises(NumericalError, match="loss became non-finite"):
        model.fit(X * 1e18, steps=3, lr=1e3, batch_size=8, log_every=1, progress=False, ema_decay=None)


@pytest.mark.parametrize("call", [lambda: data.gaussian_mixture_2d(-1), lambda: data.gaussian_mixture_2d(4, std=0.0),
                                  lambda: data.gaussian_mixture_2d(10**15), lambda: data.digits_tokens(threshold=2.5)])
def test_data_checks_its_arguments(call):
    with pytest.raises(ScoregenError):
        call()


def test_conformance_checks_refuse_what_is_not_a_component():
    from scoregen import testing

    with pytest.raises(ConfigError, match="check_sampler needs an object with sample"):
        testing.check_sampler(None)
