"""benchmarks/throughput.py compares equal work: each hand-written loop samples what the library's
sampler samples (on the same seed, to round-off), and the script runs end to end on tiny settings."""

import importlib.util
import sys
from pathlib import Path

import pytest

from scoregen import build


def _load():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
    if str(path.parent) not in sys.path:  # it imports benchmarks/hand_loops.py, as a script run from there would
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("bench_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _load()


@pytest.fixture(scope="module")
def model():
    return build("ncsn", event_shape=(2,))


@pytest.mark.parametrize("name", list(BENCH.SAMPLERS))
def test_the_hand_loop_samples_what_the_library_samples(model, name):
    params, hand = BENCH.SAMPLERS[name]
    BENCH.check_same(model, params, hand, n=64)  # asserts the agreement itself


def test_the_unmasking_loop_draws_the_libraries_tokens():
    params, hand = BENCH.MASKING["unmask"]
    assert BENCH.check_same(build("masked", event_shape=(16,)), params, hand, n=64) == 0


def test_a_hand_loop_of_another_update_is_refused(model):
    """The check can fail: Euler's loop is not Heun's sampler, nor DDIM's η = 0 loop Euler-ancestral's."""
    with pytest.raises(AssertionError, match="differs"):
        BENCH.check_same(model, BENCH.SAMPLERS["heun"][0], BENCH.SAMPLERS["euler"][1], n=64)
    with pytest.raises(AssertionError, match="differs"):
        BENCH.check_same(model, {"name": "euler-ancestral", "eta": 0.5}, _eta_one, n=64)


def _eta_one(net, setup, n, g):
    return BENCH.ancestral(net, {**setup, "eta": 1.0}, n, g)


@pytest.mark.parametrize("network", ["mlp", "none"])
def test_the_benchmark_prints_its_table(capsys, network):
    rows = BENCH.main(["--only", "euler,reverse-sde,unmask", "--rounds", "2", "--samples", "16", "--network", network])
    assert [r["sampler"] for r in rows] == ["euler", "reverse-sde", "unmask"]
    assert all(r["ratio"] > 0 and r["nfe"] > 0 for r in rows)
    assert "| euler | 20 |" in capsys.readouterr().out


def test_the_floor_splits_the_added_time_into_evaluations_and_calls(capsys):
    rows = BENCH.main(["--floor", "--only", "euler,unmask", "--rounds", "1", "--samples", "16"])
    assert [r["sampler"] for r in rows] == ["euler", "unmask"]
    assert "added µs per NFE" in capsys.readouterr().out
