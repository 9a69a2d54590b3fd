"""UniPC (Zhao et al. 2023): a multistep predictor (UniP) and a corrector (UniC) that reuses the
evaluation the next step needs anyway, in the denoised ``D`` and ``λ = −log σ`` (ladder
coordinates, ``α = 1``), with ``B(h) = h`` (``bh1``) or ``B(h) = e^h − 1`` (``bh2``).

With history ``D_0`` at ``λ_0`` (the current level) and ``D_k`` at ``λ_{−k}``, a step of size ``h``
to ``λ_0 + h`` is ``x' = (σ'/σ) x + (1 − e^{−h}) D_0 − B(h) Σ_k ρ_k (D_k − D_0)/r_k`` with
``r_k = (λ_{−k} − λ_0)/h``; the ``ρ`` solve the order conditions ``R ρ = b`` (the paper's
Algorithms 1 and 2). The corrector adds the new point's ``D`` with ``r = 1``. A step to ``σ = 0``
returns the last ``D`` (the first-order limit; ``h = ∞``).
"""

import itertools
import math

import attrs
import torch

from scoregen import _validators as v
from scoregen.samplers.stepping import GridSampler


def _order_conditions(rks: list[float], h: float, variant: str) -> tuple[list[list[float]], list[float], float]:
    """``(R, b, B(h))`` of the order conditions for the ratios ``rks``: ``R_ij = r_j^i``,
    ``b_i = i! φ_{i+1}(h)/B(h)`` with ``φ`` of ``hh = −h`` (data prediction), ``i < len(rks)``."""
    hh = -h
    h_phi_k = math.expm1(hh) / hh - 1  # φ₂-type term of the first order
    b_h = hh if variant == "bh1" else math.expm1(hh)
    factorial, rows, b = 1, [], []
    for i in range(1, len(rks) + 1):
        rows.append([r ** (i - 1) for r in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return rows, b, b_h


def _rhos(rks: list[float], h: float, variant: str) -> tuple[list[float], float]:
    """``(ρ, B(h))``: the solution of the order conditions for ``rks`` (``[½]`` for one ratio)."""
    rows, b, b_h = _order_conditions(rks, h, variant)
    if len(rks) == 1:
        return [0.5], b_h
    return torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).tolist(), b_h


def _update(x, history, lam_next: float, sigma_next: float, variant: str, new=None):
    """UniP (``new=None``) or UniC (``new = D`` at the new point) from ``history = [(λ, σ, D), …]``,
    most recent first, using all of it. The predictor's conditions are those of the ratios of the
    history, the corrector's add the new point's ``r = 1``."""
    lam0, sigma0, x0 = history[0]
    h = lam_next - lam0
    rks = [(lam - lam0) / h for lam, _, _ in history[1:]]
    diffs = [(xk - x0) / r for (_, _, xk), r in zip(history[1:], rks)]
    x_next = (sigma_next / sigma0) * x - math.expm1(-h) * x0  # first-order (DDIM) part
    if new is None:  # predictor: ρ from the conditions without the new point
        if not diffs:
            return x_next
        rhos, b_h = _rhos(rks, h, variant)
        return x_next - b_h * sum(rho * d for rho, d in zip(rhos, diffs))
    rhos, b_h = _rhos(rks + [1.0], h, variant)  # corrector: with the new point
    corrected = rhos[-1] * (new - x0)
    if diffs:  # the history's terms first, as the sum Σ_k ρ_k d_k + ρ_new (D_new − D_0) is written
        corrected = sum(rho * d for rho, d in zip(rhos[:-1], diffs)) + corrected
    return x_next - b_h * corrected


@attrs.frozen(kw_only=True)
class UniPC(GridSampler):
    """UniPC (Zhao et al. 2023, Algorithms 1–3): the ``order``-step predictor UniP-``order`` with the
    corrector UniC on every step but the last (``corrector=True``), ``variant`` ``"bh1"`` or
    ``"bh2"``; orders ramp up from 1 over the first steps. Score evaluations: ``n_steps``."""

    order: int = attrs.field(default=3, validator=[v.count, v.real(at_most=3)])
    variant: str = attrs.field(default="bh2", validator=v.choice("bh1", "bh2"))
    corrector: bool = attrs.field(default=True, validator=v.boolean)

    def steps(self, denoise, x, sigmas, generator):
        history: list[tuple[float, float, torch.Tensor]] = []  # (λ, σ, D), most recent first
        x_prev = None  # the (corrected) state the last prediction started from
        for sigma, sigma_next in itertools.pairwise(sigmas):
            lam = -math.log(sigma)
            x0 = denoise(x, sigma)
            if self.corrector and x_prev is not None:  # UniC: correct x with the D just computed
                x = _update(x_prev, history, lam, sigma, self.variant, new=x0)
            history.insert(0, (lam, sigma, x0))
            del history[self.order :]
            x_prev = x
            if sigma_next == 0:
                x = x0  # h = ∞: the first-order limit is D
            else:
                x = _update(x, history, -math.log(sigma_next), sigma_next, self.variant)  # UniP
            yield x
