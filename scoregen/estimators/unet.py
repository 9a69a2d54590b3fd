"""A small noise-conditional U-Net score network for images ``[B, C, H, W]``."""

import math

import torch
from torch import nn

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.errors import ConfigError
from scoregen.estimators.conditioning import Conditioning, embedding, refuse_labels
from scoregen.estimators.parameterisation import check_parameterisation
from scoregen.estimators.precond import Preconditioner, resolve_preconditioning


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _ResBlock(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))) + e(σ))))``, with a 1×1 skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out) if emb else None
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        if self.emb is not None:
            h = h + append_dims(self.emb(emb), h.ndim)
        return self.skip(x) + self.conv2(self.act(self.norm2(h)))


class NoiseConditionalUNet(nn.Module):
    """``s(x, σ) = f(x, σ) / σ`` with ``f`` a U-Net: ``len(channel_mult)`` resolutions, each a
    residual block on the way down (then a stride-2 convolution) and one on the way up (after
    nearest upsampling and concatenating the skip connection).

    Conditioning on σ follows NCSNv2 (Song & Ermon 2020, Technique 3): the output is divided by
    ``σ``, so ``f`` predicts ``σ s ≈ −z`` at unit scale for every level. ``sigma_embedding=True``
    also adds a learned function of ``log σ`` (Fourier features) inside every block, which
    NCSNv2 found unnecessary for large images but helps at 8×8. ``preconditioning="edm"`` (with
    ``sigma_data``) replaces the division by ``σ`` (:mod:`scoregen.estimators.precond`).
    ``parameterisation`` names what the output predicts (:mod:`scoregen.estimators.parameterisation`);
    for any but ``score`` the raw output is the prediction (preconditioning ``"none"``).
    ``conditioning={"classes": C, "drop": p}`` adds a learned label embedding to that block
    embedding (:mod:`scoregen.estimators.conditioning`; the null token without labels).

    Shapes: ``x [B, C, H, W]``, ``sigma [B]``, ``labels [B]`` → ``[B, C, H, W]``; ``H`` and ``W`` divisible by
    ``2^(len(channel_mult) − 1)``.
    """

    freqs: torch.Tensor  # a buffer (with sigma_embedding)

    def __init__(
        self,
        event_shape=(1, 8, 8),
        *,
        channels: int = 32,
        channel_mult=(1, 2),
        sigma_embedding: bool = True,
        preconditioning: str | None = None,
        sigma_data: float | str = "auto",
        parameterisation: str = "score",
        conditioning: dict | None = None,
    ) -> None:
        super().__init__()
        self.parameterisation = check_parameterisation("parameterisation", parameterisation)
        preconditioning = resolve_preconditioning(preconditioning, parameterisation)
        self.conditioning = Conditioning.of(conditioning)
        event_shape = v.check_shape("event_shape", event_shape)
        channels = v.check_int("channels", channels, minimum=1)
        channel_mult = v.check_counts("channel_mult", channel_mult)
        v.check_bool("sigma_embedding", sigma_embedding)
        if len(event_shape) != 3:
            raise ConfigError(f"the U-Net takes images [C, H, W]; got event shape {list(event_shape)}")
        factor = 2 ** (len(channel_mult) - 1)
        if event_shape[1] % factor or event_shape[2] % factor:
            raise ConfigError(f"image size {event_shape[1:]} must be divisible by {factor} for channel_mult={list(channel_mult)}")
        self.event_shape = event_shape
        self.hparams = {
            "event_shape": list(event_shape),
            "channels": int(channels),
            "channel_mult": [int(m) for m in channel_mult],
            "sigma_embedding": bool(sigma_embedding),
            "preconditioning": preconditioning,
            "sigma_data": sigma_data,
            "parameterisation": parameterisation,
            "conditioning": None if self.conditioning is None else self.conditioning.to_dict(),
        }
        self.precond = Preconditioner(preconditioning, sigma_data)
        widths = [channels * int(m) for m in channel_mult]
        emb = 4 * channels if sigma_embedding or self.conditioning is not None else 0
        if self.conditioning is not None and self.conditioning.width not in (None, emb):
            raise ConfigError(f"the U-Net's label embedding has the block width {emb}; drop conditioning's width")
        self.label_embedding = embedding(self.conditioning, emb)
        if sigma_embedding:
            self.register_buffer("freqs", torch.linspace(0.0, 3.0, channels // 2).exp2() * math.pi, persistent=False)
            self.embed = nn.Sequential(nn.Linear(2 * (channels // 2), emb), nn.SiLU(), nn.Linear(emb, emb))
        self.head = nn.Conv2d(event_shape[0], channels, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = channels
        for i, w in enumerate(widths):
            self.down.append(_ResBlock(c, w, emb))
            c = w
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = _ResBlock(c, c, emb)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(_ResBlock(c + w, w, emb))
            c = w
        self.tail = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, event_shape[0], 3, padding=1))

    @property
    def n_classes(self) -> int | None:
        """The number of classes it is conditioned on (``None``: unconditional)."""
        return None if self.conditioning is None else self.conditioning.classes

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = None
        if self.hparams["sigma_embedding"]:
            angle = sigma.log().to(x.dtype)[:, None] * self.freqs
            emb = self.embed(torch.cat([angle.sin(), angle.cos()], dim=1))
        if self.label_embedding is None:
            refuse_labels(self, labels)
        else:
            label = self.label_embedding(labels, x.shape[0], x.device).to(x.dtype)
            emb = label if emb is None else emb + label
        h = self.head(self.precond.network_input(x, sigma))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.precond.score(self.tail(h), x, sigma)

    def with_data(self, x: torch.Tensor) -> "NoiseConditionalUNet":
        """Measure ``σ_d`` on the training data ``x`` where ``sigma_data="auto"`` asks for it."""
        self.precond.fit_data(x)
        return self
