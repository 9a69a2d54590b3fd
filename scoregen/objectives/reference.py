"""The reference-batch target of DSM and flow matching (Xu et al. 2023, "stable target field"):
the score of a set of training rows perturbed at σ, in place of the single example's noise."""

import contextlib
import math

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import draw_device
from scoregen.errors import ConfigError

# Largest block of the weight matrix ``[rows, N + R]`` computed at once (elements): bounds the
# memory of large batches; at the sizes in use (256 × 4352) the whole matrix is one block.
WEIGHT_BLOCK_ELEMENTS = 2**23
# The logits are in base 2 (``exp2`` is three times faster than ``exp`` on the CPU) and clamped
# from below at this, relative to the row's own example: the weight so given, ``2⁻⁸⁶ ≈ 10⁻²⁶``,
# is nothing beside the own example's 1, and it keeps the exponentials and the products with
# them away from subnormal numbers and ``exp2(−∞)``, which are several times slower on x86 CPUs.
LOGIT_FLOOR = -86.0
# The own example's logit is a safe shift while no other can exceed it by more than this
# (``2¹²⁸`` overflows float32): ``‖z‖²/2`` (natural units) bounds the excess; beyond it the row's
# largest is used.
SHIFT_LIMIT = 80.0

def reference_target(x: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``−σ ∇log p̂_σ(x̃)`` for ``x̃ = x + σ z``, where ``p̂`` is the set of the batch ``x [N, *E]``
    and the rows ``reference [R, *E]`` ("NCSN is secretly a GMM"); ``noise`` is ``z [N, *E]``,
    ``sigma [N]``; returns ``[N, *E]``.

    ``−σ ∇log p̂_σ(x̃_i) = (x̃_i − Σ_j w_ij x_j)/σ_i`` with ``w_ij ∝ exp(−‖x̃_i − x_j‖²/2σ_i²)``,
    computed as ``z_i − Σ_{j≠i} w_ij (x_j − x_i)/σ_i``: row ``i``'s own example enters through
    ``z_i`` exactly, so where it carries all the weight (small σ) the target is DSM's ``z_i`` to
    round-off, not a difference of two nearly equal means. With no other row it is ``z``.

    The logits are matrix products, ``(x̃_i·x_j − ½‖x_j‖²)/σ_i²`` less the own example's (the
    row's ``‖x̃_i‖²`` cancels in the normalisation), in float64 and about the set's mean: the
    products of ``‖x‖²`` size that a float32 form would subtract lose the small distances that
    matter where σ is small. The exponentials and the weighted sums are in the input's dtype
    (float32 for half precision): one ``exp2`` per pair, the cost floor.
    The inputs are detached (no graph), and autocast is off inside: this is the target, not the
    network's forward pass.
    """
    with _without_autocast(x.device):
        return _target(x, noise, sigma, reference)


def _without_autocast(device: torch.device):
    if torch.amp.is_autocast_available(device.type) and torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _target(x: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    flat, z = x.detach().flatten(1).to(dtype), noise.detach().flatten(1).to(dtype)
    rows = torch.cat([flat, reference.detach().flatten(1).to(flat)])
    points = rows - rows.mean(dim=0)  # p_j = x_j − c, [N + R, D]
    wide = points.double()
    s = sigma.detach().double()[:, None]
    own, z_wide = wide[:n], z.double()
    norms = wide.square().sum(1, keepdim=True)
    by_own = bool(z.square().sum(1).max() <= 2 * SHIFT_LIMIT)
    # the logits' left factor: [q_i, −½, −l_ii]/σ_i² in base 2, with q_i = p_i + σ z_i and the own
    # example's logit l_ii = ½‖p_i‖² + σ z_i·p_i (0 where the row's largest is subtracted instead)
    shift = torch.addcmul(0.5 * norms[:n], s, (z_wide * own).sum(1, keepdim=True)) if by_own else torch.zeros_like(s)
    left = torch.cat([torch.addcmul(own, s, z_wide), torch.full_like(s, -0.5), -shift], dim=1)
    left *= s.square().reciprocal_().mul_(math.log2(math.e))
    right = torch.cat([wide, norms, torch.ones_like(norms)], dim=1)  # [N + R, D + 2]
    values_t = torch.cat([points, points.new_ones(len(rows), 1)], dim=1).T.contiguous()  # [D + 1, N + R]
    block = max(1, WEIGHT_BLOCK_ELEMENTS // len(rows))
    pulls = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        logits = left[start:stop] @ right.T  # l_ij − l_ii (or − 0), base 2
        if not by_own:
            logits.sub_(logits.amax(dim=1, keepdim=True))
        weights = logits.to(dtype).clamp_(min=LOGIT_FLOOR).exp2_()
        diagonal = weights[:, start:stop].diagonal()
        own_weight = diagonal.clone()
        diagonal.zero_()
        sums = (values_t @ weights.T).T  # [rows, D + 1]: Σ_{j≠i} e_ij p_j and Σ_{j≠i} e_ij
        others = torch.addcmul(sums[:, :-1], sums[:, -1:], points[start:stop], value=-1.0)  # Σ_{j≠i} e_ij (x_j − x_i)
        pulls.append(others / (sums[:, -1:] + own_weight[:, None]))
    pull = (pulls[0] if len(pulls) == 1 else torch.cat(pulls)) / sigma.detach().to(dtype)[:, None]
    return (z - pull).reshape(x.shape).to(x.dtype)


@attrs.frozen(kw_only=True, slots=False)  # no slots: a mixin beside the objectives' own bases
class ReferenceRows:
    """``reference = R`` rows of the training set (given through :meth:`with_data`), drawn from
    the objective's generator at each step beside the batch: the reference set of
    :func:`reference_target`, shared by ``dsm`` and ``flow-matching``."""

    reference: int = attrs.field(default=0, validator=v.non_negative_count)
    _data: torch.Tensor | None = attrs.field(default=None, init=False, repr=False)

    def with_data(self, x: torch.Tensor) -> "ReferenceRows":
        """This objective drawing its reference rows from the training set ``x [N, *E]``."""
        if not self.reference:
            return self
        resolved = attrs.evolve(self)
        object.__setattr__(resolved, "_data", x.detach())
        return resolved

    def to(self, device) -> "ReferenceRows":
        """This objective with its reference set on ``device``."""
        if self._data is None or self._data.device == torch.device(device):
            return self
        moved = attrs.evolve(self)
        object.__setattr__(moved, "_data", self._data.to(device))
        return moved

    def _reference(self, x: torch.Tensor, generator) -> torch.Tensor:
        """``R`` rows of the training set, ``[R, *E]`` on ``x``'s device and dtype."""
        if self._data is None:
            raise ConfigError(
                f"{type(self).__name__} with reference > 0 draws from the training set: fit the model (or call with_data) first"
            )
        rows = torch.randint(self._data.shape[0], (int(self.reference),), generator=generator, device=draw_device(generator))
        return self._data[rows.to(self._data.device)].to(x.device, x.dtype)
