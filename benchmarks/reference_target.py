"""What DSM's reference-set target costs (issue 16, target 2), and how exact it is.

    python benchmarks/reference_target.py [--threads 1] [--rounds 7] [--reference 64 4096] [--clock thread]

Times one training step (draws, forward, backward, Adam) of the ``ncsn`` MLP at batch 256 with
plain DSM, with ``dsm(reference=R)`` as the library computes it, and with the former form (the
``B × (B + R)`` distances by ``torch.cdist`` without matrix products, then a softmax), at D = 2
and 64; and, beside them, the floor that no exact form avoids: the ``B × (B + R)`` logits'
matrix product, one ``exp2`` per pair and the weighted sums' product. Rounds interleave the
contenders; the median and the spread (min–max over rounds) are printed, as ratios to the plain
step (target: ≤ 1.5 at D = 2, ≤ 1.2 at D = 64, for R = 4096). Times are this thread's CPU time
(``--clock thread``, the default: other jobs on a shared machine do not count) or elapsed
(``--clock wall``). Then the accuracy: the worst relative error of each float32 form's target against the
float64 definition, at every σ of the ``ncsn`` ladder, on 256 + R rows of a clustered set.
"""

import argparse
import math
import statistics
import time

import torch

from scoregen.estimators import NoiseConditionalMLP
from scoregen.kernels import GaussianLadder
from scoregen.objectives import DenoisingScoreMatching
from scoregen.objectives.base import LossTerms
from scoregen.objectives.reference import reference_target

LADDER = torch.exp(torch.linspace(math.log(10.0), math.log(0.01), 10))


def cdist_target(x, z, sigma, reference):
    """The former form: distances by differences (``torch.cdist`` without the matrix-product
    shortcut), a softmax over ``[x; reference]``, and ``(x̃ − Σ w x)/σ``."""
    x_tilde = x + sigma[:, None] * z
    rows = torch.cat([x, reference])
    d2 = torch.cdist(x_tilde, rows, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    w = torch.softmax(-d2 / (2 * sigma[:, None] ** 2), dim=1)
    return (x_tilde - w @ rows) / sigma[:, None]


def definition(x, z, sigma, reference):
    """The target in float64, distances by differences."""
    x, z, sigma = x.double(), z.double(), sigma.double()
    rows = torch.cat([x, reference.double()])
    x_tilde = x + sigma[:, None] * z
    w = torch.softmax(-(x_tilde[:, None, :] - rows[None]).pow(2).sum(-1) / (2 * sigma[:, None] ** 2), dim=1)
    return (x_tilde - w @ rows) / sigma[:, None]


class FormerDSM(DenoisingScoreMatching):
    """``dsm(reference=R)`` with the former target, for the side-by-side timing."""

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None):
        sigma = kernel.sample_sigma(x.shape[0], generator)
        z = torch.randn(x.shape, generator=generator)
        x_tilde = x + sigma[:, None] * z
        target = cdist_target(x, z, sigma, self._reference(x, generator))
        residual = sigma[:, None] * estimator(x_tilde, sigma) + target
        return LossTerms(loss=0.5 * residual.pow(2).sum(1), sigma=sigma)


def clustered(n: int, dim: int, generator) -> torch.Tensor:
    """``n`` rows around 8 centres (std 0.3), like the 8-mode ring, in ``dim`` dimensions."""
    centres = 2 * torch.randn(8, dim, generator=generator)
    return centres[torch.randint(8, (n,), generator=generator)] + 0.3 * torch.randn(n, dim, generator=generator)


CLOCKS = {"thread": time.thread_time, "wall": time.perf_counter}


def time_rounds(contenders: dict, rounds: int, clock, min_time: float = 0.1) -> dict[str, list[float]]:
    """Seconds per call of each contender in each round (each timing repeats the call until it
    spans about ``min_time``); rounds interleave the contenders."""
    repeats = {}
    for name, fn in contenders.items():
        fn()
        start = clock()
        fn()
        repeats[name] = max(1, round(min_time / max(clock() - start, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = clock()
            for _ in range(repeats[name]):
                fn()
            times[name].append((clock() - start) / repeats[name])
    return times


def cost(args) -> None:
    kernel = GaussianLadder()
    print(f"training step at batch {args.batch_size}, torch threads {args.threads}, clock {args.clock}, "
          f"median (min–max) of {args.rounds} interleaved rounds, as a ratio to the plain DSM step")
    print(f"{'D':>4} {'R':>5} {'plain step':>11} {'reference (now)':>18} {'reference (cdist)':>18} {'floor':>17}")
    for dim in (2, 64):
        gen = torch.Generator().manual_seed(dim)
        train = clustered(50_000, dim, gen)
        estimator = NoiseConditionalMLP((dim,))
        optimizer = torch.optim.Adam(estimator.parameters(), lr=1e-4)

        def step(objective):
            x = train[torch.randint(len(train), (args.batch_size,), generator=gen)]
            loss = objective.loss(estimator, kernel, x, generator=gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        for r in args.reference:
            objectives = {
                "plain": DenoisingScoreMatching(),
                "now": DenoisingScoreMatching(reference=r).with_data(train),
                "cdist": FormerDSM(reference=r).with_data(train),
            }
            m = args.batch_size + r
            left, right = torch.randn(args.batch_size, dim + 2, dtype=torch.float64), torch.randn(m, dim + 2, dtype=torch.float64)
            logits, values = -60 * torch.rand(args.batch_size, m), torch.randn(dim + 1, m)
            contenders = {name: (lambda o=o: step(o)) for name, o in objectives.items()}
            contenders["floor"] = lambda: (left @ right.T, values @ logits.exp2().T)
            times = time_rounds(contenders, args.rounds, CLOCKS[args.clock])
            plain = statistics.median(times["plain"])

            def ratio(name):
                t = times[name]
                return f"{statistics.median(t) / plain:5.2f} ({min(t) / plain:.2f}–{max(t) / plain:.2f})"

            print(f"{dim:>4} {r:>5} {plain * 1e3:9.3f}ms {ratio('now'):>18} {ratio('cdist'):>18} {'+' + ratio('floor'):>17}",
                  flush=True)


def accuracy(args) -> None:
    r = max(args.reference)
    print(f"\nworst relative error of the float32 target against the float64 definition, {args.batch_size} + "
          f"{r} rows of a clustered set, by σ of the ncsn ladder")
    print(f"{'D':>4} {'form':>8} " + " ".join(f"{s:>8.3g}" for s in LADDER.tolist()))
    for dim in (2, 64):
        gen = torch.Generator().manual_seed(100 + dim)
        pool = clustered(args.batch_size + r, dim, gen)
        x, reference = pool[: args.batch_size], pool[args.batch_size:]
        sigma = LADDER.repeat(args.batch_size // 10 + 1)[: args.batch_size].float()
        z = torch.randn(x.shape, generator=gen)
        exact = definition(x, z, sigma, reference)
        for name, form in (("now", reference_target), ("cdist", cdist_target)):
            error = (form(x, z, sigma, reference).double() - exact).norm(dim=1) / exact.norm(dim=1)
            print(f"{dim:>4} {name:>8} " + " ".join(f"{float(error[sigma == s].max()):8.1e}" for s in LADDER.float()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--reference", type=int, nargs="+", default=[64, 4096])
    parser.add_argument("--clock", choices=CLOCKS, default="thread")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cost(args)
    accuracy(args)


if __name__ == "__main__":
    main()
