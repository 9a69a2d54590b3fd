"""Output parameterisations ("preconditioning"): how a network's raw output ``F`` becomes a score.

- ``"none"``: ``s = F(x, σ)``.
- ``"ncsn"``: ``s = F(x, σ) / σ`` (NCSNv2, Song & Ermon 2020, Technique 3): ``F`` predicts
  ``σ s ≈ −z``, of unit scale at every level.
- ``"edm"`` (Karras et al. 2022, Table 1): the denoiser ``D = c_skip x + c_out F(c_in x, σ)`` with
  ``c_skip = σ_d²/(σ² + σ_d²)``, ``c_out = σ σ_d/√(σ² + σ_d²)``, ``c_in = 1/√(σ² + σ_d²)``, and
  ``s = (D − x)/σ²``, which is ``s = −x/(σ² + σ_d²) + σ_d F / (σ √(σ² + σ_d²))``: the score of
  ``N(0, (σ_d² + σ²) I)`` plus a correction the network learns at unit scale. ``σ_d`` is the
  data's standard deviation (``sigma_data="auto"`` measures it on the training set).

The network's σ input is ``log σ`` for every choice (EDM's ``c_noise = ¼ log σ`` differs by a
factor the first layer absorbs).
"""

import attrs
import torch
from torch import nn

from scoregen import _validators as v
from scoregen._tensor import append_dims
from scoregen.errors import ConfigError


@attrs.frozen
class NoPreconditioning:
    """``s = F(x, σ)``."""

    uses_sigma_data = False

    def network_input(self, x: torch.Tensor, sigma: torch.Tensor, sigma_data) -> torch.Tensor:
        return x

    def score(self, out: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, sigma_data) -> torch.Tensor:
        return out


@attrs.frozen
class NCSNPreconditioning(NoPreconditioning):
    """``s = F(x, σ)/σ`` (NCSNv2, Technique 3)."""

    def score(self, out, x, sigma, sigma_data):
        sigma = append_dims(sigma, x.ndim)
        return out / (sigma if sigma.dtype == x.dtype else sigma.to(x.dtype))


@attrs.frozen
class EDMPreconditioning:
    """EDM's ``c_in`` on the input and ``s = −x/(σ² + σ_d²) + σ_d F/(σ √(σ² + σ_d²))``."""

    uses_sigma_data = True

    def network_input(self, x, sigma, sigma_data):
        return x * append_dims((sigma**2 + sigma_data(sigma.dtype) ** 2).rsqrt(), x.ndim).to(x.dtype)

    def score(self, out, x, sigma, sigma_data):
        s, sd = append_dims(sigma, x.ndim).to(x.dtype), sigma_data(x.dtype)
        inv_var = (s.square() + sd.square()).reciprocal()
        return torch.addcmul(-x * inv_var, out, sd * inv_var.sqrt() / s)  # the coefficients carry no graph


PRECONDITIONINGS = {"none": NoPreconditioning, "ncsn": NCSNPreconditioning, "edm": EDMPreconditioning}


def resolve_preconditioning(kind: str | None, parameterisation: str) -> str:
    """The preconditioning of a network that predicts ``parameterisation``: ``kind`` when given,
    else ``"ncsn"`` for a score network and ``"none"`` for any other, whose raw output *is* its
    prediction (converted by :mod:`scoregen.estimators.parameterisation`). ``"ncsn"`` and
    ``"edm"`` turn an output into a score, so they refuse any other parameterisation."""
    if kind is None:
        return "ncsn" if parameterisation == "score" else "none"
    if kind != "none" and parameterisation != "score":
        raise ConfigError(
            f"preconditioning={kind!r} makes the output a score; a network predicting {parameterisation!r} "
            "takes preconditioning='none' (the default for it)"
        )
    return kind


class Preconditioner(nn.Module):
    """Wraps a network's input and output for a registered ``preconditioning`` (``none``,
    ``ncsn``, ``edm`` are :data:`PRECONDITIONINGS`; a rule has ``uses_sigma_data``,
    ``network_input(x, σ, σ_d)`` and ``score(out, x, σ, σ_d)``, ``σ_d`` given as a function of the
    dtype that refuses before it is measured).

    ``sigma_data`` (``"auto"`` or a positive number) is kept as a buffer, so a saved model carries
    the value measured on its training data; ``0`` there means "not measured yet" (a NaN would
    make equal weights compare unequal). Whether it is known is also kept as a Python flag, set
    when it is measured or loaded, so the forward pass never reads the buffer back to the host.
    """

    sigma_data: torch.Tensor  # a buffer

    def __init__(self, kind: str = "ncsn", sigma_data: float | str = "auto") -> None:
        super().__init__()
        from scoregen.plugins import get_registry

        registry = get_registry()
        v.check_choice("preconditioning", kind, registry.names("preconditioning"))
        self.rule = registry.get("preconditioning", kind).factory()
        if sigma_data != "auto":
            v.check_real("sigma_data", sigma_data, positive=True)
        self.kind = kind
        self.known = sigma_data != "auto"
        self.register_buffer("sigma_data", torch.tensor(float(sigma_data) if self.known else 0.0))

    def fit_data(self, x: torch.Tensor) -> None:
        """Set ``σ_d`` to the standard deviation of ``x [N, *E]`` over all its entries, if it
        was ``"auto"`` and not yet measured."""
        if self.rule.uses_sigma_data and not self.known:
            self.sigma_data.fill_(float(x.double().std()))
            self.known = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.known = bool(self.sigma_data != 0)  # once, on loading

    def _sigma_data(self, dtype: torch.dtype) -> torch.Tensor:
        if not self.known:
            raise ConfigError(
                f"preconditioning={self.kind!r} with sigma_data='auto' needs data: fit the model first, or give sigma_data"
            )
        return self.sigma_data.to(dtype)

    def network_input(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """What the network is fed (``c_in x`` for ``"edm"``, else ``x``); shapes ``[B, *E]``, ``[B]``."""
        return self.rule.network_input(x, sigma, self._sigma_data)

    def score(self, out: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The score from the network's output ``out [B, *E]`` at ``x [B, *E]``, ``sigma [B]``."""
        return self.rule.score(out, x, sigma, self._sigma_data)
