"""The score-matching objectives side by side: what a training step costs, and what a model
trained with each is worth.

    python benchmarks/objectives.py cost [--batch-size 256] [--rounds 15] [--threads 1]
    python benchmarks/objectives.py quality [--steps 10000] [--seeds 0 1 2] [--equal-wall]
    python benchmarks/objectives.py noise [--noise-steps 2000] [--control-sigma 0.5]

``cost`` times a training step (forward + backward) of each objective on the same estimator (the
``ncsn`` MLP) and the same batch at D = 2, 64 and 784, as a ratio to DSM (target: SSM with one
projection ≤ 2×), beside SSM with its products computed other ways: ``torch.func.vjp``,
``torch.func.jvp`` and ``torch.autograd.forward_ad`` dual numbers (forward mode: ``s`` and ``J v``
in one pass). Then exact-trace ISM against its floor, one forward and ``D`` vector-Jacobian
products of the same network at the same batch (batched, no graph kept: the products alone, not
their gradient; target: ISM ≤ 1.3× the floor). Timings interleave the contenders round by round
(each timing repeats a step to span ≥ 50 ms); printed are the median over rounds of each round's
ratio and, in brackets, the smallest and largest.

``quality`` trains ``ncsn`` with each objective on the 8-mode ring (``steps × 256`` fresh points
per seed, as ``benchmarks/quality.py``), samples 10 000 points with the preset's annealed Langevin
(1 001 score evaluations) and prints coverage and occupancy (``scoregen.metrics.mixture_quality``),
the mean exact log-density and the fit's seconds. ``--equal-wall`` gives every objective the steps
that DSM's ``--steps`` buy: the per-step time ratio to DSM is measured first, in the same run
(short interleaved fits), and the steps scaled by it.

``noise`` measures, level by level, the gradient noise (the standard deviation over batches of
the gradient's norm, at a model trained ``--noise-steps`` steps by DSM) of ``ssm-vr`` and of its
denoising counterpart (control variate weight ``β = 1``, DSM's gradient), the ``β`` between them
that minimises it, and ``β(σ) = σ²/(σ² + c²)`` for ``c = --control-sigma`` beside it.
"""

import argparse
import contextlib
import json
import math
import statistics
import time

import torch
import torch.autograd.forward_ad as fwad
from torch.func import jvp, vjp

from scoregen import build, data
from scoregen.estimators import NoiseConditionalMLP
from scoregen.kernels import GaussianLadder
from scoregen.metrics import mixture_quality
from scoregen.objectives import DenoisingScoreMatching, ImplicitScoreMatching, SlicedScoreMatching, VarianceReducedSSM
from scoregen.objectives import ssm as ssm_module

OBJECTIVES = {
    "dsm": DenoisingScoreMatching(),
    "ssm": SlicedScoreMatching(),
    "ssm-vr": VarianceReducedSSM(),
    "ssm M=4": SlicedScoreMatching(n_projections=4),
    "ssm c=0.5": SlicedScoreMatching(control_sigma=0.5),
}


def func_vjp_products(fn, x, v):
    """``(fn(x), vᵀ J v)`` for one projection by ``torch.func.vjp``."""
    out, vjp_fn = vjp(fn, x)[:2]
    return out, (vjp_fn(v[0])[0] * v[0]).flatten(1).sum(-1)[None]


def func_jvp_products(fn, x, v):
    """``(fn(x), vᵀ J v)`` for one projection by ``torch.func.jvp`` (forward mode)."""
    out, jv = jvp(fn, (x,), (v[0],))
    return out, (jv * v[0]).flatten(1).sum(-1)[None]


def dual_products(fn, x, v):
    """``(fn(x), vᵀ J v)`` for one projection by ``torch.autograd.forward_ad`` dual numbers."""
    with fwad.dual_level():
        out, jv = fwad.unpack_dual(fn(fwad.make_dual(x, v[0])))
    return out, (jv * v[0]).flatten(1).sum(-1)[None]


PRODUCTS = {"ssm by func.vjp": func_vjp_products, "ssm by func.jvp": func_jvp_products, "ssm by dual numbers": dual_products}


