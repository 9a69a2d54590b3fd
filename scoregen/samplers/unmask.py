"""Ancestral un-masking: the reverse of the masking kernel (masking family)."""

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, rand
from scoregen.kernels.base import require_family

REVEALS = ("count", "independent")


def _still_masked(m0: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``⌊m0 q⌋``: how many of ``m0 [B]`` initially masked tokens are still masked at mask probability ``q``."""
    return (m0 * q.clamp(0.0, 1.0)).floor().long()


@attrs.frozen(kw_only=True)
class Unmask:
    """Reverse the masking process from ``t = 1`` (all masked) to ``t = 0`` on the grid
    ``t_j = 1 − j/steps``: at each step, masked tokens chosen to be revealed are drawn from the
    estimator's posterior ``softmax(logits(x̃, t_j) / temperature)`` (``temperature`` in ``[10⁻⁶, 10⁶]``); a revealed token stays
    revealed. ``steps=None`` uses as many steps as positions.

    Which tokens are revealed between ``t_j`` and ``t_{j+1}``:

    - ``reveal="count"``: a uniformly random order of the masked positions, revealed so that
      ``⌊m₀ (1 − α(t_{j+1}))⌋`` stay masked (``m₀``: masked at the start). With the linear schedule
      and ``steps ≥`` positions, at most one token is revealed per step, and driven by the exact
      posterior the samples are *exactly* the data distribution (the chain rule in random order).
    - ``reveal="independent"``: each masked token independently with probability
      ``(α(t_{j+1}) − α(t_j)) / (1 − α(t_j))`` (the ancestral sampler of MDLM, Sahoo et al. 2024).

    Tokens revealed together in one step are drawn independently from their marginals, so fewer
    steps trade accuracy for speed. ``known`` (a :class:`~scoregen.samplers.impute.Known`: fixed tokens where its mask is true)
    imputes: those tokens are never masked, and the rest is drawn conditionally.
    Estimator evaluations: at most ``steps`` (a step that reveals nothing skips it).
    """

    families = ("masking",)
    can_impute = True
    per_sample_noise = True  # every draw is [B, *E] through scoregen._tensor (scoregen.seeds)

    steps: int | None = attrs.field(default=None, validator=v.optional(v.count))
    temperature: float = attrs.field(default=1.0, validator=v.real(at_least=1e-6, at_most=1e6))
    reveal: str = attrs.field(default="count", validator=v.choice(*REVEALS))

    def n_steps(self, x: torch.Tensor) -> int:
        return self.steps if self.steps is not None else x[0].numel()

    def nfe(self, kernel) -> int | None:
        """At most ``steps`` evaluations (unknown before the event shape when ``steps=None``)."""
        return self.steps

    @torch.no_grad()
    def sample(self, estimator, kernel, x_init, *, generator=None, callback=None, known=None):
        """``x_init [B, *E]`` (all masks, from the kernel's prior) → tokens ``[B, *E]`` int64."""
        require_family(self, kernel)
        x = x_init.clone()
        if known is not None:  # a Known (scoregen.samplers.impute): its tokens are never masked
            x = known.restore(x)
        n_steps = self.n_steps(x)
        masked0 = x == kernel.mask_id
        if self.reveal == "count":
            # A uniformly random order of each row's masked positions: rank 0 is revealed first.
            keys = rand(x.shape, generator, device=x.device).flatten(1).masked_fill(~masked0.flatten(1), 2.0)
            rank = keys.argsort(dim=1).argsort(dim=1).reshape(x.shape)
            m0 = masked0.flatten(1).sum(dim=1)
        grid = torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
        for j in range(n_steps):
            t, s = grid[j], grid[j + 1]
            masked = x == kernel.mask_id
            if self.reveal == "count":
                # After this step the first m0 − ⌊m0 q(s)⌋ ranks are revealed (q = 1 − α).
                reveal = masked & (rank < append_dims(m0 - _still_masked(m0, kernel.mask_prob(s)), x.ndim))
            else:
                p_reveal = 1.0 - kernel.mask_prob(s) / kernel.mask_prob(t)
                reveal = masked & (rand(x.shape, generator, dtype=torch.float64, device=x.device) < p_reveal)
            u = rand(x.shape, generator, dtype=torch.float64, device=x.device)  # one per position: per sample
            if bool(reveal.any()):
                t_vec = torch.full((x.shape[0],), float(t), dtype=torch.float32, device=x.device)
                logits = estimator(x, t_vec)
                kernel.check_logits(logits, x)
                # softmax(l/T) from log-probabilities (≤ 0, the largest 0), finite for any T > 0.
                probs = torch.softmax(torch.log_softmax(logits[reveal].double(), dim=-1) / self.temperature, dim=-1)
                # Inverse CDF: the first token whose cumulative probability exceeds u.
                token = (probs.cumsum(dim=-1) <= u[reveal][:, None]).sum(dim=-1).clamp(max=probs.shape[-1] - 1)
                x[reveal] = token.to(x.dtype)
            if callback is not None:
                callback({"step": j, "t": float(s), "x": x, "masked": int((x == kernel.mask_id).sum())})
        return x
