"""Fuzzing the public surface: every registered component's parameters (drawn from its attrs
fields or signature, for every name the registry holds, plugins included), the public verbs, the
CLI and the fields of saved files. Each input must end in a scoregen error or a sane result,
never a foreign exception, a NaN or a hang (:mod:`fuzzing`).

``benchmarks/fuzz_counts.py`` runs this module and prints how many inputs each verb was tried on.
"""

import json
import math
import shutil

import pytest
import torch
from fuzzing import examples, expensive, floats, ints, overrides_for, sane, some_of, verdict, wild, write_counts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoregen import build, data, load
from scoregen.errors import CheckpointWarning, ScoregenError
from scoregen.plugins import get_registry
from scoregen.registry import KINDS
from scoregen.training import TrainConfig, train

FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
X = data.gaussian_mixture_2d(48, seed=0)
TOKENS = (torch.arange(48 * 4).reshape(48, 4) % 3 == 0).long()
PARTS = ("kernel", "estimator", "objective", "sampler")


@pytest.fixture(scope="module", autouse=True)
def _counts():
    yield
    write_counts()


def _family(kind: str, factory) -> str:
    if kind == "kernel":
        return getattr(factory, "family", "gaussian")
    return (getattr(factory, "families", None) or ("gaussian",))[0]


def _components() -> list[tuple[str, str]]:
    registry = get_registry()
    return [(kind, name) for kind in PARTS for name in registry.names(kind)]


SMALL = {
    "gaussian": {"estimator": {"hidden": [16]}, "sampler": {"n_steps_each": 2}},
    "masking": {"estimator": {"hidden": [16]}},
}


MAX_NFE = 4000
"""Samplers that a valid configuration makes costlier (``pc`` with 31 corrector steps: 16 000
score evaluations) are fitted but not run: their cost is the user's choice, not a hang."""


def _affordable(model) -> bool:
    try:
        nfe = model.sampler.nfe(model.kernel)
    except ScoregenError:
        return True  # sampling raises it again, and that is what is checked
    return nfe is None or nfe <= MAX_NFE


def _exercise(model, family: str) -> None:
    """Train two steps, sample, and (Gaussian) evaluate the score: each result must be sane."""
    x = X if family == "gaussian" else TOKENS
    model.fit(x, steps=2, batch_size=8, log_every=1, progress=False)
    sane(model, "fit")
    if _affordable(model):
        sane(model.sample(3, seed=0), "sample")
    if family == "gaussian":
        sane(model.score(x[:3], 0.5), "score")


@pytest.mark.parametrize(("kind", "name"), _components())
def test_component_parameters(kind, name):
    """Every registered component, built with hostile parameters inside its family's preset."""
    factory = get_registry().get(kind, name).factory
    family = _family(kind, factory)
    preset = "ncsn" if family == "gaussian" else "masked"

    @settings(max_examples=examples(16), **FUZZ)
    @given(params=overrides_for(factory))
    def fuzz(params):
        overrides = {part: spec for part, spec in SMALL[family].items() if part != kind}
        overrides[kind] = {"name": name, **params}
        model = verdict(f"build({kind})", lambda: build(preset, **overrides), f"{kind}={overrides[kind]}")
        if model is not None and not expensive(params):
            verdict(f"run({kind})", lambda: _exercise(model, family), f"{kind}={overrides[kind]}")

    fuzz()


EXTENSIONS = ("grid", "predictor", "sigma-distribution", "parameterisation", "preconditioning", "guidance", "posterior")
"""Kinds that extend the parts above: built alone with hostile parameters (a grid is also walked)."""


def _extensions() -> list[tuple[str, str]]:
    registry = get_registry()
    return [(kind, name) for kind in EXTENSIONS if kind in KINDS for name in registry.names(kind)]


@pytest.mark.parametrize(("kind", "name"), _extensions())
def test_extension_parameters(kind, name):
    from scoregen.config import ComponentSpec, instantiate
    from scoregen.kernels import VESDE

    registry = get_registry()
    factory = registry.get(kind, name).factory

    @settings(max_examples=examples(12), **FUZZ)
    @given(params=overrides_for(factory))
    def fuzz(params):
        made = verdict(f"build({kind})", lambda: instantiate(kind, ComponentSpec(name=name, params=params), registry), f"{params}")
        if kind == "grid" and made is not None and not expensive(params):
            verdict("run(grid)", lambda: made(VESDE(), 5, zero=True), f"{name} {params}")

    fuzz()


