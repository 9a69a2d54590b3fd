"""A noise-conditional MLP denoiser for short token sequences (the masking family)."""

import math

import torch
from torch import nn

from scoregen import _validators as v
from scoregen.estimators.conditioning import Conditioning, embedding, refuse_labels
from scoregen.estimators.discrete import carry_over
from scoregen.estimators.mlp import ACTIVATIONS


class MaskedMLP(nn.Module):
    """``logits = f([onehot(x_t), t])``: an MLP on the one-hot tokens (``V + 1`` classes with the
    mask) of all ``P`` positions and the time, reshaped to ``[B, *event_shape, V]``; no logit for
    the mask, visible positions carried over unchanged (:func:`carry_over`)."""

    families = ("masking",)

    def __init__(
        self,
        event_shape=(16,),
        *,
        vocab_size: int = 2,
        hidden=(512, 512),
        activation: str = "silu",
        conditioning: dict | None = None,
    ) -> None:
        super().__init__()
        self.conditioning = Conditioning.of(conditioning)
        v.check_choice("activation", activation, ACTIVATIONS)
        hidden = v.check_counts("hidden", hidden)
        self.event_shape = v.check_shape("event_shape", event_shape)
        self.vocab_size = v.check_int("vocab_size", vocab_size, minimum=1)
        self.hparams = {
            "event_shape": list(self.event_shape),
            "vocab_size": self.vocab_size,
            "hidden": list(hidden),
            "activation": activation,
            "conditioning": None if self.conditioning is None else self.conditioning.to_dict(),
        }
        positions = math.prod(self.event_shape)
        self.label_embedding = embedding(self.conditioning, 32)
        label_width = 0 if self.label_embedding is None else self.label_embedding.table.embedding_dim
        widths = [positions * (self.vocab_size + 1) + 1 + label_width, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], positions * self.vocab_size))
        self.net = nn.Sequential(*layers)

    @property
    def n_classes(self) -> int | None:
        """The number of classes it is conditioned on (``None``: unconditional)."""
        return None if self.conditioning is None else self.conditioning.classes

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        tokens = nn.functional.one_hot(x_t.flatten(1), self.vocab_size + 1).flatten(1).to(torch.float32)
        inputs = [tokens, t.to(torch.float32)[:, None]]
        if self.label_embedding is None:
            refuse_labels(self, labels)
        else:
            inputs.append(self.label_embedding(labels, x_t.shape[0], x_t.device))
        logits = self.net(torch.cat(inputs, dim=1)).reshape(*x_t.shape, self.vocab_size)
        return carry_over(logits, x_t, self.vocab_size)