@contextlib.contextmanager
def products(fn):
    """SSM with its Jacobian products computed by ``fn`` (the same loss otherwise)."""
    kept = ssm_module.projected_jacobian
    ssm_module.projected_jacobian = fn
    try:
        yield
    finally:
        ssm_module.projected_jacobian = kept


def time_rounds(contenders: dict, estimator, rounds: int, min_time: float = 0.05) -> dict[str, list[float]]:
    """Seconds of one ``loss().backward()`` for each contender, per round. Each timing repeats the
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
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(1, rounds + 1):
        for name, loss_fn in contenders.items():
            start = time.perf_counter()
            for k in range(repeats[name]):
                step(loss_fn, r * 1000 + k)
            times[name].append((time.perf_counter() - start) / repeats[name])
    return times


def ratio(times: list[float], base: list[float]) -> str:
    """Median over rounds of the per-round ratio, with its smallest and largest."""
    per_round = [t / b for t, b in zip(times, base)]
    return f"{statistics.median(per_round):.2f}× [{min(per_round):.2f}–{max(per_round):.2f}]"


def ssm_loss(objective, estimator, kernel, x, fn):
    def loss(g):
        with products(fn):
            return objective.loss(estimator, kernel, x, generator=g)

    return loss


def trace_floor(estimator, kernel, x, chunk_size: int):
    """One forward and ``D`` vector-Jacobian products ``e_iᵀ J`` of the network at ``x̃``, batched
    ``chunk_size`` at a time, no graph kept: the arithmetic an exact trace cannot avoid. Returned
    as a loss-shaped callable (a scalar with a backward that does nothing) for :func:`time_rounds`."""
    d = x[0].numel()
    basis = torch.eye(d, dtype=x.dtype)

    def floor(g):
        sigma = kernel.sample_sigma(x.shape[0], g)
        x_tilde = kernel.perturb(x, sigma, g).requires_grad_()
        out = estimator(x_tilde, sigma)
        total = x.new_zeros(())
        for start in range(0, d, chunk_size):
            block = basis[start : start + chunk_size, None].expand(-1, *x.shape)
            (rows,) = torch.autograd.grad(out, x_tilde, block, retain_graph=True, is_grads_batched=True)
            total = total + rows.sum()
        return total.requires_grad_()

    return floor


def cost(args) -> None:
    kernel = GaussianLadder()
    print(f"training step (forward + backward) of the ncsn MLP, batch {args.batch_size}, torch threads "
          f"{torch.get_num_threads()}; ratio to DSM, median over {args.rounds} interleaved rounds [min–max]")
    for d in args.dims:
        estimator = NoiseConditionalMLP((d,))
        x = torch.randn(args.batch_size, d, generator=torch.Generator().manual_seed(d))
        contenders = {name: (lambda g, o=o: o.loss(estimator, kernel, x, generator=g)) for name, o in OBJECTIVES.items()}
        for name, fn in PRODUCTS.items():
            contenders[name] = ssm_loss(OBJECTIVES["ssm"], estimator, kernel, x, fn)
        t = time_rounds(contenders, estimator, args.rounds)
        print(f"D = {d}: dsm {statistics.median(t['dsm']) * 1e3:.2f} ms")
        for name in contenders:
            print(f"  {name:20s} {ratio(t[name], t['dsm'])}", flush=True)

    print(f"\nexact-trace ISM against its floor (one forward + D vector-Jacobian products, batched), "
          f"batch {args.batch_size}")
    print(f"{'D':>5} {'rounds':>6} {'floor':>10} {'ism':>10} {'dsm':>9}   ism / floor")
    for d in args.dims:
        estimator = NoiseConditionalMLP((d,))
        x = torch.randn(args.batch_size, d, generator=torch.Generator().manual_seed(d))
        ism = ImplicitScoreMatching()
        chunk = max(1, min(d, 2**24 // (args.batch_size * d)))
        contenders = {
            "dsm": lambda g: OBJECTIVES["dsm"].loss(estimator, kernel, x, generator=g),
            "floor": trace_floor(estimator, kernel, x, chunk),
            "ism": lambda g: ism.loss(estimator, kernel, x, generator=g),
        }
        rounds = args.rounds if d <= 64 else args.ism_rounds_784
        t = time_rounds(contenders, estimator, rounds, min_time=0.05 if d <= 64 else 0.0)
        med = {k: statistics.median(v) for k, v in t.items()}
        print(f"{d:>5} {rounds:>6} {med['floor'] * 1e3:8.1f}ms {med['ism'] * 1e3:8.1f}ms {med['dsm'] * 1e3:7.2f}ms   "
              f"{ratio(t['ism'], t['floor'])}", flush=True)


def parse_objective(spec: str):
    """A name, or a JSON spec such as ``{"name": "ssm", "n_projections": 4}``."""
    return json.loads(spec) if spec.startswith("{") else spec


def label(spec: str) -> str:
    objective = parse_objective(spec)
    if isinstance(objective, str):
        return objective
    return objective["name"] + "(" + ", ".join(f"{k}={v}" for k, v in objective.items() if k != "name") + ")"


def fit(spec: str, train: torch.Tensor, steps: int, seed: int):
    """The ``ncsn`` preset with objective ``spec`` fitted ``steps`` steps; ``(model, seconds)``."""
    model = build("ncsn", objective=parse_objective(spec), seed=seed)
    start = time.perf_counter()
    model.fit(train, steps=steps, batch_size=256, lr=1e-3, seed=seed, progress=False)
    return model, time.perf_counter() - start


def step_ratios(specs: list[str], steps: int, rounds: int) -> dict[str, float]:
    """Seconds per training step of each objective over DSM's: the median over ``rounds`` of the
    per-round ratio of ``steps``-step fits (after one warm-up fit each; the order rotates)."""
    train = data.ring_mixture().sample(steps * 256, generator=torch.Generator().manual_seed(999)).float()
    names = ["dsm", *[spec for spec in specs if spec != "dsm"]]
    for spec in names:
        fit(spec, train, steps // 10, 0)
    seconds: dict[str, list[float]] = {spec: [] for spec in names}
    for r in range(rounds):
        for spec in names[r % len(names) :] + names[: r % len(names)]:
            seconds[spec].append(fit(spec, train, steps, 0)[1])
    return {spec: statistics.median(t / b for t, b in zip(seconds[spec], seconds["dsm"])) for spec in names}


def quality(args) -> None:
    truth = data.ring_mixture()
    specs = args.objectives
    ratios = {spec: 1.0 for spec in specs}
    if args.equal_wall:
        ratios = step_ratios(specs, args.calibration_steps, args.calibration_rounds)
    budget = "equal wall-clock (steps = dsm's / step-time ratio)" if args.equal_wall else "equal steps"
    print(f"ncsn on the 8-mode ring: dsm {args.steps} steps, {budget}; batch 256, Adam 1e-3 cosine, EMA 0.999; "
          f"{args.samples} samples by annealed Langevin (1001 NFE); torch threads {torch.get_num_threads()}")
    print(f"{'objective':44s} {'step×':>6} {'steps':>6} {'seed':>4} {'coverage':>9} {'occupancy':>9} {'log p':>7} {'fit s':>6}")
    rows: dict[str, list[dict]] = {spec: [] for spec in specs}
    for seed in args.seeds:
        train = truth.sample(args.steps * 256, generator=torch.Generator().manual_seed(1000 + seed)).float()
        for spec in specs:
            steps = max(1, round(args.steps / ratios[spec]))
            model, seconds = fit(spec, train[: steps * 256], steps, seed)
            q = mixture_quality(model.sample(args.samples, seed=1), truth)
            rows[spec].append({**q, "seconds": seconds})
            print(f"{label(spec):44s} {ratios[spec]:6.2f} {steps:6d} {seed:4d} {q['coverage']:9.4f} {q['occupancy']:9.3f} "
                  f"{q['log_p']:7.3f} {seconds:6.1f}", flush=True)
    print(f"\nmean over seeds {args.seeds}")
    print(f"{'objective':44s} {'coverage':>9} {'± sd':>6} {'occupancy':>9} {'fit s':>6}")
    for spec, r in rows.items():
        cov = [q["coverage"] for q in r]
        sd = statistics.stdev(cov) if len(cov) > 1 else math.nan
        print(f"{label(spec):44s} {statistics.mean(cov):9.4f} {sd:6.4f} {statistics.mean(q['occupancy'] for q in r):9.3f} "
              f"{statistics.mean(q['seconds'] for q in r):6.1f}")


def level_gradients(objective, model, train: torch.Tensor, batches: int) -> list[torch.Tensor]:
    """The gradient of each level's mean loss, for ``batches`` batches of 256: ``[batches, P]`` a level."""
    params = list(model.estimator.parameters())
    levels = len(model.kernel.sigmas)
    out: list[list[torch.Tensor]] = [[] for _ in range(levels)]
    for k in range(batches):
        x = train[torch.randint(len(train), (256,), generator=torch.Generator().manual_seed(k))]
        terms = objective.per_sample(model.estimator, model.kernel, x, generator=torch.Generator().manual_seed(100 + k))
        idx = terms.level_index(model.kernel.sigmas)
        for i in range(levels):
            grads = torch.autograd.grad(terms.loss[idx == i].mean(), params, retain_graph=True)
            out[i].append(torch.cat([g.flatten() for g in grads]))
    return [torch.stack(g) for g in out]


