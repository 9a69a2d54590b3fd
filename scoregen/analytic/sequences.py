"""Enumerable distributions over short token sequences: the exact ground truth of the masking family.

A distribution over sequences of length ``L`` with tokens in ``0 … V−1`` is given by its full
probability table (``V^L`` entries, so ``V ≤ 4``, ``L ≤ 6`` stay small). Everything is exact: the
log-probability, samples, and the un-masking posterior ``P(x₀ᵢ = v | x̃)`` — the distribution
conditioned on the visible tokens of ``x̃``, marginalised at each position — by enumeration.
"""

import functools
import math

import attrs
import torch
from torch import Tensor

from scoregen._tensor import as_float64
from scoregen.errors import ConfigError, DataError

MAX_ENTRIES = 4**6


@attrs.frozen(eq=False)
class SequenceDistribution:
    """``p(x)`` for ``x ∈ {0 … V−1}^L`` from ``probs``, a table of shape ``[V] * L`` (``probs[x₁, …, x_L]``).

    Entries must be non-negative and finite with a positive sum; they are normalised. Tokens are
    int64 tensors ``[B, L]``; probabilities are float64.
    """

    probs: Tensor = attrs.field(converter=as_float64)

    def __attrs_post_init__(self):
        p = self.probs
        if p.ndim < 1 or len(set(p.shape)) != 1 or p.shape[0] < 1:
            raise ConfigError(f"probs must have shape [V] * L (the same size on every axis), got {list(p.shape)}")
        if p.numel() > MAX_ENTRIES:
            raise ConfigError(f"the table has {p.numel()} entries; at most {MAX_ENTRIES} are enumerable here")
        if not bool(torch.isfinite(p).all() & (p >= 0).all()) or not float(p.sum()) > 0:
            raise ConfigError("probs must be non-negative and finite with a positive sum")
        object.__setattr__(self, "probs", p / p.sum())

    @property
    def vocab_size(self) -> int:
        return self.probs.shape[0]

    @property
    def length(self) -> int:
        return self.probs.ndim

    @functools.cached_property
    def sequences(self) -> Tensor:
        """Every sequence, ``[V^L, L]`` int64, in the table's row-major order."""
        grids = torch.meshgrid(*[torch.arange(self.vocab_size)] * self.length, indexing="ij")
        return torch.stack([g.flatten() for g in grids], dim=1)

    @property
    def flat(self) -> Tensor:
        """The probabilities in the order of :attr:`sequences`, ``[V^L]``."""
        return self.probs.flatten()

    def index(self, x: Tensor) -> Tensor:
        """Row-major table index of each sequence ``x [B, L]``, ``[B]``."""
        x = self._check(x)
        powers = self.vocab_size ** torch.arange(self.length - 1, -1, -1)
        return (x * powers).sum(dim=1)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` for ``x [B, L]``, ``[B]`` float64 (``-inf`` off the support)."""
        return self.flat[self.index(x)].log()

    def entropy_bits_per_token(self) -> float:
        """``H(p) / (L ln 2)``: the expected NLL of the data in bits per token."""
        p = self.flat[self.flat > 0]
        return float(-(p * p.log()).sum() / (self.length * math.log(2)))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` sequences ``[n, L]`` int64."""
        rows = torch.multinomial(self.flat, n, replacement=True, generator=generator)
        return self.sequences[rows]

    def frequencies(self, x: Tensor) -> Tensor:
        """The empirical distribution of ``x [N, L]`` over the table, ``[V^L]`` float64."""
        counts = torch.bincount(self.index(x), minlength=self.flat.numel())
        return counts.to(torch.float64) / x.shape[0]

    def total_variation(self, x: Tensor) -> float:
        """``½ Σ_x |p̂(x) − p(x)|`` between the samples ``x [N, L]`` and the table."""
        return float(0.5 * (self.frequencies(x) - self.flat).abs().sum())

    def posterior(self, x_t: Tensor, mask_id: int | None = None, *, strict: bool = True, chunk: int = 1 << 22) -> Tensor:
        """``P(x₀ᵢ = v | x̃)`` for ``x_t [B, L]``, ``[B, L, V]`` float64, by enumeration.

        A sequence is compatible with ``x̃`` when it agrees with every visible token (those not equal
        to ``mask_id``, default ``V``); the posterior weighs compatible sequences by ``p`` and
        marginalises each position. At a visible position it is the one-hot of that token. If no
        sequence of positive probability is compatible, ``strict`` raises :class:`DataError`;
        otherwise the compatible sequences are weighed equally (uniform at the masked positions).
        """
        mask_id = self.vocab_size if mask_id is None else mask_id
        x_t = torch.as_tensor(x_t)
        if x_t.ndim != 2 or x_t.shape[1] != self.length:
            raise DataError(f"x_t must have shape [B, {self.length}], got {list(x_t.shape)}")
        onehot = torch.nn.functional.one_hot(self.sequences, self.vocab_size).to(torch.float64)
        onehot = onehot.reshape(len(self.sequences), -1)  # [K, L·V]
        rows = max(1, chunk // self.flat.numel())
        out = []
        for start in range(0, x_t.shape[0], rows):
            block = x_t[start : start + rows]
            agree = (block[:, None, :] == mask_id) | (block[:, None, :] == self.sequences[None])  # [b, K, L]
            compatible = agree.all(dim=2).to(torch.float64)  # [b, K]
            weights = self.flat * compatible
            total = weights.sum(dim=1, keepdim=True)
            impossible = total[:, 0] == 0
            if bool(impossible.any()):
                if strict:
                    raise DataError("some x̃ has probability 0 under the table: no compatible sequence")
                weights = torch.where(impossible[:, None], compatible, weights)
                total = weights.sum(dim=1, keepdim=True)
            out.append((weights / total) @ onehot)
        return torch.cat(out).reshape(x_t.shape[0], self.length, self.vocab_size)

    def _check(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.length:
            raise DataError(f"sequences must have shape [B, {self.length}], got {list(x.shape)}")
        if bool(((x < 0) | (x >= self.vocab_size)).any()):
            raise DataError(f"tokens must lie in 0 … {self.vocab_size - 1}")
        return x.to(torch.int64)


def sequence_distributions(
    *,
    min_vocab_size: int = 2,
    max_vocab_size: int = 4,
    min_length: int = 1,
    max_length: int = 6,
    max_entries: int = MAX_ENTRIES,
    concentrations=(0.05, 0.3, 1.0, 5.0),
):
    """A hypothesis strategy for :class:`SequenceDistribution`: ``V`` and ``L`` in the given
    bounds with ``V^L ≤ max_entries``, and a table drawn from a symmetric Dirichlet whose
    concentration is one of ``concentrations`` (small values give spiky, strongly correlated
    tables; large ones nearly uniform)."""
    from hypothesis import strategies as st

    if not 1 <= min_vocab_size <= max_vocab_size or not 1 <= min_length <= max_length:
        raise ConfigError("need 1 <= min_vocab_size <= max_vocab_size and 1 <= min_length <= max_length")
    limit = min(max_entries, MAX_ENTRIES)
    if min_vocab_size**min_length > limit:
        raise ConfigError(f"no table with V >= {min_vocab_size}, L >= {min_length} has at most {max_entries} entries")
    if not concentrations or any(not c > 0 for c in concentrations):
        raise ConfigError(f"concentrations must be positive, got {concentrations!r}")

    @st.composite
    def build(draw):
        v = draw(st.sampled_from([v for v in range(min_vocab_size, max_vocab_size + 1) if v**min_length <= limit]))
        length = draw(st.sampled_from([n for n in range(min_length, max_length + 1) if v**n <= limit]))
        concentration = draw(st.sampled_from(list(concentrations)))
        seed = draw(st.integers(0, 2**32 - 1))
        gamma = torch.distributions.Gamma(torch.tensor(float(concentration), dtype=torch.float64), 1.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            table = gamma.sample((v,) * length)
        return SequenceDistribution(table + 1e-12)

    return build()


def restricted_table(vocab_size: int, length: int, rule, *, seed: int = 0) -> SequenceDistribution:
    """A spiky table over ``{0 … V−1}^L`` (squared exponential draws from ``seed``: entries over
    orders of magnitude) restricted to the sequences where ``rule(x)`` holds, ``x`` the tuple of
    ``L`` index grids (``torch.meshgrid``) and ``rule`` returning a bool grid."""
    weights = torch.empty([vocab_size] * length, dtype=torch.float64)
    weights.exponential_(generator=torch.Generator().manual_seed(seed))
    index = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
    return SequenceDistribution(weights.square() * rule(index).to(torch.float64))


def long_range_tables(seed: int = 0) -> dict[str, SequenceDistribution]:
    """Tables whose dependency spans the whole sequence (the discrete family's learning benchmark):

    - ``copy``: V = 3, L = 6, the last token repeats the first (243 sequences);
    - ``sum``: V = 3, L = 5, the last token is the sum of the first two mod 3 (81 sequences);
    - ``parity``: V = 2, L = 6, an even number of ones (32 sequences): each token depends on all others.
    """
    return {
        "copy": restricted_table(3, 6, lambda x: x[0] == x[-1], seed=seed),
        "sum": restricted_table(3, 5, lambda x: x[-1] == (x[0] + x[1]) % 3, seed=seed),
        "parity": restricted_table(2, 6, lambda x: sum(x) % 2 == 0, seed=seed),
    }


def sampling_floor(distribution: SequenceDistribution, n: int, *, seed: int = 0, repeats: int = 8) -> float:
    """The mean total variation of ``n`` true draws to the table, over ``repeats`` draws (seeds
    ``seed, seed + 1, …``): what a perfect sampler scores with ``n`` samples."""
    draws = [distribution.sample(n, torch.Generator().manual_seed(seed + i)) for i in range(repeats)]
    return sum(distribution.total_variation(x) for x in draws) / repeats
