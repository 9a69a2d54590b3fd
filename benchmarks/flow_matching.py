"""Flow matching on the 8-mode ring: sample quality against the number of velocity evaluations.

    OMP_NUM_THREADS=1 flock /tmp/scoregen-bench.lock python benchmarks/flow_matching.py [--steps 10000] [--seeds 0 1 2] [--objective '{"coupling": "ot"}']

For each seed, ``build("flow-matching", seed=seed).fit(train, steps=steps, seed=seed)`` (the
preset's defaults: batch 128, Adam at 1e-3 with cosine decay, EMA 0.999) on a training set of
``steps × 128`` fresh draws of the ring (what a stream of fresh batches would hold); then 10 000
samples (seed ``seed``) by the preset's ODE sampler (Heun, ``NFE/2`` uniform steps in ``t``) at
each NFE, and once by RK45 at ``rtol = atol = 1e-5`` (the network's own flow). Reference rows: the truth's own numbers, and the exact velocity
(:class:`~scoregen.estimators.MixtureVelocity`) through the same sampler, which isolates the
solver's error. Printed per row, from :func:`scoregen.metrics.mixture_quality` (the truth:
coverage ≈ 0.989, occupancy near 1, spread 1, log p ≈ −2.517): the mean over seeds and each
seed's value.
"""

import argparse
import json

import torch

from scoregen import build, data
from scoregen.estimators import MixtureVelocity
from scoregen.metrics import mixture_quality

TRUTH = data.ring_mixture()
N_SAMPLES = 10_000
NFES = (4, 8, 12, 16, 20, 40)
KEYS = ("coverage", "occupancy", "spread", "log_p")


def row(label: str, per_seed: list[dict]) -> str:
    """A markdown row: each metric's mean over seeds, then the per-seed values."""
    cells = []
    for key in KEYS:
        values = [q[key] for q in per_seed]
        mean = sum(values) / len(values)
        cells.append(f"{mean:.4f} ({', '.join(f'{v:.4f}' for v in values)})")
    return f"| {label} | " + " | ".join(cells) + " |"


def sampler(nfe: int) -> dict:
    return {"name": "ode", "method": "heun", "n_steps": nfe // 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--objective", type=json.loads, default={}, help="overrides of the preset's objective, as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"flow-matching preset, objective overrides {args.objective}, {args.steps} steps, {N_SAMPLES} samples, seeds {args.seeds}")
    print("| model, NFE | coverage | occupancy | spread | log p |")
    print("|---|---|---|---|---|")
    print(row("truth", [mixture_quality(TRUTH.sample(N_SAMPLES, generator=torch.Generator().manual_seed(s)), TRUTH) for s in args.seeds]))
    exact = build("flow-matching", estimator=MixtureVelocity(mixture=TRUTH, kernel=build("flow-matching").kernel))
    for nfe in NFES:
        print(row(f"exact velocity, {nfe}", [mixture_quality(exact.sample(N_SAMPLES, seed=s, sampler=sampler(nfe)), TRUTH) for s in args.seeds]))
    models = []
    for seed in args.seeds:
        train = TRUTH.sample(args.steps * 128, generator=torch.Generator().manual_seed(1000 + seed)).float()
        model = build("flow-matching", seed=seed, objective=args.objective)
        models.append(model.fit(train, steps=args.steps, seed=seed, progress=False))
    for nfe in NFES:
        qualities = [mixture_quality(m.sample(N_SAMPLES, seed=s, sampler=sampler(nfe)), TRUTH) for m, s in zip(models, args.seeds)]
        print(row(f"trained, {nfe}", qualities), flush=True)
    adaptive = {"name": "ode", "method": "RK45", "rtol": 1e-5, "atol": 1e-5}  # the network's own flow, without the solver's error
    print(row("trained, RK45", [mixture_quality(m.sample(N_SAMPLES, seed=s, sampler=adaptive), TRUTH) for m, s in zip(models, args.seeds)]))


if __name__ == "__main__":
    main()
