"""Pictures: 2-D samples over a density, and the score field as arrows. Written as PNG.

matplotlib is imported inside each function, so the library does not need it to import.
"""

from pathlib import Path

import torch

from scoregen._extras import require


def _pyplot():
    require("plot")
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


def plot_image_grid(images: torch.Tensor, path, *, nrow: int | None = None, title: str | None = None) -> Path:
    """Images ``[N, C, H, W]`` (values in ``[0, 1]``, clipped) as one grid of ``nrow`` columns."""
    import math

    plt = _pyplot()
    pixels = images.detach().cpu().clamp(0, 1).numpy()
    n, c = pixels.shape[:2]
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    fig, axes = plt.subplots(rows, nrow, figsize=(nrow * 0.6, rows * 0.6), dpi=120, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), pixels):
        ax.imshow(img[0] if c == 1 else img.transpose(1, 2, 0), cmap="gray_r" if c == 1 else None, vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=8)
    return _save(fig, path)


def plot_loss_curves(history: list[dict], sigmas, path) -> Path:
    """The training loss per noise level (one line each, coloured by ``log σ``) and overall, from
    a model's ``history`` (entries with ``step``, ``loss``, ``loss_by_level``)."""
    plt = _pyplot()
    steps = [h["step"] for h in history]
    by_level = torch.tensor([h["loss_by_level"] for h in history], dtype=torch.float64).numpy()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    cmap = plt.get_cmap("viridis")
    for i, sigma in enumerate(list(sigmas)):
        ax.plot(steps, by_level[:, i], color=cmap(i / max(len(sigmas) - 1, 1)), lw=0.8, label=f"σ = {float(sigma):.3g}" if i in (0, len(sigmas) - 1) else None)
    ax.plot(steps, [h["loss"] for h in history], color="black", lw=1.5, label="mean")
    ax.set(xlabel="step", ylabel="DSM loss ½‖σ s + z‖²", yscale="log", title="loss per noise level")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_curve(x, y, path, *, xlabel: str, ylabel: str, hline: float | None = None) -> Path:
    """A single curve ``y(x)`` with markers (and a dashed horizontal line at ``hline``), log ``y``."""
    return plot_curves({None: (x, y)}, path, xlabel=xlabel, ylabel=ylabel, hline=hline, yscale="log")


def plot_curves(
    curves: dict, path, *, xlabel: str, ylabel: str, hline: float | None = None, xscale: str = "linear", yscale: str = "linear"
) -> Path:
    """Curves ``{label: (x, y)}`` with markers on one axis (and a dashed line at ``hline``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", label=label)
    if hline is not None:
        ax.axhline(hline, ls="--", color="grey")
    ax.set(xlabel=xlabel, ylabel=ylabel, xscale=xscale, yscale=yscale)
    if any(label is not None for label in curves):
        ax.legend(fontsize=7)
    return _save(fig, path)
