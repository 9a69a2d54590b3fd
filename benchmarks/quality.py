"""Sample quality of a trained score network against the exact score, on the 8-mode ring (issue 8).

Every run trains the same MLP (``[x, log σ] → 128 → 128 → 128 → 2``, SiLU) for ``--steps`` steps
at batch 256 with Adam at 1e-3, on one training set of ``steps × 256`` points drawn from the
ring (what a stream of fresh batches would hold), with σ ∈ [0.01, 10]. Then 10 000 samples at
≤ 100 score evaluations (and, for annealed Langevin, also 1 000). Printed per row:

- ``cov``: fraction of samples within 0.9 (three standard deviations) of a mode's mean;
- ``occ``: most over least populated mode, on the first 4 000 samples (as in the issue);
- ``log p``: mean exact log-density of the samples (a draw from the truth: about −2.51);
- ``SW2/floor``: sliced Wasserstein-2 to 10 000 draws of the truth over its floor, the same
  distance between two such draws.

Rows: the truth itself; the exact score through the samplers; a hand-written PyTorch loop
(constant learning rate, no EMA: what the issue's baselines did); the ``ncsn`` preset (the
paper's recipe); and the ``ve-sde`` preset, which carries the levers that measured best.
``--ablation`` runs one lever at a time from ``ncsn`` instead (docs/quality.md).

    python benchmarks/quality.py                       # truth, exact, plain PyTorch, ncsn, best
    python benchmarks/quality.py --ablation --seeds 0 1 2
    python benchmarks/quality.py --ald-picture docs/img   # annealed Langevin against its step count
"""

import argparse
import json
import math
import time

import torch
from torch import nn

from scoregen import build, data
from scoregen.estimators.analytic import MixtureScore
from scoregen.metrics import mode_stats, sliced_wasserstein

TRUTH = data.ring_mixture()
N_SAMPLES = 10_000

BEST = {
    "estimator": {"preconditioning": "edm"},
    "objective": {"sigma_distribution": {"name": "log-normal", "mean": 0.0, "std": 1.5}, "reference": 4096},
}
# One lever at a time, from the ncsn preset; every row is sampled with each of SAMPLERS.
ABLATION = {
    "ncsn": {},
    "σ log-uniform": {"objective": {"sigma_distribution": "log-uniform"}},
    "σ log-normal(0, 1.5)": {"objective": {"sigma_distribution": {"name": "log-normal", "mean": 0.0, "std": 1.5}}},
    "σ log-normal(−1.2, 1.2)": {"objective": {"sigma_distribution": {"name": "log-normal", "mean": -1.2, "std": 1.2}}},
    "edm preconditioning": {"estimator": {"preconditioning": "edm"}, "objective": {"sigma_distribution": "log-uniform"}},
    "reference target 4096": {"objective": {"sigma_distribution": "log-uniform", "reference": 4096}},
    "edm + log-uniform + reference": {
        "estimator": {"preconditioning": "edm"},
        "objective": {"sigma_distribution": "log-uniform", "reference": 4096},
    },
    "best (edm + log-normal(0, 1.5) + reference)": BEST,
    "best, λ = σ (not σ²)": {**BEST, "objective": {**BEST["objective"], "weight_power": 1.0}},
    "best, warm-up 500": {**BEST, "fit": {"warmup": 500}},
    "best, EMA 0.9999": {**BEST, "fit": {"ema_decay": 0.9999}},
    "best, no EMA, no decay": {**BEST, "fit": {"ema_decay": None, "lr_decay": "none"}},
}
SAMPLERS = {
    "reverse-sde, 100 steps": ({"name": "reverse-sde", "n_steps": 100}, 100),
    "ode, Heun 50 steps": ({"name": "ode", "n_steps": 50}, 100),
}


