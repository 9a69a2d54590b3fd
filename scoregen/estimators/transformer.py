"""A small noise-conditional transformer denoiser for token sequences (the masking family)."""

import math

import torch
from torch import nn

from scoregen import _validators as v
from scoregen.errors import ConfigError
from scoregen.estimators.conditioning import Conditioning, embedding, refuse_labels
from scoregen.estimators.discrete import carry_over


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of ``t [B]`` (``t ∈ [0, 1]``, scaled by 1000), ``[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = 1000.0 * t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class MaskedTransformer(nn.Module):
    """A bidirectional transformer encoder over the positions of ``x_t``:
    ``h = Embed(x_t) + P + MLP(emb(t))``, ``n_layers`` pre-norm blocks, ``logits = W LayerNorm(h)``.

    Input tokens ``0 … V`` (``V`` is the mask); output ``[B, *event_shape, V]`` — no logit for the
    mask, and visible positions carried over unchanged (:func:`carry_over`). Any event shape is
    flattened into a sequence of ``prod(event_shape)`` positions. ``conditioning`` adds a learned
    label embedding to ``h`` at every position (:mod:`scoregen.estimators.conditioning`).
    """

    families = ("masking",)

    def __init__(
        self,
        event_shape=(16,),
        *,
        vocab_size: int = 2,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        conditioning: dict | None = None,
    ) -> None:
        super().__init__()
        self.conditioning = Conditioning.of(conditioning)
        vocab_size = v.check_int("vocab_size", vocab_size, minimum=1)
        d_model = v.check_int("d_model", d_model, minimum=2)
        n_layers = v.check_int("n_layers", n_layers, minimum=1)
        n_heads = v.check_int("n_heads", n_heads, minimum=1)
        ff_mult = v.check_int("ff_mult", ff_mult, minimum=1)
        dropout = v.check_real("dropout", dropout, non_negative=True, below=1.0)
        if d_model % 2 or d_model % n_heads:
            raise ConfigError(f"d_model must be even and divisible by n_heads; got d_model={d_model}, n_heads={n_heads}")
        self.event_shape = v.check_shape("event_shape", event_shape)
        self.vocab_size = int(vocab_size)
        self.hparams = {
            "event_shape": list(self.event_shape),
            "vocab_size": self.vocab_size,
            "d_model": d_model,
            "n_layers": n_layers,
            "n_heads": n_heads,
            "ff_mult": ff_mult,
            "dropout": dropout,
            "conditioning": None if self.conditioning is None else self.conditioning.to_dict(),
        }
        n_positions = math.prod(self.event_shape)
        self.token = nn.Embedding(self.vocab_size + 1, d_model)
        self.position = nn.Parameter(0.02 * torch.randn(n_positions, d_model))
        self.time = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, ff_mult * d_model, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.vocab_size)
        if self.conditioning is not None and self.conditioning.width not in (None, d_model):
            raise ConfigError(f"the transformer's label embedding has width d_model = {d_model}; drop conditioning's width")
        self.label_embedding = embedding(self.conditioning, d_model)

    @property
    def n_classes(self) -> int | None:
        """The number of classes it is conditioned on (``None``: unconditional)."""
        return None if self.conditioning is None else self.conditioning.classes

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        d_model = self.position.shape[1]
        h = self.token(x_t.flatten(1)) + self.position + self.time(time_embedding(t, d_model))[:, None]
        if self.label_embedding is None:
            refuse_labels(self, labels)
        else:
            h = h + self.label_embedding(labels, x_t.shape[0], x_t.device)[:, None]
        logits = self.head(self.norm(self.encoder(h))).reshape(*x_t.shape, self.vocab_size)
        return carry_over(logits, x_t, self.vocab_size)
