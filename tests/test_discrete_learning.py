"""The discrete family learns what it is shown: trained on draws of a table with a long-range
dependency, the ``masked`` preset samples within 2× the sampling floor of total variation
(docs/discrete.md; ``benchmarks/discrete.py`` measures every table and budget)."""

import pytest
import torch

from scoregen import build
from scoregen.analytic.sequences import long_range_tables, sampling_floor


@pytest.mark.slow
def test_masked_learns_a_long_range_dependency_to_twice_the_sampling_floor():
    table = long_range_tables()["copy"]  # V = 3, L = 6: the last token repeats the first
    x = table.sample(50_000, torch.Generator().manual_seed(0))
    model = build("masked", kernel={"vocab_size": 3}, objective={"weighting": "masked-mean"})
    model.fit(x, steps=5000, lr=3e-3, seed=0, progress=False)
    tv = table.total_variation(model.sample(20_000, seed=2))
    floor = sampling_floor(table, 20_000, seed=1000)
    assert tv <= 2 * floor, f"TV {tv:.4f} is {tv / floor:.2f}× the floor {floor:.4f}"


def test_the_long_range_tables_hold_their_rules():
    tables = long_range_tables()
    copy = tables["copy"].sample(2000, torch.Generator().manual_seed(0))
    assert bool((copy[:, 0] == copy[:, -1]).all())
    total = tables["sum"].sample(2000, torch.Generator().manual_seed(0))
    assert bool((total[:, -1] == (total[:, 0] + total[:, 1]) % 3).all())
    parity = tables["parity"].sample(2000, torch.Generator().manual_seed(0))
    assert bool((parity.sum(dim=1) % 2 == 0).all())
    assert int((tables["parity"].flat > 0).sum()) == 32
