"""Jacobian terms of a function applied row by row to a batch, by reverse-mode products.

``fn`` maps ``x [N, *E]`` to ``[N, *E]`` and treats rows independently (no batch statistics), so
the Jacobian of the batch is block-diagonal with one ``D × D`` block ``J_n = ∂fn(x)_n / ∂x_n`` per
row (``D = prod(E)``). A cotangent ``u [N, *E]`` gives every row's ``u_nᵀ J_n`` in one
vector-Jacobian product (``torch.func.vjp``); several cotangents are batched with
``torch.func.vmap``. Both functions keep the autograd graph, so a loss built on their results
trains ``fn``'s parameters. In PyTorch reverse mode is the cheaper way to these products: a
forward-mode ``jvp`` per projection measured 1.5–3× slower (benchmarks/objectives.py).
"""

import math
from collections.abc import Callable

import torch
from torch.func import vjp, vmap
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
    Those chunks use batched ``torch.autograd.grad`` (vmap over the backward: the same products),
    because ``torch.func.vjp`` refuses checkpoint's saved-tensor hooks.
    """
    d = math.prod(x.shape[1:])
    if chunk_size is None:
        chunk_size = max(1, ROW_BLOCK_ELEMENTS // max(1, x.shape[0] * d))
    chunk_size = min(chunk_size, d)
    out, vjp_fn = vjp(fn, x)[:2]  # no has_aux: (output, vjp_fn)
    trace = _diagonal_sum(vjp_fn, x, 0, chunk_size)
    for start in range(chunk_size, d, chunk_size):
        stop = min(start + chunk_size, d)
        trace = trace + checkpoint(_chunk_trace, fn, x, start, stop, use_reentrant=False)
    return out, trace


def projected_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), v_mᵀ J_n v_m)`` for ``x [N, *E]`` and projections ``v [M, N, *E]``: the output
    ``[N, *E]`` and the quadratic forms ``[M, N]``, one VJP per projection, batched over ``M``."""
    out, vjp_fn = vjp(fn, x)[:2]  # no has_aux: (output, vjp_fn)
    if v.shape[0] == 1:  # a single product needs no vmap (measured ~15% cheaper)
        rows = vjp_fn(v[0])[0][None]
    else:
        rows = vmap(vjp_fn)(v)[0]
    return out, (rows * v).flatten(2).sum(-1)


def _diagonal_sum(vjp_fn, x: torch.Tensor, start: int, stop: int, *, batched: bool = False) -> torch.Tensor:
    """``Σ_{start ≤ i < stop} (J_n)_ii``, ``[N]``, from the rows ``e_iᵀ J`` of that block;
    ``batched``: ``vjp_fn`` takes the whole block of cotangents ``[chunk, N, *E]`` itself."""
    d = math.prod(x.shape[1:])
    basis = torch.eye(d, dtype=x.dtype, device=x.device)[start:stop]
    cotangents = basis.reshape(stop - start, 1, *x.shape[1:]).expand(stop - start, *x.shape)
    rows = (vjp_fn if batched else vmap(vjp_fn))(cotangents)[0].flatten(2)  # [chunk, N, D]: row i of every J_n
    return rows[:, :, start:stop].diagonal(dim1=0, dim2=2).sum(-1)


def _chunk_trace(fn, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    with torch.enable_grad():  # the products need a graph even under an outer no_grad
        x = x.detach().requires_grad_()
        out = fn(x)
        if not out.requires_grad:  # fn does not depend on x
            return x.new_zeros(x.shape[0])

        def vjp_fn(cotangents):
            return torch.autograd.grad(out, x, cotangents, create_graph=True, is_grads_batched=True)

        return _diagonal_sum(vjp_fn, x, start, stop, batched=True)
