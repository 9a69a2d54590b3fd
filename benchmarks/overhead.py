"""Overhead of the library over hand-written PyTorch: the same MLP, data, DSM training step and
annealed Langevin sampling step, timed side by side in one process.

    python benchmarks/overhead.py [--threads 2] [--rounds 5]

Prints the median time per training step and per sampling step (one score evaluation) for
``build("ncsn")`` and for the plain loop, and their ratio (target: ≤ 1.05 for both).
"""

import argparse
import math
import statistics
import time

import torch

from scoregen import build, data


def plain_train(net, x, sigmas, steps, batch_size, lr, generator):
    """Hand-written DSM training: a random ladder level per example, λ(σ) = σ², Adam."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        batch = x[torch.randint(len(x), (batch_size,), generator=generator)]
        sigma = sigmas[torch.randint(len(sigmas), (batch_size,), generator=generator)]
        z = torch.randn(batch.shape, generator=generator)
        x_tilde = batch + sigma[:, None] * z
        score = net(torch.cat([x_tilde, sigma.log()[:, None]], dim=1)) / sigma[:, None]
        loss = (0.5 * ((sigma[:, None] * score + z) ** 2).sum(dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def plain_sample(net, sigmas, n, n_steps_each, step_lr, generator):
    """Hand-written annealed Langevin: α_i = ε σ_i²/σ_L², x ← x + α/2 s + √α z, Tweedie step."""
    x = sigmas[0] * torch.randn(n, 2, generator=generator)
    for sigma in sigmas.tolist():
        alpha = step_lr * (sigma / sigmas[-1].item()) ** 2
        s_col = torch.full((n, 1), sigma)
        log_s = s_col.log()
        for _ in range(n_steps_each):
            score = net(torch.cat([x, log_s], dim=1)) / s_col
            x = x + 0.5 * alpha * score + math.sqrt(alpha) * torch.randn(x.shape, generator=generator)
    s_col = torch.full((n, 1), sigmas[-1].item())
    return x + s_col**2 * net(torch.cat([x, s_col.log()], dim=1)) / s_col


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--steps-each", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x = data.gaussian_mixture_2d(20_000, seed=0)
    model = build("ncsn")
    model.fit(x, steps=1, progress=False)  # creates the estimator
    net = model.estimator.net  # the very same MLP for both
    sigmas = model.kernel.sigmas
    sampler = {"n_steps_each": args.steps_each}
    nfe = len(sigmas) * args.steps_each + 1

    times = {"train": ([], []), "sample": ([], [])}
    for r in range(args.rounds):
        lib_t = timed(lambda: model.fit(x, steps=args.train_steps, batch_size=args.batch_size, lr_decay="none", ema_decay=None, seed=r, progress=False))
        g = torch.Generator().manual_seed(r)
        plain_t = timed(lambda: plain_train(net, x, sigmas, args.train_steps, args.batch_size, 1e-3, g))
        times["train"][0].append(lib_t / args.train_steps)
        times["train"][1].append(plain_t / args.train_steps)
        lib_t = timed(lambda: model.sample(args.samples, seed=r, sampler=sampler))
        plain_t = timed(lambda: plain_sample(net, sigmas, args.samples, args.steps_each, 2e-5, torch.Generator().manual_seed(r)))
        times["sample"][0].append(lib_t / nfe)
        times["sample"][1].append(plain_t / nfe)

    print(f"threads={args.threads} rounds={args.rounds} batch={args.batch_size} samples={args.samples} (median per step)")
    print(f"{'':8} {'scoregen':>12} {'plain torch':>12} {'ratio':>7}")
    for what, (lib, plain) in times.items():
        lib_m, plain_m = statistics.median(lib), statistics.median(plain)
        print(f"{what:8} {lib_m * 1e3:10.3f}ms {plain_m * 1e3:10.3f}ms {lib_m / plain_m:7.3f}")


if __name__ == "__main__":
    main()
