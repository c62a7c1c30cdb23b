"""Numba kernels behind :func:`lt_teacher.engines.fused_sgd_steps`.

The arithmetic of a step is that of the paper's network (section 3, Eq. 1) and per-example
loss (Eq. 2):

    h_j = w_j . x,  N = v * (sum_{j < k_w} sigma(h_j) - sum_{j >= k_w} sigma(h_j)),
    q = y N,  loss = log(1 + e^{-q}),  w_j <- w_j + c_j x,
    c_j = lr * v * y * sigmoid(-q) * s_j * sigma'(h_j),  s_j = +1 (w-neuron) or -1 (u-neuron),

with sigma'(h) = 1 for h > 0 and alpha otherwise (sigma'(0) = alpha). Vector arithmetic runs in
the dtype of W; the per-step scalars q -> (loss, sigmoid(-q), c_j) run in float64, and the
loss is accumulated in float64. A coefficient c_j below 2^-66 (float32) or 2^-962 (float64) is
applied as 0: it cannot move a weight above 2^-40 |x|, and subnormal arithmetic would slow the
sweep tenfold (large margins, e.g. the paper's large initialization).

``_step`` (the per-step scalars) is shared with the numba pass of the blocked formulation
(:mod:`lt_teacher.engines._block_kernels`, driven by :mod:`lt_teacher.engines._blocked`), the fast
path for n up to a few thousand. The pair kernel here, ``sgd_steps_serial`` / ``sgd_steps_parallel``,
runs when the Gram matrix of the training set is too large to keep. It uses no fast-math (no
reassociation, no fused multiply-add), so its results depend only on the inputs, never on the SIMD
width of the machine. How it is made fast:

- Each seed's W is copied into a transposed, zero-padded scratch ``wt`` (d, K_pad). A dot
  product h_j = w_j . x then accumulates across rows (``h[j] += wt[i, j] * x[i]``, i = 0, 1, ...):
  a loop over j with no reduction in it, which LLVM vectorizes, while each h_j is still summed
  in the plain sequential order.
- The cost of a step is one read-modify-write sweep over W (313 KB at d = 784, 2k = 100 in
  float32, more than L1 holds). One sweep serves two steps: it applies the pending updates of
  steps t and t + 1 (element by element, in that order: the same roundings as two sweeps) and
  computes h = W x_{t+2} and p = W x_{t+3} for the new W, plus G = x_{t+2} . x_{t+3}. Step t + 2
  uses h; then step t + 3 uses W^{(t+3)} x_{t+3} = p + c^{(t+2)} G, exact in real arithmetic
  (W^{(t+3)} = W^{(t+2)} + c^{(t+2)} x_{t+2}^T), so every second pre-activation vector differs
  from a direct dot product only by rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Columns of the transposed scratch are padded to a multiple of this, so the vector loop
# over neurons has no scalar remainder (8 float32 = one 256-bit register).
LANES = 8


@njit(cache=True, fastmath=False)
def _logistic(q: float) -> tuple[float, float]:
    """(sigmoid(-q), log(1 + e^{-q})) from one exponential, without overflow or cancellation, for any q.

    With e = e^{-|q|} in (0, 1]: sigmoid(-q) = e / (1 + e) for q >= 0 and 1 / (1 + e) otherwise;
    log(1 + e^{-q}) = log1p(e) for q >= 0 and -q + log1p(e) otherwise (the same operations as
    evaluating each from its own exponential, so the same bits, and one call of exp instead of two).
    A NaN q gives (NaN, NaN).
    """
    e = math.exp(-abs(q))
    if q >= 0.0:
        return e / (1.0 + e), math.log1p(e)
    return 1.0 / (1.0 + e), -q + math.log1p(e)


@njit(cache=True, fastmath=False)
def _tiny_update(h: np.ndarray) -> float:
    """The smallest step coefficient applied: 2^-66 in float32, 2^-962 in float64 (2^60 x the smallest normal)."""
    if h.itemsize == 4:
        return 2.0**-66
    return 2.0**-962


@njit(cache=True, fastmath=False)
def _step(h: np.ndarray, label: float, lr: float, alpha: float, v: float, k_w: int, rows: int, c: np.ndarray) -> float:
    """One example: from its pre-activations ``h`` fill the step coefficients ``c[:rows]``; return l(q).

    W <- W + c x^T is then the SGD step W - lr dl/dW of section 3.
    """
    zero = h.dtype.type(0)
    alpha_t = h.dtype.type(alpha)
    s_w = zero
    for j in range(k_w):
        hj = h[j]
        s_w += hj if hj > 0 else alpha_t * hj
    s_u = zero
    for j in range(k_w, rows):
        hj = h[j]
        s_u += hj if hj > 0 else alpha_t * hj
    # q = y N(x), Eq. (1), in the network's dtype; the scalars from here on are float64 (numba's float() of a
    # float32 is a float32: np.float64 widens it, so that l(q) and sigmoid(-q) do not underflow at q ~ 104)
    q = np.float64(label * (h.dtype.type(v) * (s_w - s_u)))
    sigmoid, loss = _logistic(q)
    g = lr * v * np.float64(label) * sigmoid  # -lr dl/dN * v
    g_pos = h.dtype.type(g)
    g_neg = h.dtype.type(g * alpha)
    # A coefficient this small (sigmoid(-q) underflowing at large margins, e.g. a large initialization)
    # moves no weight above 2^-40 |x| and would make the sweep run on subnormal numbers, which cost
    # ~100 cycles per operation on x86: such updates are skipped (c = 0).
    tiny = _tiny_update(h)
    if abs(g_pos) < tiny:
        g_pos = zero
    if abs(g_neg) < tiny:
        g_neg = zero
    for j in range(k_w):
        c[j] = g_pos if h[j] > 0 else g_neg
    for j in range(k_w, rows):
        c[j] = -g_pos if h[j] > 0 else -g_neg
    return loss


@njit(cache=True, fastmath=False)
def _sweep(
    wt: np.ndarray, c1: np.ndarray, x1: np.ndarray, c2: np.ndarray, x2: np.ndarray, xa: np.ndarray, xb: np.ndarray, h: np.ndarray, p: np.ndarray
) -> float:
    """One pass over W (stored transposed, wt (d, K_pad)): two updates, then two forwards.

    W <- (W + c1 x1^T) + c2 x2^T element by element; then h = W xa and p = W xb, each summed
    sequentially over the input coordinates. Returns xa . xb (float64). Two coordinates per
    iteration keep h_j and p_j in registers for two of their additions (same order).
    """
    d, kp = wt.shape
    for j in range(kp):
        h[j] = 0
        p[j] = 0
    gram = 0.0
    d2 = d - d % 2
    for i in range(0, d2, 2):
        a0 = x1[i]
        a1 = x1[i + 1]
        e0 = x2[i]
        e1 = x2[i + 1]
        b0 = xa[i]
        b1 = xa[i + 1]
        f0 = xb[i]
        f1 = xb[i + 1]
        gram += np.float64(b0) * np.float64(f0)
        gram += np.float64(b1) * np.float64(f1)
        for j in range(kp):
            c1j = c1[j]
            c2j = c2[j]
            w0 = (wt[i, j] + c1j * a0) + c2j * e0
            w1 = (wt[i + 1, j] + c1j * a1) + c2j * e1
            wt[i, j] = w0
            wt[i + 1, j] = w1
            h[j] = (h[j] + w0 * b0) + w1 * b1
            p[j] = (p[j] + w0 * f0) + w1 * f1
    for i in range(d2, d):
        a0 = x1[i]
        e0 = x2[i]
        b0 = xa[i]
        f0 = xb[i]
        gram += np.float64(b0) * np.float64(f0)
        for j in range(kp):
            w0 = (wt[i, j] + c1[j] * a0) + c2[j] * e0
            wt[i, j] = w0
            h[j] += w0 * b0
            p[j] += w0 * f0
    return gram


@njit(cache=True, fastmath=False)
def _seed_steps(
    w: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
    lr: float,
    alpha: float,
    v: float,
    k_w: int,
    wt: np.ndarray,
    c1: np.ndarray,
    c2: np.ndarray,
    h: np.ndarray,
    p: np.ndarray,
) -> float:
    """Run the SGD steps of one seed; w (2k, d) is updated in place. Returns the summed loss.

    ``wt`` (d, K_pad) and ``c1``, ``c2``, ``h``, ``p`` (K_pad,) are scratch buffers of the
    dtype of ``w``.
    """
    rows, d = w.shape
    kp = wt.shape[1]
    m = order.shape[0]
    if m == 0:
        return 0.0
    zero = w.dtype.type(0)
    for i in range(d):
        for j in range(rows):
            wt[i, j] = w[j, i]
        for j in range(rows, kp):
            wt[i, j] = zero
    for j in range(kp):  # padded columns keep c = 0, so they stay 0 and never reach N
        c1[j] = zero
        c2[j] = zero

    # Invariant at the top of the loop: wt = W^{(t)}, h = W^{(t)} x_t, p = W^{(t)} x_{t+1},
    # gram = x_t . x_{t+1} (x_s short for x[order[s]]; x_{t+1} := x_t when t + 1 = m).
    x_t = x[order[0]]
    x_u = x[order[min(1, m - 1)]]
    gram = _sweep(wt, c1, x_t, c2, x_u, x_t, x_u, h, p)  # zero updates: forward only
    total = 0.0
    t = 0
    while True:
        x_t = x[order[t]]
        total += _step(h, y[order[t]], lr, alpha, v, k_w, rows, c1)
        if t + 1 == m:  # last step: apply it alone (c2 = 0 from the start or the line below)
            for j in range(rows):
                c2[j] = zero
            _sweep(wt, c1, x_t, c2, x_t, x_t, x_t, h, p)
            break
        x_u = x[order[t + 1]]
        g_t = w.dtype.type(gram)
        for j in range(rows):
            h[j] = p[j] + c1[j] * g_t  # W^{(t+1)} x_{t+1}
        total += _step(h, y[order[t + 1]], lr, alpha, v, k_w, rows, c2)
        x_a = x[order[min(t + 2, m - 1)]]
        x_b = x[order[min(t + 3, m - 1)]]
        gram = _sweep(wt, c1, x_t, c2, x_u, x_a, x_b, h, p)
        t += 2
        if t == m:
            break

    for j in range(rows):
        for i in range(d):
            w[j, i] = wt[i, j]
    return total


@njit(cache=True, fastmath=False)
def _scratch(rows: int, d: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """wt (d, K_pad), c1, c2, h, p (K_pad,) with K_pad = 2k rounded up to a multiple of LANES."""
    kp = -(-rows // LANES) * LANES
    return (
        np.empty((d, kp), dtype),
        np.empty(kp, dtype),
        np.empty(kp, dtype),
        np.empty(kp, dtype),
        np.empty(kp, dtype),
    )


@njit(cache=True, fastmath=False)
def sgd_steps_serial(
    weight: np.ndarray, x: np.ndarray, y: np.ndarray, order: np.ndarray, lr: np.ndarray, alpha: np.ndarray, v: np.ndarray, k_w: int, losses: np.ndarray
) -> None:
    """All seeds one after the other on the calling thread; ``losses`` (S,) float64 receives the sums.

    ``lr``, ``alpha``, ``v``: (S,) float64, the hyper-parameters of each network.
    """
    num_seeds, rows, d = weight.shape
    wt, c1, c2, h, p = _scratch(rows, d, weight.dtype)
    for s in range(num_seeds):
        losses[s] = _seed_steps(weight[s], x, y, order[s], lr[s], alpha[s], v[s], k_w, wt, c1, c2, h, p)


@njit(cache=True, fastmath=False, parallel=True)
def sgd_steps_parallel(
    weight: np.ndarray, x: np.ndarray, y: np.ndarray, order: np.ndarray, lr: np.ndarray, alpha: np.ndarray, v: np.ndarray, k_w: int, losses: np.ndarray
) -> None:
    """Seeds spread over numba's threads (``numba.set_num_threads``); same per-seed arithmetic."""
    num_seeds, rows, d = weight.shape
    for s in prange(num_seeds):
        wt, c1, c2, h, p = _scratch(rows, d, weight.dtype)
        losses[s] = _seed_steps(weight[s], x, y, order[s], lr[s], alpha[s], v[s], k_w, wt, c1, c2, h, p)