@pytest.fixture(scope="module")
def trained():
    model = build("ncsn", estimator={"hidden": [16]}, sampler={"n_steps_each": 2})
    model.fit(X, steps=3, batch_size=8, progress=False)
    return model


BUILD_KEYS = {
    "name": st.one_of(st.sampled_from(["ve-sde", "vp-sde", "masked", "ncsnv2", "nope"]), wild),
    "event_shape": st.one_of(st.none(), wild, st.lists(ints, max_size=3)),
    "seed": st.one_of(ints, wild),
    "sampler": st.one_of(st.sampled_from(["langevin", "pc", "unmask", "nope"]), wild),
    "objective": st.one_of(st.sampled_from(["ism", "ssm", "masked-ce"]), wild),
}


@settings(max_examples=examples(40), **FUZZ)
@given(kwargs=some_of(BUILD_KEYS))
def test_build(kwargs):
    kwargs = {"event_shape": (2,), **kwargs}
    name = kwargs.pop("name", "ncsn")
    verdict("build", lambda: build(name, **kwargs), f"{name!r}, {kwargs}")


FIT_KEYS = {
    "steps": st.one_of(st.sampled_from([0, 1, 2, math.inf, 2.5, "3", True, -1]), ints.filter(lambda k: k < 5)),
    "batch_size": st.one_of(ints.filter(lambda k: k < 100), wild),
    "lr": st.one_of(floats, wild),
    "lr_decay": st.one_of(st.sampled_from(["cosine", "none"]), wild),
    "warmup": st.one_of(ints, wild),
    "seed": st.one_of(ints, wild),
    "log_every": st.one_of(ints, wild),
    "ema_decay": st.one_of(st.none(), floats, wild),
    "grad_clip": st.one_of(st.none(), floats, wild),
    "progress": st.one_of(st.booleans(), wild),
    "out": wild,
    "checkpoint_every": st.one_of(ints, wild),
}


@settings(max_examples=examples(40), **FUZZ)
@given(kwargs=some_of(FIT_KEYS))
def test_fit(kwargs):
    kwargs = {"steps": 2, "progress": False, **kwargs}
    if isinstance(kwargs["steps"], int) and not isinstance(kwargs["steps"], bool) and kwargs["steps"] > 5:
        kwargs["steps"] = 5
    if isinstance(kwargs.get("out"), str):  # a path is a valid output folder; the CLI fuzz tries hostile ones
        kwargs.pop("out")
    model = build("ncsn", estimator={"hidden": [16]})
    verdict("fit", lambda: model.fit(X, **kwargs), f"{kwargs}")


SAMPLE_KEYS = {
    "n": st.one_of(st.sampled_from([1, 0, -1, 2.5, "3", True, 10**12, math.inf]), wild),
    "seed": st.one_of(st.none(), ints, wild),
    "sampler": st.one_of(st.sampled_from(["langevin", "pc", "ode", "unmask", "nope"]), wild),
    "generator": wild,
    "callback": wild,
    "progress": wild,
}


@settings(max_examples=examples(40), **FUZZ)
@given(kwargs=some_of(SAMPLE_KEYS))
def test_sample(trained, kwargs):
    kwargs = {"n": 3, **kwargs}
    n = kwargs["n"]
    if isinstance(n, int) and not isinstance(n, bool) and 5 < n < 10**9:
        kwargs["n"] = 5
    if kwargs.get("sampler") in ("langevin", "pc", "ode"):
        kwargs["sampler"] = {"name": kwargs["sampler"], "n_steps": 3}
    verdict("sample", lambda: trained.sample(**kwargs), f"{kwargs}")


POINTS = st.lists(st.lists(floats, min_size=2, max_size=2), min_size=1, max_size=3)
SCORE_KEYS = {
    "x": st.one_of(POINTS, wild),
    "sigma": st.one_of(floats, wild, st.lists(floats, min_size=1, max_size=3)),
}


@settings(max_examples=examples(40), **FUZZ)
@given(kwargs=some_of(SCORE_KEYS))
def test_score(trained, kwargs):
    kwargs = {"x": X[:3], "sigma": 0.5, **kwargs}
    verdict("score", lambda: trained.score(kwargs["x"], kwargs["sigma"]), f"{kwargs}")


LOG_PROB_KEYS = {
    "divergence": st.one_of(st.sampled_from(["exact", "hutchinson"]), wild),
    "rtol": st.one_of(floats, wild),
    "atol": st.one_of(floats, wild),
    "seed": st.one_of(ints, wild),
    "x": st.one_of(POINTS, wild),
}


