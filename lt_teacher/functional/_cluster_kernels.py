"""The O(k d) and O(k^2) loops of :func:`~lt_teacher.functional.clustering.cluster_radius`, one numba pass each.

A group of k neurons (k of 50 to 200, d of 784 in the paper) is small enough that eager PyTorch spends
most of its time on the fixed cost of each operation and on re-reading the group for every one (mean,
centred copy, its norms, the norms, the directions, each a pass over k x d float64): about 1.5 ms for the
two groups, against 0.25 ms for the one part that needs BLAS, the Gram matrix of the directions. Here the
group is read in three passes (sums for the mean; per row its distance from the mean, its norm and its
direction) and the largest angle is found from the Gram matrix in one loop over the pairs.

The formulas are those of :mod:`lt_teacher.functional.clustering` (section 5, supplementary 11.4), which
documents them; every sum is float64 in index order, IEEE (no fast-math), of the rows scaled by powers of
two (the group's for the mean, each row's own for its sums of squares) so that neurons of any magnitude
(1e-300 or 1e300, also in one group) give their distances, norms and directions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def power_of_two_scale(largest: float) -> float:
    """2^-e with e the exponent of ``largest`` (the largest |entry|), 1 for 0 or a non-finite value.

    Sums of squares are taken of the entries times this scale: an exact scaling (a power of two) that keeps them
    from underflowing or overflowing at any magnitude of the entries, and that changes no bit of a result where
    the unscaled sums would not have under- or overflowed.
    """
    if largest == 0.0 or not math.isfinite(largest):
        return 1.0
    return math.ldexp(1.0, -max(math.frexp(largest)[1], -1000))


@njit(cache=True, nogil=True)
def euclidean_norm(vector: np.ndarray) -> float:
    """||vector|| of a 1-D float64 array, without under- or overflow at any magnitude (:func:`power_of_two_scale`)."""
    largest = 0.0
    for entry in vector:
        largest = max(largest, abs(entry))
    scale = power_of_two_scale(largest)
    squares = 0.0
    for entry in vector:
        squares += (entry * scale) * (entry * scale)
    return math.sqrt(squares) / scale


_SMALL_SUM = 2.0**-900  # a sum of squares below this is taken again at its row's own scale (see group_geometry)


@njit(cache=True, nogil=True)
def group_geometry(rows: np.ndarray, mean: np.ndarray, distances: np.ndarray, directions: np.ndarray) -> int:
    """The mean of the rows, each row's distance from it, and the unit directions of the rows of norm > 0.

    Args:
        rows: (k, d) float64 neurons of one group.
        mean: (d,) written: the mean row.
        distances: (k,) written: ||row_i - mean||.
        directions: (k, d) written: row_i / ||row_i|| for the rows of norm > 0, packed in order in the first
            rows (a neuron of norm 0 has no direction and is left out).

    Returns:
        The number of directions written.
    """
    k, d = rows.shape
    largest = 0.0
    for i in range(k):
        for col in range(d):
            largest = max(largest, abs(rows[i, col]))
    scale = power_of_two_scale(largest)
    for col in range(d):
        mean[col] = 0.0
    for i in range(k):
        for col in range(d):
            mean[col] += rows[i, col] * scale
    for col in range(d):
        mean[col] /= k
    kept = 0
    for i in range(k):
        centred, squares = 0.0, 0.0
        for col in range(d):
            entry = rows[i, col] * scale
            difference = entry - mean[col]
            centred += difference * difference
            squares += entry * entry
        # A sum below 2^-900 may have lost bits to terms that underflowed (a row far smaller than the group's
        # largest entry, or very close to the mean); above it their loss is below 2^-100 of the sum. Such a norm is
        # taken again by euclidean_norm, at the row's own power of two, in the row's own units.
        distances[i] = math.sqrt(centred) / scale if centred >= _SMALL_SUM else euclidean_norm(rows[i] - mean / scale)
        if squares >= _SMALL_SUM:
            norm, unit = math.sqrt(squares), scale  # the row times scale has this norm
        else:
            norm, unit = euclidean_norm(rows[i]), 1.0
        if norm > 0.0:
            for col in range(d):
                directions[kept, col] = rows[i, col] * unit / norm
            kept += 1
    for col in range(d):
        mean[col] /= scale
    return kept


@njit(cache=True, nogil=True)
def largest_angle(directions: np.ndarray, cosines: np.ndarray, tolerance: float) -> float:
    """The largest angle between two of the unit ``directions`` (m, d), from their Gram matrix ``cosines`` (m, m).

    The pairs whose cosine is within ``tolerance`` of the smallest off the diagonal are the candidates (the
    tolerance bounds the Gram matrix's rounding error, so the pair of the largest angle is one of them); each
    candidate's angle is 2 atan2(||a - b||, ||a + b||), accurate near 0 and near pi. 0 for fewer than 2 directions.
    """
    m, d = directions.shape
    smallest = math.inf
    for i in range(m):
        for j in range(i + 1, m):
            smallest = min(smallest, cosines[i, j])
    largest = 0.0
    for i in range(m):
        for j in range(i + 1, m):
            if cosines[i, j] <= smallest + tolerance:
                apart = 0.0
                together = 0.0
                for col in range(d):
                    difference = directions[i, col] - directions[j, col]
                    total = directions[i, col] + directions[j, col]
                    apart += difference * difference
                    together += total * total
                largest = max(largest, 2.0 * math.atan2(math.sqrt(apart), math.sqrt(together)))
    return largest
