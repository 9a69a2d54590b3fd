"""Why the final weights need averaging: ncsn on the 8-mode ring, 10 000 steps at batch 256,
with and without the cosine learning-rate decay and the EMA of weights (4 000 samples each).

    python benchmarks/final_weights.py
"""

import torch

from scoregen import build, data
from scoregen.metrics import mode_stats, sliced_wasserstein

truth = data.ring_mixture()
x = data.gaussian_mixture_2d(20_000, seed=0)
ref, other = (truth.sample(4000, generator=torch.Generator().manual_seed(s)).float() for s in (2, 3))
floor = sliced_wasserstein(other, ref, generator=torch.Generator().manual_seed(0))
for lr_decay, ema_decay in [("none", None), ("cosine", None), ("none", 0.999), ("cosine", 0.999)]:
    model = build("ncsn").fit(x, steps=10_000, batch_size=256, lr_decay=lr_decay, ema_decay=ema_decay, progress=False)
    samples = model.sample(4000, seed=1)
    sw = sliced_wasserstein(samples, ref, generator=torch.Generator().manual_seed(0)) / floor
    print(lr_decay, ema_decay, f"SW2/floor {sw:.2f}", f"occupancy {mode_stats(samples, truth.means, 0.9)['occupancy_ratio']:.2f}")
