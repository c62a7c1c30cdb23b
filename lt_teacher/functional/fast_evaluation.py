"""The evaluation pass at float32 cost, with every decision taken as in float64.

:func:`~lt_teacher.functional.evaluation.evaluate_prepared` computes H = X W^T in float64. Almost every
diagnostic of sections 5 and 6 uses H only through signs and comparisons (a neuron's side of a point,
Definition 6.2/6.3 with margin beta, Theorem 5.1's region |(w_bar - u_bar) . x| >= 2 r ||x||, sign N(x)),
and for those a float32 product suffices wherever its rounding error cannot reach the threshold.

:func:`evaluate_fast` computes H in float32 and a rigorous bound on its distance to the float64 value:
for a dot product of d terms, in any summation order, with or without fused multiply-adds,

    |fl32(x . w) - x . w| <= gamma_d sum_l |x_l w_l| <= gamma_d ||x|| ||w||,   gamma_d = d u / (1 - d u)

(Higham, *Accuracy and Stability of Numerical Algorithms*, eq. 3.5), u = 2^-24, plus 2.01 u ||x|| ||w||
when the inputs had to be rounded to float32 and the same bound with u = 2^-53 for the float64 product
the result is compared with. Every entry, and every derived quantity (N(x), the projection
(w_bar - u_bar) . x, w_hat . x - beta), whose decision the bound cannot settle marks its point; the
rows of those points are recomputed in float64 and replace the float32 rows. The returned
:class:`~lt_teacher.functional.evaluation.EvaluationBatch` therefore leads every statistic of
:mod:`lt_teacher.metrics` to the same counts and fractions as the float64 batch, at the cost of one
float32 GEMM plus O(n (k + d)) work. (Where a float64 result is itself within float64's rounding of a
threshold, as at an exact tie, the decision follows the float64 product of the recomputed row.)

N(x) (hence the margins q = y N(x), the losses in log space, the minimum margin) is always returned in
float64 precision, not float32: from the decided activation pattern, N(x) = x . (v sum_j s_j a_j w_j) with
a_j = 1 or alpha, one float64 vector per distinct pattern (few once training has separated the data).
When the patterns are many (more than n/4, as at a random initialization), or float32 leaves more than
n/4 points undecided, the batch is evaluated by the float64 pass instead (the same result; no faster).

Measured on this project's 2-core CPU (``benchmarks/monitor_overhead.py`` prints it), n = 2000, d = 784,
2k = 100, near the NAR: float32 X W^T 2.7 ms, the float64 pass 5.5 ms, this pass 11.2 ms. The float64
product costs only twice the float32 one on this CPU, and the O(n k) bookkeeping of the decisions plus the
O(n d) float64 N(x) cost more than the half product saved, so :class:`LinearTeacherMonitor` keeps the
float64 pass; this one is the exact building block for devices where float64 is far slower than float32.

Inputs outside float32's comfortable range (any nonzero |x_l| or |w_jl| outside [2^-50, 2^50]) are
evaluated entirely in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lt_teacher.functional.clustering import group_weights
from lt_teacher.functional.evaluation import EvaluationBatch, evaluate_prepared
from lt_teacher.functional.network import output_from_preactivations

__all__ = ["FastInputs", "evaluate_fast", "fast_inputs", "float32_error_factor"]

_U32 = 2.0**-24
_U64 = 2.0**-53
_RANGE = (2.0**-50, 2.0**50)
_ABS32 = 2.0**-120  # covers the absolute error of sums that fall below float32's normal range (d <= 2^29)
_SLACK = 2.0**-20  # relative rounding of the float32 decision arithmetic itself, per term


class FastInputs(NamedTuple):
    """A batch prepared once for :func:`evaluate_fast`: its float32 copy and whether that copy is exact."""

    x32: Tensor  # (n, d) float32
    exact: bool  # x32 holds x exactly (float32 data)
    in_range: bool  # every nonzero |x_l| in [2^-50, 2^50]


def _in_range(t: Tensor) -> bool:
    """Every nonzero |entry| in [2^-50, 2^50] (NaN fails)."""
    if t.numel() == 0:
        return True
    a = t.abs()
    largest = float(a.max())
    smallest = float(torch.where(a > 0, a, torch.full((), torch.inf, dtype=a.dtype, device=a.device)).min())
    return (largest == 0.0 or largest <= _RANGE[1]) and (smallest == torch.inf or smallest >= _RANGE[0])


def fast_inputs(x64: Tensor) -> FastInputs:
    """The float32 copy of a float64 batch and its exactness and range flags (O(n d), cache it per batch)."""
    x32 = x64.to(torch.float32)
    return FastInputs(x32, bool(torch.equal(x32.to(torch.float64), x64)), _in_range(x64))


def float32_error_factor(d: int, inputs_exact: bool) -> float:
    """c such that |H32 - H64| <= c ||x|| ||w|| for one entry of a float32 GEMM and a float64 one (see module doc)."""
    gamma32 = d * _U32 / (1.0 - d * _U32)
    gamma64 = d * _U64 / (1.0 - d * _U64)
    conversion = 0.0 if inputs_exact else 2.01 * _U32
    return (gamma32 + gamma64 + conversion) * (1.0 + 1e-6)


def _row_outputs(h: Tensor, k_w: int, alpha: float, v: float) -> Tensor:
    return output_from_preactivations(h[:, :k_w], h[:, k_w:], alpha, v)


def evaluate_fast(
    x64: Tensor,
    prepared: FastInputs,
    labels: Tensor,
    x_norm: Tensor,
    neurons: Tensor,
    k_w: int,
    alpha: float,
    v: float,
    *,
    radius: float | None = None,
    beta: float = 0.0,
    need_output: bool = True,
) -> tuple[EvaluationBatch, int]:
    """:func:`~lt_teacher.functional.evaluation.evaluate_prepared` at float32 cost, with the same decisions.

    Args:
        x64: (n, d) float64 points (bias coordinate included); ``prepared``: :func:`fast_inputs` of them.
        labels: (n,) +-1; x_norm: (n,) ||x|| (float64).
        neurons: ((k_w + k_u), d) float64 stacked [w; u].
        k_w: number of w-neurons; alpha, v: the slope and output weight v of Eq. (1).
        radius: r of section 5 when Theorem 5.1's region will be evaluated (its threshold 2 r ||x||).
        beta: the margin of Definitions 6.2/6.3 compared with w_hat . x.
        need_output: return N(x) in float64 precision (for margins and losses). When False, ``output``
            is N computed from the returned pre-activations: its sign is the float64 one, its value is not.

    Returns:
        The batch (float64 tensors; rows of undecidable points are exact float64 rows) and the number of
        points recomputed in float64 (n when the whole batch went through the float64 pass).
    """
    n, d = x64.shape
    if n == 0 or not prepared.in_range or not _in_range(neurons):
        return evaluate_prepared(x64, labels, x_norm, neurons, k_w, alpha, v), n
    neurons32 = neurons.to(torch.float32)
    exact = prepared.exact and bool(torch.equal(neurons32.to(torch.float64), neurons))
    h32 = prepared.x32 @ neurons32.T  # (n, K): the one O(n d k) product
    # The decisions are taken in float32 too, against bounds widened for float32's own rounding of them:
    # the bound's product (3 roundings), the means and sums over K (K u32 relative), and the float64 pass's.
    w_norms = neurons.norm(dim=1)  # (K,) float64
    factor = float32_error_factor(d, exact) * (1.0 + 2.0**-18)
    bound = (factor * x_norm).to(torch.float32)[:, None] * w_norms.to(torch.float32)[None, :] + _ABS32  # >= |h32 - H64|
    absh = h32.abs()
    undecided = (absh <= bound).any(dim=1)  # a neuron's side of the point
    if beta > 0:
        level = (beta * w_norms).to(torch.float32)  # beta ||w|| (w_hat . x >= beta  <=>  w . x >= beta ||w||)
        slack = bound + _SLACK * (absh + level)
        undecided |= ((h32 - level).abs() <= slack).any(dim=1)
        undecided |= ((h32 + level).abs() <= slack).any(dim=1)
    k = h32.shape[1]
    k_u = k - k_w
    rho_w, rho_u = group_weights(k_w, k_u)
    widen = 1.0 + 2.0**-10
    if radius is not None and k_w and k_u:  # the projection (w_bar - u_bar) . x, the mean over each group
        projection = rho_w * h32[:, :k_w].mean(dim=1) - rho_u * h32[:, k_w:].mean(dim=1)
        spread = widen * (rho_w * bound[:, :k_w].mean(dim=1) + rho_u * bound[:, k_w:].mean(dim=1)
                          + _SLACK * k * (rho_w * absh[:, :k_w].mean(dim=1) + rho_u * absh[:, k_w:].mean(dim=1)))
        undecided |= projection.abs() <= spread  # its sign (disagreement with sign N)
        threshold = (2.0 * radius * x_norm).to(torch.float32)  # Theorem 5.1: |(w_bar - u_bar) . x| >= 2 r ||x||
        undecided |= (projection.abs() - threshold).abs() <= spread + _SLACK * threshold
    output32 = _row_outputs(h32, k_w, alpha, v)
    output_bound = widen * v * (bound.sum(dim=1) + _SLACK * k * absh.sum(dim=1))
    undecided |= output32.abs() <= output_bound  # sign N(x), the accuracy and the Theorem 5.1 disagreement
    h = h32.to(torch.float64)

    rows = undecided.nonzero().squeeze(1)
    if rows.numel() * 4 > n:  # float32 decides too little here: the float64 pass is cheaper
        return evaluate_prepared(x64, labels, x_norm, neurons, k_w, alpha, v), n
    if rows.numel():
        h[rows] = x64[rows] @ neurons.T  # float64 where float32 cannot decide
    if not need_output:
        return EvaluationBatch(h[:, :k_w], h[:, k_w:], x_norm, labels, _row_outputs(h, k_w, alpha, v)), int(rows.numel())
    patterns, inverse = _activation_patterns(h > 0)  # (P, K), (n,): decided exactly
    if patterns.shape[0] * 4 > n:  # many activation patterns: N(x) from one float64 product
        return evaluate_prepared(x64, labels, x_norm, neurons, k_w, alpha, v), n
    # N(x) in float64 precision per activation pattern: N(x) = x . (v sum_j s_j a_j w_j) (Eq. 1)
    signs = torch.ones(h.shape[1], dtype=torch.float64, device=h.device)
    signs[k_w:] = -1.0
    slopes = torch.full(patterns.shape, alpha, dtype=torch.float64, device=h.device).masked_fill_(patterns, 1.0)  # a_j
    directions = (v * signs * slopes) @ neurons  # (P, d)
    output = (x64 @ directions.T).gather(1, inverse.unsqueeze(1)).squeeze(1)  # (n,): x_i . direction of its pattern
    if rows.numel():  # the recomputed points: exactly the float64 path's value
        output[rows] = _row_outputs(h[rows], k_w, alpha, v)
    return EvaluationBatch(h[:, :k_w], h[:, k_w:], x_norm, labels, output), int(rows.numel())


def _activation_patterns(positive: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct rows of a boolean (n, K) matrix and each row's index among them (bit-packed, via numpy)."""
    packed = np.packbits(positive.cpu().numpy(), axis=1)  # (n, ceil(K / 8)) uint8
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    index = torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(positive.device)
    return positive[torch.from_numpy(first).to(positive.device)], index
