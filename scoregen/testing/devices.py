"""A second device on a CPU-only machine, for catching tensors made on the wrong device.

:func:`virtual_device` runs its block with a virtual accelerator named ``meta``: a tensor
created there (``torch.randn(..., device="meta")``, ``x.to("meta")``, ``torch.tensor(...,
device=x.device)``, ``module.to("meta")``) holds real CPU values but reports
``device(type='meta')``, and every operation that mixes it with a CPU tensor of one or more
dimensions raises :class:`DeviceMixError`, as CUDA would. Host reads (``float(x)``,
``x.tolist()``) work, as they do (with a synchronisation) on a GPU; ``x.numpy()`` raises, as it
does for a CUDA tensor. Generators follow the same rule as on a GPU: a draw on the virtual
device needs a generator made by :func:`scoregen._tensor.make_generator` on it, and a CPU
generator used for a virtual draw (or the reverse) raises.

Why not ``torch._subclasses.fake_tensor.FakeTensorMode`` with fake ``cuda`` tensors: on a
CPU-only build, indexing (``x[1:]``), ``nn.Module.to("cuda")`` and host reads fail inside it
before any device check ("PyTorch is not linked with support for cuda devices",
``DataDependentOutputException``), and ``torch.Generator(device="cuda")`` cannot be made, so no
training step or sampler runs. A wrapper tensor on ``meta`` keeps the values and passes every
Python path; only what tests the device *type* (``device.type == "cuda"``) is not exercised.

Example::

    with virtual_device() as device:
        model = build("ncsn", device=device, event_shape=(2,))
        x = model.sample(4, seed=0)          # raises DeviceMixError if a part draws on the CPU
        assert x.device == device
"""

import contextlib

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from scoregen import _tensor

VIRTUAL = torch.device("meta")
_CONSTRUCTORS = (torch.tensor, torch.as_tensor, torch.Tensor.new_tensor)


class DeviceMixError(RuntimeError):
    """An operation mixed the virtual device with the CPU, or drew with a generator of the other device."""


class VirtualGenerator(torch.Generator):
    """A CPU generator that stands for one on the virtual device."""

    def __new__(cls, device=None):
        return super().__new__(cls)

    def __init__(self, device=None) -> None:
        super().__init__()

    @property  # torch.Generator.device is read-only in practice; the stubs call it writeable
    def device(self) -> torch.device:  # type: ignore[override]
        return VIRTUAL


class VirtualTensor(torch.Tensor):
    """Real CPU values (``elem``) that report the virtual device."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        out = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=VIRTUAL, requires_grad=elem.requires_grad,
        )
        out.elem = elem
        return out

    def tolist(self):
        return self.elem.tolist()

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert a tensor on the virtual device to numpy: copy it with .cpu() first (as for CUDA)")

    def __repr__(self) -> str:  # type: ignore[override]  # the stubs' Tensor.__repr__ takes keywords
        return f"VirtualTensor({self.elem!r})"

    @classmethod  # torch's documented subclass hook; the stubs type it as a plain method
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):  # type: ignore[override]
        return _run(func, args, kwargs or {})


def _is_virtual(device) -> bool:
    return device is not None and torch.device(device).type == VIRTUAL.type


def _run(func, args, kwargs):
    """Run ``func`` on the CPU values and wrap what comes back when any input, or the requested
    device, is virtual; raise on a mix of devices or generators."""
    if func is torch.ops.aten.copy_.default:  # copies between devices are allowed, as in torch
        dst, src = args[0], args[1]
        (dst.elem if isinstance(dst, VirtualTensor) else dst).copy_(src.elem if isinstance(src, VirtualTensor) else src)
        return dst
    leaves = tree_leaves((args, kwargs))
    virtual_in = any(isinstance(a, VirtualTensor) for a in leaves)
    cpu_in = [a for a in leaves if isinstance(a, torch.Tensor) and not isinstance(a, VirtualTensor) and a.ndim > 0]
    if virtual_in and cpu_in:
        raise DeviceMixError(f"{func} mixes the virtual device with a CPU tensor of shape {list(cpu_in[0].shape)}")
    requested = kwargs.get("device")
    virtual_out = _is_virtual(requested) or (virtual_in and requested is None)
    if _is_virtual(requested):
        kwargs = {**kwargs, "device": torch.device("cpu")}
    args, kwargs = tree_map(lambda t: t.elem if isinstance(t, VirtualTensor) else t, (args, kwargs))
    out = func(*args, **kwargs)
    if not virtual_out:
        return out
    return tree_map(lambda t: VirtualTensor(t) if isinstance(t, torch.Tensor) else t, out)


class _Factories(TorchDispatchMode):
    """Routes operations that create tensors on the virtual device (``device="meta"``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _is_virtual(kwargs.get("device")) or any(isinstance(a, VirtualTensor) for a in tree_leaves((args, kwargs))):
            return _run(func, args, kwargs)
        return func(*args, **kwargs)


class _Constructors(TorchFunctionMode):
    """``torch.tensor(data, device=virtual)`` builds a meta tensor without dispatching; build it
    on the CPU and wrap it instead. Draws are checked here, where the generator is still the
    object the caller passed: a virtual generator for a virtual draw, a CPU one for a CPU draw."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        generator = kwargs.get("generator")
        if generator is not None:
            requested = kwargs.get("device")
            on_virtual = _is_virtual(requested) if requested is not None else any(
                isinstance(a, VirtualTensor) for a in tree_leaves(args)
            )
            if isinstance(generator, VirtualGenerator) != on_virtual:
                where = "the virtual device" if on_virtual else "the CPU"
                raise DeviceMixError(f"{func.__name__} draws on {where} with a generator of {generator.device}")
        if func in _CONSTRUCTORS and _is_virtual(kwargs.get("device")):
            with torch._C.DisableTorchFunction():
                return VirtualTensor(func(*args, **{**kwargs, "device": torch.device("cpu")}))
        return func(*args, **kwargs)


@contextlib.contextmanager
def virtual_device():
    """Run the block with the virtual device (see the module); yields ``torch.device("meta")``."""
    _tensor.GENERATORS[VIRTUAL.type] = VirtualGenerator
    try:
        with _Factories(), _Constructors():
            yield VIRTUAL
    finally:
        _tensor.GENERATORS.pop(VIRTUAL.type, None)