@settings(max_examples=examples(15), **FUZZ)
@given(kwargs=some_of(LOG_PROB_KEYS, most=1))
def test_log_prob(trained, kwargs):
    kwargs = {"rtol": 1e-3, "atol": 1e-3, **kwargs}
    x = kwargs.pop("x", X[:2])
    verdict("log_prob", lambda: trained.log_prob(x, **kwargs), f"x={x!r}, {kwargs}")


TOY_KEYS = {
    "n": st.one_of(ints.filter(lambda k: k < 10**6), wild),
    "seed": st.one_of(ints, wild),
    "n_modes": st.one_of(ints.filter(lambda k: k < 10**6), wild),
    "radius": st.one_of(floats, wild),
    "std": st.one_of(floats, wild),
}


@settings(max_examples=examples(30), **FUZZ)
@given(kwargs=some_of(TOY_KEYS))
def test_toy_data(kwargs):
    kwargs = {"n": 16, **kwargs}
    n = kwargs.pop("n")
    verdict("data.gaussian_mixture_2d", lambda: data.gaussian_mixture_2d(n, **kwargs), f"n={n!r}, {kwargs}")


@settings(max_examples=examples(30), **FUZZ)
@given(path=st.one_of(wild, st.sampled_from(["/dev/null", "/", "/proc/self", "\x00"])))
def test_load_and_save_paths(trained, path):
    verdict("load(path)", lambda: load(path), repr(path))
    if not isinstance(path, str) or path in ("/dev/null", "/proc/self", "\x00"):  # never write anywhere real
        verdict("save(path)", lambda: trained.save(path), repr(path))


@settings(max_examples=examples(20), **FUZZ)
@given(x=st.one_of(POINTS, wild), generator=st.one_of(st.none(), wild))
def test_loss(trained, x, generator):
    verdict("loss", lambda: trained.loss(x, generator=generator), f"x={x!r}, generator={generator!r}")


@settings(max_examples=examples(20), **FUZZ)
@given(component=st.one_of(wild, st.sampled_from([object(), "langevin", len])))
def test_conformance_checks_refuse_what_is_not_a_component(component):
    from scoregen import testing

    for check in (testing.check_kernel, testing.check_estimator, testing.check_objective, testing.check_sampler):
        verdict(f"testing.{check.__name__}", lambda: check(component), repr(component))


# ------------------------------------------------------------------ the CLI

@pytest.fixture(scope="module")
def saved(tmp_path_factory, trained):
    folder = tmp_path_factory.mktemp("saved") / "model"
    trained.save(folder)
    return folder


CLI_VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "2", "x", "nan", "inf", "1e300", "2.5", "", "1000000000000"]), st.text(max_size=4))


@settings(max_examples=examples(30), **FUZZ)
@given(command=st.sampled_from(["sample", "train", "plot", "list", "suggest-sigmas", "demo"]), data_=st.data())
def test_cli(saved, tmp_path_factory, command, data_):
    from scoregen.cli import main

    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "a_file").write_text("x")
    paths = st.sampled_from([str(tmp / "out.png"), str(tmp / "a_file"), str(tmp / "a_file" / "x.png"), str(tmp / "o.xyz"), str(tmp), str(tmp / "new")])
    if command == "sample":
        argv = ["sample", data_.draw(st.sampled_from([str(saved), str(tmp), str(tmp / "a_file")])), "--quiet",
                "-n", data_.draw(st.one_of(CLI_VALUES, st.just("3"))), "--out", data_.draw(paths)]
        if data_.draw(st.booleans()):
            argv += ["--sampler", data_.draw(st.sampled_from(["langevin", "nope", "unmask", ""]))]
    elif command == "train":
        steps = data_.draw(st.sampled_from(["0", "1", "2", "-1", "x", "2.5", "inf"]))
        argv = ["train", data_.draw(st.sampled_from(["ncsn", "nope", "masked"])), "--data", data_.draw(st.sampled_from(["gmm", "nope.npy", str(tmp / "a_file")])),
                "--steps", steps, "--out", data_.draw(paths), "--quiet", "--batch-size", data_.draw(st.sampled_from(["8", "0", "-2", "x"]))]
        flag = data_.draw(st.sampled_from(["--lr", "--seed", "--log-every", "--checkpoint-every", "--ema-decay", "--grad-clip", "--shards"]))
        argv += [flag, data_.draw(CLI_VALUES)]
    elif command == "plot":
        argv = ["plot", data_.draw(st.sampled_from([str(saved), str(tmp), str(tmp / "a_file")])), "--quiet", "-n", data_.draw(CLI_VALUES)]
    elif command == "list":
        argv = ["list", *data_.draw(st.lists(st.sampled_from(["sampler", "kernel", "nope", "dataset"]), max_size=1))]
    elif command == "suggest-sigmas":
        argv = ["suggest-sigmas", data_.draw(st.sampled_from(["gmm", "nope", str(tmp / "a_file")])), "--sigma-min", data_.draw(CLI_VALUES)]
    else:  # the demo, refused before any training
        argv = ["demo", "--out", str(tmp / "a_file"), "--steps", data_.draw(CLI_VALUES)]

    def run():
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage error: one line and exit 2
            code = exc.code
        if code not in (0, 1, 2):
            raise AssertionError(f"exit code {code!r}")
        if code != 0:
            raise _Refused()

    verdict("cli", run, " ".join(argv))


