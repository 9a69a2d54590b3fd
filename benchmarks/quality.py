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
``--ablation`` runs one lever at a time from ``ncsn`` instead (docs/quality.md). ``--equal-wall``
gives the hand loop (with ``fit``'s cosine lr and EMA written by hand) and the ``ncsn`` preset the
wall-clock that the best recipe takes, and prints each one's training time over the hand loop's
``--steps`` steps (docs/performance.md).

    python benchmarks/quality.py                       # truth, exact, plain PyTorch, ncsn, best
    python benchmarks/quality.py --ablation --seeds 0 1 2
    python benchmarks/quality.py --equal-wall --seeds 0 1 2
    python benchmarks/quality.py --ald-picture docs/img   # annealed Langevin against its step count
"""

import argparse
import json
import math
import time

import torch
from hand_loops import annealed_langevin, ladder_levels, log_uniform_levels, mlp, train_dsm

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
    "best, reference 1024": {**BEST, "objective": {**BEST["objective"], "reference": 1024}},
    "best, reference 512": {**BEST, "objective": {**BEST["objective"], "reference": 512}},
    "best, reference 256": {**BEST, "objective": {**BEST["objective"], "reference": 256}},
    "best, no reference": {**BEST, "objective": {**BEST["objective"], "reference": 0}},
    "best, 5 000 steps": {**BEST, "fit": {"steps": 5000}},
    "best, reference 1024, 7 000 steps": {**BEST, "objective": {**BEST["objective"], "reference": 1024}, "fit": {"steps": 7000}},
    "best, reference 256, lr 2e-3": {**BEST, "objective": {**BEST["objective"], "reference": 256}, "fit": {"lr": 2e-3}},
    "best, reference 256, batch 512, lr 2e-3, 6 000 steps": {
        **BEST, "objective": {**BEST["objective"], "reference": 256}, "fit": {"lr": 2e-3, "batch_size": 512, "steps": 6000},
    },
    "best, reference 256, lr 3e-3": {**BEST, "objective": {**BEST["objective"], "reference": 256}, "fit": {"lr": 3e-3}},
    "best, reference 512, lr 2e-3": {**BEST, "objective": {**BEST["objective"], "reference": 512}, "fit": {"lr": 2e-3}},
    "best, reference 256, lr 2e-3, EMA 0.9995": {
        **BEST, "objective": {**BEST["objective"], "reference": 256}, "fit": {"lr": 2e-3, "ema_decay": 0.9995},
    },
    "best, lr 2e-3": {**BEST, "fit": {"lr": 2e-3}},
    "best, no reference, lr 3e-3": {**BEST, "objective": {**BEST["objective"], "reference": 0}, "fit": {"lr": 3e-3}},
    "best, reference 64": {**BEST, "objective": {**BEST["objective"], "reference": 64}},
    "best, reference 64, lr 3e-3": {**BEST, "objective": {**BEST["objective"], "reference": 64}, "fit": {"lr": 3e-3}},
    "best, reference 256, lr 5e-3": {**BEST, "objective": {**BEST["objective"], "reference": 256}, "fit": {"lr": 5e-3}},
    "best, no reference, lr 5e-3": {**BEST, "objective": {**BEST["objective"], "reference": 0}, "fit": {"lr": 5e-3}},
    "best, reference 1, lr 3e-3": {**BEST, "objective": {**BEST["objective"], "reference": 1}, "fit": {"lr": 3e-3}},
    "best, reference 64, lr 5e-3": {**BEST, "objective": {**BEST["objective"], "reference": 64}, "fit": {"lr": 5e-3}},
    "best, no reference, lr 1e-2": {**BEST, "objective": {**BEST["objective"], "reference": 0}, "fit": {"lr": 1e-2}},
    "best, reference 64, lr 1e-2": {**BEST, "objective": {**BEST["objective"], "reference": 64}, "fit": {"lr": 1e-2}},
    "best, reference 64, lr 5e-3, 8 000 steps": {
        **BEST, "objective": {**BEST["objective"], "reference": 64}, "fit": {"lr": 5e-3, "steps": 8000},
    },
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
    torch.manual_seed(seed)
    net = mlp()
    sigmas = torch.exp(torch.linspace(math.log(10.0), math.log(0.01), 10))
    train_dsm(net, train, steps, ladder_levels(sigmas), generator=torch.Generator().manual_seed(seed), features=False)
    return {
        f"annealed Langevin, T = {t}": (annealed_langevin(net, sigmas, N_SAMPLES, t, 2e-5, torch.Generator().manual_seed(1)), 10 * t + 1)
        for t in (10, 100)
    }


def hand_model(train: torch.Tensor, steps: int, seed: int, lr: float = 1e-3):
    """The hand loop with ``fit``'s features (cosine lr, EMA), at ``log σ ~ U(log 0.01, log 10)``
    (the ``ve`` kernel's levels), its EMA weights put into a ``ve`` model with the ``ncsn``
    network so that the library's samplers draw from it."""
    torch.manual_seed(seed)
    net = mlp()
    weights = train_dsm(net, train, steps, log_uniform_levels(0.01, 10.0), lr=lr, generator=torch.Generator().manual_seed(seed))
    model = build("ve-sde", estimator={"preconditioning": "ncsn"}, event_shape=(2,))
    with torch.no_grad():
        for target, value in zip(model.estimator.net.parameters(), weights):
            target.copy_(value)
    return model


def equal_wall(args, reference, floor) -> None:
    """Target 1 of issue 16: the contenders trained for the time the best recipe takes.

    Per seed: the hand loop (cosine lr + EMA, lr 10⁻³) for ``--steps`` steps, timed (the unit);
    the best recipe (the ``ve-sde`` preset with ``--recipe`` overrides, fitted with ``--recipe-fit``)
    timed; then the hand loop and the ``ncsn`` preset, each at lr 10⁻³ and at the recipe's lr, for
    the steps that fill the recipe's time (their speed measured on a 1 000-step run just before).
    Times are this thread's CPU seconds (training runs on one torch thread, so that is the whole
    training; other jobs on a shared machine do not count); sampling is not timed."""
    recipe = json.loads(args.recipe) if args.recipe else {}
    recipe_fit = {"steps": args.steps, **(json.loads(args.recipe_fit) if args.recipe_fit else {})}
    fast_lr = recipe_fit.get("lr", 1e-3)
    samplers = {**SAMPLERS, "annealed-langevin, T = 10": ({"name": "annealed-langevin", "n_steps_each": 10}, 101)}
    print(f"equal training time: hand loop {args.steps} steps as the unit; best recipe ve-sde {recipe} fit {recipe_fit}; "
          f"batch 256; torch threads {torch.get_num_threads()}; thread CPU seconds")
    print(f"{'configuration':40s} {'sampler':28s} {'NFE':>5s} {'seed':>4s} {'cov':>7s} {'occ':>6s} {'log p':>7s} {'SW2/floor':>9s}"
          f" {'steps':>6s} {'train s':>8s} {'× hand':>6s}")

    def timed(fn):
        start = time.thread_time()
        out = fn()
        return out, time.thread_time() - start

    warm = TRUTH.sample(512, generator=torch.Generator().manual_seed(0)).float()
    hand_model(warm, 2, 0)  # the first optimiser of a process imports torch._dynamo (about 1.5 s): not timed
    build("ve-sde", **recipe).fit(warm, steps=2, progress=False)
    for seed in args.seeds:
        train = TRUTH.sample(args.steps * 256, generator=torch.Generator().manual_seed(1000 + seed)).float()
        fit = {"batch_size": 256, "lr": 1e-3, "seed": seed, "progress": False}
        hand, t_hand = timed(lambda: hand_model(train, args.steps, seed))
        best, t_best = timed(lambda: build("ve-sde", seed=seed, **recipe).fit(train, **{**fit, **recipe_fit}))
        _, t_hand_1k = timed(lambda: hand_model(train, 1000, seed))
        _, t_ncsn_1k = timed(lambda: build("ncsn", seed=seed).fit(train, **{**fit, "steps": 1000}))
        n_hand, n_ncsn = round(1000 * t_best / t_hand_1k), round(1000 * t_best / t_ncsn_1k)
        runs = [("hand loop (cosine + EMA), lr 1e-3", hand, args.steps, t_hand), ("best recipe (ve-sde)", best, recipe_fit["steps"], t_best)]
        for lr in dict.fromkeys([1e-3, fast_lr]):
            model, seconds = timed(lambda: hand_model(train, n_hand, seed, lr=lr))
            runs.append((f"hand loop, lr {lr:g}, best's time", model, n_hand, seconds))
            model, seconds = timed(lambda: build("ncsn", seed=seed).fit(train, **{**fit, "steps": n_ncsn, "lr": lr}))
            runs.append((f"ncsn preset, lr {lr:g}, best's time", model, n_ncsn, seconds))
        for name, model, steps, seconds in runs:
            for sampler_name, (sampler, nfe) in samplers.items():
                m = metrics(model.sample(N_SAMPLES, seed=1, sampler=sampler), reference, floor)
                print_row((name, sampler_name, nfe, seed, m), args.json,
                          timing={"steps": steps, "train_s": seconds, "x_hand": seconds / t_hand})


def library_rows(overrides: dict, train: torch.Tensor, steps: int, seed: int, samplers: dict) -> dict:
    """Train ``build(preset, **overrides)`` (``preset`` and ``fit`` are read from ``overrides``;
    ``ncsn`` by default) and sample with each of ``samplers``."""
    overrides = dict(overrides)
    preset = overrides.pop("preset", "ncsn")
    fit = {"steps": steps, "batch_size": 256, "lr": 1e-3, "seed": seed, "progress": False, **overrides.pop("fit", {})}
    started = time.perf_counter()
    model = build(preset, seed=seed, **overrides).fit(train, **fit)
    print(f"  (trained {fit['steps']} steps in {time.perf_counter() - started:.1f} s)", flush=True)
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
    parser.add_argument("--equal-wall", action="store_true", help="every contender trained for the best recipe's wall-clock")
    parser.add_argument("--recipe", default=None, help="JSON overrides of the ve-sde preset for --equal-wall")
    parser.add_argument("--recipe-fit", default=None, help='JSON fit arguments of the recipe for --equal-wall, e.g. \'{"lr": 5e-3}\'')
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.ald_picture:
        return ald_picture(args.ald_picture, args.steps)

    reference = TRUTH.sample(N_SAMPLES, generator=torch.Generator().manual_seed(123)).float()
    truth_draw = TRUTH.sample(N_SAMPLES, generator=torch.Generator().manual_seed(124)).float()
    floor = sliced_wasserstein(truth_draw, reference, generator=torch.Generator().manual_seed(0))
    ald = {f"annealed-langevin, T = {t}": ({"name": "annealed-langevin", "n_steps_each": t}, 10 * t + 1) for t in (10, 100)}
    if args.equal_wall:
        return equal_wall(args, reference, floor)
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
            ("ve-sde preset (issue 8: R 4096)", {"preset": "ve-sde", "objective": {"reference": 4096}}, SAMPLERS),
            ("ve-sde preset, lr 5e-3", {"preset": "ve-sde", "fit": {"lr": 5e-3}}, SAMPLERS),
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


def print_row(row, path, timing: dict | None = None) -> None:
    name, sampler, nfe, seed, m = row
    extra = "" if timing is None else f" {timing['steps']:6d} {timing['train_s']:8.1f} {timing['x_hand']:6.2f}"
    print(f"{name:40s} {sampler:28s} {nfe:5d} {seed:4d} {m['cov']:7.4f} {m['occ']:6.3f} {m['log p']:7.3f} {m['SW2/floor']:9.2f}"
          + extra, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"configuration": name, "sampler": sampler, "nfe": nfe, "seed": seed, **m, **(timing or {})}) + "\n")


if __name__ == "__main__":
    main()
