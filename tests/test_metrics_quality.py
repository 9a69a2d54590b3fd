"""mixture_quality: the four numbers samplers are judged by, on draws of the truth and on wrong ones."""

import math

import pytest
import torch

from scoregen import data
from scoregen.metrics import mixture_quality


def test_truth_scores_as_the_truth_and_a_wider_draw_does_not():
    ring = data.ring_mixture()
    x = ring.sample(20_000, torch.Generator().manual_seed(0)).double()
    q = mixture_quality(x, ring)
    assert q["coverage"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)  # P(‖N(0, I₂)‖ ≤ 3)
    assert q["occupancy"] < 1.15
    assert q["spread"] == pytest.approx(1.0, abs=0.02)
    assert q["log_p"] == pytest.approx(float(ring.log_prob(ring.sample(200_000, torch.Generator().manual_seed(1))).mean()), abs=0.02)
    nearest = ring.means[torch.cdist(x, ring.means).argmin(1)]
    wide = mixture_quality(nearest + 1.3 * (x - nearest), ring)
    assert wide["spread"] == pytest.approx(1.3, abs=0.03)
    assert wide["log_p"] < q["log_p"] - 0.1 and wide["coverage"] < q["coverage"] - 0.02