def noise(args) -> None:
    truth = data.ring_mixture()
    train = truth.sample(args.noise_steps * 256, generator=torch.Generator().manual_seed(1000)).float()
    model = build("ncsn", seed=0).fit(train, steps=args.noise_steps, batch_size=256, lr=1e-3, seed=0, progress=False)
    plain = level_gradients(VarianceReducedSSM(levels="all"), model, train, args.batches)
    paired = level_gradients(VarianceReducedSSM(levels="all", control_sigma=0.0), model, train, args.batches)
    print(f"gradient noise per level (std over {args.batches} batches of 256) of ssm-vr (β = 0) and its denoising "
          f"counterpart (β = 1: DSM's gradient), ncsn trained {args.noise_steps} steps by dsm")
    print(f"{'σ':>7} {'β = 0':>7} {'β = 1':>7} {'best β':>7} {'at best':>7} {'β(σ), c = ' + str(args.control_sigma):>14}")
    for i, sigma in enumerate(model.kernel.sigmas.tolist()):
        a, b = plain[i] - plain[i].mean(0), paired[i] - paired[i].mean(0)
        v0, v1, cov = (float((p * q).sum(1).mean()) for p, q in ((a, a), (b, b), (a, b)))
        best = min(1.0, max(0.0, (v0 - cov) / (v0 + v1 - 2 * cov)))
        at_best = (1 - best) ** 2 * v0 + best**2 * v1 + 2 * best * (1 - best) * cov
        rule = sigma**2 / (sigma**2 + args.control_sigma**2)
        print(f"{sigma:7.3f} {v0**0.5:7.3f} {v1**0.5:7.3f} {best:7.3f} {at_best**0.5:7.3f} {rule:14.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cost", "quality", "noise"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ism-rounds-784", type=int, default=3, help="rounds for ISM at D > 64 (seconds a step)")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64, 784])
    parser.add_argument("--steps", type=int, default=10_000, help="dsm's steps (the others' with --equal-wall)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--equal-wall", action="store_true", help="scale each objective's steps by its step-time ratio to dsm")
    parser.add_argument("--calibration-steps", type=int, default=1000)
    parser.add_argument("--calibration-rounds", type=int, default=5)
    parser.add_argument("--objectives", nargs="+", default=["dsm", "ssm", "ssm-vr"],
                        help='names, or JSON specs such as \'{"name": "ssm", "n_projections": 4}\'')
    parser.add_argument("--noise-steps", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--control-sigma", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"cost": cost, "quality": quality, "noise": noise}[args.what](args)


if __name__ == "__main__":
    main()
