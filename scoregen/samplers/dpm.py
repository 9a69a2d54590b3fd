"""DPM-Solver (Lu et al. 2022) and DPM-Solver++ (Lu et al. 2022b): exponential integrators of the
probability-flow ODE in ``λ = −log σ`` (ladder coordinates: ``α = 1``), written with the noise
``ε̂ = (x − D)/σ`` (DPM-Solver) or the denoised ``D`` (DPM-Solver++).

A step to ``σ = 0`` has ``h = ∞``: there every solver returns ``D(x; σ_i)`` (one evaluation),
the exact limit of its first-order formula — the higher-order terms would be ``∞ · 0``.
"""

import itertools
import math

import attrs
import torch

from scoregen import _validators as v
from scoregen._tensor import randn_like
from scoregen.samplers.stepping import GridSampler

# The weight of the second divided difference ``d₂ ≈ h² D''/2`` in the third-order step. The
# exact integral of the quadratic interpolant of ``D`` over the step is ``h² D'' (h²/2 − h + 1 − e^{−h})/h²
# = −2 φ₃ d₂`` with ``φ₃ = φ₂/h − ½``: a weight of 2. k-diffusion and diffusers use 1, which leaves
# an O(h³) local error (measured slopes 2.3–2.6 instead of 3); the order check tells them apart
# (tests/test_grid_samplers.py).
SECOND_DIFFERENCE_WEIGHT = 2.0


def _eps(denoise, x, sigma):
    """``ε̂ = (x − D(x; σ))/σ``."""
    return (x - denoise(x, sigma)) / sigma


@attrs.frozen(kw_only=True)
class DPMSolver(GridSampler):
    """Single-step DPM-Solver (Lu et al. 2022, Algorithms 1 and 2; ε form) of order 1, 2 or 3
    (order 1 is DDIM). Score evaluations: ``order`` a step, 1 on a step to ``σ = 0``."""

    order: int = attrs.field(default=3, validator=[v.count, v.real(at_most=3)])

    def nfe_of(self, sigmas) -> int:
        return self.order * (len(sigmas) - 2) + (1 if float(sigmas[-1]) == 0 else self.order)

    def steps(self, denoise, x, sigmas, generator):
        for sigma, sigma_next in itertools.pairwise(sigmas):
            if sigma_next == 0:
                x = denoise(x, sigma)  # h = ∞: the first-order limit is D
                yield x
                continue
            h = math.log(sigma / sigma_next)  # step in λ = −log σ
            eps0 = _eps(denoise, x, sigma)
            if self.order == 1:  # DPM-Solver-1 (DDIM)
                x = x - sigma_next * math.expm1(h) * eps0
            elif self.order == 2:  # DPM-Solver-2, r₁ = ½
                r1 = 0.5
                s1 = sigma * math.exp(-r1 * h)  # intermediate level λ + r₁ h
                u1 = x - s1 * math.expm1(r1 * h) * eps0
                eps1 = _eps(denoise, u1, s1)
                x = x - sigma_next * math.expm1(h) * eps0 - sigma_next / (2 * r1) * math.expm1(h) * (eps1 - eps0)
            else:  # DPM-Solver-3, r₁ = ⅓, r₂ = ⅔
                r1, r2 = 1 / 3, 2 / 3
                s1, s2 = sigma * math.exp(-r1 * h), sigma * math.exp(-r2 * h)
                u1 = x - s1 * math.expm1(r1 * h) * eps0
                d1 = _eps(denoise, u1, s1) - eps0
                phi = math.expm1(r2 * h) / (r2 * h) - 1
                u2 = x - s2 * math.expm1(r2 * h) * eps0 - s2 * (r2 / r1) * phi * d1
                d2 = _eps(denoise, u2, s2) - eps0
                x = x - sigma_next * math.expm1(h) * eps0 - sigma_next / r2 * (math.expm1(h) / h - 1) * d2
            yield x


