"""A noise-conditional MLP denoiser for short token sequences (the masking family)."""

import math

import torch
from torch import nn

from scoregen import _validators as v
from scoregen.estimators.discrete import carry_over
from scoregen.estimators.mlp import ACTIVATIONS


class MaskedMLP(nn.Module):
    """``logits = f([onehot(x_t), t])``: an MLP on the one-hot tokens (``V + 1`` classes with the
    mask) of all ``P`` positions and the time, reshaped to ``[B, *event_shape, V]``; no logit for
    the mask, visible positions carried over unchanged (:func:`carry_over`)."""

    families = ("masking",)

    def __init__(self, event_shape=(16,), *, vocab_size: int = 2, hidden=(512, 512), activation: str = "silu") -> None:
        super().__init__()
        v.check_choice("activation", activation, ACTIVATIONS)
        hidden = v.check_counts("hidden", hidden)
        self.event_shape = v.check_shape("event_shape", event_shape)
        self.vocab_size = v.check_int("vocab_size", vocab_size, minimum=1)
        self.hparams = {
            "event_shape": list(self.event_shape),
            "vocab_size": self.vocab_size,
            "hidden": list(hidden),
            "activation": activation,
        }
        positions = math.prod(self.event_shape)
        widths = [positions * (self.vocab_size + 1) + 1, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], positions * self.vocab_size))
        self.net = nn.Sequential(*layers)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tokens = nn.functional.one_hot(x_t.flatten(1), self.vocab_size + 1).flatten(1).to(torch.float32)
        logits = self.net(torch.cat([tokens, t.to(torch.float32)[:, None]], dim=1)).reshape(*x_t.shape, self.vocab_size)
        return carry_over(logits, x_t, self.vocab_size)
