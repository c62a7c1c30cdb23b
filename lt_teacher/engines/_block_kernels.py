"""Numba pass of the blocked formulation behind :func:`lt_teacher.engines.fused_sgd_steps`.

:mod:`lt_teacher.engines._blocked` drives it (torch's GEMMs do the rest; its docstring has the
algebra). Given the pre-activations at the start of a block as columns, ``ptt[:, j] = W_b x_j``
(copied to rows ``pt[j]``), each step computes its coefficients with
:func:`lt_teacher.engines._kernels._step` (the per-step scalars of the pair kernel: float64 scalars,
sigma'(0) = alpha, tiny coefficients applied as 0) and adds them, times the Gram entry x_j . x_l, to
the rows of the later steps l of the block, in step order (in groups of four steps: one pass over two
later rows applies four corrections to each, the same additions in the same order as four passes).
:func:`gather_rows` copies the block's examples X_B for the products. No fast-math.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lt_teacher.engines._kernels import _step


@njit(cache=True, fastmath=False, nogil=True)
def block_steps(
    ptt: np.ndarray, pt: np.ndarray, gram: np.ndarray, idx: np.ndarray, y: np.ndarray, lr: float, alpha: float, v: float, k_w: int, c: np.ndarray, gb: np.ndarray
) -> float:
    """The steps of one block of one seed, given ``ptt[:, j] = W_b x_j`` (2k, L); fills ``c`` (L, 2k); returns the loss sum.

    ``pt`` (L, 2k) is scratch: the pre-activations are first copied into its rows (a row per step, contiguous
    for the vector loops below).

    ``idx`` (L,) holds the block's example indices, ``gram`` (n, n) the Gram matrix of the training
    set. It releases the GIL: seeds run on several Python threads at once.

    Step j's pre-activations are W_j x_j = W_b x_j + sum_{i<j} c_i (x_i . x_j): once step j's
    coefficients c_j are known they are added, scaled by the Gram entries, to the rows ``pt[l]``
    (l > j) of the later steps, so each row receives its corrections in the order i = 0, 1, ... of
    the steps (in groups of four steps: one pass over a later row applies the four corrections, the
    same additions in the same order as four passes). A group whose coefficients are all 0 (the
    skip of tiny updates in ``_step``) adds nothing. ``gb`` (>= L, >= L) is scratch: the block's Gram
    entries are gathered into it first, in one pass of independent loads (the Gram matrix is larger
    than the caches close to the core).
    """
    length, rows = pt.shape
    for j in range(length):
        for r in range(rows):
            pt[j, r] = ptt[r, j]
    for j in range(length):
        row = gram[idx[j]]
        for l in range(j + 1, length):
            gb[j, l] = row[idx[l]]
    total = 0.0
    for j0 in range(0, length, 4):
        j1 = min(length, j0 + 4)
        moved = False
        for j in range(j0, j1):
            cj = c[j]
            total += _step(pt[j], y[idx[j]], lr, alpha, v, k_w, rows, cj)
            if _nonzero(cj):
                moved = True
                for l in range(j + 1, j1):
                    _axpy(pt[l], gb[j, l], cj)
        if moved and j1 == j0 + 4:
            for l in range(j1, length, 2):  # two later rows per pass: each c_j[r] loaded once for both
                _rank4_rows(pt, c, gb, j0, l, min(l + 1, length - 1))
    return total


@njit(cache=True, fastmath=False)
def _rank4_rows(pt: np.ndarray, c: np.ndarray, gb: np.ndarray, j0: int, l: int, m: int) -> None:
    """Apply steps j0, ..., j0 + 3 to the later rows l and m (l <= m; m == l updates row l once).

    pt[l] <- (((pt[l] + G_{j0,l} c_{j0}) + G_{j0+1,l} c_{j0+1}) + G_{j0+2,l} c_{j0+2}) + G_{j0+3,l} c_{j0+3},
    element by element in that order (the roundings of four single-step passes), and the same for
    row m. Both rows are read before either is written, so m == l writes the same value twice.
    """
    c0, c1, c2, c3 = c[j0], c[j0 + 1], c[j0 + 2], c[j0 + 3]
    g0, g1, g2, g3 = gb[j0, l], gb[j0 + 1, l], gb[j0 + 2, l], gb[j0 + 3, l]
    e0, e1, e2, e3 = gb[j0, m], gb[j0 + 1, m], gb[j0 + 2, m], gb[j0 + 3, m]
    pl, pm = pt[l], pt[m]
    for r in range(pt.shape[1]):
        a0, a1, a2, a3 = c0[r], c1[r], c2[r], c3[r]
        old_l, old_m = pl[r], pm[r]
        pl[r] = (((old_l + g0 * a0) + g1 * a1) + g2 * a2) + g3 * a3
        pm[r] = (((old_m + e0 * a0) + e1 * a1) + e2 * a2) + e3 * a3


@njit(cache=True, fastmath=False, nogil=True)
def gather_rows(x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """out[i] <- x[idx[i]] for every i."""
    for i in range(idx.shape[0]):
        src, dst = x[idx[i]], out[i]
        for t in range(src.shape[0]):
            dst[t] = src[t]


@njit(cache=True, fastmath=False)
def _nonzero(c: np.ndarray) -> bool:
    """Whether any entry of ``c`` is not 0."""
    for r in range(c.shape[0]):
        if c[r] != 0:
            return True
    return False


@njit(cache=True, fastmath=False)
def _axpy(p: np.ndarray, g: float, c: np.ndarray) -> None:
    """p <- p + g c, element by element."""
    for r in range(p.shape[0]):
        p[r] += g * c[r]
