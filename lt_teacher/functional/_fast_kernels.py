"""The per-entry part of :func:`~lt_teacher.functional.fast_evaluation.evaluate_fast`, one numba pass over H.

Given the float32 pre-activations H (n, K) of a batch and, per point, the bound e_i on
|h_ij / ||w_j|| - h64_ij / ||w_j|||, :func:`settle_entries` reads each entry once and

* computes g = w_hat . x = h / ||w|| (in float64, as h times 1 / ||w||: within a few float64 roundings of
  the quotient);
* takes every entry whose comparison float32 cannot settle -- |g| within the row's slack of 0, or
  (beta > 0) ||g| - beta| within it -- in float64 from the points and neurons (a dot product of
  d terms), writes it back into H rounded to float32, and compares its float64 value;
* records what Definitions 6.2 and 6.3 need of the entry: its sign (for the pairwise agreement
  counts of supplementary 17), the smallest and largest w_hat . x of each group per point (a group
  classifies a point alike with margin beta exactly when its extremes do), and per neuron the
  smallest y w_hat . x (w-group) or -y u_hat . x (u-group) over the points (the PAR minima).

Every comparison made from these records is therefore the float64 pass's: a settled float32 value
lies on the same side of 0 and of beta as the float64 one, and an unsettled entry is float64. The
formulas themselves -- which sides count, how the extremes and minima decide -- stay in
:mod:`lt_teacher.functional.agreement`; this pass only supplies their inputs.

The caller checks that every entry of H is finite first: the loops that only reduce (row extremes, sums of
magnitudes for the bounds) are then compiled without NaN and signed-zero semantics, which lets them use
vector instructions where LLVM can; a minimum or maximum does not depend on the order, and a sum of magnitudes reordered
stays within 2^-40 of itself (the bounds are widened by 2^-10). No other fast-math: products, quotients and
comparisons are IEEE.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=False)
def settle_entries(
    h: np.ndarray,
    x64: np.ndarray,
    neurons64: np.ndarray,
    norms64: np.ndarray,
    error: np.ndarray,
    slack_rel: float,
    beta: float,
    labels: np.ndarray,
    signs_w: np.ndarray,
    signs_u: np.ndarray,
    extremes: np.ndarray,
    par_min: np.ndarray,
    row_abs: np.ndarray,
) -> tuple[int, int]:
    """Settle every entry of ``h`` (n, K) float32 and record its sign, the row extremes and the PAR minima.

    Args:
        h: float32 pre-activations of the w-neurons (the first k_w columns) then the u-neurons; unsettled
            entries are replaced by their float64 value rounded to float32.
        x64, neurons64: the float64 points (n, d) and stacked neurons [w; u] (K, d) the entries come from.
        norms64: ||w_j|| (K,) float64, all > 0.
        error: e_i (n,) float64, the bound on |g_ij - h64_ij / ||w_j|||.
        slack_rel: relative rounding of the comparisons themselves (times max_j |g_ij| + beta).
        beta: the margin of Definitions 6.2/6.3.
        labels: y_i = +-1 (n,) float64.
        signs_w, signs_u: out (n, k_w) and (n, k_u) float32, the sign of w_hat . x in {-1, 0, 1}.
        extremes: out (n, 4) float64: min and max of w_hat . x over the w-group, then over the u-group.
        par_min: out (K,) float64: min over points of y w_hat . x (w-neurons), -y u_hat . x (u-neurons).
        row_abs: out (n,) float64: sum_j |h_ij| of the settled row (float32's rounding of the row's sums is
            within (K + 2) 2^-24 of it).

    Returns:
        (entries computed in float64, entries whose sign is 0). Every entry of ``h`` must be finite.
    """
    n, k = h.shape
    k_w = signs_w.shape[1]
    g = np.empty(k, dtype=np.float64)
    inverse = 1.0 / norms64
    for j in range(k):
        par_min[j] = np.inf
    recomputed, zeros = 0, 0
    for i in range(n):
        largest, smallest, total = _scan_row(h, i, inverse, g)
        slack = error[i] + slack_rel * (largest + beta)
        if smallest <= slack or (beta > 0 and _nearest(g, beta) <= slack):
            count, total = _settle_row(h, x64, neurons64, norms64, i, slack, beta, g, total)
            recomputed += count
        row_abs[i] = total
        c = labels[i]
        extremes[i, 0], extremes[i, 1], zeros_w = _record_group(g, 0, signs_w, i, c, par_min)
        extremes[i, 2], extremes[i, 3], zeros_u = _record_group(g, k_w, signs_u, i, -c, par_min)
        zeros += zeros_w + zeros_u
    return recomputed, zeros


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz", "reassoc"})
def _scan_row(h: np.ndarray, i: int, inverse: np.ndarray, g: np.ndarray) -> tuple[float, float, float]:
    """g_j = h_ij / ||w_j|| of point i (finite entries), and max |g|, min |g| and sum |h| over the row.

    (Rows and columns are passed as indices, not as array views: a view costs reference counting per row.)
    """
    largest, smallest, total = 0.0, np.inf, 0.0
    for j in range(h.shape[1]):
        value = np.float64(h[i, j])
        q = value * inverse[j]
        g[j] = q
        a = abs(q)
        largest = max(largest, a)
        smallest = min(smallest, a)
        total += abs(value)
    return largest, smallest, total


@njit(cache=True, nogil=True, fastmath=False)
def _nearest(g: np.ndarray, beta: float) -> float:
    """min_j ||g_j| - beta|."""
    nearest = np.inf
    for j in range(g.shape[0]):
        nearest = min(nearest, abs(abs(g[j]) - beta))
    return nearest


@njit(cache=True, nogil=True, fastmath=False)
def _settle_row(
    h: np.ndarray, x64: np.ndarray, neurons64: np.ndarray, norms64: np.ndarray, i: int, slack: float, beta: float,
    g: np.ndarray, total: float,
) -> tuple[int, float]:
    """Compute in float64 the entries of row i whose comparison with 0 or beta float32 cannot settle.

    Returns how many, and the row's sum_j |h_ij| with the new entries.
    """
    count = 0
    for j in range(g.shape[0]):
        a = abs(g[j])
        if a <= slack or (beta > 0 and abs(a - beta) <= slack):
            exact = 0.0
            for l in range(x64.shape[1]):
                exact += x64[i, l] * neurons64[j, l]
            total += abs(np.float32(exact)) - abs(h[i, j])
            h[i, j] = np.float32(exact)
            g[j] = exact / norms64[j]
            count += 1
    return count, total


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _record_group(
    g: np.ndarray, start: int, signs: np.ndarray, i: int, c: float, par_min: np.ndarray
) -> tuple[float, float, int]:
    """Signs (row i of ``signs``) and PAR minima (class c) of the neurons start, start + 1, ... of point i
    (finite values); returns min g, max g over them and how many are 0."""
    size = signs.shape[1]
    nonzero = np.float32(0.0)
    low, high = np.inf, -np.inf
    for m in range(size):
        gj = g[start + m]
        sign = np.float32(gj > 0) - np.float32(gj < 0)
        signs[i, m] = sign
        nonzero += abs(sign)
        par_min[start + m] = min(par_min[start + m], c * gj)
        low = min(low, gj)
        high = max(high, gj)
    return low, high, size - int(nonzero)


@njit(cache=True, nogil=True, fastmath=False)
def to_float32_checked(t: np.ndarray, out: np.ndarray, low: float, high: float) -> tuple[bool, bool]:
    """Round the float64 array ``t`` into ``out`` (float32, same size) in one pass.

    Returns whether every entry was a float32 number (the copy is exact) and whether every nonzero
    |entry| lies in [low, high] (False for NaN and +-inf).
    """
    flat, flat_out = t.ravel(), out.ravel()
    exact, in_range = True, True
    for i in range(flat.shape[0]):
        value = flat[i]
        rounded = np.float32(value)
        flat_out[i] = rounded
        exact &= np.float64(rounded) == value
        size = abs(value)
        in_range &= size == 0.0 or (size >= low and size <= high)
    return exact, in_range


@njit(cache=True, nogil=True, fastmath=False)
def undecided_points(
    output: np.ndarray,
    output_bound: np.ndarray,
    labels: np.ndarray,
    projection: np.ndarray,
    spread: np.ndarray,
    threshold: np.ndarray,
    slack_rel: float,
    undecided: np.ndarray,
) -> None:
    """Mark the points whose per-point decisions float32 cannot settle (``undecided``, (n,) bool, out).

    A point is undecided when |N(x)| <= its bound (the sign of N(x)); when ``projection`` has n entries,
    also when |(w_bar - u_bar) . x| <= ``spread`` (its sign) or ||(w_bar - u_bar) . x| - T| <= ``spread``
    + ``slack_rel`` T with T = ``threshold`` (Theorem 5.1's |(w_bar - u_bar) . x| >= 2 r ||x||); and when
    q - bound <= min over points of (q + bound), q = y N(x) (it can hold the smallest margin).
    """
    n = output.shape[0]
    lowest = np.inf
    region = projection.shape[0] == n
    for i in range(n):
        b = output_bound[i]
        flag = not abs(output[i]) > b  # also a NaN
        if region:
            a = abs(projection[i])
            flag = flag or not (a > spread[i] and abs(a - threshold[i]) > spread[i] + slack_rel * threshold[i])
        undecided[i] = flag
        lowest = min(lowest, labels[i] * output[i] + b)
    for i in range(n):
        if labels[i] * output[i] - output_bound[i] <= lowest:
            undecided[i] = True
