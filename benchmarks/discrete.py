"""Does the masking family learn what it is shown? Total variation of samples to an enumerable
table, against the sampling floor, for ``build("masked", kernel={"vocab_size": V})``.

    OMP_NUM_THREADS=1 python benchmarks/discrete.py [--steps 5000] [--lr 3e-3] [--weightings elbo masked-mean]
        [--tables copy sum parity] [--n 20000] [--train 50000] [--seed 0]

For each table of ``scoregen.analytic.sequences.long_range_tables`` (each with a dependency across
the whole sequence) it prints:

- ``floor``: the mean total variation of ``n`` true draws to the table (over 8 draws);
- ``exact``: the exact posterior through the same sampler (``unmask``, one token per step): at
  the floor, so the sampler is not the limit;
- for each training weighting of ``masked-ce``, each step count and each learning rate: the
  preset trained with ``fit`` (Adam with cosine decay, batch 128, EMA 0.999) on ``train`` draws
  of the table, then ``n`` samples: TV, TV over the floor, and the test NLL bound (bits per
  token) beside the table's entropy.
"""

import argparse
import time

import torch

from scoregen import build
from scoregen.analytic.sequences import long_range_tables, sampling_floor
from scoregen.estimators import ExactDiscrete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", default=["copy", "sum", "parity"])
    parser.add_argument("--steps", nargs="+", type=int, default=[5000])
    parser.add_argument("--lr", nargs="+", type=float, default=[3e-3])
    parser.add_argument("--weightings", nargs="+", default=["elbo", "masked-mean"])
    parser.add_argument("--n", type=int, default=20_000, help="samples per model")
    parser.add_argument("--train", type=int, default=50_000, help="training draws of the table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    known = long_range_tables(args.seed)
    print(f"{'table':7} {'model':24} {'TV':>7} {'TV/floor':>8} {'bound':>7} {'entropy':>7} {'train s':>7}")
    for name in args.tables:
        table = known[name]
        v, length = table.vocab_size, table.length
        base = sampling_floor(table, args.n, seed=1000 + args.seed)
        x = table.sample(args.train, torch.Generator().manual_seed(args.seed))
        test = table.sample(5000, torch.Generator().manual_seed(args.seed + 1))
        entropy = table.entropy_bits_per_token()
        exact = build("masked", kernel={"vocab_size": v}, estimator=ExactDiscrete(table))
        tv = table.total_variation(exact.sample(args.n, seed=args.seed + 2))
        print(f"{name:7} {'floor':24} {base:7.4f} {1.0:8.2f}")
        print(f"{name:7} {'exact posterior':24} {tv:7.4f} {tv / base:8.2f} {entropy:7.4f} {entropy:7.4f}", flush=True)
        for weighting in args.weightings:
            for steps, lr in [(s, r) for s in args.steps for r in args.lr]:
                model = build("masked", kernel={"vocab_size": v}, objective={"weighting": weighting}, event_shape=(length,))
                started = time.perf_counter()
                model.fit(x, steps=steps, lr=lr, seed=args.seed, progress=False)
                seconds = time.perf_counter() - started
                tv = table.total_variation(model.sample(args.n, seed=args.seed + 2))
                net = model.sampling_estimator("bound")
                bound, _ = model.objective.bound(net, model.kernel, test, generator=torch.Generator().manual_seed(3))
                label = f"{weighting}, {steps}, lr {lr:g}"
                print(f"{name:7} {label:24} {tv:7.4f} {tv / base:8.2f} {bound:7.4f} {entropy:7.4f} {seconds:7.0f}", flush=True)


if __name__ == "__main__":
    main()
