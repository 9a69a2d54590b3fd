"""Sampling throughput: every Gaussian sampler against a hand-written loop of the same update.

    OMP_NUM_THREADS=1 flock /tmp/scoregen-bench.lock python benchmarks/throughput.py \
        [--samples 1000] [--rounds 20] [--threads 1] [--clock thread] [--network mlp] [--only euler,heun] \
        [--compile euler,reverse-sde] [--floor]

Both sides evaluate the very same network, the ``ncsn`` preset's MLP (untrained weights: the
arithmetic is what is timed) on the ``ncsn`` kernel (the VE ladder, σ from 10 to 0.01). The
library side is ``model.sample(n, seed=r, sampler={...})``, the whole public path (the sampler
built from its dict, the grid, the prior draw, the finite check); the hand side is a plain
PyTorch loop of the same update written below — the same σ grid (taken from the sampler once,
outside the timing), the same number of network evaluations, the same dtypes (the σ-grid
samplers' float64 state) and the same random draws — calling the MLP's layers
(``model.estimator.net``) on ``[x, log σ]`` and dividing by ``σ`` itself. Before any timing each
pair is run on one seed and the samples are asserted equal to round-off: a ratio of loops that
compute different things would mean nothing.

A round times every sampler once each way (the order of the two alternating between rounds),
so a busy machine slows both alike, and is timed by default on the CPU clock of the one thread
that does all the work (``--clock thread``: on a machine shared with other jobs the wall clock
counts their time too; ``--clock wall`` times it); the table gives, per sampler, the NFE, the median seconds
per 1000 samples per NFE of each side and the median of the per-round ratios library/hand with
its interquartile range, and the ratio of the two sides' fastest rounds (contention only ever
slows a round down, so the fastest is the least disturbed). ``--compile`` adds rows for ``model.compile()`` (``torch.compile`` of
the network) against the same hand loop on the uncompiled network. ``--network none`` takes the
network out (a slice of its input stands in), so the two columns are what the sampler costs
besides the network, and their difference is what the library adds; ``--floor`` splits that
difference into a cost per evaluation and a cost per call (the fastest of many runs at two step
counts, the least disturbed by other jobs).
"""

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from hand_loops import annealed_langevin as hand_annealed_langevin
from hand_loops import score

from scoregen import build

# ----------------------------------------------------------------------------- the network by hand


def level(n: int, sigma: float) -> torch.Tensor:
    """The noise level of every sample, float32 ``[n]``."""
    return torch.full((n,), sigma)


