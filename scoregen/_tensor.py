"""Small tensor helpers shared by every component: broadcasting, seeded noise, input checks."""

import numpy as np
import torch

from scoregen.errors import DataError


def as_float64(value) -> torch.Tensor:
    """A tensor or array-like as a detached float64 tensor (for exact ground-truth arithmetic)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


_NUMPY_FLOATS = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def rounded(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to the floating ``dtype``, as an element of a tensor of that dtype holds it
    (through numpy's scalar types where they exist: a 0-d tensor costs microseconds)."""
    cast = _NUMPY_FLOATS.get(dtype)
    return float(cast(value)) if cast is not None else torch.tensor(value, dtype=dtype).item()


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

    ``sigma`` may be a number, a 0-d tensor or a tensor of shape ``[batch_size]``. It is checked
    in float64 before the cast: positive, finite, and still positive and finite in ``like``'s
    dtype (``1e300`` is refused rather than becoming ``inf`` in float32).
    """
    if isinstance(sigma, bool | str | bytes) or (isinstance(sigma, torch.Tensor) and sigma.dtype == torch.bool):
        raise DataError(f"sigma must be a positive number or a tensor of them, got {sigma!r}")
    try:
        wide = torch.as_tensor(sigma.detach() if isinstance(sigma, torch.Tensor) else np.asarray(sigma), device=like.device)
        wide = wide.to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"sigma must be a positive number or a tensor of them, got {sigma!r}: {exc}") from None
    if wide.ndim == 0:
        wide = wide.expand(batch_size)
    if wide.shape != (batch_size,):
        raise DataError(f"sigma must be a number or have shape [{batch_size}], got {list(wide.shape)}")
    if not bool(torch.all(torch.isfinite(wide) & (wide > 0))):
        raise DataError(f"sigma must be positive and finite, got {wide.unique()[:5].tolist()}")
    cast = wide.to(like.dtype)
    if not bool(torch.all(torch.isfinite(cast) & (cast > 0))):
        raise DataError(f"sigma must be positive and finite in {like.dtype}, got {wide.unique()[:5].tolist()}")
    return cast


def check_fits_in_memory(shape: tuple[int, ...], what: str, *, element_size: int = 4) -> None:
    """Raise :class:`~scoregen.errors.ConfigError` if a float tensor of ``shape`` would not fit
    in this machine's memory (``-n 1000000000000`` fails at once, not in the allocator)."""
    import math
    import os

    from scoregen.errors import ConfigError

    needed = math.prod(shape) * element_size
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: let the allocator decide
        return
    if needed > available:
        raise ConfigError(f"{what} of shape {list(shape)} need {needed / 2**30:.3g} GiB; this machine has {available / 2**30:.3g} GiB")


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
