"""Data-parallel plumbing: the process group under ``torchrun`` (NCCL for CUDA devices, gloo
otherwise), one device per process, and the few collectives the trainer needs. With one process
every function is the identity."""

import os

import torch


def _dist():
    import torch.distributed as dist

    return dist


def backend_for(device) -> str:
    """``"nccl"`` for a CUDA device, ``"gloo"`` for anything else."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_device(device) -> torch.device:
    """This process's device under ``torchrun``: ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per
    process on a node); a device with an index, or a CPU, is kept."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def setup(device="cpu") -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group when launched by ``torchrun``
    (``WORLD_SIZE > 1`` in the environment) and none exists yet, with NCCL when ``device`` is a
    CUDA device (and that process's GPU made current) and gloo otherwise."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = backend_for(device)
        if backend == "nccl":
            torch.cuda.set_device(rank_device(device))
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def teardown() -> None:
    """Leave the process group, if there is one: NCCL's is destroyed (it asks for that before
    exit); gloo's is left to the process's exit, because ``destroy_process_group`` on gloo can
    abort a rank at exit (``terminate called without an active exception``, about one run in
    ten of tests/test_cli_train.py's two-process run on a loaded CPU; none in 28 without it)."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        dist.destroy_process_group()


def is_distributed() -> bool:
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _collective_device() -> torch.device:
    """Where a collective runs: NCCL needs this process's GPU, gloo takes CPU tensors."""
    if _dist().get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all processes (on ``t``'s device)."""
    if not is_distributed():
        return t
    out = t.to(_collective_device(), copy=True)
    _dist().all_reduce(out)
    return out.to(t.device)


def all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    """``t`` from every process (same shape everywhere), indexed by rank (on ``t``'s device)."""
    if not is_distributed():
        return [t]
    local = t.to(_collective_device())
    out = [torch.empty_like(local) for _ in range(_dist().get_world_size())]
    _dist().all_gather(out, local)
    return [o.to(t.device) for o in out]


def barrier() -> None:
    if is_distributed():
        _dist().barrier()


def wrap(module: torch.nn.Module, device=None) -> torch.nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed
    (gradients are averaged over processes in ``backward``; ``device_ids`` is this process's GPU
    for a CUDA ``device``), else ``module`` itself."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(module)
