"""Conditional generation against exact targets, with exact scores (no training): the numbers of
docs/conditioning.md.

1. Posterior sampling on the 2-D mixture of ``scoregen.testing.posterior_checks.default_problem``
   (observed ``x₁ = 0.25``, ``σ_y = 0.05``; the exact posterior puts 0.816 on the upper mode):
   TDS's distance to the exact posterior against the number of particles, and the biases of
   DPS, MMPS and replacement beside it.
2. Classifier-free guidance with exact scores against the tilted density
   ``p(x | c)^w p(x)^{1−w}`` on a 2-D grid, for several weights ``w``.

    flock /tmp/scoregen-bench.lock env OMP_NUM_THREADS=1 python benchmarks/conditioning.py

Every number comes with its floor: the same metric between ``n`` exact draws and the truth.
"""

import argparse
import time

import torch

from scoregen import build
from scoregen.analytic import ClassConditionalMixture, GaussianMixture, Grid2D, tilted_density
from scoregen.estimators import MixtureScore
from scoregen.metrics import total_variation
from scoregen.testing.posterior_checks import default_problem, mode_masses, posterior_errors

X2_BINS = torch.linspace(-6.0, 6.0, 25, dtype=torch.float64)


def x2_histogram(x: torch.Tensor) -> torch.Tensor:
    """Bin probabilities of the second coordinate on ``X2_BINS`` (24 bins over [−6, 6])."""
    counts = torch.histogram(x[:, 1].to(torch.float64).clamp(-6.0, 6.0), bins=X2_BINS).hist
    return counts / x.shape[0]


def posterior_row(name: str, x: torch.Tensor, post: GaussianMixture, seconds: float, seed: int) -> str:
    errors = posterior_errors(x, post, seed=seed)
    exact_hist = x2_histogram(post.sample(200_000, torch.Generator().manual_seed(seed + 1)))
    tv = total_variation(x2_histogram(x), exact_hist)
    upper = float(mode_masses(x, post)[0])
    return (
        f"| {name} | {upper:.3f} | {errors['mode_mass_error']:.3f} | {tv:.3f} | "
        f"{errors['sliced_w2']:.3f} | {errors['floor']:.3f} | {seconds:.1f} |"
    )


def posterior_table(n: int, seed: int, particles: list[int]) -> None:
    prior, measurement = default_problem()
    post = measurement.posterior(prior)
    model = build("ve-sde", estimator=MixtureScore.from_mixture(prior), event_shape=(2,), sampler={"n_steps": 200})
    floor_x = post.sample(n, torch.Generator().manual_seed(seed + 2))
    print(f"\nPosterior sampling, n = {n}, exact upper-mode mass {float(post.weights[0]):.3f}\n")
    print("| method | upper-mode mass | mode-mass error | TV (x₂, 24 bins) | sliced W2 | SW2 floor | s |")
    print("|---|---|---|---|---|---|---|")
    print(posterior_row("exact draws (floor)", floor_x, post, 0.0, seed))
    runs = [(f"tds, K = {k}", {"name": "tds", "particles": k, "n_steps": 100}, None) for k in particles]
    runs += [
        (f"dps, ζ = {z}", {"name": "dps", "zeta": z, "n_steps": 200}, None) for z in (0.1, 0.3, 1.0)
    ]
    runs += [
        ("mmps (reverse-sde, 200 steps)", "mmps", None),
        ("replacement (reverse-sde, 200 steps)", "replacement", None),
        ("replacement (pc, 200 steps)", "replacement", {"name": "pc", "n_steps": 200}),
    ]
    for name, posterior, sampler in runs:
        start = time.perf_counter()
        x = model.sample(n, measurement=measurement, posterior=posterior, sampler=sampler, seed=seed)
        print(posterior_row(name, x, post, time.perf_counter() - start, seed), flush=True)


def cfg_problem() -> ClassConditionalMixture:
    """Two classes on overlapping modes: class 0 at (−1.5, 0), class 1 at (1.5, 0) and (0, 2.5)."""
    mixture = GaussianMixture([0.5, 0.25, 0.25], [[-1.5, 0.0], [1.5, 0.0], [0.0, 2.5]], [[0.6, 0.6], [0.6, 0.6], [0.3, 0.3]])
    return ClassConditionalMixture(mixture, [0, 1, 1])


def cfg_table(n: int, seed: int, weights: list[float]) -> None:
    problem = cfg_problem()
    model = build("ve-sde", estimator=MixtureScore.from_mixture(problem), event_shape=(2,), sampler={"n_steps": 200})
    grid = Grid2D(-6.0, 6.0, 24)
    print(f"\nClassifier-free guidance with exact scores vs p(x|c)^w p(x)^(1-w), class 1, n = {n}, 24×24 grid on [−6, 6]²\n")
    print("| w | TV(CFG, tilted) | TV floor | mass at x₁ < 0: CFG | tilted |")
    print("|---|---|---|---|---|")
    left = grid.centres[:, 0] < 0
    for w in weights:
        target = tilted_density(problem, 1, w, grid)
        x = model.sample(n, labels=1, guidance=w, seed=seed)
        hist = grid.histogram(x)
        draws = torch.multinomial(target, n, replacement=True, generator=torch.Generator().manual_seed(seed))
        floor_hist = torch.bincount(draws, minlength=len(target)).to(torch.float64) / n
        print(
            f"| {w} | {total_variation(hist, target):.3f} | {total_variation(floor_hist, target):.3f} | "
            f"{float(hist[left].sum()):.3f} | {float(target[left].sum()):.3f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--particles", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    posterior_table(args.n, args.seed, args.particles)
    cfg_table(args.n, args.seed, args.weights)


if __name__ == "__main__":
    main()
