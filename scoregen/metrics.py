"""Sample-quality metrics, each meant to be quoted beside its floor (the same metric between two
independent draws of the truth)."""

import torch


def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, *, n_projections: int = 256, generator: torch.Generator | None = None
) -> float:
    """Sliced Wasserstein-2 distance between samples ``x [N, *E]`` and ``y [M, *E]``:
    ``SW₂ = ( E_θ W₂²(θᵀx, θᵀy) )^{1/2}`` over ``n_projections`` random unit directions ``θ``.

    Each 1-D ``W₂²`` compares quantile functions at ``max(N, M)`` levels (exact for ``N = M``).
    """
    x = x.reshape(x.shape[0], -1).to(torch.float64)
    y = y.reshape(y.shape[0], -1).to(torch.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples have different dimensions: {x.shape[1]} and {y.shape[1]}")
    theta = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    if px.shape[0] != py.shape[0]:
        levels = torch.linspace(0, 1, max(px.shape[0], py.shape[0]), dtype=torch.float64)
        px, py = torch.quantile(px, levels, dim=0), torch.quantile(py, levels, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def mode_stats(samples: torch.Tensor, means: torch.Tensor, radius: float) -> dict:
    """How samples ``[N, D]`` sit on the modes ``means [K, D]``:

    - ``coverage``: fraction of samples within ``radius`` of their nearest mean;
    - ``modes_covered``: modes holding at least a fifth of their fair share ``N/(5K)`` of samples;
    - ``occupancy_ratio``: most over least populated mode (``inf`` if a mode is empty).
    """
    samples = samples.reshape(samples.shape[0], -1).to(torch.float64)
    means = torch.as_tensor(means, dtype=torch.float64)
    dist = torch.cdist(samples, means)
    nearest = dist.argmin(dim=1)
    near = dist.gather(1, nearest[:, None]).squeeze(1) <= radius
    counts = torch.bincount(nearest[near], minlength=len(means)).to(torch.float64)
    fair = samples.shape[0] / len(means)
    return {
        "coverage": float(near.double().mean()),
        "modes_covered": int((counts >= fair / 5).sum()),
        "n_modes": len(means),
        "occupancy_ratio": float(counts.max() / counts.min()) if counts.min() > 0 else float("inf"),
    }


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features ``a [N, F]`` and ``b [M, F]``:
    ``‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}`` (float64)."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


def mixture_quality(samples: torch.Tensor, mixture, *, radius: float | None = None) -> dict:
    """The four numbers that judge samples ``[N, D]`` of a Gaussian mixture with isotropic
    components (sliced-W2 at 10⁴ samples is blind to the last two):

    - ``coverage``: fraction within ``radius`` (default three component stds) of the nearest mean;
    - ``occupancy``: most over least populated mode (nearest mean, all samples);
    - ``spread``: std of the offsets from the nearest mean, over the components' std (1 is right);
    - ``log_p``: mean exact log-density ``mixture.log_prob`` of the samples.
    """
    samples = samples.reshape(samples.shape[0], -1).to(torch.float64)
    means = torch.as_tensor(mixture.means, dtype=torch.float64)
    std = float(torch.as_tensor(mixture.covariances, dtype=torch.float64).reshape(len(means), -1)[:, 0].sqrt().mean())
    stats = mode_stats(samples, means, 3 * std if radius is None else radius)
    offsets = samples - means[torch.cdist(samples, means).argmin(dim=1)]
    return {
        "coverage": stats["coverage"],
        "occupancy": stats["occupancy_ratio"],
        "spread": float(offsets.std() / std),
        "log_p": float(mixture.log_prob(samples).mean()),
    }


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """``½ Σ |p − q|`` between probability vectors ``p [K]`` and ``q [K]`` (histograms of a
    discrete or binned distribution); mass missing from either (outside a grid) counts fully."""
    p, q = p.to(torch.float64), q.to(torch.float64)
    return 0.5 * (float((p - q).abs().sum()) + abs(float(p.sum()) - float(q.sum())))
