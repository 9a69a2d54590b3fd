"""The masked cross-entropy with the continuous-time ELBO weighting (masking family)."""

import math

import attrs
import torch

from scoregen.kernels.base import require_family
from scoregen.objectives.base import LossTerms, conditioned


@attrs.frozen(kw_only=True)
class MaskedCrossEntropy:
    """``ℓ(x) = w(t) Σ_{i masked in x̃} −log p_θ(x₀ᵢ | x̃, t) / (P ln 2)`` with ``t`` from the
    kernel, ``x̃`` the kernel's perturbation of ``x`` at ``t`` and ``P`` the number of positions.

    ``w(t) = −α'(t)/(1 − α(t))`` (``1/t`` for the linear schedule) makes ``E_t E_x̃ ℓ(x)`` the
    continuous-time negative ELBO in **bits per token**: an upper bound on ``−log₂ p_θ(x)/P``,
    equal to it when ``p_θ`` is the exact posterior of the data (then it is the average over random
    orders of the autoregressive chain rule). Its expectation is the same for every schedule:
    with ``u = 1 − α(t)``, ``w(t) dt = du/u``. Minimised by the exact posterior ``P(x₀ᵢ | x̃)``.
    """

    families = ("masking",)

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        """``x [B, *E]`` int64 (``labels [B]`` for a conditional denoiser) →
        ``LossTerms(loss [B] in bits per token, sigma = t [B])``."""
        require_family(self, kernel)
        t = kernel.sample_t(x.shape[0], generator).to(x.device)
        x_t = kernel.perturb(x, t, generator)
        logits = conditioned(estimator, labels, x.shape[0])(x_t, t)
        kernel.check_logits(logits, x)
        log_p = torch.log_softmax(logits.float(), dim=-1).gather(-1, x[..., None]).squeeze(-1)
        nll = torch.where(x_t == kernel.mask_id, -log_p, torch.zeros_like(log_p)).flatten(1).sum(dim=1)
        positions = x[0].numel()
        return LossTerms(loss=kernel.elbo_weight(t) * nll / (positions * math.log(2)), sigma=t)

    def loss(self, estimator, kernel, x, *, generator=None, labels=None) -> torch.Tensor:
        """The scalar loss: the mean of :meth:`per_sample`."""
        return self.per_sample(estimator, kernel, x, generator=generator, labels=labels).mean()

    @torch.no_grad()
    def bound(self, estimator, kernel, x, *, repeats: int = 8, batch_size: int = 512, generator=None) -> tuple[float, float]:
        """Monte-Carlo estimate of the NLL bound on ``x [N, *E]`` in bits per token, with
        ``repeats`` draws of ``(t, x̃)`` per sequence: ``(mean, standard error)``."""
        losses = torch.cat(
            [
                self.per_sample(estimator, kernel, x[start : start + batch_size], generator=generator).loss
                for _ in range(repeats)
                for start in range(0, x.shape[0], batch_size)
            ]
        ).double()
        return float(losses.mean()), float(losses.std() / math.sqrt(len(losses)))
