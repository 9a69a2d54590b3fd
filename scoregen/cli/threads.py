"""The number of CPU threads the command line gives torch.

torch's default is one intra-op thread per core. On a machine whose cores are shared (other jobs,
other ranks of a ``torchrun``), those threads wait on each other and a small network trains many
times slower than on one thread. The CLI therefore uses one thread unless told otherwise
(``--threads N``, or ``OMP_NUM_THREADS``/``torch.set_num_threads`` chosen by the user), measured in
``benchmarks/threads.py`` (docs/data.md, "Threads").
"""

import os

DEFAULT_THREADS = 1


def threads_help() -> str:
    """The default, in words, for ``--help``."""
    return f"$OMP_NUM_THREADS if set, else {DEFAULT_THREADS}"


def set_threads(threads: int | None) -> None:
    """Give torch ``threads`` intra-op threads; ``None``: ``$OMP_NUM_THREADS`` if set, else
    :data:`DEFAULT_THREADS`."""
    import torch

    from scoregen.errors import ConfigError

    if threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return  # the user's choice; torch has read it already
        threads = DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)
