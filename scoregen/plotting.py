"""Pictures: 2-D samples over a density, and the score field as arrows. Written as PNG.

matplotlib is imported inside each function, so the library does not need it to import.
"""

from pathlib import Path

import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(lim: float, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    return xx, yy, torch.stack([xx.flatten(), yy.flatten()], dim=1)


def plot_samples(samples: torch.Tensor, path, *, density=None, lim: float = 6.0, title: str = "samples") -> Path:
    """Scatter of 2-D ``samples [N, 2]`` over the contours of ``density`` (an object with
    ``log_prob([M, 2]) -> [M]``, e.g. :class:`~scoregen.analytic.GaussianMixture`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    if density is not None:
        xx, yy, pts = _grid(lim, 200)
        logp = density.log_prob(pts.double()).reshape(xx.shape)
        ax.contourf(xx, yy, logp.exp(), levels=20, cmap="Blues")
    s = samples.detach().cpu()
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:red", alpha=0.5, linewidths=0)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    return _save(fig, path)


def plot_score_fields(fields: dict, sigmas, path, *, lim: float = 6.0, n: int = 21) -> Path:
    """Arrow plots of score functions ``name -> f(x [M, 2], sigma [M]) -> [M, 2]``: one column per
    function, one row per noise level in ``sigmas``, on an ``n × n`` grid. Arrows show the
    direction; their colour, on one scale for all panels, shows ``log₁₀ ‖s‖``."""
    plt = _pyplot()
    from matplotlib.colors import Normalize

    xx, yy, pts = _grid(lim, n)
    scores = {}
    for sigma in sigmas:
        for name, score in fields.items():
            with torch.no_grad():
                scores[name, sigma] = score(pts, torch.full((len(pts),), float(sigma))).double()
    log_norms = {key: s.norm(dim=1).clamp_min(1e-12).log10() for key, s in scores.items()}
    every = torch.cat(list(log_norms.values()))
    norm = Normalize(float(every.quantile(0.02)), float(every.quantile(0.98)))
    fig, axes = plt.subplots(len(sigmas), len(fields), figsize=(4.5 * len(fields), 4.5 * len(sigmas)), dpi=110, squeeze=False)
    for row, sigma in zip(axes, sigmas):
        for ax, name in zip(row, fields):
            s, mag = scores[name, sigma], log_norms[name, sigma]
            u = (s / s.norm(dim=1, keepdim=True).clamp_min(1e-12)).reshape(n, n, 2)
            arrows = ax.quiver(xx, yy, u[..., 0], u[..., 1], mag.reshape(n, n), cmap="viridis", norm=norm, scale=n, width=0.007)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=f"{name} score, σ = {sigma:.3g}")
    fig.colorbar(arrows, ax=axes.ravel().tolist(), shrink=0.6, label="log₁₀ ‖s(x, σ)‖")
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_image_grid(images: torch.Tensor, path, *, ncols: int | None = None, title: str = "samples") -> Path:
    """Grey-level images ``[N, H, W]`` (any real range, shown min to max over all of them) in a grid
    of ``ncols`` columns (default: about square), black on white."""
    plt = _pyplot()
    images = images.detach().cpu().to(torch.float32)
    n = images.shape[0]
    ncols = ncols or max(1, int(n**0.5 + 0.5))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.7, nrows * 0.7 + 0.4), dpi=120, squeeze=False)
    low, high = float(images.min()), float(images.max())
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap="gray_r", vmin=low, vmax=high if high > low else low + 1)
    fig.suptitle(title, fontsize=8)
    return _save(fig, path)