def metrics(samples: torch.Tensor, reference: torch.Tensor, floor: float) -> dict:
    """The four numbers of a row, for ``samples [N, 2]``."""
    samples = samples.to(torch.float64)
    stats = mode_stats(samples, TRUTH.means, 0.9)
    return {
        "cov": stats["coverage"],
        "occ": mode_stats(samples[:4000], TRUTH.means, 0.9)["occupancy_ratio"],
        "log p": float(TRUTH.log_prob(samples).mean()),
        "SW2/floor": sliced_wasserstein(samples, reference, generator=torch.Generator().manual_seed(0)) / floor,
    }


def plain_pytorch(train: torch.Tensor, steps: int, seed: int) -> dict[str, tuple[torch.Tensor, int]]:
    """The issue's baseline, by hand: the NCSN ladder, DSM with λ = σ², a constant learning
    rate, no EMA; annealed Langevin (ε = 2·10⁻⁵, step ``ε σ_i²/σ_L²``) with T = 10 and 100."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))
    sigmas = torch.exp(torch.linspace(math.log(10.0), math.log(0.01), 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def score(x, sigma):
        return net(torch.cat([x, sigma.log()[:, None]], dim=1)) / sigma[:, None]

    for _ in range(steps):
        x = train[torch.randint(len(train), (256,), generator=gen)]
        sigma = sigmas[torch.randint(10, (256,), generator=gen)]
        z = torch.randn(x.shape, generator=gen)
        loss = 0.5 * (sigma[:, None] * score(x + sigma[:, None] * z, sigma) + z).pow(2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {}
    with torch.no_grad():
        for T in (10, 100):
            g = torch.Generator().manual_seed(1)
            x = sigmas[0] * torch.randn(N_SAMPLES, 2, generator=g)
            for sigma in sigmas:
                alpha = 2e-5 * sigma**2 / sigmas[-1] ** 2
                s = sigma.expand(N_SAMPLES)
                for _ in range(T):
                    x = x + 0.5 * alpha * score(x, s) + alpha.sqrt() * torch.randn(x.shape, generator=g)
            out[f"annealed Langevin, T = {T}"] = (x + sigmas[-1] ** 2 * score(x, sigmas[-1].expand(N_SAMPLES)), 10 * T + 1)
    return out


def library_rows(overrides: dict, train: torch.Tensor, steps: int, seed: int, samplers: dict) -> dict:
    """Train ``build(preset, **overrides)`` (``preset`` and ``fit`` are read from ``overrides``;
    ``ncsn`` by default) and sample with each of ``samplers``."""
    overrides = dict(overrides)
    preset = overrides.pop("preset", "ncsn")
    fit = {"steps": steps, "batch_size": 256, "lr": 1e-3, "seed": seed, "progress": False, **overrides.pop("fit", {})}
    model = build(preset, seed=seed, **overrides).fit(train, **fit)
    return {name: (model.sample(N_SAMPLES, seed=1, sampler=sampler), nfe) for name, (sampler, nfe) in samplers.items()}


def ald_picture(folder: str, steps: int) -> None:
    """Coverage and occupancy of annealed Langevin against its step count ``T`` a level, for the
    ``ncsn`` preset trained ``steps`` steps and for the exact score (4 000 samples each)."""
    from pathlib import Path

    from scoregen.plotting import plot_curves

    train = TRUTH.sample(steps * 256, generator=torch.Generator().manual_seed(1000)).float()
    models = {
        "trained ncsn": build("ncsn").fit(train, steps=steps, batch_size=256, progress=False),
        "exact score": build("ncsn", estimator=MixtureScore.from_mixture(TRUTH)),
    }
    counts = [3, 10, 30, 100, 300]
    curves = {"cov": {}, "occ": {}}
    for label, model in models.items():
        stats = [mode_stats(model.sample(4000, seed=1, sampler={"n_steps_each": t}), TRUTH.means, 0.9) for t in counts]
        nfe = [10 * t + 1 for t in counts]
        curves["cov"][label] = (nfe, [st["coverage"] for st in stats])
        curves["occ"][label] = (nfe, [st["occupancy_ratio"] for st in stats])
        print(label, [(n, round(c, 4), round(o, 3)) for n, c, o in zip(nfe, curves["cov"][label][1], curves["occ"][label][1])])
    folder = Path(folder)
    plot_curves(curves["cov"], folder / "quality_ald_coverage.png", xlabel="score evaluations (10 levels × T + 1)",
                ylabel="coverage (within 0.9 of a mode)", hline=0.989, xscale="log")
    plot_curves(curves["occ"], folder / "quality_ald_occupancy.png", xlabel="score evaluations (10 levels × T + 1)",
                ylabel="max/min mode occupancy", hline=1.0, xscale="log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--ablation", action="store_true", help="one lever at a time instead of the comparison")
    parser.add_argument("--configs", nargs="*", default=None, help="names from the ablation table (default: the comparison)")
    parser.add_argument("--json", default=None, help="also append every row to this JSON-lines file")
    parser.add_argument("--ald-picture", default=None, metavar="FOLDER", help="only draw annealed Langevin against T")
    args = parser.parse_args()
    if args.ald_picture:
        return ald_picture(args.ald_picture, args.steps)

    reference = TRUTH.sample(N_SAMPLES, generator=torch.Generator().manual_seed(123)).float()
    truth_draw = TRUTH.sample(N_SAMPLES, generator=torch.Generator().manual_seed(124)).float()
    floor = sliced_wasserstein(truth_draw, reference, generator=torch.Generator().manual_seed(0))
    ald = {f"annealed-langevin, T = {t}": ({"name": "annealed-langevin", "n_steps_each": t}, 10 * t + 1) for t in (10, 100)}
    rows = [("truth", "a draw", 0, 0, metrics(truth_draw, reference, floor))]
    exact = build("ncsn", estimator=MixtureScore.from_mixture(TRUTH))
    for name, (sampler, nfe) in {**SAMPLERS, **ald}.items():
        rows.append(("exact score", name, nfe, 0, metrics(exact.sample(N_SAMPLES, seed=1, sampler=sampler), reference, floor)))

    if args.ablation:
        plan = [(name, ABLATION[name], SAMPLERS) for name in (args.configs or ABLATION)]
    else:
        plan = [
            ("plain PyTorch", None, None),
            ("ncsn preset", {}, {**SAMPLERS, **ald}),
            ("ve-sde preset (best)", {"preset": "ve-sde"}, SAMPLERS),
        ]
    header = f"{'configuration':40s} {'sampler':28s} {'NFE':>5s} {'seed':>4s} {'cov':>7s} {'occ':>6s} {'log p':>7s} {'SW2/floor':>9s}"
    print(header)
    for row in rows:
        print_row(row, args.json)
    for seed in args.seeds:
        train = TRUTH.sample(args.steps * 256, generator=torch.Generator().manual_seed(1000 + seed)).float()
        for name, overrides, samplers in plan:
            started = time.perf_counter()
            if overrides is None:
                out = plain_pytorch(train, args.steps, seed)
            else:
                out = library_rows(overrides, train, args.steps, seed, samplers)
            for sampler_name, (samples, nfe) in out.items():
                print_row((name, sampler_name, nfe, seed, metrics(samples, reference, floor)), args.json)
            print(f"  ({name}: {time.perf_counter() - started:.0f} s)", flush=True)


def print_row(row, path) -> None:
    name, sampler, nfe, seed, m = row
    print(f"{name:40s} {sampler:28s} {nfe:5d} {seed:4d} {m['cov']:7.4f} {m['occ']:6.3f} {m['log p']:7.3f} {m['SW2/floor']:9.2f}", flush=True)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"configuration": name, "sampler": sampler, "nfe": nfe, "seed": seed, **m}) + "\n")


if __name__ == "__main__":
    main()
