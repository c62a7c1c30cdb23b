"""Per-example SGD in blocks of :data:`BLOCK` steps: two GEMMs per block and a small sequential part.

Within a block of B consecutive steps of one seed (examples x_0, ..., x_{B-1} in its visiting
order, W_b the weights at the start of the block), step j's weights are
W_j = W_b + sum_{i<j} c_i x_i^T (c_i the 2k step coefficients of step i), so

    W_j x_j = W_b x_j + sum_{i<j} c_i (x_i . x_j),     W_{b+1} = W_b + C^T X_B.

A block therefore costs: one GEMM P = X_B W_b^T (the pre-activations of all B steps at W_b), the
sequential coefficient pass of :func:`lt_teacher.engines._kernels.block_serial` (per step the scalar
work of ``_step`` plus the correction of the later steps' rows with the Gram entries x_i . x_j,
O(B 2k) per step), and one GEMM W += C^T X_B. The Gram matrix X X^T of the whole training set is
computed once and cached (keyed on the tensor ``x``, its version counter and data pointer), so a
block only reads B^2 of its entries; when it would exceed :data:`GRAM_BYTES` the caller uses the
pair kernel instead (:func:`uses_blocks`).

The GEMMs are torch's (MKL on x86 CPUs): one ``torch.mm`` per seed and block, never a batched
product over seeds, so a seed's bits never depend on the other seeds of the call.
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from lt_teacher.engines import _kernels
from lt_teacher.engines._contract import SGDInputs

#: Steps per block: calls that split ``order`` at multiples of it give the same bits as one call.
BLOCK = 128

#: Largest cached Gram matrix X X^T (n^2 entries of the dtype of x): n <= 4096 in float32, 2896 in float64.
GRAM_BYTES = 64 * 2**20

_gram_cache: dict[tuple[int, int, int, tuple[int, ...], torch.dtype], tuple[weakref.ref[Tensor], Tensor]] = {}


def uses_blocks(x: Tensor) -> bool:
    """Whether the Gram matrix of ``x`` (n, d) fits in :data:`GRAM_BYTES`: the blocked path runs on it."""
    n = x.shape[0]
    return n * n * x.element_size() <= GRAM_BYTES


def gram(x: Tensor) -> Tensor:
    """X X^T (n, n) in the dtype of ``x``, computed once per tensor and contents and kept while ``x`` lives.

    The key is ``x``'s identity, its in-place version counter and its data pointer, so an in-place
    change of ``x`` (or a new tensor at a reused address) computes it afresh. Two matrices are kept
    at most (e.g. a training set and its float64 copy).
    """
    key = (id(x), x._version, x.data_ptr(), tuple(x.shape), x.dtype)
    hit = _gram_cache.get(key)
    if hit is not None and hit[0]() is x:
        return hit[1]
    for old in [k for k, (ref, _) in _gram_cache.items() if ref() is None or k[0] == key[0]]:
        del _gram_cache[old]
    while len(_gram_cache) >= 2:
        del _gram_cache[next(iter(_gram_cache))]
    value = torch.mm(x.detach(), x.detach().t())
    _gram_cache[key] = (weakref.ref(x), value)
    return value


def blocked_steps(p: SGDInputs, *, parallel: bool) -> np.ndarray:
    """Run the m steps of every seed of ``p`` (CPU tensors) in blocks of :data:`BLOCK`; return the (S,) loss sums."""
    weight = p.weight.detach()
    x = p.x.detach()
    num_seeds, rows, d = weight.shape
    m = p.order.shape[1]
    losses = np.zeros(num_seeds, dtype=np.float64)
    if m == 0:
        return losses
    g = gram(p.x).numpy()
    y = p.y.detach().numpy()
    lr, alpha, v = (np.asarray(values, dtype=np.float64) for values in (p.lr, p.alpha, p.v))
    length = min(BLOCK, m)
    xb_flat = torch.empty(num_seeds * length * d, dtype=x.dtype)
    pt_flat = torch.empty(num_seeds * length * rows, dtype=x.dtype)
    c_flat = torch.empty(num_seeds * length * rows, dtype=x.dtype)
    gb = np.empty((num_seeds, length, length), dtype=g.dtype)
    kernel: Callable[..., None] = _kernels.block_parallel if parallel else _kernels.block_serial
    for start in range(0, m, BLOCK):
        stop = min(m, start + BLOCK)
        size = stop - start
        idx = p.order[:, start:stop]
        xb = torch.index_select(x, 0, idx.reshape(-1), out=xb_flat[: num_seeds * size * d].view(num_seeds * size, d))
        xb = xb.view(num_seeds, size, d)
        pt = pt_flat[: num_seeds * size * rows].view(num_seeds, size, rows)
        c = c_flat[: num_seeds * size * rows].view(num_seeds, size, rows)
        for s in range(num_seeds):
            torch.mm(xb[s], weight[s].t(), out=pt[s])  # W_b x_j for every step j of the block
        kernel(pt.numpy(), g, idx.numpy(), y, lr, alpha, v, p.k_w, c.numpy(), gb, losses)
        for s in range(num_seeds):
            weight[s].addmm_(c[s].t(), xb[s])  # W_b + C^T X_B
    return losses
