"""scipy's adaptive ODE solvers on a torch state: ``scipy.integrate.solve_ivp`` holds a flat float64
host copy, the right-hand side runs in torch on the state's device."""

import numpy as np
import torch

from scoregen.errors import NumericalError

METHODS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")


def solve(fn, y0: torch.Tensor, t0: float, t1: float, *, method: str = "RK45", rtol: float = 1e-5, atol: float = 1e-5) -> torch.Tensor:
    """``y(t1)`` of ``dy/dt = fn(t, y)`` from ``y(t0) = y0``, for a flat state ``y0 [N]``;
    ``fn(t: float, y: Tensor [N] float64 on y0's device) -> Tensor [N]``. Returns float64 ``[N]``
    on ``y0``'s device. Raises :class:`NumericalError` if the solver fails."""
    from scipy.integrate import solve_ivp

    device = y0.device

    def rhs(t, y):
        out = fn(float(t), torch.from_numpy(y).to(device))
        return out.reshape(-1).to(torch.float64).cpu().numpy()

    sol = solve_ivp(rhs, (t0, t1), y0.reshape(-1).to(torch.float64).cpu().numpy(), method=method, rtol=rtol, atol=atol)
    if not sol.success:
        raise NumericalError(f"the ODE solver {method} failed: {sol.message}")
    return torch.from_numpy(np.ascontiguousarray(sol.y[:, -1])).to(device)
