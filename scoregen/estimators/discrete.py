"""Denoisers of the masking family: ``(x̃, t) → logits`` over the vocabulary at every position.

A masking-family estimator is any callable ``estimator(x_t, t) -> logits`` with ``x_t`` int64
tokens ``[B, *event_shape]`` (the mask token is ``V``), ``t [B]`` and ``logits`` of shape
``[B, *event_shape, V]``: ``softmax(logits)[b, i]`` estimates ``P(x₀ᵢ | x̃)``. It never predicts the
mask (there is no logit for it), and at a visible position it returns that token with certainty
(:func:`carry_over`).
"""

import torch

from scoregen.analytic.sequences import SequenceDistribution
from scoregen.errors import ConfigError


def carry_over(logits: torch.Tensor, x_t: torch.Tensor, mask_id: int) -> torch.Tensor:
    """Replace the logits at visible positions of ``x_t [B, *E]`` by the one-hot of the visible
    token (``0`` for it, ``-inf`` elsewhere); masked positions keep ``logits [B, *E, V]``."""
    vocab = logits.shape[-1]
    # log onehot(v) for a visible token v (0 at v, −inf elsewhere), 0 for the mask: added to the
    # logits zeroed where visible. A table lookup and an add, rather than a scatter and a select:
    # on the CPU those cost ~3× more at V = 2 (an innermost dimension that small defeats their loops).
    table = torch.full((mask_id + 1, vocab), float("-inf"), dtype=logits.dtype, device=logits.device)
    table[:vocab].fill_diagonal_(0.0)
    table[mask_id] = 0.0
    visible = (x_t != mask_id).unsqueeze(-1).expand(logits.shape)
    return logits.masked_fill(visible, 0.0) + torch.nn.functional.embedding(x_t, table)


class ExactDiscrete:
    """The exact un-masking posterior of an enumerable :class:`SequenceDistribution`:
    ``logits[b, i, v] = log P(x₀ᵢ = v | x̃_b)`` (``t`` is ignored: masking does not look at values,
    so the posterior is the same at every time). ``probs`` is the table ``[V] * L`` or a
    :class:`SequenceDistribution`. An ``x̃`` of probability 0 (which a sampler revealing several
    tokens at once can reach) gets a uniform posterior at its masked positions.
    """

    families = ("masking",)

    def __init__(self, probs, *, event_shape=None) -> None:
        self.distribution = probs if isinstance(probs, SequenceDistribution) else SequenceDistribution(probs)
        self.vocab_size = self.distribution.vocab_size
        self.event_shape = (self.distribution.length,)
        if event_shape is not None and tuple(event_shape) != self.event_shape:
            raise ConfigError(f"the table is over sequences of shape {list(self.event_shape)}, not {list(event_shape)}")
        self.hparams = {"probs": self.distribution.probs.tolist()}

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t [B, L]``, ``t [B]`` → ``logits [B, L, V]`` (float32; ``-inf`` for impossible tokens)."""
        return self.distribution.posterior(x_t, self.vocab_size, strict=False).log().to(torch.float32)
