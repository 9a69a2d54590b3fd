"""scoregen against a hand-written PyTorch loop of the same network, on any device.

    python benchmarks/gpu.py --device cuda            # on a GPU
    python benchmarks/gpu.py --device cpu --threads 1 # what CI and the CPU numbers use

For each data set (the 8×8 digits, a 32×32 synthetic image set) and each mode (``fp32``,
``bf16``, ``bf16+compile``) it trains the ``ncsnv2`` U-Net with DSM on the ladder for a fixed
number of steps through ``model.fit`` and through a plain loop (same network class, ladder,
batch, Adam, EMA; the same autocast and ``torch.compile``), then samples with annealed Langevin
through ``model.sample`` and through a plain loop. Rounds alternate between the two, and the best
round of each is kept. It prints steps/s, score evaluations/s and the ratio of scoregen's time to
the plain loop's (target ≤ 1.03), and checks that seeded sampling is reproducible on the device
(two ``sample(n, seed=0)`` calls equal bit for bit).
"""

import argparse
import contextlib
import copy
import math
import time

import torch

from scoregen import build

MODES = {"fp32": (None, False), "bf16": (torch.bfloat16, False), "bf16+compile": (torch.bfloat16, True)}


def synthetic_images(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` smooth random RGB images ``[n, 3, size, size]`` in ``[0, 1]``: blobs at random places."""
    grid = torch.linspace(-1.0, 1.0, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centres = torch.rand(n, 3, 2, generator=generator) * 2 - 1
    widths = 0.2 + 0.5 * torch.rand(n, 3, 1, 1, generator=generator)
    d2 = (xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * widths**2))


def data_sets(names, n_synthetic: int) -> dict[str, torch.Tensor]:
    out = {}
    for name in names:
        if name == "digits":
            from scoregen.data import digits

            out[name] = digits("train")
        else:
            out[name] = synthetic_images(n_synthetic, 32, torch.Generator().manual_seed(0))
    return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def autocast(dtype, device):
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def plain_train(net, ema, x, sigmas, steps, batch_size, dtype, generator, device):
    """DSM on the ladder by hand: a level per example, ``½‖σ s(x̃, σ) + z‖²``, Adam, EMA 0.999."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    shadow = list(ema.parameters())
    for k in range(1, steps + 1):
        batch = x[torch.randint(len(x), (batch_size,), generator=generator, device=device)]
        sigma = sigmas[torch.randint(len(sigmas), (batch_size,), generator=generator, device=device)]
        z = torch.randn(batch.shape, generator=generator, device=device)
        with autocast(dtype, device):
            score = net(batch + sigma[:, None, None, None] * z, sigma)
        loss = 0.5 * (sigma[:, None, None, None] * score.float() + z).pow(2).flatten(1).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        d = min(0.999, (1 + k) / (10 + k))
        with torch.no_grad():
            for s, p in zip(shadow, net.parameters()):
                s.lerp_(p, 1 - d)


@torch.no_grad()
def plain_sample(net, sigmas, shape, n_steps_each, step_lr, generator, device):
    """Annealed Langevin by hand: ``α_i = ε σ_i²/σ_L²``, ``x ← x + α/2 s + √α z``, a Tweedie step."""
    levels = sigmas.tolist()
    x = levels[0] * torch.randn(shape, generator=generator, device=device)
    for sigma in levels:
        alpha = step_lr * (sigma / levels[-1]) ** 2
        s = torch.full((shape[0],), sigma, device=device)
        for _ in range(n_steps_each):
            x = x + 0.5 * alpha * net(x, s) + math.sqrt(alpha) * torch.randn(x.shape, generator=generator, device=device)
    s = torch.full((shape[0],), levels[-1], device=device)
    return x + levels[-1] ** 2 * net(x, s)


def bench(name, x, mode, args, device) -> dict:
    dtype, compile_ = MODES[mode]
    overrides = {"estimator": {"channels": args.channels}, "sampler": {"n_steps_each": args.steps_each}}
    if args.n_levels:
        overrides["kernel"] = {"n_levels": args.n_levels}
    model = build("ncsnv2", device=device, **overrides)
    model.fit(x, steps=1, batch_size=args.batch_size, progress=False, precision=_precision(mode), compile=compile_)
    net = copy.deepcopy(model.estimator)  # the same network class and weights, trained by hand
    ema = copy.deepcopy(net).requires_grad_(False)
    run_net = torch.compile(net) if compile_ else net
    sample_net = torch.compile(ema) if compile_ else ema
    sigmas = model.kernel.sigmas.to(device)
    xd = x.to(device)
    g = torch.Generator(device=device).manual_seed(0)
    plain_train(run_net, ema, xd, sigmas, 1, args.batch_size, dtype, g, device)  # warm-up (and compile)
    shape = (args.sample_n, *x.shape[1:])
    step_lr = float(model.sampler.step_lr) if model.sampler.step_lr != "auto" else _auto_step(model)
    nfe = model.sampler.nfe(model.kernel)
    ours_train, plain_train_t, ours_sample, plain_sample_t = [], [], [], []
    for _ in range(args.rounds):
        ours_train.append(timed(lambda: model.fit(
            x, steps=args.steps, batch_size=args.batch_size, progress=False, precision=_precision(mode), compile=compile_,
            log_every=args.steps), device))
        plain_train_t.append(timed(lambda: plain_train(run_net, ema, xd, sigmas, args.steps, args.batch_size, dtype, g, device), device))
        ours_sample.append(timed(lambda: model.sample(args.sample_n, seed=0), device))
        plain_sample_t.append(timed(lambda: plain_sample(sample_net, sigmas, shape, args.steps_each, step_lr, g, device), device))
    first, second = model.sample(args.sample_n, seed=0), model.sample(args.sample_n, seed=0)
    return {
        "data": name, "mode": mode,
        "steps/s": args.steps / min(ours_train), "plain steps/s": args.steps / min(plain_train_t),
        "train ratio": min(ours_train) / min(plain_train_t),
        "evals/s": nfe / min(ours_sample), "plain evals/s": nfe / min(plain_sample_t),
        "sample ratio": min(ours_sample) / min(plain_sample_t),
        "reproducible": bool(torch.equal(first, second)),
    }


def _precision(mode: str) -> str:
    return "bf16" if mode.startswith("bf16") else "fp32"


def _auto_step(model) -> float:
    from scoregen.kernels.techniques import step_size

    return step_size(model.kernel.sigmas.tolist(), model.sampler.n_steps_each)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", default="digits,synthetic32", help="comma-separated: digits, synthetic32")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--steps", type=int, default=50, help="training steps per round")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--steps-each", type=int, default=5, help="Langevin steps per level when sampling")
    parser.add_argument("--sample-n", type=int, default=64)
    parser.add_argument("--n-levels", type=int, default=None, help="noise levels (default: ncsnv2's Technique 2)")
    parser.add_argument("--n-synthetic", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    print(f"device {device}, {args.steps} steps x {args.rounds} rounds, batch {args.batch_size}, torch {torch.__version__}")
    header = f"{'data':<12}{'mode':<14}{'steps/s':>9}{'plain':>9}{'ratio':>7}{'evals/s':>10}{'plain':>10}{'ratio':>7}  repro"
    print(header)
    for name, x in data_sets(args.data.split(","), args.n_synthetic).items():
        for mode in args.modes.split(","):
            r = bench(name, x, mode, args, device)
            rows.append(r)
            print(
                f"{r['data']:<12}{r['mode']:<14}{r['steps/s']:>9.2f}{r['plain steps/s']:>9.2f}{r['train ratio']:>7.3f}"
                f"{r['evals/s']:>10.1f}{r['plain evals/s']:>10.1f}{r['sample ratio']:>7.3f}  {r['reproducible']}"
            )
    return rows


if __name__ == "__main__":
    main()
