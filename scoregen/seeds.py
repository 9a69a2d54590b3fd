"""Per-sample seeds: the noise of sample ``i`` depends on the seed and on ``i``, not on the batch.

Samples are numbered ``0, 1, 2, …`` and grouped in blocks of ``BLOCK`` consecutive numbers.
Block ``b`` has its own ``torch.Generator`` seeded with ``hash(seed, b)``, and every draw takes a
*whole block* from it — ``[BLOCK, *E]`` numbers, whatever the batch needs — of which sample
``i`` gets row ``i − b·BLOCK``. A block's generator therefore advances identically whether the
batch holds one of its samples or all of them, so

    sample(n, seed=s, per_sample=True)[:k] == sample(k, seed=s, per_sample=True)
    sample(n, seed=s, per_sample=True, first=k) == sample(k + n, seed=s, per_sample=True)[k:]

(up to the floating-point order of batched products), and a large set drawn in pieces, or on
several GPUs, is the same set. This is EDM's ``--seeds`` idea (one generator per image) at the
cost of one generator call per block per draw, not per sample. Draws go through
:func:`scoregen._tensor.randn` / :func:`~scoregen._tensor.rand`, which accept a
:class:`SampleGenerators` in place of a ``torch.Generator``; samplers and kernels that draw only
through them say so with ``per_sample_noise = True``.
"""

import hashlib

import torch

from scoregen._tensor import make_generator
from scoregen.errors import ConfigError

BLOCK = 64


def block_seed(seed: int, block: int) -> int:
    """A 63-bit seed for block ``block`` of ``seed`` (SHA-256 of both: unrelated streams)."""
    digest = hashlib.sha256(f"scoregen:{int(seed)}:{int(block)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class SampleGenerators:
    """The random source of samples ``first … first + n − 1`` drawn with ``seed`` on ``device``
    (see the module). Every draw must be shaped ``[n, *E]``."""

    def __init__(self, seed: int, n: int, *, first: int = 0, device=None, block: int = BLOCK) -> None:
        self.seed, self.n, self.first, self.block = int(seed), int(n), int(first), int(block)
        self.device = torch.device("cpu" if device is None else device)
        blocks = range(self.first // self.block, (self.first + self.n - 1) // self.block + 1)
        self._generators = [(b, make_generator(self.device, block_seed(self.seed, b))) for b in blocks]

    def draw(self, fill, shape, *, dtype=None, device=None) -> torch.Tensor:
        """``fill(shape, generator, dtype, device)`` (``torch.randn``, ``torch.rand``) per sample:
        a whole block from each block's generator, cut to this batch's rows."""
        if shape[0] != self.n:
            raise ConfigError(f"a per-sample draw must be [n={self.n}, ...] (one row per sample), got {list(shape)}")
        device = self.device if device is None else torch.device(device)
        start, stop = self.first, self.first + self.n
        parts = []
        for b, generator in self._generators:
            rows = fill((self.block, *shape[1:]), generator=generator, dtype=dtype, device=device)
            lo, hi = max(start, b * self.block) - b * self.block, min(stop, (b + 1) * self.block) - b * self.block
            parts.append(rows[lo:hi])
        return parts[0] if len(parts) == 1 else torch.cat(parts)
