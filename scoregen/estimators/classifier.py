"""A noise-conditional classifier ``(x̃, σ) → logits [B, C]``, the guide of classifier guidance
(Dhariwal & Nichol 2021), and the objective that trains it (``noisy-ce``)."""

import math
from typing import ClassVar

import attrs
import torch
from torch import nn

from scoregen.errors import ConfigError
from scoregen.estimators.mlp import ACTIVATIONS
from scoregen.kernels.base import require_family
from scoregen.objectives.base import GaussianObjective, LossTerms


class NoiseConditionalClassifier(nn.Module):
    """``logits = f([x̃, log σ])``: an MLP on the flattened noisy input and ``log σ``, estimating
    ``log p(c | x̃_σ)`` up to a constant. Registered as estimator ``classifier``; trained by
    ``noisy-ce`` on labelled data (``fit(x, labels=y)``); used through
    :class:`~scoregen.samplers.guidance.ClassifierGuidance`. It predicts logits, not a score, so
    it is never a model's sampling estimator.

    Shapes: ``x [B, *event_shape]``, ``sigma [B]`` → ``[B, classes]``.
    """

    families = ("gaussian",)
    # Not a score, ε, x₀, v or velocity: a score objective or a sampler given it fails with a
    # ConfigError naming the parameterisations (noisy-ce calls it directly).
    parameterisation = "logits"

    def __init__(self, event_shape=(2,), *, classes: int = 10, hidden=(128, 128), activation: str = "silu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
            raise ConfigError(f"classes must be an integer >= 2, got {classes!r}")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ConfigError(f"hidden must list positive layer widths, got {hidden!r}")
        self.event_shape = tuple(int(d) for d in event_shape)
        self.n_classes = classes
        self.hparams = {"event_shape": list(self.event_shape), "classes": classes, "hidden": [int(h) for h in hidden], "activation": activation}
        widths = [math.prod(self.event_shape) + 1, *(int(h) for h in hidden)]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return self.net(torch.cat([flat, sigma.log()[:, None].to(flat.dtype)], dim=1))


@attrs.frozen(kw_only=True)
class NoisyClassification(GaussianObjective):
    """``ℓ = −log softmax(f(x̃, σ))[c]`` with ``x̃ = x + σ z`` and ``σ`` drawn as every Gaussian
    objective draws it: the cross-entropy of a noise-conditional classifier ``f`` at every noise
    level (unweighted: ``λ(σ) = 1``). Needs ``labels`` (``needs_labels``)."""

    needs_labels: ClassVar[bool] = True

    weight_power: float = 0.0

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        require_family(self, kernel)
        if labels is None:
            raise ConfigError("noisy-ce trains a classifier: fit it with labels=...")
        x_rep, sigma = self.draw(kernel, x, generator)
        x_tilde = kernel.perturb(x_rep, sigma, generator)
        logits = estimator(x_tilde, sigma)
        ce = nn.functional.cross_entropy(logits, labels.repeat(x_rep.shape[0] // labels.shape[0]).to(logits.device), reduction="none")
        return LossTerms(loss=self.weight(sigma) * ce, sigma=sigma)
