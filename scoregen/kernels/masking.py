"""The masking (absorbing-state) kernel for token data: tokens are replaced by ``[MASK]``.

Tokens take values ``0 … V−1``; the mask token is ``V`` (``mask_id``). At time ``t ∈ [0, 1]``
each token is still clean with probability ``α(t)`` and masked otherwise, independently of the
others and of its value; ``α(0) = 1``, ``α(1) = 0``, so the prior is the all-mask sequence.
Because masking ignores the values, the posterior of the clean data given ``x̃`` does not depend on
``t``: it is the data distribution conditioned on the visible tokens.
"""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, as_data, draw_device
from scoregen.errors import ConfigError, DataError


@attrs.frozen
class LinearMasking:
    """``α(t) = 1 − t``; ELBO weight ``−α'(t)/(1 − α(t)) = 1/t``."""

    def mask_prob(self, t: torch.Tensor) -> torch.Tensor:
        return t.clamp(0.0, 1.0)

    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 / t


@attrs.frozen
class CosineMasking:
    """``α(t) = cos(πt/2)``; weight ``(π/2) sin(πt/2)/(1 − cos(πt/2)) = (π/2) cot(πt/4)``."""

    def mask_prob(self, t: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sin(math.pi / 4 * t.clamp(0.0, 1.0)) ** 2  # 1 − cos(πt/2), stable near 0

    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor:
        return (math.pi / 2) / torch.tan(math.pi / 4 * t)


# The masking schedules by the name a config gives (kept apart from the Gaussian ``schedule`` kind,
# whose ``cosine`` is another thing).
SCHEDULES: dict[str, type[LinearMasking] | type[CosineMasking]] = {"linear": LinearMasking, "cosine": CosineMasking}


@attrs.frozen(kw_only=True)
class MaskingKernel:
    """Absorbing-state corruption with the schedule ``α(t)`` named by ``schedule`` (:data:`SCHEDULES`):

    - ``"linear"``: ``α(t) = 1 − t``; ELBO weight ``−α'(t)/(1 − α(t)) = 1/t``;
    - ``"cosine"``: ``α(t) = cos(πt/2)``; weight ``(π/2) sin(πt/2)/(1 − cos(πt/2)) = (π/2) cot(πt/4)``.

    Data are integer tokens ``[B, *event_shape]`` (int64) in ``0 … vocab_size − 1``.
    """

    family = "masking"
    per_sample_noise = True  # the prior draws nothing (scoregen.seeds)

    vocab_size: int = attrs.field(validator=v.count)
    schedule: str = attrs.field(default="linear", validator=v.choice(*SCHEDULES))

    @property
    def mask_id(self) -> int:
        """The ``[MASK]`` token, ``vocab_size``."""
        return self.vocab_size

    def mask_prob(self, t: torch.Tensor) -> torch.Tensor:
        """``1 − α(t)``, the probability that a token is masked at time ``t`` (any shape)."""
        return SCHEDULES[self.schedule]().mask_prob(t)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """``α(t)``, the probability that a token is still clean at time ``t``."""
        return 1.0 - self.mask_prob(t)

    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor:
        """``w(t) = −α'(t) / (1 − α(t))``, the continuous-time ELBO weight of the masked cross-entropy."""
        return SCHEDULES[self.schedule]().elbo_weight(t)

    def sample_t(self, n: int, generator: torch.Generator | None = None, *, device=None) -> torch.Tensor:
        """Times for ``n`` training examples, ``[n]`` in ``(0, 1]``: stratified,
        ``t_i = (n − i − u)/n`` with one ``u ~ U[0, 1)``, so a batch covers ``(0, 1]`` evenly
        (lower variance than i.i.d. times, same expectation). On ``device`` (default: the generator's)."""
        device = draw_device(generator, device)
        u = torch.rand((), generator=generator, dtype=torch.float64, device=device)
        t = (n - torch.arange(n, dtype=torch.float64, device=device) - u) / n
        return t.to(torch.float32)

    def perturb(self, x: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x [B, *E]`` (int64), ``t [B]`` → ``x̃``: each token masked with probability ``1 − α(t)``."""
        u = torch.rand(x.shape, generator=generator, device=x.device)
        masked = u < append_dims(self.mask_prob(t).to(u.dtype), x.ndim)
        return torch.where(masked, torch.full_like(x, self.mask_id), x)

    def prior_sample(self, shape, generator=None, *, device=None) -> torch.Tensor:
        """The all-mask sequences of ``shape = [B, *E]`` (int64) on ``device`` (default: the
        generator's); nothing random."""
        return torch.full(tuple(shape), self.mask_id, dtype=torch.int64, device=draw_device(generator, device))

    def as_data(self, x, event_shape=None, *, name: str = "data") -> torch.Tensor:
        """Tokens as an int64 tensor ``[N, *event_shape]``, checked to be integers in ``0 … V−1``."""
        values = as_data(x, event_shape, name=name)
        if not bool((values == values.round()).all()):
            raise DataError(f"{name} must hold integer tokens for the masking kernel")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high >= self.vocab_size:
            raise DataError(
                f"{name} has tokens in [{low:g}, {high:g}]; the masking kernel's vocabulary is 0 … "
                f"{self.vocab_size - 1} (vocab_size={self.vocab_size}; the mask token {self.mask_id} is not data)"
            )
        return values.to(torch.int64)

    def check_logits(self, logits: torch.Tensor, x: torch.Tensor) -> None:
        """Raise :class:`ConfigError` unless the estimator's ``logits`` are ``[*x.shape, vocab_size]``."""
        if tuple(logits.shape) != (*x.shape, self.vocab_size):
            raise ConfigError(
                f"the estimator returned logits of shape {list(logits.shape)} for tokens {list(x.shape)}; "
                f"the masking kernel expects {[*x.shape, self.vocab_size]} (one logit per token of its "
                f"vocabulary of {self.vocab_size}, none for the mask)"
            )
