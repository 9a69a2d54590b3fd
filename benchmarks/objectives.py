"""The three score-matching objectives side by side: what a training step costs, and what a model
trained with each is worth.

    python benchmarks/objectives.py cost [--batch-size 256] [--rounds 5] [--threads 1]
    python benchmarks/objectives.py quality [--steps 5000] [--seed 0] [--threads 1]

``cost`` times a training step (forward + backward) of each objective on the same estimator (the
``ncsn`` MLP) and the same batch at D = 2, 64 and 784, relative to DSM (targets: SSM with one
projection ≤ 2.5× DSM), then the vectorised ISM trace against a naive loop of one autograd call per
dimension (target: ≥ 5× faster at D = 64). Timings are medians over rounds that interleave the
contenders (each timing repeats a step to span ≥ 50 ms), so a busy machine slows all alike.

``quality`` trains ``ncsn`` with each objective on the 8-mode ring (same data, steps and seed),
samples with the preset's annealed Langevin, and prints sliced-W2 over its floor (two independent
true draws) and the mode statistics (target: ≤ 2× floor for all).
"""

import argparse
import json
import statistics
import time

import torch
from torch.func import jvp, vmap

from scoregen import build, data
from scoregen.estimators import NoiseConditionalMLP
from scoregen.kernels import GaussianLadder
from scoregen.metrics import mode_stats, sliced_wasserstein
from scoregen.objectives import DenoisingScoreMatching, ImplicitScoreMatching, SlicedScoreMatching, VarianceReducedSSM
from scoregen.objectives.ssm import projections

OBJECTIVES = {
    "dsm": DenoisingScoreMatching(),
    "ssm (M=1)": SlicedScoreMatching(),
    "ssm-vr (M=1)": VarianceReducedSSM(),
    "ssm (M=4)": SlicedScoreMatching(n_projections=4),
    "ism": ImplicitScoreMatching(),
}


def ssm_forward_mode(estimator, kernel, x, generator):
    """SSM as in ``ssm``, but with forward-mode products (torch.func.jvp batched by vmap), to
    show why the library uses reverse mode."""
    sigma = kernel.sample_sigma(x.shape[0], generator)
    x_tilde = kernel.perturb(x, sigma, generator)
    v = projections("rademacher", (1, *x.shape), generator, like=x)
    score, jv = vmap(lambda u: jvp(lambda y: estimator(y, sigma), (x_tilde,), (u,)), out_dims=(None, 0))(v)
    quad = (v * jv).flatten(2).sum(-1).mean(0)
    half_sq = 0.5 * (v * score).flatten(2).sum(-1).pow(2).mean(0)
    return (sigma**2 * (quad + half_sq)).mean()


def ism_naive(estimator, kernel, x, generator):
    """ISM as in ``ism`` (same draws), with the trace from one autograd call per dimension."""
    sigma = kernel.sample_sigma(x.shape[0], generator)
    x_tilde = kernel.perturb(x, sigma, generator).requires_grad_()
    score = estimator(x_tilde, sigma)
    flat = score.flatten(1)
    trace = torch.zeros_like(sigma)
    for i in range(flat.shape[1]):
        row = torch.autograd.grad(flat[:, i].sum(), x_tilde, create_graph=True)[0]
        trace = trace + row.flatten(1)[:, i]
    return (sigma**2 * (trace + 0.5 * flat.pow(2).sum(1))).mean()


def time_steps(contenders: dict, estimator, rounds: int, min_time: float = 0.05) -> dict:
    """Median seconds of one ``loss().backward()`` for each contender. Each timing repeats the
    step until it spans about ``min_time`` seconds; rounds interleave the contenders."""

    def step(loss_fn, seed):
        estimator.zero_grad(set_to_none=True)
        loss_fn(torch.Generator().manual_seed(seed)).backward()

    repeats = {}
    for name, loss_fn in contenders.items():  # warm-up (first calls load code), then calibrate
        step(loss_fn, 0)
        start = time.perf_counter()
        step(loss_fn, 1)
        repeats[name] = max(1, round(min_time / (time.perf_counter() - start)))
    times = {name: [] for name in contenders}
    for r in range(1, rounds + 1):
        for name, loss_fn in contenders.items():
            start = time.perf_counter()
            for k in range(repeats[name]):
                step(loss_fn, r * 1000 + k)
            times[name].append((time.perf_counter() - start) / repeats[name])
    return {name: statistics.median(t) for name, t in times.items()}