class _Refused(ScoregenError):
    """A CLI run that exited non-zero (with its one-line message), counted as refused."""


# ------------------------------------------------------------------ saved files

def _paths(document, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from _paths(value, (*prefix, i))


def _replace(document, path, value, delete: bool):
    if not path:
        return value
    target = document
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.sampled_from([-1, 0, 2.5, 10**20, "x", "", [], {}, [1, "a"], {"decay": 2}]),
                        st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3))


@settings(max_examples=examples(40), **FUZZ)
@given(data_=st.data())
def test_saved_config_fields(saved, tmp_path_factory, data_):
    folder = tmp_path_factory.mktemp("cfg") / "model"
    shutil.copytree(saved, folder)
    document = json.loads((folder / "config.json").read_text())
    path = data_.draw(st.sampled_from(sorted(_paths(document), key=str)))
    document = _replace(document, path, data_.draw(JSON_VALUES), data_.draw(st.booleans()))
    (folder / "config.json").write_text(json.dumps(document))

    def load_and_use():
        model = load(folder)
        return model.sample(2, seed=0)

    verdict("load(config.json)", load_and_use, f"{path} in config.json")


@settings(max_examples=examples(40), **FUZZ)
@given(offset=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_saved_weight_bytes(saved, tmp_path_factory, offset, bit):
    folder = tmp_path_factory.mktemp("w") / "model"
    shutil.copytree(saved, folder)
    raw = bytearray((folder / "weights.safetensors").read_bytes())
    raw[offset % len(raw)] ^= 1 << bit
    (folder / "weights.safetensors").write_bytes(bytes(raw))

    def load_and_use():
        return load(folder).sample(2, seed=0)

    verdict("load(weights)", load_and_use, f"bit {bit} of byte {offset % len(raw)}")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(steps=4, batch_size=8, checkpoint_every=2, log_every=1)
    train(build("ncsn", estimator={"hidden": [8]}), X, config, out=out, progress=False)
    return out, config


@settings(max_examples=examples(25), **FUZZ)
@given(data_=st.data())
def test_saved_checkpoint_fields(run_folder, tmp_path_factory, data_):
    import warnings

    source, config = run_folder
    out = tmp_path_factory.mktemp("resume")
    shutil.copytree(source, out, dirs_exist_ok=True)
    newest = out / "checkpoints" / "step-00000004"
    name = data_.draw(st.sampled_from(["MANIFEST.json", "trainer.json", "config.json"]))
    document = json.loads((newest / name).read_text())
    path = data_.draw(st.sampled_from(sorted(_paths(document), key=str)))
    document = _replace(document, path, data_.draw(st.one_of(JSON_VALUES, st.sampled_from(["../config.json", "/dev/zero"]))), data_.draw(st.booleans()))
    (newest / name).write_text(json.dumps(document))

    def resume():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CheckpointWarning)
            return train(build("ncsn", estimator={"hidden": [8]}), X, config, out=out, resume=True, progress=False)

    verdict("resume(checkpoint)", resume, f"{path} in {name}")


def test_fuzzing_covers_every_registered_component():
    """A component another helper registers is fuzzed once merged: the list comes from the registry."""
    fuzzed = set(_components()) | set(_extensions())
    registered = {(e.kind, e.name) for e in get_registry() if e.kind in PARTS + EXTENSIONS}
    assert fuzzed == registered
    assert ("sampler", "annealed-kinetic-langevin") in fuzzed  # plugins included
