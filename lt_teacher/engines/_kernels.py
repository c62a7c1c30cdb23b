"""Numba kernels behind :func:`lt_teacher.engines.fused_sgd_steps`.

Compiled with ``fastmath=False``: no reassociation and no fused multiply-add, so a result
depends only on the inputs and the IEEE operations written here, never on the SIMD width
of the machine. To let LLVM vectorize anyway, each seed's W is copied into a transposed,
zero-padded scratch ``wt`` of shape (d, K_pad): a dot product h_j = w_j . x then
accumulates *across rows* (``h[j] += wt[i, j] * x[i]`` for i = 0, 1, ...), a loop over j
with no reduction in it, and each h_j is still summed in the plain sequential order.

The arithmetic of a step is that of the paper's network (section 3, Eq. 1) and per-example
loss (Eq. 2):

    h_j = w_j . x,  N = v * (sum_{j < k_w} sigma(h_j) - sum_{j >= k_w} sigma(h_j)),
    q = y N,  loss = log(1 + e^{-q}),  w_j <- w_j + c_j x,
    c_j = lr * v * y * sigmoid(-q) * s_j * sigma'(h_j),  s_j = +1 (w-neuron) or -1 (u-neuron),

with sigma'(h) = 1 for h > 0 and alpha otherwise (sigma'(0) = alpha). Vector arithmetic runs in
the dtype of W; the per-step scalars q -> (loss, sigmoid(-q), c_j) run in float64 and the
loss is accumulated in float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Columns of the transposed scratch are padded to a multiple of this, so the vector loop
# over neurons has no scalar remainder (8 float32 = one 256-bit register).
LANES = 8


@njit(cache=True, fastmath=False)
def _softplus_neg(q: float) -> float:
    """log(1 + e^{-q}) without overflow or cancellation, for any finite or infinite q."""
    if q >= 0.0:
        return math.log1p(math.exp(-q))
    return -q + math.log1p(math.exp(q))


@njit(cache=True, fastmath=False)
def _sigmoid_neg(q: float) -> float:
    """sigmoid(-q) = 1 / (1 + e^{q}) without overflow, in [0, 1]."""
    if q >= 0.0:
        e = math.exp(-q)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(q))


@njit(cache=True, fastmath=False)
def _forward(wt, xb, h):  # type: ignore[no-untyped-def]
    """h = W xb with W stored transposed: wt (d, K_pad), h (K_pad,)."""
    d, kp = wt.shape
    for j in range(kp):
        h[j] = 0
    for i in range(d):
        b = xb[i]
        for j in range(kp):
            h[j] += wt[i, j] * b


@njit(cache=True, fastmath=False)
def _update(wt, c, xa):  # type: ignore[no-untyped-def]
    """W <- W + c xa^T (rank-1 SGD step) with W stored transposed."""
    d, kp = wt.shape
    for i in range(d):
        a = xa[i]
        for j in range(kp):
            wt[i, j] = wt[i, j] + c[j] * a


@njit(cache=True, fastmath=False)
def _update_forward(wt, c, xa, xb, h):  # type: ignore[no-untyped-def]
    """W <- W + c xa^T and then h = W xb, in one pass over W.

    Two input coordinates per iteration keep h_j in a register for two of its sequential
    additions (same order, same result as ``_update`` followed by ``_forward``).
    """
    d, kp = wt.shape
    for j in range(kp):
        h[j] = 0
    d2 = d - d % 2
    for i in range(0, d2, 2):
        a0 = xa[i]
        a1 = xa[i + 1]
        b0 = xb[i]
        b1 = xb[i + 1]
        for j in range(kp):
            cj = c[j]
            w0 = wt[i, j] + cj * a0
            w1 = wt[i + 1, j] + cj * a1
            wt[i, j] = w0
            wt[i + 1, j] = w1
            h[j] = (h[j] + w0 * b0) + w1 * b1
    for i in range(d2, d):
        a = xa[i]
        b = xb[i]
        for j in range(kp):
            w = wt[i, j] + c[j] * a
            wt[i, j] = w
            h[j] += w * b


@njit(cache=True, fastmath=False)
def _seed_steps(w, x, y, order, lr, alpha, v, k_w, wt, h, c):  # type: ignore[no-untyped-def]
    """Run the SGD steps of one seed; w (2k, d) is updated in place. Returns the summed loss.

    ``wt`` (d, K_pad), ``h`` and ``c`` (K_pad,) are scratch buffers of the dtype of ``w``.
    """
    rows, d = w.shape
    kp = wt.shape[1]
    m = order.shape[0]
    if m == 0:
        return 0.0
    zero = w.dtype.type(0)
    alpha_t = w.dtype.type(alpha)
    v_t = w.dtype.type(v)
    for i in range(d):
        for j in range(rows):
            wt[i, j] = w[j, i]
        for j in range(rows, kp):
            wt[i, j] = zero
    for j in range(kp):
        c[j] = zero  # padded columns keep c = 0, so they stay 0 and never reach N

    _forward(wt, x[order[0]], h)
    total = 0.0
    for t in range(m):
        idx = order[t]
        # N(x) of Eq. (1) from the pre-activations h = W x (in the dtype of W).
        s_w = zero
        for j in range(k_w):
            hj = h[j]
            s_w += hj if hj > 0 else alpha_t * hj
        s_u = zero
        for j in range(k_w, rows):
            hj = h[j]
            s_u += hj if hj > 0 else alpha_t * hj
        label = y[idx]
        q = float(label * (v_t * (s_w - s_u)))
        total += _softplus_neg(q)
        # -dl/dW_j = y sigmoid(-q) * (+-v) sigma'(h_j) x; the step adds lr times it.
        g = lr * v * float(label) * _sigmoid_neg(q)
        g_pos = w.dtype.type(g)
        g_neg = w.dtype.type(g * alpha)
        for j in range(k_w):
            c[j] = g_pos if h[j] > 0 else g_neg
        for j in range(k_w, rows):
            c[j] = -g_pos if h[j] > 0 else -g_neg
        if t + 1 < m:
            _update_forward(wt, c, x[idx], x[order[t + 1]], h)
        else:
            _update(wt, c, x[idx])

    for j in range(rows):
        for i in range(d):
            w[j, i] = wt[i, j]
    return total


@njit(cache=True, fastmath=False)
def sgd_steps_serial(weight, x, y, order, lr, alpha, v, k_w, losses):  # type: ignore[no-untyped-def]
    """All seeds one after the other on the calling thread; ``losses`` (S,) float64 receives the sums."""
    num_seeds, rows, d = weight.shape
    kp = -(-rows // LANES) * LANES
    wt = np.empty((d, kp), weight.dtype)
    h = np.empty(kp, weight.dtype)
    c = np.empty(kp, weight.dtype)
    for s in range(num_seeds):
        losses[s] = _seed_steps(weight[s], x, y, order[s], lr, alpha, v, k_w, wt, h, c)


@njit(cache=True, fastmath=False, parallel=True)
def sgd_steps_parallel(weight, x, y, order, lr, alpha, v, k_w, losses):  # type: ignore[no-untyped-def]
    """Seeds spread over numba's threads (``numba.set_num_threads``); same per-seed arithmetic."""
    num_seeds, rows, d = weight.shape
    kp = -(-rows // LANES) * LANES
    for s in prange(num_seeds):
        wt = np.empty((d, kp), weight.dtype)
        h = np.empty(kp, weight.dtype)
        c = np.empty(kp, weight.dtype)
        losses[s] = _seed_steps(weight[s], x, y, order[s], lr, alpha, v, k_w, wt, h, c)
