"""Conditional flow matching (Lipman et al. 2023; Liu et al. 2023, rectified flow; Albergo &
Vanden-Eijnden 2023), with optional minibatch optimal-transport coupling (Tong et al. 2023;
Pooladian et al. 2023)."""

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import append_dims, randn_like
from scoregen.estimators.parameterisation import Velocity, as_prediction, coefficients
from scoregen.kernels.base import require_family
from scoregen.objectives.base import LossTerms, conditioned
from scoregen.objectives.noise_levels import resolved_field
from scoregen.objectives.reference import ReferenceRows, reference_target


def ot_pairing(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The permutation ``π`` [B] that minimises ``Σ_i ‖x0_i − z_π(i)‖²`` over the batch (exact
    assignment, ``scipy.optimize.linear_sum_assignment``): ``z[π]`` pairs each data point with
    its noise along the minibatch's optimal-transport plan. ``x0, z [B, *E]``."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x0.detach().flatten(1).double(), z.detach().flatten(1).double()).square()
    _, columns = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(columns, dtype=torch.long, device=x0.device)


@attrs.frozen(kw_only=True)
class FlowMatching(ReferenceRows):
    """``ℓ = ½ ‖u_θ(x_t, t) − u‖²`` with ``x_t = m(t) x₀ + s(t) z`` and the conditional velocity
    ``u = m'(t) x₀ + s'(t) z`` — on the ``flow`` kernel's linear interpolant ``x_t = (1 − t) x₀ + t z``
    and ``u = z − x₀``. Its minimiser is the marginal velocity ``E[u | x_t]``, the
    probability-flow ODE's drift, so the trained network samples with the ODE samplers.

    Works on any Gaussian kernel and with any parameterisation: the network's output is converted
    to a velocity (:func:`~scoregen.estimators.parameterisation.as_prediction`), so a score
    network trained here learns the score, weighted by ``λ = (m σ')² σ²``. Noise levels come from
    ``sigma_distribution`` (default ``"uniform-t"``: ``t ~ U(t_min, t_max)``;
    :mod:`scoregen.objectives.noise_levels`). ``coupling="ot"`` pairs the batch's data with its noise by
    the minibatch optimal-transport plan (:func:`ot_pairing`, which needs scipy), which
    straightens the learned paths. ``reference = R > 0`` replaces the conditional target by the
    exact velocity of the batch plus ``R`` training rows (``m' x̂₀ + s' ε̂`` with the posterior
    means of :func:`~scoregen.objectives.reference.reference_target`; Xu et al. 2023's stable target
    field), which has far less variance where ``t`` is large. Per-sample losses are summed over
    the event dimensions.
    """

    families = ("gaussian",)

    sigma_distribution: str | dict = attrs.field(default="uniform-t")
    _sigma_sampler = resolved_field()
    coupling: str = attrs.field(default="independent", validator=v.choice("independent", "ot"))

    def per_sample(self, estimator, kernel, x, *, generator=None, labels=None) -> LossTerms:
        require_family(self, kernel)
        x = x.detach()
        sigma = self._sigma_sampler.sample(kernel, x.shape[0], generator).to(x.device, x.dtype)
        z = randn_like(x, generator)
        if self.coupling == "ot":
            z = z[ot_pairing(x, z)]
        velocity, c = Velocity(), coefficients(kernel, sigma, x)
        x_hat = kernel.perturb(x, sigma, noise=z)
        if self.reference:  # the reference set's posterior means of ε and x₀ at x̂
            z = reference_target(x, z, sigma, self._reference(x, generator))
            x = x_hat - append_dims(sigma, x.ndim) * z
        target = velocity.target(x, z, c)
        predicted = conditioned(as_prediction(estimator, kernel, velocity), labels, x.shape[0])(x_hat, sigma)
        return LossTerms(loss=0.5 * (predicted - target).pow(2).flatten(1).sum(dim=1), sigma=sigma)

    def loss(self, estimator, kernel, x, *, generator=None, labels=None) -> torch.Tensor:
        """The scalar loss: the mean of :meth:`per_sample`."""
        extra = {} if labels is None else {"labels": labels}
        return self.per_sample(estimator, kernel, x, generator=generator, **extra).mean()