def cost(args) -> None:
    kernel = GaussianLadder()
    print(f"training step (forward + backward), batch {args.batch_size}, median of {args.rounds} rounds, "
          f"torch threads {args.threads}; ratio to DSM")
    header = f"{'D':>5} " + " ".join(f"{name:>14}" for name in [*OBJECTIVES, "ssm via jvp"])
    print(header)
    for d in args.dims:
        estimator = NoiseConditionalMLP((d,))
        x = torch.randn(args.batch_size, d, generator=torch.Generator().manual_seed(d))
        contenders = {name: (lambda g, o=o: o.loss(estimator, kernel, x, generator=g)) for name, o in OBJECTIVES.items()}
        contenders["ssm via jvp"] = lambda g: ssm_forward_mode(estimator, kernel, x, g)
        rounds = args.rounds if d <= 64 else max(1, args.rounds // 2)
        t = time_steps(contenders, estimator, rounds)
        print(f"{d:>5} " + " ".join(f"{t[n] / t['dsm']:13.2f}x" for n in contenders)
              + f"   (dsm {t['dsm'] * 1e3:.2f} ms)")

    print(f"\nISM trace: vectorised (torch.func.vjp + vmap) vs a naive loop over dimensions, median of {args.rounds} rounds")
    print(f"{'D':>5} {'batch':>6} {'vectorised':>12} {'naive loop':>12} {'speed-up':>9} {'|Δloss|':>12}")
    ism = ImplicitScoreMatching()
    for d in args.naive_dims:
        for batch in (args.batch_size, 16):
            estimator = NoiseConditionalMLP((d,))
            x = torch.randn(batch, d, generator=torch.Generator().manual_seed(d))
            vec = lambda g: ism.loss(estimator, kernel, x, generator=g)  # noqa: E731
            naive = lambda g: ism_naive(estimator, kernel, x, g)  # noqa: E731
            gap = (vec(torch.Generator().manual_seed(0)) - naive(torch.Generator().manual_seed(0))).detach().abs().item()
            t = time_steps({"vec": vec, "naive": naive}, estimator, args.rounds)
            print(f"{d:>5} {batch:>6} {t['vec'] * 1e3:10.1f}ms {t['naive'] * 1e3:10.1f}ms "
                  f"{t['naive'] / t['vec']:8.2f}x {gap:12.2e}")


def quality(args) -> None:
    truth = data.ring_mixture()
    x = data.gaussian_mixture_2d(20_000, seed=0)
    ref = truth.sample(args.samples, generator=torch.Generator().manual_seed(2)).float()
    other = truth.sample(args.samples, generator=torch.Generator().manual_seed(3)).float()
    projections_seed = lambda: torch.Generator().manual_seed(0)  # noqa: E731 - same projections for all
    floor = sliced_wasserstein(other, ref, generator=projections_seed())
    print(f"ncsn on the 8-mode ring: {args.steps} steps, batch {args.batch_size}, cosine lr, seed {args.seed}; "
          f"{args.samples} samples, annealed Langevin (preset defaults); sliced-W2 floor {floor:.4f}")
    print(f"{'objective':>20} {'SW2/floor':>10} {'modes':>6} {'coverage':>9} {'occupancy':>10} {'fit time':>9}")
    for spec in args.objectives:
        objective = json.loads(spec) if spec.startswith("{") else spec
        name = spec if isinstance(objective, str) else ",".join(f"{v}" for v in objective.values())
        model = build("ncsn", objective=objective, seed=args.seed)
        start = time.perf_counter()
        model.fit(x, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False)
        fit_time = time.perf_counter() - start
        samples = model.sample(args.samples, seed=args.seed + 1)
        sw = sliced_wasserstein(samples, ref, generator=projections_seed())
        stats = mode_stats(samples, truth.means, radius=3 * 0.3)
        print(f"{name:>20} {sw / floor:10.2f} {stats['modes_covered']:>4}/{stats['n_modes']} "
              f"{stats['coverage']:9.3f} {stats['occupancy_ratio']:10.2f} {fit_time:8.0f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cost", "quality"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64, 784])
    parser.add_argument("--naive-dims", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--objectives", nargs="+", default=["dsm", "ssm", "ssm-vr", "ism"],
                        help='names, or JSON specs such as \'{"name": "ssm", "projection": "rademacher"}\'')
    parser.add_argument("--seed", type=int, default=0, help="initial weights, training draws and sampling")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    (cost if args.what == "cost" else quality)(args)


if __name__ == "__main__":
    main()
