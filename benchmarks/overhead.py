"""Overhead of the library over hand-written PyTorch: the same MLP, data, DSM training step and
annealed Langevin sampling step, timed side by side in one process (issue 16, target 3).

    python benchmarks/overhead.py [--threads 1] [--rounds 7] [--clock thread] [--compile]

The hand-written training loop has the features ``fit`` has by default, written by hand: a cosine
learning rate and an EMA of the weights (``torch._foreach_lerp_``, the same warm-up); a second
loop has neither (what ``fit(lr_decay="none", ema_decay=None)`` is timed against). Prints the
median time per training step and per sampling step (one score evaluation), the spread
(min–max over rounds) and the ratios (target: ≤ 1.03). Times are this thread's CPU time by
default (``--clock thread``: with one torch thread all the work is on it, and other jobs on a
shared machine do not count); ``--clock wall`` times elapsed seconds. Two more rows time the
``ve-sde`` recipe's step (without and with its 64-row reference target) against the same hand
loop, and two rows put scoregen's network, then its ``dsm`` objective, into the hand loop (where
the overhead goes); ``--compile`` adds ``fit(compile=True)``.
"""

import argparse
import statistics
import time

import hand_loops
import torch
from hand_loops import annealed_langevin, ladder_levels, train_dsm

from scoregen import build, data

CLOCKS = {"thread": time.thread_time, "wall": time.perf_counter}


def timed(fn, clock) -> float:
    start = clock()
    fn()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--train-steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--steps-each", type=int, default=10)
    parser.add_argument("--startup-rows", type=int, default=2_560_000, help="rows of the data set the start-up is timed on")
    parser.add_argument("--compile", action="store_true", help="also time fit(compile=True) (compiles for about 15 s first)")
    parser.add_argument("--clock", choices=CLOCKS, default="thread",
                        help="thread: this thread's CPU time (a shared machine's other jobs do not count); wall: elapsed")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)

    x = data.gaussian_mixture_2d(20_000, seed=0)
    model = build("ncsn")
    model.fit(x, steps=1, progress=False)  # creates the estimator
    net = model.estimator.net  # the very same MLP for all
    sigmas = model.kernel.sigmas.float()
    sampler = {"n_steps_each": args.steps_each}
    nfe = len(sigmas) * args.steps_each + 1
    steps, batch, levels = args.train_steps, args.batch_size, ladder_levels(sigmas)

    contenders = {
        "train (cosine lr + EMA)": (
            lambda r: model.fit(x, steps=steps, batch_size=batch, seed=r, progress=False),
            lambda r: train_dsm(net, x, steps, levels, batch_size=batch, generator=torch.Generator().manual_seed(r)),
            steps,
        ),
        "train (constant lr, no EMA)": (
            lambda r: model.fit(x, steps=steps, batch_size=batch, lr_decay="none", ema_decay=None, seed=r, progress=False),
            lambda r: train_dsm(net, x, steps, levels, batch_size=batch, generator=torch.Generator().manual_seed(r), features=False),
            steps,
        ),
        "sample (annealed Langevin)": (
            lambda r: model.sample(args.samples, seed=r, sampler=sampler),
            lambda r: annealed_langevin(net, sigmas, args.samples, args.steps_each, 2e-5, torch.Generator().manual_seed(r)),
            nfe,
        ),
    }
    estimator, kernel, objective = model.estimator, model.kernel, model.objective

    def library_network(batch, sigma, z):  # the hand loss with scoregen's network (preconditioning, σ input)
        s = sigma[:, None]
        return (0.5 * (s * estimator(batch + s * z, sigma) + z).pow(2).sum(dim=1)).mean()

    def library_objective(batch, sigma, z):  # scoregen's dsm (its own draws) in the hand loop
        return objective.loss(estimator, kernel, batch, generator=generator)

    generator = torch.Generator()
    for what, loss_fn in (("hand loop + scoregen's network", library_network), ("hand loop + scoregen's dsm", library_objective)):
        contenders[what] = (
            lambda r, f=loss_fn: train_dsm(estimator, x, steps, levels, batch_size=batch, generator=generator.manual_seed(r), loss_fn=f),
            contenders["train (cosine lr + EMA)"][1],
            steps,
        )
    for reference in (0, 64):  # the ve-sde recipe's step: EDM preconditioning, log-normal σ, the reference target
        recipe = build("ve-sde", objective={"reference": reference})
        contenders[f"train ve-sde (R = {reference})"] = (
            lambda r, m=recipe: m.fit(x, steps=steps, batch_size=batch, seed=r, progress=False),
            contenders["train (cosine lr + EMA)"][1],
            steps,
        )
    if args.compile:  # torch.compile of the network (fit(compile=True)), on its own model; compiled in the warm-up round
        compiled = build("ncsn")
        contenders["train, compile=True (cosine + EMA)"] = (
            lambda r: compiled.fit(x, steps=steps, batch_size=batch, seed=r, progress=False, compile=True),
            contenders["train (cosine lr + EMA)"][1],
            steps,
        )
    times = {what: ([], []) for what in contenders}
    for r in range(args.rounds + 1):  # round 0 warms up (first calls load code)
        for what, (lib, plain, per) in contenders.items():
            lib_t, plain_t = timed(lambda: lib(r), clock) / per, timed(lambda: plain(r), clock) / per
            if r:
                times[what][0].append(lib_t)
                times[what][1].append(plain_t)

    big = torch.randn(args.startup_rows, 2, generator=torch.Generator().manual_seed(0))
    fresh = {}
    for preset in ("ncsn", "ve-sde"):  # a new model each round: the first fit makes the estimator and its EMA
        fresh[preset] = [timed(lambda p=preset: build(p).fit(big, steps=1, batch_size=batch, progress=False), clock)
                         for _ in range(args.rounds)]
    hand_once = [timed(lambda: train_dsm(hand_loops.mlp(), big, 1, levels, batch_size=batch, generator=torch.Generator()), clock)
                 for _ in range(args.rounds)]

    print(f"torch threads {args.threads}, {args.rounds} interleaved rounds, clock {args.clock}, batch {batch}, {args.samples} samples; "
          "median per step (min–max over rounds)")
    print(f"{'':34} {'scoregen':>22} {'plain torch':>22} {'ratio':>18}")
    for what, (lib, plain) in times.items():
        ratios = [a / b for a, b in zip(lib, plain)]
        print(f"{what:34} {_spread(lib, 1e3, 'ms'):>22} {_spread(plain, 1e3, 'ms'):>22} {_spread(ratios, 1, ''):>18}")
    print(f"\nstart-up: a first fit(steps=1) of a new model on {args.startup_rows} rows (its data checks, σ_d, the EMA copy) "
          "against one hand-written step on the same rows")
    for preset, t in fresh.items():
        print(f"{'fit, ' + preset:34} {_spread(t, 1e3, 'ms'):>22} {_spread(hand_once, 1e3, 'ms'):>22}")


def _spread(values: list[float], scale: float, unit: str) -> str:
    return f"{statistics.median(values) * scale:.3f}{unit} ({min(values) * scale:.3f}–{max(values) * scale:.3f})"


if __name__ == "__main__":
    main()
