"""Quality versus cost of every Gaussian sampler on the 8-mode ring.

    python benchmarks/samplers.py [--samples 3000] [--repeats 3] [--train-steps 5000] [--plot docs/samplers.png]

For each sampler and a budget of about 10, 30, 100, 300, 1000 score evaluations (NFE), draws
``--samples`` samples ``--repeats`` times (seeds 0, 1, …, each compared with its own fresh draw
of the truth) with (a) the exact perturbed-mixture score, which isolates the sampler's own error,
and (b) an ``ncsn`` network trained here (on the ``ve`` kernel: the ``ncsn`` preset trained at
every σ, so ladder and continuous samplers query levels it has seen). Prints a markdown table of
the mean sliced-W2 / floor (floor: the same metric between two independent draws of the truth,
averaged over ``2 · repeats`` pairs; a single draw's value varies by about ±40%) with the measured
NFE, the within-mode spread (std of the offsets from the nearest mode / 0.3) and seconds per
1000 samples, and writes the curves as a PNG. The 1-D ladder sampler
``langevin`` (one level, no annealing) is left out: it is not meant to start from the prior.
"""

import argparse
import math
import time

import torch

from scoregen import build, data
from scoregen.metrics import sliced_wasserstein

BUDGETS = (10, 30, 100, 300, 1000)


def cas_params(nfe: int, kernel) -> dict:
    """CAS with one level per evaluation; η/σ_L² = max(0.2, 1 − γ) fits the ladder ratio γ."""
    sigmas = kernel.sigmas.double()
    gamma = (sigmas[-1] / sigmas[0]).item() ** (1 / max(nfe - 1, 1))
    return {"name": "consistent-annealed", "n_levels": nfe, "step_lr": sigmas[-1].item() ** 2 * min(1.0, max(0.2, 1.01 * (1 - gamma)))}


def configurations(kernel):
    """(sampler label, [sampler spec for each budget])."""
    yield "annealed-langevin", [{"name": "annealed-langevin", "n_steps_each": max(1, round((b - 1) / 10))} for b in BUDGETS]
    yield "consistent-annealed (plugin)", [cas_params(b, kernel) for b in BUDGETS]
    yield "reverse-sde (EM)", [{"name": "reverse-sde", "n_steps": b - 1} for b in BUDGETS]
    yield "pc (RD + 1 Langevin)", [{"name": "pc", "n_steps": max(1, (b - 1) // 2)} for b in BUDGETS]
    yield "ode (Heun)", [{"name": "ode", "n_steps": max(1, b // 2)} for b in BUDGETS]
    yield "ode (RK45)", [{"name": "ode", "method": "RK45", "rtol": tol, "atol": tol} for tol in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)]


class Counted:
    """An estimator that counts its evaluations."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.fn(x, sigma)


def within_mode_spread(x, ring=data.ring_mixture()) -> float:
    """Std of the offsets from the nearest mode over the true std 0.3 (1 is right): sliced-W2 at
    these sample sizes is dominated by the mode counts' fluctuation and hardly sees the spread."""
    means = ring.means
    offsets = x.double() - means[torch.cdist(x.double(), means).argmin(dim=1)]
    return offsets.std().item() / 0.3


def run(estimator_fn, kernel_spec, truths, floor, n):
    """Each configuration sampled once per truth draw (seeds 0, 1, …): mean sliced-W2 / floor."""
    rows = []
    for label, specs in configurations(build("ncsn", kernel=kernel_spec).kernel):
        for spec in specs:
            counted = Counted(estimator_fn)
            model = build("ncsn", kernel=kernel_spec, estimator=counted, event_shape=(2,), sampler=spec)
            distances, spreads, seconds = [], [], 0.0
            for seed, truth in enumerate(truths):
                start = time.perf_counter()
                x = model.sample(n, seed=seed)
                seconds += time.perf_counter() - start
                finite = bool(torch.isfinite(x).all())
                distances.append(sliced_wasserstein(x, truth, generator=torch.Generator().manual_seed(0)) if finite else math.inf)
                spreads.append(within_mode_spread(x) if finite else math.inf)
            rows.append({"sampler": label, "nfe": counted.calls // len(truths), "ratio": sum(distances) / len(distances) / floor,
                         "spread": sum(spreads) / len(spreads), "seconds": seconds * 1000 / (n * len(truths))})
    return rows


def table(rows) -> str:
    by = {}
    for r in rows:
        by.setdefault(r["sampler"], []).append(r)
    lines = ["| sampler | " + " | ".join(f"≈{b}" for b in BUDGETS) + " |", "|---" * (len(BUDGETS) + 1) + "|"]
    for label, rs in by.items():
        cells = [f"{r['ratio']:.2f} · {r['spread']:.2f} ({r['nfe']}, {r['seconds']:.2f}s)" for r in rs]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), sharey=True)
    for ax, (title, rows) in zip(axes, results.items()):
        by = {}
        for r in rows:
            by.setdefault(r["sampler"], []).append(r)
        for label, rs in by.items():
            ax.plot([r["nfe"] for r in rs], [min(r["ratio"], 50) for r in rs], marker="o", label=label)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.axhline(1.2, color="grey", lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="score evaluations (NFE)", title=title)
    axes[0].set_ylabel("sliced W2 / floor")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot", default="docs/samplers.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ring = data.ring_mixture()
    g = torch.Generator().manual_seed(7)
    truths = [ring.sample(args.samples, generator=g).float() for _ in range(args.repeats)]
    pairs = [(ring.sample(args.samples, generator=g).float(), ring.sample(args.samples, generator=g).float()) for _ in range(2 * args.repeats)]
    floor = sum(sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(0)) for a, b in pairs) / len(pairs)
    print(f"floor (sliced W2 between two draws of {args.samples}, mean of {len(pairs)} pairs): {floor:.4f}")

    results = {"exact score": run(ring.score_at, "gaussian", truths, floor, args.samples)}
    print("\nexact perturbed-mixture score: sliced-W2/floor · spread (NFE, s per 1000 samples)\n")
    print(table(results["exact score"]))

    trained = build("ncsn", kernel="ve")
    start = time.perf_counter()
    trained.fit(data.gaussian_mixture_2d(20_000, seed=0), steps=args.train_steps, batch_size=256, seed=0, progress=False)
    print(f"\ntrained ncsn (ve kernel, {args.train_steps} steps) in {time.perf_counter() - start:.0f}s")
    results["trained ncsn"] = run(trained.estimator, "gaussian", truths, floor, args.samples)
    print("\ntrained ncsn: sliced-W2/floor · spread (NFE, s per 1000 samples)\n")
    print(table(results["trained ncsn"]))
    plot(results, args.plot)
    print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