@attrs.frozen(kw_only=True)
class DPMPP2MSDE(GridSampler):
    """DPM-Solver++(2M) SDE (Lu et al. 2022b, §5; k-diffusion's ``sample_dpmpp_2m_sde``): the
    exponential integrator of the reverse SDE with noise ``eta`` (0: the ODE), second-order
    correction ``solver_type`` ``"midpoint"`` or ``"heun"``. Score evaluations: ``n_steps``."""

    eta: float = attrs.field(default=1.0, validator=v.non_negative)
    s_noise: float = attrs.field(default=1.0, validator=v.non_negative)
    solver_type: str = attrs.field(default="midpoint", validator=v.choice("midpoint", "heun"))

    def steps(self, denoise, x, sigmas, generator):
        old: torch.Tensor | None = None
        h_last = 0.0  # set with old
        for sigma, sigma_next in itertools.pairwise(sigmas):
            x0 = denoise(x, sigma)
            if sigma_next == 0:
                x = x0
            else:
                h = math.log(sigma / sigma_next)
                eta_h = self.eta * h
                a = -math.expm1(-h - eta_h)  # 1 − e^{−(1+η)h}
                x = (sigma_next / sigma) * math.exp(-eta_h) * x + a * x0  # first-order step
                if old is not None:  # second-order correction from the previous D
                    r = h_last / h
                    c = 0.5 * a if self.solver_type == "midpoint" else a / (-h - eta_h) + 1
                    x = x + c * (1 / r) * (x0 - old)
                if self.eta > 0:  # the SDE's fresh noise
                    x = x + self.s_noise * sigma_next * math.sqrt(-math.expm1(-2 * eta_h)) * randn_like(x, generator)
                h_last = h
            old = x0
            yield x


@attrs.frozen(kw_only=True)
class DPMPP2M(DPMPP2MSDE):
    """DPM-Solver++(2M) (Lu et al. 2022b, Algorithm 2): the multistep second-order solver in the
    denoised ``D``, first order on the first step — :class:`DPMPP2MSDE` without noise (its
    midpoint correction is Algorithm 2's ``(1 + 1/2r) D_i − (1/2r) D_{i−1}``). Score
    evaluations: ``n_steps``. Order 2."""

    eta: float = attrs.field(default=0.0, validator=v.non_negative)


@attrs.frozen(kw_only=True)
class DPMPP3MSDE(GridSampler):
    """DPM-Solver++(3M) SDE (k-diffusion's ``sample_dpmpp_3m_sde``, after Lu et al. 2022b): the
    third-order multistep exponential integrator with noise ``eta`` (0: DPM-Solver++(3M), the
    ODE). Score evaluations: ``n_steps``."""

    eta: float = attrs.field(default=1.0, validator=v.non_negative)
    s_noise: float = attrs.field(default=1.0, validator=v.non_negative)

    def steps(self, denoise, x, sigmas, generator):
        x0_1: torch.Tensor | None = None  # the last two D and steps
        x0_2: torch.Tensor | None = None
        h_1: float | None = None
        h_2: float | None = None
        for sigma, sigma_next in itertools.pairwise(sigmas):
            x0 = denoise(x, sigma)
            if sigma_next == 0:
                x = x0
            else:
                h = math.log(sigma / sigma_next)
                h_eta = h * (self.eta + 1)
                x = math.exp(-h_eta) * x - math.expm1(-h_eta) * x0  # first-order step (e^{−h_η} = (σ'/σ) e^{−ηh})
                phi_2 = math.expm1(-h_eta) / h_eta + 1
                if h_1 is not None and h_2 is not None and x0_1 is not None and x0_2 is not None:  # third order: first and second divided differences of D in λ
                    r0, r1 = h_1 / h, h_2 / h
                    d1_0, d1_1 = (x0 - x0_1) / r0, (x0_1 - x0_2) / r1
                    d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                    d2 = (d1_0 - d1_1) / (r0 + r1)
                    x = x + phi_2 * d1 - SECOND_DIFFERENCE_WEIGHT * (phi_2 / h_eta - 0.5) * d2
                elif h_1 is not None and x0_1 is not None:  # second order
                    x = x + phi_2 * (x0 - x0_1) / (h_1 / h)
                if self.eta > 0:  # the SDE's fresh noise
                    x = x + self.s_noise * sigma_next * math.sqrt(-math.expm1(-2 * h * self.eta)) * randn_like(x, generator)
                h_1, h_2 = h, h_1
            x0_1, x0_2 = x0, x0_1
            yield x
