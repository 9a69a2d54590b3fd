"""The masked cross-entropy (masking family): the continuous-time ELBO, and a lower-variance
weighting with the same minimiser for training."""

import math

import attrs
import torch

from scoregen import _validators as v
from scoregen.kernels.base import require_family
from scoregen.objectives.base import LossTerms, conditioned

WEIGHTINGS = ("elbo", "masked-mean")


@attrs.frozen(kw_only=True)
class MaskedCrossEntropy:
    """``ℓ(x) = c(t, m) Σ_{i masked in x̃} −log p_θ(x₀ᵢ | x̃, t)`` with ``t`` from the kernel,
    ``x̃`` the kernel's perturbation of ``x`` at ``t``, ``m`` its number of masked positions and
    ``P`` the number of positions; the ``weighting`` sets ``c``:

    - ``"elbo"`` (default): ``c = w(t) / (P ln 2)`` with ``w(t) = −α'(t)/(1 − α(t))`` (``1/t`` for
      the linear schedule), which makes ``E_t E_x̃ ℓ(x)`` the continuous-time negative ELBO in
      **bits per token**: an upper bound on ``−log₂ p_θ(x)/P``, equal to it when ``p_θ`` is the
      exact posterior of the data (then it is the average over random orders of the
      autoregressive chain rule). Its expectation is the same for every schedule: with
      ``u = 1 − α(t)``, ``w(t) dt = du/u``.
    - ``"masked-mean"``: ``c = 1 / (max(m, 1) ln 2)``, the mean cross-entropy of the masked
      tokens in bits. Not a bound, but minimised by the same posterior, and without ``w(t)``'s
      large weights on the few-mask draws at small ``t`` its gradients vary less: on tables with a
      long-range dependency it trains to the same total variation in fewer steps
      (docs/discrete.md, ``benchmarks/discrete.py``).

    Either is minimised by the exact posterior ``P(x₀ᵢ | x̃)``. :meth:`bound` is always the ELBO.
    """

    families = ("masking",)

    weighting: str = attrs.field(default="elbo", validator=v.choice(*WEIGHTINGS))

    def scale(self, kernel, t: torch.Tensor, n_masked: torch.Tensor, positions: int, *, weighting: str | None = None) -> torch.Tensor:
        """``c(t, m)`` ``[B]`` for times ``t [B]`` and masked counts ``n_masked [B]`` of sequences of
        ``positions`` tokens (``weighting`` defaults to the objective's)."""
        if (weighting or self.weighting) == "elbo":
            return kernel.elbo_weight(t) / (positions * math.log(2))
        return 1.0 / (n_masked.clamp(min=1).to(t.dtype) * math.log(2))

    def _per_sample(self, estimator, kernel, x, generator, weighting: str, labels=None) -> LossTerms:
        require_family(self, kernel)
        t = kernel.sample_t(x.shape[0], generator).to(x.device)
        x_t = kernel.perturb(x, t, generator)
        logits = conditioned(estimator, labels, x.shape[0])(x_t, t)
        kernel.check_logits(logits, x)
        log_p = torch.log_softmax(logits.float(), dim=-1).gather(-1, x[..., None]).squeeze(-1)
        masked = (x_t == kernel.mask_id).flatten(1)
        nll = torch.where(masked, -log_p.flatten(1), torch.zeros_like(log_p.flatten(1))).sum(dim=1)
        scale = self.scale(kernel, t, masked.sum(dim=1), x[0].numel(), weighting=weighting)
        return LossTerms(loss=scale * nll, sigma=t)

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        """``x [B, *E]`` int64 (``labels [B]`` for a conditional denoiser) →
        ``LossTerms(loss [B] in bits, sigma = t [B])``."""
        return self._per_sample(estimator, kernel, x, generator, self.weighting, labels)

    def loss(self, estimator, kernel, x, *, generator=None, labels=None) -> torch.Tensor:
        """The scalar loss: the mean of :meth:`per_sample`."""
        extra = {} if labels is None else {"labels": labels}
        return self.per_sample(estimator, kernel, x, generator=generator, **extra).mean()

    @torch.no_grad()
    def bound(self, estimator, kernel, x, *, repeats: int = 8, batch_size: int = 512, generator=None) -> tuple[float, float]:
        """Monte-Carlo estimate of the NLL bound (the ELBO, whatever the training weighting) on
        ``x [N, *E]`` in bits per token, with ``repeats`` draws of ``(t, x̃)`` per sequence:
        ``(mean, standard error)``."""
        losses = torch.cat(
            [
                self._per_sample(estimator, kernel, x[start : start + batch_size], generator, "elbo").loss
                for _ in range(repeats)
                for start in range(0, x.shape[0], batch_size)
            ]
        ).double()
        return float(losses.mean()), float(losses.std() / math.sqrt(len(losses)))