def denoise(net, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``D(x; σ) = x + σ² s(x, σ)`` of a float64 state (the network in float32)."""
    return x + (sigma * sigma) * score(net, x.float(), level(x.shape[0], sigma)).double()


def prior(setup, n: int, generator) -> torch.Tensor:
    return setup["sigma_max"] * torch.randn(n, 2, generator=generator)


# ----------------------------------------------------------------------------- hand loops


@torch.no_grad()
def langevin(net, setup, n, g):
    """Langevin at one level: ``x ← x + ε/2 s + √ε z``."""
    x, eps, sigma = prior(setup, n, g), setup["step_size"], level(n, setup["sigma"])
    for _ in range(setup["n_steps"]):
        x = x + (0.5 * eps) * score(net, x, sigma) + math.sqrt(eps) * torch.randn(x.shape, generator=g)
    return x


def annealed_langevin(net, setup, n, g):
    """NCSN's annealed Langevin (benchmarks/hand_loops.py, the loop overhead.py times)."""
    return hand_annealed_langevin(net, torch.tensor(setup["sigmas"]), n, setup["n_steps_each"], setup["step_lr"], g)


def _ve(setup, t: float) -> tuple[float, float]:
    """``(σ(t), g(t)²)`` of the VE ladder: ``σ = σ_min r^t``, ``g² = dσ²/dt = 2 σ² log r``, ``r = σ_max/σ_min``."""
    lo, hi = setup["sigma_min"], setup["sigma_max"]
    sigma = lo * (hi / lo) ** t
    return sigma, 2 * sigma * sigma * math.log(hi / lo)


def _tweedie(net, setup, x):
    return x + setup["sigma_min"] ** 2 * score(net, x, level(x.shape[0], setup["sigma_min"]))


@torch.no_grad()
def reverse_sde(net, setup, n, g):
    """Euler–Maruyama on the reverse VE SDE, ``x ← x − g² s Δt + g √|Δt| z``, then Tweedie."""
    x, times = prior(setup, n, g), setup["times"]
    for t, t_next in zip(times, times[1:]):
        dt = t_next - t
        sigma, g2 = _ve(setup, t)
        x = x - (g2 * dt) * score(net, x, level(n, sigma)) + math.sqrt(-g2 * dt) * torch.randn(x.shape, generator=g)
    return _tweedie(net, setup, x)


@torch.no_grad()
def pc(net, setup, n, g):
    """Reverse diffusion (NCSN's ladder step) then one Langevin corrector at ``snr``, then Tweedie."""
    x, times, snr = prior(setup, n, g), setup["times"], setup["snr"]
    for t, t_next in zip(times, times[1:]):
        sigma, sigma_next = _ve(setup, t)[0], _ve(setup, t_next)[0]
        b2 = max(sigma**2 - sigma_next**2, 0.0)
        x = x + b2 * score(net, x, level(n, sigma)) + math.sqrt(b2) * torch.randn(x.shape, generator=g)
        s = score(net, x, level(n, sigma_next))
        z = torch.randn(x.shape, generator=g)
        eps = 2 * (snr * z.norm(dim=1).mean() / s.norm(dim=1).mean()) ** 2
        x = x + eps * s + torch.sqrt(2 * eps) * z
    return _tweedie(net, setup, x)


@torch.no_grad()
def ode(net, setup, n, g):
    """Heun on the probability-flow ODE in time, ``dx/dt = −½ g² s``."""
    x, times = prior(setup, n, g), setup["times"]

    def drift(x, t):
        sigma, g2 = _ve(setup, t)
        return (-0.5 * g2) * score(net, x, level(n, sigma))

    for t, t_next in zip(times, times[1:]):
        dt = t_next - t
        d = drift(x, t)
        x = x + 0.5 * dt * (d + drift(x + dt * d, t_next))
    return x


@torch.no_grad()
def euler(net, setup, n, g):
    """Euler in σ on ``dx/dσ = (x − D)/σ`` (float64 state)."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x = x + (sigma_next - sigma) * ((x - denoise(net, x, sigma)) / sigma)
    return x.float()


def _heun_step(net, x, sigma, sigma_next):
    d = (x - denoise(net, x, sigma)) / sigma
    x_next = x + (sigma_next - sigma) * d
    if sigma_next == 0:
        return x_next
    d_next = (x_next - denoise(net, x_next, sigma_next)) / sigma_next
    return x + (sigma_next - sigma) * 0.5 * (d + d_next)


@torch.no_grad()
def heun(net, setup, n, g):
    """EDM's Algorithm 1 (Euler on the last step to 0)."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x = _heun_step(net, x, sigma, sigma_next)
    return x.float()


@torch.no_grad()
def edm(net, setup, n, g):
    """EDM's Algorithm 2 with ``S_churn`` (``S_tmin = 0``, no ``S_tmax``, ``S_noise = 1``)."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]
    gamma = min(setup["S_churn"] / (len(sigmas) - 1), math.sqrt(2) - 1)
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        sigma_hat = sigma * (1 + gamma)
        x = x + math.sqrt(sigma_hat**2 - sigma**2) * torch.randn(x.shape, generator=g, dtype=torch.float64)
        x = _heun_step(net, x, sigma_hat, sigma_next)
    return x.float()


@torch.no_grad()
def ancestral(net, setup, n, g):
    """Euler-ancestral / DDIM(η): to ``σ_down`` deterministically, back to ``σ'`` with fresh noise."""
    x, sigmas, eta = prior(setup, n, g).double(), setup["grid"], setup["eta"]
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x0 = denoise(net, x, sigma)
        up = min(sigma_next, eta * sigma_next * math.sqrt(max(sigma**2 - sigma_next**2, 0.0)) / sigma)
        down = math.sqrt(sigma_next**2 - up**2)
        x = x0 + (down / sigma) * (x - x0)
        if up > 0:
            x = x + up * torch.randn(x.shape, generator=g, dtype=torch.float64)
    return x.float()


@torch.no_grad()
def dpm_solver(net, setup, n, g):
    """Single-step DPM-Solver-3 (ε form, r₁ = ⅓, r₂ = ⅔); ``D`` on the step to 0."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]

    def eps(x, sigma):
        return (x - denoise(net, x, sigma)) / sigma

    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        if sigma_next == 0:
            x = denoise(net, x, sigma)
            continue
        h = math.log(sigma / sigma_next)
        r1, r2 = 1 / 3, 2 / 3
        s1, s2 = sigma * math.exp(-r1 * h), sigma * math.exp(-r2 * h)
        eps0 = eps(x, sigma)
        d1 = eps(x - s1 * math.expm1(r1 * h) * eps0, s1) - eps0
        phi = math.expm1(r2 * h) / (r2 * h) - 1
        d2 = eps(x - s2 * math.expm1(r2 * h) * eps0 - s2 * (r2 / r1) * phi * d1, s2) - eps0
        x = x - sigma_next * math.expm1(h) * eps0 - sigma_next / r2 * (math.expm1(h) / h - 1) * d2
    return x.float()


@torch.no_grad()
def dpmpp_2m(net, setup, n, g):
    """DPM-Solver++(2M) with noise ``eta`` (midpoint correction; ``eta = 0``: the ODE)."""
    x, sigmas, eta = prior(setup, n, g).double(), setup["grid"], setup["eta"]
    old, h_last = None, 0.0
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x0 = denoise(net, x, sigma)
        if sigma_next > 0:
            h = math.log(sigma / sigma_next)
            a = -math.expm1(-h - eta * h)
            x = (sigma_next / sigma) * math.exp(-eta * h) * x + a * x0
            if old is not None:  # the midpoint correction from the previous D
                x = x + 0.5 * a * (1 / (h_last / h)) * (x0 - old)
            if eta > 0:
                x = x + sigma_next * math.sqrt(-math.expm1(-2 * eta * h)) * torch.randn(x.shape, generator=g, dtype=torch.float64)
            h_last = h
        else:  # the step to 0 ends on D
            x = x0
        old = x0
    return x.float()


@torch.no_grad()
def dpmpp_3m_sde(net, setup, n, g):
    """DPM-Solver++(3M) SDE with noise ``eta`` (second-difference weight 2, the exact integral)."""
    x, sigmas, eta = prior(setup, n, g).double(), setup["grid"], setup["eta"]
    x0_1 = x0_2 = h_1 = h_2 = None
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x0 = denoise(net, x, sigma)
        if sigma_next == 0:
            x = x0
        else:
            h = math.log(sigma / sigma_next)
            h_eta = h * (eta + 1)
            x = math.exp(-h_eta) * x - math.expm1(-h_eta) * x0
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0, d1_1 = (x0 - x0_1) / r0, (x0_1 - x0_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + phi_2 * d1 - 2.0 * (phi_2 / h_eta - 0.5) * d2
            elif h_1 is not None:
                x = x + phi_2 * (x0 - x0_1) / (h_1 / h)
            if eta > 0:
                x = x + sigma_next * math.sqrt(-math.expm1(-2 * h * eta)) * torch.randn(x.shape, generator=g, dtype=torch.float64)
            h_1, h_2 = h, h_1
        x0_1, x0_2 = x0, x0_1
    return x.float()


def _unipc_rhos(rks: list[float], h: float, with_new: bool) -> tuple[list[float], float]:
    """UniPC's ``ρ`` (bh2) for the ratios ``rks`` (plus ``r = 1`` for the corrector) and ``B(h)``."""
    hh, b_h = -h, math.expm1(-h)
    k = len(rks) + int(with_new)
    rs = rks + [1.0] if with_new else rks
    h_phi, factorial, b = math.expm1(hh) / hh - 1, 1, []
    for i in range(1, k + 1):
        b.append(h_phi * factorial / b_h)
        factorial *= i + 1
        h_phi = h_phi / hh - 1 / factorial
    if k == 1:
        return [0.5], b_h
    r_mat = torch.tensor([[r ** (i - 1) for r in rs] for i in range(1, k + 1)], dtype=torch.float64)
    return torch.linalg.solve(r_mat, torch.tensor(b, dtype=torch.float64)).tolist(), b_h


def _unipc_update(x, history, sigma_next, new=None):
    lam0, sigma0, x0 = history[0]
    h = -math.log(sigma_next) - lam0
    rks = [(lam - lam0) / h for lam, _, _ in history[1:]]
    diffs = [(xk - x0) / r for (_, _, xk), r in zip(history[1:], rks)]
    x_next = (sigma_next / sigma0) * x - math.expm1(-h) * x0
    if new is None and not diffs:
        return x_next
    rhos, b_h = _unipc_rhos(rks, h, new is not None)
    total = sum(rho * d for rho, d in zip(rhos, diffs))
    if new is not None:
        total = total + rhos[-1] * (new - x0)
    return x_next - b_h * total


@torch.no_grad()
def unipc(net, setup, n, g):
    """UniPC-3 (bh2) with the corrector UniC on every step but the last."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]
    history, x_prev = [], None
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x0 = denoise(net, x, sigma)
        if x_prev is not None:
            x = _unipc_update(x_prev, history, sigma, new=x0)
        history = [(-math.log(sigma), sigma, x0), *history][:3]
        x_prev = x
        x = x0 if sigma_next == 0 else _unipc_update(x, history, sigma_next)
    return x.float()


def _lms_weights(nodes: list[float], a: float, b: float) -> list[float]:
    """``∫_a^b ℓ_j`` of the Lagrange basis on ``nodes`` (numpy polynomials on the unit interval)."""
    u = [(s - a) / (b - a) for s in nodes]
    out = []
    for j, uj in enumerate(u):
        others = [uk for k, uk in enumerate(u) if k != j]
        poly = np.polyint(np.poly(others) / np.prod([uj - uk for uk in others]) if others else np.array([1.0]))
        out.append(float((np.polyval(poly, 1.0) - np.polyval(poly, 0.0)) * (b - a)))
    return out


@torch.no_grad()
def lms(net, setup, n, g):
    """Linear multistep (Adams–Bashforth in σ) of order 4."""
    x, sigmas = prior(setup, n, g).double(), setup["grid"]
    history = []
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        history = [(sigma, (x - denoise(net, x, sigma)) / sigma), *history][:4]
        weights = _lms_weights([s for s, _ in history], sigma, sigma_next)
        x = x + sum(w * d for w, (_, d) in zip(weights, history))
    return x.float()


@torch.no_grad()
def unmask(net, setup, n, g):
    """Un-masking in a random order (``reveal="count"``, the linear schedule): after the step to
    ``s`` the first ``P − ⌊P s⌋`` ranks are revealed, each drawn from ``softmax(logits/T)`` by the
    inverse CDF; the network sees ``[onehot(x), t]``."""
    positions, vocab, steps, temperature = setup["positions"], setup["vocab_size"], setup["steps"], setup["temperature"]
    x = torch.full((n, positions), vocab)  # all masked (the mask token is V)
    rank = torch.rand((n, positions), generator=g).argsort(dim=1).argsort(dim=1)
    times = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64).tolist()
    for t, s in zip(times, times[1:]):
        reveal = (x == vocab) & (rank < positions - math.floor(positions * min(max(s, 0.0), 1.0)))
        u = torch.rand((n, positions), generator=g, dtype=torch.float64)
        if bool(reveal.any()):
            inputs = torch.cat([torch.nn.functional.one_hot(x, vocab + 1).flatten(1).float(), torch.full((n, 1), t)], dim=1)
            logits = net(inputs).reshape(n, positions, vocab)[reveal]
            probs = torch.softmax(torch.log_softmax(logits.double(), dim=-1) / temperature, dim=-1)
            x[reveal] = (probs.cumsum(dim=-1) <= u[reveal][:, None]).sum(dim=-1).clamp(max=vocab - 1)
    return x


# ----------------------------------------------------------------------------- the contenders

# name: (the sampler's parameters, the hand loop)
SAMPLERS: dict[str, tuple[dict, Callable]] = {
    "langevin": ({"name": "langevin", "n_steps": 100}, langevin),
    "annealed-langevin": ({"name": "annealed-langevin", "n_steps_each": 10}, annealed_langevin),
    "reverse-sde": ({"name": "reverse-sde", "n_steps": 100}, reverse_sde),
    "pc": ({"name": "pc", "n_steps": 50}, pc),
    "ode (heun)": ({"name": "ode", "n_steps": 50}, ode),
    "euler": ({"name": "euler"}, euler),
    "heun": ({"name": "heun"}, heun),
    "edm (S_churn 10)": ({"name": "edm", "S_churn": 10.0}, edm),
    "euler-ancestral": ({"name": "euler-ancestral"}, ancestral),
    "ddim": ({"name": "ddim"}, ancestral),
    "dpm-solver": ({"name": "dpm-solver"}, dpm_solver),
    "dpm++2m": ({"name": "dpm++2m"}, dpmpp_2m),
    "dpm++2m-sde": ({"name": "dpm++2m-sde"}, dpmpp_2m),
    "dpm++3m-sde": ({"name": "dpm++3m-sde"}, dpmpp_3m_sde),
    "unipc": ({"name": "unipc"}, unipc),
    "lms": ({"name": "lms"}, lms),
}

# The masking family, on the ``masked`` preset's MLP (``[onehot(x̃), t] → 512 → 512 → P·V``) over
# the 64 binary pixels of the digits.
MASKING: dict[str, tuple[dict, Callable]] = {
    "unmask": ({"name": "unmask", "steps": 16}, unmask),
}


def setup_for(model, params: dict) -> tuple[dict, int]:
    """The constants a hand loop takes from the library's sampler (its grid, its parameters) and
    the sampler's NFE, computed once outside the timing."""
    sampler = model._component("sampler", params)
    kernel = model.kernel
    setup = {a.name: getattr(sampler, a.name) for a in type(sampler).__attrs_attrs__}
    if kernel.family == "masking":
        return {**setup, "positions": math.prod(model.event_shape), "vocab_size": kernel.vocab_size}, sampler.nfe(kernel)
    lo, hi = kernel.sigma_range()
    setup.update(sigma_min=lo, sigma_max=hi, sigmas=kernel.sigmas.tolist())
    if hasattr(sampler, "sigmas"):
        setup["grid"] = sampler.sigmas(kernel).tolist()
    if "n_steps" in setup and hasattr(sampler, "n_steps"):
        setup["times"] = kernel.time_grid(sampler.n_steps).tolist()
    if "sigma" in setup:
        setup["sigma"] = float(kernel.sigmas[-1]) if setup["sigma"] is None else setup["sigma"]
    return setup, sampler.nfe(kernel)


def check_same(model, params: dict, hand: Callable, n: int = 1000, seed: int = 0) -> float:
    """Run the library and the hand loop on one seed; assert their samples agree to round-off and
    return the largest difference."""
    setup, _ = setup_for(model, params)
    lib = model.sample(n, seed=seed, sampler=params)
    ours = hand(model.estimator.net, setup, n, torch.Generator().manual_seed(seed))
    error = float((lib - ours).abs().max())  # tokens: 0 unless a token differs
    scale = max(1.0, float(lib.abs().max()))
    assert error <= 1e-4 * scale, f"{params['name']}: the hand loop differs from the library by {error:.3g} (scale {scale:.3g})"
    return error


CLOCKS = {"thread": time.thread_time, "wall": time.perf_counter}


class Slice(torch.nn.Module):
    """The network taken out (``--network none``): its first ``width`` inputs as its output, so
    what is timed is everything but the network."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.width]


def built(preset: str, event_shape: tuple[int, ...], network: str):
    model = build(preset, event_shape=event_shape)
    if network == "none":
        model.estimator.net = Slice(model.estimator.net[-1].out_features)
    return model


def timed(fn, clock=time.thread_time) -> float:
    start = clock()
    fn()
    return clock() - start


def run(model, names: list[str], n: int, rounds: int, net=None, label: str = "", clock=time.thread_time) -> list[dict]:
    """Interleaved rounds of every sampler in ``names`` (of :data:`SAMPLERS` or :data:`MASKING`,
    as ``model``'s family): library then hand, or hand then library."""
    net = model.estimator.net if net is None else net
    contenders = MASKING if model.kernel.family == "masking" else SAMPLERS
    prepared = {}
    for name in names:
        params, hand = contenders[name]
        check_same(model, params, hand)
        setup, nfe = setup_for(model, params)
        prepared[name] = (params, hand, setup, nfe)
        model.sample(n, seed=0, sampler=params)  # warm-up
        hand(net, setup, n, torch.Generator().manual_seed(0))
    per = {name: ([], []) for name in names}
    for r in range(rounds):
        for name, (params, hand, setup, nfe) in prepared.items():
            scale = 1000 / n / nfe
            lib = lambda: model.sample(n, seed=r, sampler=params)  # noqa: E731
            ours = lambda: hand(net, setup, n, torch.Generator().manual_seed(r))  # noqa: E731
            if r % 2:
                t_ours, t_lib = timed(ours, clock), timed(lib, clock)
            else:
                t_lib, t_ours = timed(lib, clock), timed(ours, clock)
            per[name][0].append(t_lib * scale)
            per[name][1].append(t_ours * scale)
    rows = []
    for name, (lib, ours) in per.items():
        ratios = [a / b for a, b in zip(lib, ours)]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        rows.append({
            "sampler": name + label, "nfe": prepared[name][3], "library": statistics.median(lib), "hand": statistics.median(ours),
            "ratio": statistics.median(ratios), "q1": q[0], "q3": q[2], "best": min(lib) / min(ours),
        })
    return rows


STEP_PARAMETER = {"annealed-langevin": "n_steps_each", "unmask": "steps"}  # the others: n_steps


def floor(model, names: list[str], n: int, rounds: int, clock=time.thread_time) -> list[dict]:
    """What the library adds over the hand loop, per evaluation and per call, with the network
    taken out (``model`` built with ``network="none"``): the fastest of ``rounds`` runs of each
    side at 5 steps and at the row's own, and the line through the two differences."""
    contenders = MASKING if model.kernel.family == "masking" else SAMPLERS
    net, rows = model.estimator.net, []
    for name in names:
        params, hand = contenders[name]
        points = []
        for steps in (5, None):
            p = params if steps is None else {**params, STEP_PARAMETER.get(name, "n_steps"): steps}
            setup, nfe = setup_for(model, p)
            lib = min(timed(lambda: model.sample(n, seed=r, sampler=p), clock) for r in range(rounds))
            ours = min(timed(lambda: hand(net, setup, n, torch.Generator().manual_seed(r)), clock) for r in range(rounds))
            points.append((nfe, lib - ours))
        (n1, d1), (n2, d2) = points
        if model.kernel.family == "masking":  # fewer steps reveal more tokens each: no line, the row's own average
            rows.append({"sampler": name, "nfe": n2, "per_nfe": d2 / n2, "per_call": None})
            continue
        per_nfe = (d2 - d1) / (n2 - n1)
        rows.append({"sampler": name, "nfe": n2, "per_nfe": per_nfe, "per_call": d1 - per_nfe * n1})
    return rows


def floor_table(rows: list[dict]) -> str:
    lines = ["| sampler | NFE | added µs per NFE | added µs per call |", "|---|---:|---:|---:|"]
    for r in rows:
        per_call = "—" if r["per_call"] is None else f"{r['per_call'] * 1e6:.0f}"
        lines.append(f"| {r['sampler']} | {r['nfe']} | {r['per_nfe'] * 1e6:.1f} | {per_call} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| sampler | NFE | library s/1000/NFE | hand loop s/1000/NFE | ratio (median) | ratio IQR | ratio of the best rounds |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sampler']} | {r['nfe']} | {r['library'] * 1e3:.3f} ms | {r['hand'] * 1e3:.3f} ms | "
            f"{r['ratio']:.3f} | {r['q1']:.3f}–{r['q3']:.3f} | {r['best']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=",".join([*SAMPLERS, *MASKING]), help="comma-separated rows of SAMPLERS and MASKING")
    parser.add_argument("--compile", default="", help="samplers to time again after model.compile()")
    parser.add_argument(
        "--network", choices=("mlp", "none"), default="mlp",
        help="none: the MLP's layers replaced by a slice of their input, so the times are what the sampler and the library add",
    )
    parser.add_argument(
        "--clock", choices=CLOCKS, default="thread",
        help="thread: the CPU time of this thread (one thread does all the work; other processes on a shared machine do not count); wall: elapsed time",
    )
    parser.add_argument(
        "--floor", action="store_true",
        help="with the network taken out, what the library adds per evaluation and per call (the fastest of 10×rounds runs at two step counts)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [s for s in args.only.split(",") if s]
    unknown = set(names) - set(SAMPLERS) - set(MASKING)
    if unknown:
        parser.error(f"unknown sampler rows {sorted(unknown)}; known: {', '.join([*SAMPLERS, *MASKING])}")
    if args.floor:
        rows = floor(built("ncsn", (2,), "none"), [s for s in names if s in SAMPLERS], args.samples, 10 * args.rounds, CLOCKS[args.clock])
        if any(s in MASKING for s in names):
            rows += floor(built("masked", (64,), "none"), [s for s in names if s in MASKING], args.samples, 10 * args.rounds, CLOCKS[args.clock])
        print(f"threads={torch.get_num_threads()} samples={args.samples} network taken out; fastest of {10 * args.rounds} runs at 5 steps and at the row's own")
        print(floor_table(rows))
        return rows
    model = built("ncsn", (2,), args.network)
    clock = CLOCKS[args.clock]
    rows = run(model, [s for s in names if s in SAMPLERS], args.samples, args.rounds, clock=clock)
    masking = [s for s in names if s in MASKING]
    if masking:
        rows += run(built("masked", (64,), args.network), masking, args.samples, args.rounds, clock=clock)
    compiled = [s for s in args.compile.split(",") if s]
    if compiled:
        net = model.estimator.net
        model.compile()
        start = time.perf_counter()
        model.sample(args.samples, seed=0, sampler=SAMPLERS[compiled[0]][0])  # compile before the timing
        print(f"model.compile(): the first sample() took {time.perf_counter() - start:.1f} s (compiling)")
        rows += run(model, compiled, args.samples, args.rounds, net=net, label=" + compile()", clock=clock)
    print(
        f"threads={torch.get_num_threads()} samples={args.samples} rounds={args.rounds} clock={args.clock} network={args.network} "
        "(median over rounds; ratio = library/hand, median and interquartile range of the per-round ratios)"
    )
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
