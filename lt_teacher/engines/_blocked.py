"""Per-example SGD in blocks of :data:`BLOCK` steps: two GEMMs per block and a small sequential part.

Within a block of B consecutive steps of one seed (examples x_0, ..., x_{B-1} in its visiting
order, W_b the weights at the start of the block), step j's weights are
W_j = W_b + sum_{i<j} c_i x_i^T (c_i the 2k step coefficients of step i), so

    W_j x_j = W_b x_j + sum_{i<j} c_i (x_i . x_j),     W_{b+1} = W_b + C^T X_B.

A block therefore costs: one GEMM P = X_B W_b^T (the pre-activations of all B steps at W_b), the
sequential coefficient pass of :func:`lt_teacher.engines._block_kernels.block_serial` (per step the scalar
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

from lt_teacher.engines import _block_kernels
from lt_teacher.engines._contract import SGDInputs

#: Steps per block: calls that split ``order`` at multiples of it give the same bits as one call.
BLOCK = 64

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
    change of ``x`` (or a new tensor at a reused address) computes it afresh. A change that bypasses
    the version counter (writing through ``x.data`` or ``x.numpy()``) is not seen. Two matrices are
    kept at most (e.g. a training set and its float64 copy); a matrix is dropped when its ``x`` is.
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
    _gram_cache[key] = (weakref.ref(x, lambda _: _gram_cache.pop(key, None)), value)  # freed with x
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
    order = p.order.numpy()
    kernel: Callable[..., None] = _block_kernels.block_parallel if parallel else _block_kernels.block_serial
    buffers = _BlockBuffers(weight, min(BLOCK, m))
    for start in range(0, m, BLOCK):
        stop = min(m, start + BLOCK)
        if stop - start != buffers.length:  # the last, shorter block
            buffers = _BlockBuffers(weight, stop - start)
        torch.index_select(x, 0, p.order[:, start:stop].reshape(-1), out=buffers.xb_rows)
        for xb_s, wt_s, pt_s in buffers.forward:
            torch.mm(xb_s, wt_s, out=pt_s)  # W_b x_j for every step j of the block
        kernel(buffers.pt_np, g, order[:, start:stop], y, lr, alpha, v, p.k_w, buffers.c_np, buffers.gb, losses)
        for w_s, ct_s, xb_s in buffers.update:
            w_s.addmm_(ct_s, xb_s)  # W_b + C^T X_B
    return losses


class _BlockBuffers:
    """Scratch of one block length for all seeds, and the per-seed views the products take (made once per call)."""

    def __init__(self, weight: Tensor, length: int) -> None:
        num_seeds, rows, d = weight.shape
        self.length = length
        self.xb_rows = torch.empty(num_seeds * length, d, dtype=weight.dtype)  # X_B of every seed, stacked
        xb = self.xb_rows.view(num_seeds, length, d)
        pt = torch.empty(num_seeds, length, rows, dtype=weight.dtype)  # W_b x_j, corrected in place
        c = torch.empty(num_seeds, length, rows, dtype=weight.dtype)  # the step coefficients
        self.pt_np, self.c_np = pt.numpy(), c.numpy()
        self.gb = np.empty((num_seeds, length, length), dtype=self.pt_np.dtype)  # the block's Gram entries
        self.forward = [(xb[s], weight[s].t(), pt[s]) for s in range(num_seeds)]
        self.update = [(weight[s], c[s].t(), xb[s]) for s in range(num_seeds)]
