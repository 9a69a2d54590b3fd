"""Jacobian terms of a function applied row by row to a batch, by reverse-mode products.

``fn`` maps ``x [N, *E]`` to ``[N, *E]`` and treats rows independently (no batch statistics), so
the Jacobian of the batch is block-diagonal with one ``D × D`` block ``J_n = ∂fn(x)_n / ∂x_n`` per
row (``D = prod(E)``). A cotangent ``u [N, *E]`` gives every row's ``u_nᵀ J_n`` in one
vector-Jacobian product (``torch.autograd.grad`` with ``create_graph``); several cotangents are
batched (``is_grads_batched``, a ``vmap`` over the backward). Both functions keep the autograd
graph, so a loss built on their results trains ``fn``'s parameters.

Reverse mode is the cheaper way to these products in PyTorch. Measured for a sliced-score-matching
step of the ``ncsn`` MLP (batch 256, one thread, ``python benchmarks/objectives.py cost``), at
D = 2 / 64 / 784: this module's ``torch.autograd.grad`` 2.42× / 2.55× / 2.15× a DSM step,
``torch.func.vjp`` 2.56× / 2.73× / 2.12×; forward mode, which gives ``fn(x)`` and ``J v`` in one
pass, 1.3–1.9× the reverse-mode step (``torch.func.jvp`` 4.47× / 4.76× / 2.98×,
``torch.autograd.forward_ad`` dual numbers 4.06× / 4.34× / 2.87×). By counting matrix products
the floor is 2× (the product and the backward through it cost one forward and one backward
more); the rest is the second derivative of the activations, elementwise.
"""

import math
from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

# Largest block of Jacobian rows ``[chunk, N, *E]`` (in elements) computed at once by default.
ROW_BLOCK_ELEMENTS = 2**24


def jacobian_trace(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), tr J_n)`` for ``x [N, *E]``: the output ``[N, *E]`` and the exact trace ``[N]``.

    ``tr J_n = Σ_i e_iᵀ J_n e_i``: the basis cotangent ``e_i`` is shared by all rows, so the ``D``
    products ``e_iᵀ J`` cover the whole batch (``D`` VJPs, each about the cost of a forward pass).
    They run ``chunk_size`` at a time (default: as many as keep a block of rows ``[chunk, N, *E]``
    within ``ROW_BLOCK_ELEMENTS``); every chunk after the first is recomputed in the backward pass
    (``torch.utils.checkpoint``), so memory stays that of one chunk instead of growing with ``D``.
    """
    d = math.prod(x.shape[1:])
    if chunk_size is None:
        chunk_size = max(1, ROW_BLOCK_ELEMENTS // max(1, x.shape[0] * d))
    chunk_size = min(chunk_size, d)
    x_in, out = _evaluate(fn, x)
    trace = _diagonal_sum(out, x_in, 0, chunk_size)
    for start in range(chunk_size, d, chunk_size):
        stop = min(start + chunk_size, d)
        trace = trace + checkpoint(_chunk_trace, fn, x, start, stop, use_reentrant=False)
    return out, trace


def projected_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), v_mᵀ J_n v_m)`` for ``x [N, *E]`` and projections ``v [M, N, *E]``: the output
    ``[N, *E]`` and the quadratic forms ``[M, N]``, one VJP per projection, batched over ``M``."""
    x_in, out = _evaluate(fn, x)
    if v.shape[0] == 1:  # a single product needs no batching over cotangents
        rows = _vjp(out, x_in, v[0], batched=False)[None]
    else:
        rows = _vjp(out, x_in, v, batched=True)
    return out, (rows * v).flatten(2).sum(-1)


def _evaluate(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_in, fn(x_in))``, ``x_in`` a tensor the products differentiate by: ``x`` itself where it
    is in a graph already (its history is kept), else a detached copy that requires grad."""
    with torch.enable_grad():  # the products need a graph even under an outer no_grad
        x_in = x if x.requires_grad else x.detach().requires_grad_()
        return x_in, fn(x_in)


def _vjp(out: torch.Tensor, x_in: torch.Tensor, cotangents: torch.Tensor, *, batched: bool) -> torch.Tensor:
    """``u_nᵀ J_n`` for ``cotangents`` ``u [N, *E]`` (or a block ``[K, N, *E]`` when ``batched``),
    with the graph kept; zeros where ``fn`` does not depend on ``x``."""
    if not out.requires_grad:
        return torch.zeros_like(cotangents)
    with torch.enable_grad():
        (rows,) = torch.autograd.grad(
            out, x_in, cotangents, create_graph=True, is_grads_batched=batched, allow_unused=True, materialize_grads=True
        )
    return rows


def _diagonal_sum(out: torch.Tensor, x_in: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``Σ_{start ≤ i < stop} (J_n)_ii``, ``[N]``, from the rows ``e_iᵀ J`` of that block."""
    d = math.prod(x_in.shape[1:])
    basis = torch.eye(d, dtype=x_in.dtype, device=x_in.device)[start:stop]
    cotangents = basis.reshape(stop - start, 1, *x_in.shape[1:]).expand(stop - start, *x_in.shape)
    rows = _vjp(out, x_in, cotangents, batched=True).flatten(2)  # [chunk, N, D]: row i of every J_n
    return rows[:, :, start:stop].diagonal(dim1=0, dim2=2).sum(-1)


def _chunk_trace(fn, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    x_in, out = _evaluate(fn, x.detach())
    return _diagonal_sum(out, x_in, start, stop)
