import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scoregen import build, data, load
from scoregen.errors import CheckpointError, ConfigError, DataError
from scoregen.kernels.gaussian import max_pairwise_distance


@pytest.fixture(scope="module")
def trained():
    """A small trained model (shared: tests must not modify it)."""
    x = data.gaussian_mixture_2d(2000, seed=0)
    return build("ncsn").fit(x, steps=200, batch_size=64, seed=0, progress=False)


def test_fit_logs_loss_per_level(trained):
    assert trained.step == 200
    entry = trained.history[-1]
    assert entry["step"] == 200
    assert len(entry["loss_by_level"]) == 10
    assert np.isclose(entry["loss"], np.nanmean(entry["loss_by_level"]), rtol=0.5)


def test_save_load_round_trip_gives_identical_scores(trained, tmp_path):
    trained.save(tmp_path / "m")
    again = load(tmp_path / "m")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 3
    for sigma in (0.01, 0.3, 10.0):
        assert torch.equal(trained.score(x, sigma), again.score(x, sigma))
    assert again.config == trained.config
    assert again.step == trained.step and again.history == trained.history


def test_same_seed_same_training_and_samples():
    x = data.gaussian_mixture_2d(500, seed=1)
    a = build("ncsn").fit(x, steps=30, seed=3, progress=False)
    b = build("ncsn").fit(x, steps=30, seed=3, progress=False)
    sampler = {"n_steps_each": 3}
    assert torch.equal(a.sample(50, seed=5, sampler=sampler), b.sample(50, seed=5, sampler=sampler))
    c = build("ncsn").fit(x, steps=30, seed=4, progress=False)
    assert not torch.equal(a.sample(50, seed=5, sampler=sampler), c.sample(50, seed=5, sampler=sampler))


def test_score_has_the_shape_of_its_input(trained):
    x = torch.randn(17, 2)
    assert trained.score(x, 0.1).shape == (17, 2)
    assert trained.score(x, torch.full((17,), 0.5)).shape == (17, 2)
    with pytest.raises(DataError, match=r"shape \[17\]"):
        trained.score(x, torch.ones(3))


def test_non_finite_data_names_the_rows():
    x = data.gaussian_mixture_2d(100, seed=0)
    x[[3, 41], 1] = float("nan")
    x[7, 0] = float("inf")
    with pytest.raises(DataError, match=r"3 row\(s\): 3, 7, 41"):
        build("ncsn").fit(x, steps=1, progress=False)


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((0, 2)), [["a", "b"]]])
def test_data_of_wrong_rank_or_type_is_refused(bad):
    with pytest.raises(DataError):
        build("ncsn").fit(bad, steps=1, progress=False)


def test_data_of_another_event_shape_is_refused(trained):
    with pytest.raises(DataError, match=r"event shape \[3\], the model expects \[2\]"):
        trained.score(torch.zeros(4, 3), 0.1)


def test_model_without_data_says_what_to_do():
    with pytest.raises(ConfigError, match="fit it first"):
        build("ncsn").sample(3)


def test_fit_accepts_numpy_and_event_shape_of_images():
    x = np.random.default_rng(0).normal(size=(64, 1, 4, 4)).astype(np.float32)
    model = build("ncsn").fit(x, steps=2, progress=False)
    assert model.sample(5, seed=0, sampler={"n_steps_each": 1}).shape == (5, 1, 4, 4)


def test_auto_sigma_max_is_the_largest_pairwise_distance():
    x = data.gaussian_mixture_2d(300, seed=0)
    model = build("ncsn", kernel={"sigma_max": "auto"}).fit(x, steps=1, progress=False)
    brute = torch.cdist(x.double(), x.double()).max()
    assert float(model.kernel.sigmas[0]) == pytest.approx(float(brute), rel=1e-6)
    assert model.config.kernel.params["sigma_max"] == pytest.approx(float(brute))


@given(st.integers(2, 40), st.integers(1, 7))
def test_max_pairwise_distance_matches_brute_force_for_any_chunk(n, chunk):
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(n))
    assert max_pairwise_distance(x, chunk=chunk) == pytest.approx(float(torch.cdist(x, x).max()), rel=1e-6)


def test_loading_a_damaged_model_is_a_clear_error(trained, tmp_path):
    path = trained.save(tmp_path / "m")
    weights = path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load(path)
    (path / "config.json").write_text('{"format": 1, "conf')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(path)
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load(tmp_path / "nowhere")


def test_saved_config_is_plain_json(trained, tmp_path):
    document = json.loads((trained.save(tmp_path / "m") / "config.json").read_text())
    assert document["config"]["sampler"]["name"] == "annealed-langevin"
    assert document["config"]["event_shape"] == [2]
