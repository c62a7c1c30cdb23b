"""Per-example SGD in blocks of :data:`BLOCK` steps: two GEMMs per block and a small sequential part.

Within a block of B consecutive steps of one seed (examples x_0, ..., x_{B-1} in its visiting
order, W_b the weights at the start of the block), step j's weights are
W_j = W_b + sum_{i<j} c_i x_i^T (c_i the 2k step coefficients of step i), so

    W_j x_j = W_b x_j + sum_{i<j} c_i (x_i . x_j),     W_{b+1} = W_b + C^T X_B.

A block therefore costs: one GEMM P^T = W_b X_B^T (the pre-activations of all B steps at W_b; MKL
runs this orientation, 2k x B, about 7% faster per step than X_B W_b^T at d = 784, 2k = 100, B = 64), the
sequential coefficient pass of :func:`lt_teacher.engines._block_kernels.block_steps` (per step the scalar
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
from concurrent.futures import ThreadPoolExecutor

import numba
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
    """Run the m steps of every seed of ``p`` (CPU tensors) in blocks of :data:`BLOCK`; return the (S,) loss sums.

    Seeds run one after the other (each seed's W stays in the core's caches through its blocks), or
    with ``parallel`` on ``numba.get_num_threads()`` Python threads at once. torch runs single-threaded
    during the call (its thread count is restored afterwards): the products are small, and MKL's
    threads, waiting for each other at every product, made a step up to 40 times slower on a busy
    machine; it also makes the bits independent of ``torch.set_num_threads``.
    """
    num_seeds = p.weight.shape[0]
    losses = np.zeros(num_seeds, dtype=np.float64)
    if p.order.shape[1] == 0:
        return losses
    workers = min(num_seeds, numba.get_num_threads()) if parallel else 1
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = gram(p.x).numpy()
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                for s, loss in zip(range(num_seeds), pool.map(lambda s: _seed_steps(p, s, g, in_worker=True), range(num_seeds))):
                    losses[s] = loss
        else:
            for s in range(num_seeds):
                losses[s] = _seed_steps(p, s, g, in_worker=False)
    finally:
        torch.set_num_threads(previous)
    return losses


class _BlockViews:
    """The buffers of one block of ``size`` steps and the views the loop passes on, made once, not per block.

    X_B (size, d), filled by a numba row gather, and its transpose; P^T = (W_b x_j)_j (2k, size), the
    product; P (size, 2k), its transpose made and corrected by the numba pass; C (size, 2k), the step
    coefficients, and its transpose.
    """

    __slots__ = ("size", "xb", "xb_np", "xbt", "ptt", "ptt_np", "pt_np", "c", "ct", "c_np")

    def __init__(self, size: int, rows: int, d: int, dtype: torch.dtype) -> None:
        self.size = size
        self.xb = torch.empty(size, d, dtype=dtype)
        self.xb_np = self.xb.numpy()
        self.xbt = self.xb.t()
        self.ptt = torch.empty(rows, size, dtype=dtype)
        self.ptt_np = self.ptt.numpy()
        self.pt_np = np.empty((size, rows), dtype=self.ptt_np.dtype)
        self.c = torch.empty(size, rows, dtype=dtype)
        self.ct = self.c.t()
        self.c_np = self.c.numpy()


def _seed_steps(p: SGDInputs, s: int, g: np.ndarray, *, in_worker: bool) -> float:
    """The m steps of seed s, block by block; returns its loss sum. W[s] is updated in place."""
    if in_worker:
        torch.set_num_threads(1)  # MKL's thread count is per calling thread
    w = p.weight.detach()[s]
    x_np = p.x.detach().numpy()
    rows, d = w.shape
    order = p.order[s].numpy()
    y = p.y.detach().numpy()
    m = order.shape[0]
    length = min(BLOCK, m)
    block = _BlockViews(length, rows, d, w.dtype)
    gb = np.empty((length, length), dtype=block.pt_np.dtype)  # the block's Gram entries
    lr, alpha, v = p.lr[s], p.alpha[s], p.v[s]
    total = 0.0
    for start in range(0, m, BLOCK):
        stop = min(m, start + BLOCK)
        if stop - start < block.size:  # a shorter last block
            block = _BlockViews(stop - start, rows, d, w.dtype)
        idx = order[start:stop]
        _block_kernels.gather_rows(x_np, idx, block.xb_np)  # X_B (numba's copy: ~4% less time per step than index_select)
        torch.mm(w, block.xbt, out=block.ptt)  # W_b x_j for every step j of the block
        total += _block_kernels.block_steps(block.ptt_np, block.pt_np, g, idx, y, lr, alpha, v, p.k_w, block.c_np, gb)
        w.addmm_(block.ct, block.xb)  # W_b + C^T X_B
    return total
