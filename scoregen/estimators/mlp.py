"""A noise-conditional MLP score network for vectors (and flattened small images)."""

import math

import torch
from torch import nn

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.estimators.conditioning import Conditioning, embedding, refuse_labels
from scoregen.estimators.parameterisation import check_parameterisation
from scoregen.estimators.precond import Preconditioner, resolve_preconditioning

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus, "elu": nn.ELU}


class NoiseConditionalMLP(nn.Module):
    """``s(x, σ) = f([x, log σ]) / σ`` — an MLP on the flattened input and ``log σ``.

    The division by ``σ`` (NCSNv2, Song & Ermon 2020) makes the network predict ``σ s ≈ −z``, whose
    scale is the same at every level. ``preconditioning`` chooses how ``f`` becomes a score
    (``"ncsn"``, ``"edm"`` with ``sigma_data``, or ``"none"``; :mod:`scoregen.estimators.precond`).
    ``parameterisation`` names what the output predicts (``score``, ``eps``, ``x0``, ``v``,
    ``velocity``; :mod:`scoregen.estimators.parameterisation`, which also says what each is fed);
    for any but ``score`` the raw output is the prediction (preconditioning ``"none"``).
    ``conditioning={"classes": C, "drop": p}`` appends a learned label embedding to the input
    (:mod:`scoregen.estimators.conditioning`): ``s(x, σ, labels=c)``, and the null token without.

    Shapes: ``x [B, *event_shape]``, ``sigma [B]``, ``labels [B]`` → ``[B, *event_shape]``.
    """

    def __init__(
        self,
        event_shape=(2,),
        *,
        hidden=(128, 128, 128),
        activation: str = "silu",
        preconditioning: str | None = None,
        sigma_data: float | str = "auto",
        parameterisation: str = "score",
        conditioning: dict | None = None,
    ) -> None:
        super().__init__()
        self.parameterisation = check_parameterisation("parameterisation", parameterisation)
        preconditioning = resolve_preconditioning(preconditioning, parameterisation)
        self.conditioning = Conditioning.of(conditioning)
        v.check_choice("activation", activation, ACTIVATIONS)
        hidden = v.check_counts("hidden", hidden)
        self.event_shape = v.check_shape("event_shape", event_shape)
        self.precond = Preconditioner(preconditioning, sigma_data)
        self.hparams = {
            "event_shape": list(self.event_shape),
            "hidden": list(hidden),
            "activation": activation,
            "preconditioning": preconditioning,
            "sigma_data": sigma_data,
            "parameterisation": parameterisation,
            "conditioning": None if self.conditioning is None else self.conditioning.to_dict(),
        }
        dim = math.prod(self.event_shape)
        self.label_embedding = embedding(self.conditioning, 32)
        label_width = 0 if self.label_embedding is None else self.label_embedding.table.embedding_dim
        widths = [dim + 1 + label_width, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], dim))
        self.net = nn.Sequential(*layers)

    def with_data(self, x: torch.Tensor) -> "NoiseConditionalMLP":
        """Measure ``σ_d`` on the training data ``x`` where ``sigma_data="auto"`` asks for it."""
        self.precond.fit_data(x)
        return self

    @property
    def n_classes(self) -> int | None:
        """The number of classes it is conditioned on (``None``: unconditional)."""
        return None if self.conditioning is None else self.conditioning.classes

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        precond, embed = self.precond, self.label_embedding  # each submodule looked up once (nn.Module.__getattr__)
        flat = precond.network_input(x, sigma)
        if flat.ndim > 2:
            flat = flat.flatten(1)  # [B, D] stays a view: no extra autograd node
        log_sigma = append_dims(sigma.log(), 2)
        inputs = [flat, log_sigma if log_sigma.dtype == flat.dtype else log_sigma.to(flat.dtype)]
        if embed is None:
            refuse_labels(self, labels)
        else:
            inputs.append(embed(labels, x.shape[0], x.device).to(flat.dtype))
        out = self.net(torch.cat(inputs, dim=1))
        if x.ndim > 2:
            out = out.reshape(x.shape)
        return precond.score(out, x, sigma)
