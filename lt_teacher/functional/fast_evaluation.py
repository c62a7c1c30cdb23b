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
the result is compared with. Divided by ||w_j||, the bound e_i is one number per point.

Two kinds of decisions follow, and each is settled where it lives:

* Per entry (Definitions 6.2/6.3 and the pairwise agreement of supplementary 17 read H only through the
  side of 0 and of beta that each w_hat . x lies on): one numba pass
  (:func:`lt_teacher.functional._fast_kernels.settle_entries`) reads every entry once, computes in float64
  the few entries within e_i (plus the comparisons' own rounding) of 0 or beta -- single dot products,
  not whole points -- and records each entry's sign, each point's extremes per group and each neuron's
  PAR minimum. The agreement and PAR statistics are then exactly the float64 pass's.
* Per point: sign N(x) (accuracy, Theorem 5.1's disagreement), the sign of (w_bar - u_bar) . x and
  |(w_bar - u_bar) . x| >= 2 r ||x||, and which points can hold the smallest margin (Eq. 4). These use
  sums over all K neurons, computed in float32 with their own bounds; every point one of them cannot
  settle is recomputed in float64 (its row of H), so the region counts and the accuracy are exact and the
  smallest margin is a float64 value.

(Where a float64 result is itself within float64's rounding of a threshold the decision follows the
float64 value computed, a dot product in order or a row of a float64 product; inputs built in exact
arithmetic, as exact ties are, give the same value in any order.)

N(x) of the other points is Eq. (1) of the float32 pre-activations: float32-accurate, within
:func:`output_error_bound` plus (K + 3) 2^-24 v sum_j |h_j| plus K (1 + v) 2^-149 (products alpha h and
v sigma(h) that fall below float32's normal range, whatever v) of the float64 value, so log(n L) (hence the
loss, log loss and smoothed margin of Eq. 5) is within the largest of those bounds (|d log l(q) / dq| <= 1).
When more than n/4 points stay undecided the batch goes through the float64 pass instead.
:class:`~lt_teacher.evaluator.DiagnosticsEvaluator` uses this pass with ``precision="float32"`` (or
``"auto"`` on a float32 network); ``benchmarks/monitor_overhead.py`` measures it against the float64 pass.

Under flush-to-zero (``torch.set_flush_denormal(True)``) the whole batch takes the float64 pass. Inputs outside
float32's comfortable range (neurons that are not float32 numbers with a nonzero |w_jl|
outside [2^-50, 2^50], any such |x_l|, zero-norm neurons, or a float32 overflow) are evaluated entirely in
float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lt_teacher._validation import all_finite

from lt_teacher.functional._fast_kernels import settle_entries, to_float32_checked, undecided_points
from lt_teacher.functional._numerics import row_norms
from lt_teacher.functional.agreement import PARStatisticsState, _agreement_state, group_agrees_from_extremes, sign_agreement_counts
from lt_teacher.functional.clustering import _region_state, group_weights, linear_projection, linear_projection_weights, region_threshold
from lt_teacher.functional.evaluation import BatchStatistics, evaluate_statistics
from lt_teacher.functional.margins import _margin_update
from lt_teacher.functional.network import leaky_relu, output_from_activations, output_from_preactivations, signed_output_weights

__all__ = ["FastEvaluation", "FastInputs", "evaluate_fast", "fast_inputs", "float32_error_factor", "output_error_bound"]

_U32 = 2.0**-24
_U64 = 2.0**-53
_RANGE = (2.0**-50, 2.0**50)
_ABS32 = 2.0**-120  # covers the absolute error of sums that fall below float32's normal range (d <= 2^29)
_TINY32 = 2.0**-149  # float32's smallest subnormal: twice the absolute error of a product that underflows
_SLACK = 2.0**-20  # relative rounding of the float32 decision arithmetic itself, per term
_WIDEN = 1.0 + 2.0**-10  # the bounds' own float32 rounding
_EMPTY = torch.empty(0, dtype=torch.float64)


class FastInputs(NamedTuple):
    """A batch prepared once for :func:`evaluate_fast`: its float32 copy and whether that copy is exact."""

    x32: Tensor  # (n, d) float32
    exact: bool  # x32 holds x exactly (float32 data)
    in_range: bool  # every nonzero |x_l| in [2^-50, 2^50]


def _float32_copy(t: Tensor) -> tuple[Tensor, bool, bool]:
    """``t`` rounded to float32, whether that is exact, and whether every nonzero |entry| is in [2^-50, 2^50]."""
    t64 = t.detach().to(torch.float64).contiguous()
    t32 = torch.empty(t64.shape, dtype=torch.float32)
    if t64.device.type != "cpu":  # only the CPU pass uses these; elsewhere the float64 pass decides
        return t32, False, False
    exact, in_range = to_float32_checked(t64.numpy(), t32.numpy(), *_RANGE)
    return t32, bool(exact), bool(in_range)


def fast_inputs(x64: Tensor) -> FastInputs:
    """The float32 copy of a float64 batch and its exactness and range flags (O(n d), cache it per batch)."""
    return FastInputs(*_float32_copy(x64))


def float32_error_factor(d: int, inputs_exact: bool) -> float:
    """c such that |H32 - H64| <= c ||x|| ||w|| for one entry of a float32 GEMM and a float64 one (see module doc)."""
    gamma32 = d * _U32 / (1.0 - d * _U32)
    gamma64 = d * _U64 / (1.0 - d * _U64)
    conversion = 0.0 if inputs_exact else 2.01 * _U32
    return (gamma32 + gamma64 + conversion) * (1.0 + 1e-6)


def output_error_bound(x_norm: Tensor, neuron_norms: Tensor, d: int, v: float, inputs_exact: bool) -> Tensor:
    """Per point, a bound on |N(x) - N64(x)| from the pre-activations' error alone (sigma is 1-Lipschitz).

    ``v (c ||x|| sum_j ||w_j|| + K 2^-120)`` with c of :func:`float32_error_factor`; float64, (n,).
    :func:`evaluate_fast` adds the float32 rounding of Eq. (1)'s sums, (K + 3) 2^-24 v sum_j |h_j|, and of its products
    that underflow, K (1 + v) 2^-149.
    """
    factor = float32_error_factor(d, inputs_exact) * _WIDEN
    return v * (factor * x_norm * float(neuron_norms.sum()) + neuron_norms.numel() * _ABS32) * (1.0 + 2.0**-20)


class FastEvaluation(NamedTuple):
    """What :func:`evaluate_fast` computes of one batch of points.

    Attributes:
        statistics: the sufficient statistics of every requested metric over all the points, with every
            count and decision equal to those of the float64 pass (:func:`~lt_teacher.functional.evaluation.batch_statistics`).
        output: N(x) of every point (n,) float64: float64 for the recomputed points, float32-accurate
            (within :func:`output_error_bound` plus (K + 3) 2^-24 v sum_j |h_j| plus K (1 + v) 2^-149) for the others.
        recomputed: the number of points evaluated in float64 (n when the whole batch went through float64).
        entries: the number of single pre-activations computed in float64 by the entry pass.
    """

    statistics: BatchStatistics
    output: Tensor
    recomputed: int
    entries: int


def _float64_pass(
    x64: Tensor, labels: Tensor, x_norm: Tensor, neurons: Tensor, k_w: int, alpha: float, v: float,
    radius: Tensor | None, beta: float, parts: dict[str, bool],
) -> FastEvaluation:
    statistics, batch = evaluate_statistics(x64, labels, x_norm, neurons, k_w, alpha, v, radius=radius, beta=beta, **parts)
    return FastEvaluation(statistics, batch.output, x64.shape[0], 0)


def _ieee_float32_products() -> bool:
    """Whether float32 matrix products are IEEE float32 ones, which the error bound assumes (not TF32 or bf16)."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    matmul = getattr(torch.backends.mkldnn, "matmul", None)
    return getattr(matmul, "fp32_precision", "none") in ("none", "ieee")


def _gradual_underflow() -> bool:
    """Whether float32 arithmetic keeps subnormal results, which the bounds' absolute terms assume (not under
    ``torch.set_flush_denormal(True)``: flush-to-zero makes a product below 2^-126 0, an error up to 2^-126)."""
    tiny = torch.tensor(2.0**-70, dtype=torch.float32)
    return bool(tiny * tiny != 0)  # 2^-140 is a float32 subnormal


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
    radius: float | Tensor | None = None,
    beta: float = 0.0,
    agreement: bool = True,
    par: bool = True,
    margin: bool = True,
) -> FastEvaluation:
    """:func:`~lt_teacher.functional.evaluation.batch_statistics` of the float64 batch, at float32 cost.

    Args:
        x64: (n, d) float64 points (bias coordinate included); ``prepared``: :func:`fast_inputs` of them.
        labels: (n,) +-1 float64; x_norm: (n,) ||x|| (float64).
        neurons: ((k_w + k_u), d) float64 stacked [w; u].
        k_w: number of w-neurons; alpha, v: the slope and output weight v of Eq. (1).
        radius: r of section 5 when Theorem 5.1's region is evaluated (its threshold 2 r ||x||).
        beta: the margin of Definitions 6.2/6.3 compared with w_hat . x.
        agreement, par, margin: which other statistics to compute.

    Returns:
        :class:`FastEvaluation`. Tensors on another device than the CPU take the float64 pass.
    """
    n, d = x64.shape
    k = neurons.shape[0]
    norms = row_norms(neurons)  # (K,) float64
    r = None if radius is None else torch.as_tensor(radius, dtype=torch.float64)
    parts = {"agreement": agreement, "par": par, "margin": margin}
    if (
        n == 0 or n > 1 << 22 or k_w in (0, k) or x64.device.type != "cpu" or not prepared.in_range
        or not _RANGE[0] <= v <= _RANGE[1] or not bool((norms > 0).all()) or not _ieee_float32_products()
        or not _gradual_underflow()
    ):
        return _float64_pass(x64, labels, x_norm, neurons, k_w, alpha, v, r, beta, parts)
    neurons32, neurons_exact, neurons_in_range = _float32_copy(neurons)
    if not neurons_in_range:  # rounding to float32 would lose more than u32 relative, or products could underflow
        return _float64_pass(x64, labels, x_norm, neurons, k_w, alpha, v, r, beta, parts)
    exact = prepared.exact and neurons_exact
    h32 = prepared.x32 @ neurons32.T  # (n, K): the one O(n d K) product
    smallest, largest = torch.aminmax(h32)
    if not (-(2.0**100) < float(smallest) and float(largest) < 2.0**100):  # an overflow (inf or NaN) in float32
        return _float64_pass(x64, labels, x_norm, neurons, k_w, alpha, v, r, beta, parts)
    # Every bound is |h32_ij - h64_ij| <= e_i ||w_j||, e_i = c ||x_i|| + 2^-120 / min_j ||w_j|| (module doc),
    # so on the column-normalized g = h32 / ||w|| one per-row bound serves every neuron.
    error = float32_error_factor(d, exact) * _WIDEN * x_norm + _ABS32 / float(norms.min())  # (n,) float64
    signs_w, signs_u = torch.empty(n, k_w, dtype=torch.float32), torch.empty(n, k - k_w, dtype=torch.float32)
    extremes = torch.empty(n, 4, dtype=torch.float64)
    par_min = torch.empty(k, dtype=torch.float64)
    row_abs = torch.empty(n, dtype=torch.float64)
    entries, zeros = settle_entries(
        h32.numpy(), _numpy64(x64), _numpy64(neurons), norms.numpy(), _numpy64(error),
        _SLACK, float(beta), _numpy64(labels), signs_w.numpy(), signs_u.numpy(), extremes.numpy(), par_min.numpy(), row_abs.numpy(),
    )
    # Every entry is now on the float64 side of 0 and beta; what remains is per point: N(x) and (w_bar - u_bar) . x.
    sum_slack = (k + 3) * _U32 * _WIDEN * row_abs  # float32's rounding of a sum over the K neurons, of alpha h and of v
    signed_v = signed_output_weights(k_w, v, k - k_w).to(torch.float32)  # a of N(x) = a . sigma(h)
    output = output_from_activations(leaky_relu(h32, alpha), signed_v).to(torch.float64)  # one pass and a product
    if not all_finite(output):  # N(x) overflowed float32 (a huge v): the float64 pass decides
        return _float64_pass(x64, labels, x_norm, neurons, k_w, alpha, v, r, beta, parts)
    # (n,) >= |output - N64|: the pre-activations' error, the sums' rounding, and the products alpha h and v sigma(h)
    # that underflow float32 (2^-150 each, whatever v: a tiny v makes v sigma(h) subnormal)
    output_bound = output_error_bound(x_norm, norms, d, v, exact) + v * sum_slack + k * (1.0 + v) * _TINY32
    projection = None
    spread = threshold = _EMPTY
    if r is not None:  # Theorem 5.1: the sign of (w_bar - u_bar) . x and |(w_bar - u_bar) . x| >= 2 r ||x||
        projection = (h32 @ linear_projection_weights(k_w, k - k_w, torch.float32)).to(torch.float64)
        rho_w, rho_u = group_weights(k_w, k - k_w)
        reach = float(rho_w * norms[:k_w].mean() + rho_u * norms[k_w:].mean())
        spread = _WIDEN * (error * reach + (2.0 / k) * sum_slack + k * _TINY32)  # rho_g / k_g = 2 / K; underflowed products
        threshold = region_threshold(x_norm, r)
    undecided = torch.empty(n, dtype=torch.bool)
    undecided_points(
        output.numpy(), output_bound.numpy(), _numpy64(labels), _EMPTY.numpy() if projection is None else projection.numpy(),
        spread.numpy(), threshold.numpy(), _SLACK, undecided.numpy(),
    )
    rows = undecided.nonzero().squeeze(1)
    if rows.numel() * 4 > n:  # float32 decides too little here: the float64 pass is cheaper
        return _float64_pass(x64, labels, x_norm, neurons, k_w, alpha, v, r, beta, parts)
    if rows.numel():
        exact_rows = x64[rows] @ neurons.T  # float64 where float32 cannot decide
        output[rows] = output_from_preactivations(exact_rows[:, :k_w], exact_rows[:, k_w:], alpha, v)
        if projection is not None:
            projection[rows] = linear_projection(exact_rows[:, :k_w], exact_rows[:, k_w:])
    statistics = BatchStatistics(
        linear_region=None if projection is None or r is None else _region_state(projection, output, x_norm, r),
        agreement=_agreement_state(
            group_agrees_from_extremes(extremes[:, 0], extremes[:, 1], beta),
            group_agrees_from_extremes(extremes[:, 2], extremes[:, 3], beta),
            sign_agreement_counts(signs_w, zeros > 0),
            sign_agreement_counts(signs_u, zeros > 0),
        ) if agreement else None,
        par=PARStatisticsState(par_min[:k_w], par_min[k_w:]) if par else None,
        margin=_margin_update(labels * output, x_norm) if margin else None,
    )
    return FastEvaluation(statistics, output, int(rows.numel()), entries)


def _numpy64(t: Tensor) -> np.ndarray:
    """A C-contiguous float64 numpy view (a copy only when ``t`` is not one already)."""
    return t.detach().to(torch.float64).contiguous().numpy()
