"""What every family's conformance checks share: seeded generators, the global-RNG guard, tensor
and reproducibility checks, and the failure message. Helpers that raise hide their own frames
from pytest's tracebacks (``__tracebackhide__``), so a failure points at the caller's check."""

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn


def require_method(component: object, method: str, check: str) -> None:
    """A check given something that is not a component of its kind fails at once, naming it."""
    from scoregen.errors import ConfigError

    if not callable(getattr(component, method, None)):
        raise ConfigError(f"{check} needs an object with {method}(...), got {component!r}")


def seeded(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def fail(component: object, what: str) -> AssertionError:
    """The error a check raises: the component's class, then what broke."""
    return AssertionError(f"{type(component).__name__}: {what}")


def log_uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` levels drawn uniformly in ``log σ`` on ``[low, high]``, ``[n]`` float64."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(torch.log(torch.tensor(low, dtype=torch.float64)) * (1 - u) + torch.log(torch.tensor(high, dtype=torch.float64)) * u)


@contextlib.contextmanager
def global_rng_untouched(component: object, action: str) -> Iterator[None]:
    """Fail if the body draws from torch's global generator."""
    __tracebackhide__ = True
    state = torch.random.get_rng_state()
    yield
    if not torch.equal(state, torch.random.get_rng_state()):
        torch.random.set_rng_state(state)
        raise fail(component, f"{action} drew from torch's global random generator; draw from `generator`")


def check_tensor(component: object, out: object, shape: Sequence[int], dtype: torch.dtype, action: str, *, finite: bool = True) -> torch.Tensor:
    """``out`` is a tensor of ``shape`` and ``dtype`` (and, with ``finite``, finite)."""
    __tracebackhide__ = True
    if not isinstance(out, torch.Tensor):
        raise fail(component, f"{action} returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != tuple(shape):
        raise fail(component, f"{action} returned shape {list(out.shape)}, expected {list(shape)}")
    if out.dtype != dtype:
        raise fail(component, f"{action} returned dtype {out.dtype}, expected {dtype}")
    if finite and not bool(torch.isfinite(out).all()):
        raise fail(component, f"{action} returned non-finite values")
    return out


def check_seeded(
    component: object, action: str, run: Callable[[torch.Generator], torch.Tensor], *, must_vary: bool = False
) -> torch.Tensor:
    """``run(generator)`` is reproducible from a seed and ignores the global RNG; with
    ``must_vary`` (a draw, not a possibly deterministic map such as an ODE), it changes with the seed."""
    __tracebackhide__ = True
    with global_rng_untouched(component, action):
        first, again, other = run(seeded(1)), run(seeded(1)), run(seeded(2))
    if not torch.equal(first, again):
        raise fail(component, f"{action} is not reproducible: two runs from the same seed differ")
    if must_vary and torch.equal(first, other):
        raise fail(component, f"{action} gave the same result for two different seeds")
    return first


def check_callback(sampler: object, run: Callable[..., torch.Tensor], expected: torch.Tensor, label: str) -> None:
    """``run(generator=seeded(1), callback=...)`` gives ``expected`` and hands the callback dicts."""
    __tracebackhide__ = True
    seen: list = []
    again = run(generator=seeded(1), callback=seen.append)
    if not torch.equal(expected, again):
        raise fail(sampler, f"{label}: passing a callback changed the samples")
    if not all(isinstance(info, dict) and "x" in info for info in seen):
        raise fail(sampler, "callback must receive dicts holding at least the state x (the contract: step, nfe, sigma, t, x)")


@contextlib.contextmanager
def evaluating(component: object) -> Iterator[None]:
    """Put a module in eval mode for the body and restore its mode."""
    module = component if isinstance(component, nn.Module) and component.training else None
    if module is not None:
        module.eval()
    try:
        yield
    finally:
        if module is not None:
            module.train()


def families(component: object) -> tuple[str, ...]:
    """The kernel families a component declares (``families``), ``("gaussian",)`` when it declares none."""
    return tuple(getattr(component, "families", ("gaussian",)))
