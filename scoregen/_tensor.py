"""Small tensor helpers shared by every component: broadcasting, seeded noise, input checks."""

import numpy as np
import torch

from scoregen.errors import DataError


def as_float64(value) -> torch.Tensor:
    """A tensor or array-like as a detached float64 tensor (for exact ground-truth arithmetic)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def append_dims(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append trailing singleton dimensions to ``t`` until it has ``ndim`` dimensions.

    Broadcasts a per-sample quantity of shape ``[B]`` over ``[B, *event_shape]``.
    """
    missing = ndim - t.ndim
    if missing < 0:
        raise ValueError(f"cannot append dimensions: tensor has {t.ndim} > {ndim} dimensions")
    return t[(...,) + (None,) * missing]


def draw_device(generator: torch.Generator | None, device=None) -> torch.device:
    """Where a draw happens: ``device`` when given, else the generator's device, else the CPU.

    A generator lives on the device its draws are made on (a CPU generator cannot draw CUDA
    tensors: torch refuses the mix loudly, which is what we want).
    """
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")


# Generator constructors by device type; a test harness may add one for a device type that
# torch cannot make generators on (scoregen.testing.devices registers its virtual device here).
GENERATORS: dict[str, type] = {}


def make_generator(device=None, seed: int | None = None) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (default: the CPU), seeded with ``seed`` (a
    non-deterministic seed when ``None``). Draws made with it happen on that device, so a
    seeded run is exactly reproducible on the CPU and reproducible per device elsewhere."""
    device = torch.device("cpu" if device is None else device)
    generator = GENERATORS.get(device.type, torch.Generator)(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def _fill(fill, shape, generator, dtype, device) -> torch.Tensor:
    draw = getattr(generator, "draw", None)  # per-sample generators (scoregen.seeds)
    if draw is not None:
        return draw(fill, tuple(shape), dtype=dtype, device=device)
    return fill(tuple(shape), generator=generator, dtype=dtype, device=draw_device(generator, device))


def randn(shape, generator, *, dtype=None, device=None) -> torch.Tensor:
    """``N(0, 1)`` draws of ``shape`` from ``generator`` (a ``torch.Generator`` or per-sample
    :class:`scoregen.seeds.SampleGenerators`), on ``device`` (default: the generator's)."""
    return _fill(torch.randn, shape, generator, dtype, device)


def rand(shape, generator, *, dtype=None, device=None) -> torch.Tensor:
    """``U[0, 1)`` draws of ``shape``, as :func:`randn`."""
    return _fill(torch.rand, shape, generator, dtype, device)


def randn_like(x: torch.Tensor, generator) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, drawn from ``generator`` (as :func:`randn`)."""
    return randn(x.shape, generator, dtype=x.dtype, device=x.device)


def as_sigma(sigma, batch_size: int, like: torch.Tensor) -> torch.Tensor:
    """Return noise levels as a tensor of shape ``[batch_size]`` in ``like``'s dtype and device.

    ``sigma`` may be a number, a 0-d tensor or a tensor of shape ``[batch_size]``.
    """
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(batch_size)
    if sigma.shape != (batch_size,):
        raise DataError(f"sigma must be a number or have shape [{batch_size}], got {list(sigma.shape)}")
    if not bool(torch.all(sigma > 0)):
        raise DataError("sigma must be positive")
    return sigma


def as_data(x, event_shape: tuple[int, ...] | None = None, *, name: str = "data") -> torch.Tensor:
    """Convert a tensor, array or nested list to a float32 tensor ``[N, *event_shape]`` and check it.

    Raises :class:`DataError` for a rank below 2, a wrong event shape, an empty batch, or
    non-finite values (naming the first offending rows).
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} cannot be converted to a tensor: {exc}") from None
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.uint8, torch.bool)):
        raise DataError(f"{name} must hold real numbers, got dtype {t.dtype}")
    t = t.to(torch.float32)
    if t.ndim < 2:
        raise DataError(
            f"{name} must have shape [N, *event_shape] (rank >= 2), got shape {list(t.shape)}; "
            "for a single sample use x[None]"
        )
    if t.shape[0] == 0:
        raise DataError(f"{name} is empty")
    if event_shape is not None and tuple(t.shape[1:]) != tuple(event_shape):
        raise DataError(
            f"{name} has event shape {list(t.shape[1:])}, the model expects {list(event_shape)}"
        )
    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()
        shown = ", ".join(str(int(r)) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        raise DataError(f"{name} has non-finite values (NaN or inf) in {len(rows)} row(s): {shown}")
    return t
