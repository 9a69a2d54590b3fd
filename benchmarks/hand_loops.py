"""Hand-written PyTorch that the benchmarks measure the library against: the ``ncsn`` MLP, a DSM
training loop with (or without) a cosine learning rate and an EMA of the weights, and annealed
Langevin sampling. Plain torch only: nothing here imports scoregen."""

import math
from collections.abc import Callable

import torch
from torch import nn


def mlp(dim: int = 2, width: int = 128) -> nn.Sequential:
    """``[x, log σ] → width → width → width → dim`` with SiLU: the ``ncsn`` preset's network."""
    return nn.Sequential(
        nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
        nn.Linear(width, width), nn.SiLU(), nn.Linear(width, dim),
    )


def score(net: nn.Module, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``s(x, σ) = net([x, log σ])/σ`` for ``x [B, D]``, ``sigma [B]``."""
    return net(torch.cat([x, sigma.log()[:, None]], dim=1)) / sigma[:, None]


def ladder_levels(sigmas: torch.Tensor) -> Callable:
    """A level drawn uniformly from the ladder ``sigmas`` for each example."""
    return lambda n, generator: sigmas[torch.randint(len(sigmas), (n,), generator=generator)]


def log_uniform_levels(sigma_min: float, sigma_max: float) -> Callable:
    """``log σ ~ U(log σ_min, log σ_max)``: the ``ve`` kernel's training levels."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return lambda n, generator: torch.exp(lo + (hi - lo) * torch.rand(n, generator=generator))


def train_dsm(
    net: nn.Module, x: torch.Tensor, steps: int, levels: Callable, *, batch_size: int = 256, lr: float = 1e-3,
    generator: torch.Generator, features: bool = True, loss_fn: Callable | None = None,
) -> list[torch.Tensor]:
    """DSM with ``λ(σ) = σ²`` and Adam, batches drawn with replacement from ``x [N, D]``; with
    ``features``, a cosine learning rate and an EMA of the weights (decay 0.999 with ``fit``'s
    warm-up, ``torch._foreach_lerp_``). Returns the EMA's weights (the last weights without).
    ``loss_fn(batch, sigma, z)`` replaces the hand-written loss (to time another one in this loop)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    params = list(net.parameters())
    shadow = [p.detach().clone() for p in params]
    for k in range(1, steps + 1):
        if features:
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * (k - 1) / steps))
        batch = x[torch.randint(len(x), (batch_size,), generator=generator)]
        sigma = levels(batch_size, generator)
        z = torch.randn(batch.shape, generator=generator)
        s = sigma[:, None]
        if loss_fn is None:
            loss = (0.5 * (s * score(net, batch + s * z, sigma) + z).pow(2).sum(dim=1)).mean()
        else:
            loss = loss_fn(batch, sigma, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if features:
            with torch.no_grad():
                torch._foreach_lerp_(shadow, params, 1.0 - min(0.999, (1.0 + k) / (10.0 + k)))
    return shadow if features else [p.detach().clone() for p in params]


@torch.no_grad()
def annealed_langevin(net: nn.Module, sigmas: torch.Tensor, n: int, n_steps_each: int, step_lr: float, generator) -> torch.Tensor:
    """Annealed Langevin (Song & Ermon 2019): ``α_i = ε σ_i²/σ_L²``, ``x ← x + α/2 s + √α z``,
    then the denoising step ``x + σ_L² s(x, σ_L)``; ``10 T + 1`` score evaluations on 10 levels."""
    x = sigmas[0] * torch.randn(n, 2, generator=generator)
    for sigma in sigmas.tolist():
        alpha = step_lr * (sigma / sigmas[-1].item()) ** 2
        level = torch.full((n,), sigma)
        for _ in range(n_steps_each):
            x = x + 0.5 * alpha * score(net, x, level) + math.sqrt(alpha) * torch.randn(x.shape, generator=generator)
    last = torch.full((n,), sigmas[-1].item())
    return x + last[:, None] ** 2 * score(net, x, last)
