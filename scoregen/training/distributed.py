"""Data-parallel plumbing: the process group under ``torchrun`` (gloo on the CPU), and the few
collectives the trainer needs. With one process every function is the identity."""

import os

import torch


def _dist():
    import torch.distributed as dist

    return dist


def setup() -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group when launched by ``torchrun``
    (``WORLD_SIZE > 1`` in the environment) and none exists yet."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def teardown() -> None:
    """Leave the process group, if there is one."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all processes."""
    if is_distributed():
        t = t.clone()
        _dist().all_reduce(t)
    return t


def all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    """``t`` from every process (same shape everywhere), indexed by rank."""
    if not is_distributed():
        return [t]
    out = [torch.empty_like(t) for _ in range(_dist().get_world_size())]
    _dist().all_gather(out, t)
    return out


def barrier() -> None:
    if is_distributed():
        _dist().barrier()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed
    (gradients are averaged over processes in ``backward``), else ``module`` itself."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)
