"""The fitted convergence slope of every deterministic σ-grid sampler against a reference solution
of the probability-flow ODE (``scoregen.testing.convergence.check_order``), over three ranges of
step counts, and DPM-Solver++(3M) with the public second-difference weight (1) beside ours (2).

    OMP_NUM_THREADS=1 python benchmarks/sampler_orders.py      # about a minute of CPU
"""

import sys
from pathlib import Path

from scoregen.plugins import get_registry
from scoregen.samplers import dpm
from scoregen.testing.convergence import check_order

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_grid_samplers import ORDERS  # the stated orders live with their test

RANGES = ((16, 32, 64, 128), (32, 64, 128, 256), (64, 128, 256, 512))


def slopes(sampler) -> list[float]:
    return [check_order(sampler, 0.0, steps=steps) for steps in RANGES]


def main() -> None:
    print("| sampler | stated order | " + " | ".join(f"{r[0]}–{r[-1]} steps" for r in RANGES) + " |")
    print("|---" * (len(RANGES) + 2) + "|")
    registry = get_registry()
    for name, params, order in ORDERS:
        row = slopes(registry.get("sampler", name).factory(**params))
        print(f"| {name} {params or ''} | {order} | " + " | ".join(f"{s:.2f}" for s in row) + " |", flush=True)
    dpm.SECOND_DIFFERENCE_WEIGHT = 1.0
    row = slopes(dpm.DPMPP3MSDE(eta=0.0))
    print("| dpm++3m-sde {'eta': 0.0}, public weight 1 | 3 | " + " | ".join(f"{s:.2f}" for s in row) + " |")


if __name__ == "__main__":
    main()
