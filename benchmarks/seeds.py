"""The cost of per-sample seeds: ``sample(n, seed=s)`` (per-sample generators, scoregen.seeds)
against ``sample(n, generator=g)`` (one generator for the batch), side by side in one process.

    python benchmarks/seeds.py [--threads 1] [--rounds 5]

Prints the median time of one sampling step (one score evaluation) both ways and their ratio,
for the ``ncsn`` MLP on 2-D points and the ``ncsnv2`` U-Net on 8×8 images, at several batch
sizes (target for making per-sample seeds the default: ratio ≤ 1.03).
"""

import argparse
import statistics
import time

import torch

from scoregen import build


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-each", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = [
        ("ncsn mlp, 2-D", build("ncsn", event_shape=(2,), sampler={"n_steps_each": args.steps_each}), (64, 512, 2000)),
        (
            "ncsnv2 unet, 8x8",
            build("ncsnv2", event_shape=(1, 8, 8), kernel={"sigma_max": 10.0, "n_levels": 10},
                  sampler={"n_steps_each": max(1, args.steps_each // 5), "step_lr": 1e-5}),
            (16, 64, 256),
        ),
    ]
    print(f"{'model':<18}{'n':>6}{'per-sample ms':>15}{'one generator ms':>18}{'ratio':>8}")
    for label, model, sizes in cases:
        nfe = model.sampler.nfe(model.kernel)
        for n in sizes:
            ours, plain = [], []
            for _ in range(args.rounds):  # alternate, so both see the same machine load
                ours.append(timed(lambda: model.sample(n, seed=0)))
                plain.append(timed(lambda: model.sample(n, generator=torch.Generator().manual_seed(0))))
            a, b = statistics.median(ours) / nfe * 1e3, statistics.median(plain) / nfe * 1e3
            print(f"{label:<18}{n:>6}{a:>15.3f}{b:>18.3f}{a / b:>8.3f}")


if __name__ == "__main__":
    main()
