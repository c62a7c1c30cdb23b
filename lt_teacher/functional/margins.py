"""Normalized margin (Eq. 4), smoothed margin (Eq. 5), Assumption 6.1 and the Theorem 6.2 threshold.

Late in training the per-point losses underflow float32 and then float64 (q = y N(x) of several
hundred and beyond). The smoothed margin therefore never forms n L directly: it takes
lambda = log(n L) = logsumexp_i log l(q_i) (:func:`log_logistic_loss`), which is also the
sufficient statistic that reduces across batches and processes by logsumexp, and evaluates
-log(expm1(n L)) from lambda without cancellation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher._validation import all_finite, check_float, check_int
from lt_teacher.functional._checks import check_alpha, check_positive, check_tensor, output_weight
from lt_teacher.functional._numerics import divide_by_power
from lt_teacher.functional.network import log_logistic_loss

_F64 = torch.float64


def _check_margins(q: object) -> Tensor:
    t = check_tensor(q, "q")
    if t.ndim != 1 or t.shape[0] == 0:
        raise ValueError(f"`q` must be a non-empty 1-D tensor of margins y_i N(x_i), got shape {tuple(t.shape)}.")
    t64 = t.to(torch.float64)
    if not all_finite(t64):
        raise ValueError("`q` contains NaN or Inf; margins y_i N(x_i) must be finite.")
    return t64


def _check_degree(degree: object) -> int:
    """The homogeneity degree of the network in its parameters: an int >= 1."""
    return check_int(degree, "degree", minimum=1)


def _log_sum_loss_update(q: Tensor) -> Tensor:
    """lambda of one batch of checked float64 margins; batches combine by logsumexp."""
    return torch.logsumexp(log_logistic_loss(q), dim=0)


def log_sum_loss(q: Tensor) -> Tensor:
    """lambda = log(sum_i l(q_i)) = log(n L) in float64 (Eq. 2), exact when every l(q_i) underflows.

    Example:
        >>> import torch
        >>> float(log_sum_loss(torch.tensor([800.0, 900.0])))  # log(e^-800 + e^-900)
        -800.0
    """
    return _log_sum_loss_update(_check_margins(q))


def neg_log_expm1_exp(log_t: Tensor) -> Tensor:
    """-log(exp(t) - 1) for t = exp(log_t) > 0, accurate for tiny and huge t (float64).

    log(expm1(t)) = t + log(-expm1(-t)); when t underflows (log_t < -20) the series
    log(-expm1(-t)) = log t - t/2 + O(t^2) gives log_t + t/2 to double precision.
    """
    log_t = log_t.to(torch.float64)
    t = torch.exp(log_t)
    tiny = log_t < -20.0
    t_safe = torch.where(tiny, torch.ones_like(t), t)
    regular = t_safe + torch.log(-torch.expm1(-t_safe))
    series = log_t + 0.5 * t
    return -torch.where(tiny, series, regular)


def smoothed_margin_from_log_sum_loss(log_n_loss: Tensor, param_norm: float | Tensor, degree: int = 1) -> Tensor:
    """Eq. (5) from lambda = log(n L): log(1 / (exp(n L) - 1)) / ||theta||^degree."""
    norm = torch.as_tensor(param_norm, dtype=torch.float64)
    return divide_by_power(neg_log_expm1_exp(log_n_loss), norm.to(log_n_loss.device), degree)


def normalized_margin(q: Tensor, param_norm: float | Tensor, degree: int = 1) -> Tensor:
    """Eq. (4): gamma_bar = min_i q_i / ||theta||^degree, in float64.

    Args:
        q: margins y_i N(x_i), shape (n,).
        param_norm: ||theta|| (||W|| for the fixed-output network, degree 1; all parameters of a
            network with a learned output layer, degree 2).
        degree: homogeneity degree of the network in theta.

    Example:
        >>> import torch
        >>> normalized_margin(torch.tensor([2.0, 3.0]), 2.0)
        tensor(1., dtype=torch.float64)
    """
    q64 = _check_margins(q)
    norm = check_positive(float(param_norm), "param_norm")
    return divide_by_power(q64.min(), torch.tensor(norm, dtype=torch.float64, device=q64.device), _check_degree(degree))


def smoothed_margin(q: Tensor, param_norm: float | Tensor, degree: int = 1) -> Tensor:
    """Eq. (5): gamma_tilde = log(1 / (exp(n L) - 1)) / ||theta||^degree (Lyu & Li 2020, Remark A.4).

    n L = sum_i log(1 + exp(-q_i)). Finite for any finite margins: it stays accurate when every
    per-point loss underflows (q ~ 1e4) and when the loss is huge (q ~ -1e3). gamma_tilde <= gamma_bar,
    and gamma_tilde > 0 exactly when n L < log 2, which implies Assumption 6.1 (L < 1/n) but is not implied
    by it (q = [-0.1]: L = 0.744 < 1, gamma_tilde = -0.1). It is computed from log(n L) (what the metric
    states carry and merge), so it is exact to float64's rounding of n L: near n L = log 2, where
    |d gamma_tilde / d(n L)| = 2, its error is about 2^-52 / ||theta||^degree absolute (not relative), and the
    sign of a |gamma_tilde| below that follows float64's n L (q = [1e-17] reads -0.0 for gamma_tilde = 1e-17).

    Example:
        >>> import torch
        >>> float(smoothed_margin(torch.tensor([800.0, 900.0]), 1.0))  # ~ min q - log(1 + e^{-100})
        800.0
    """
    q64 = _check_margins(q)
    norm = check_positive(float(param_norm), "param_norm")
    return smoothed_margin_from_log_sum_loss(log_sum_loss(q64), norm, _check_degree(degree))


def satisfies_assumption_6_1(log_n_loss: Tensor) -> Tensor:
    """Assumption 6.1, L < 1/n, i.e. n L < 1, i.e. log(n L) < 0."""
    return log_n_loss < 0


def theorem_6_2_threshold(
    k: int, alpha: float, v: float | None = None, max_input_norm: float | Tensor | None = None, *, scale: float | None = None
) -> Tensor:
    """Theorem 6.2, assumption 3: the smoothed margin must exceed sqrt(k) alpha v max_i ||x_i||.

    For groups of unequal size (a learned output layer) pass the larger group size: the bound
    ||(||u_1||, ..., ||u_k||)||_1 <= sqrt(k) ||...||_2 of Eq. (30) is applied per group.
    ``scale`` is the deprecated name of ``v``.

    Example:
        >>> float(theorem_6_2_threshold(4, 0.5, 1.0, 3.0))  # 2 * 0.5 * 1 * 3
        3.0
    """
    k = check_int(k, "k", minimum=1)
    alpha = check_alpha(alpha)
    v_checked = output_weight(v, scale, "theorem_6_2_threshold")
    if max_input_norm is None:
        raise TypeError("theorem_6_2_threshold: `max_input_norm` (max_i ||x_i||) is required.")
    return math.sqrt(k) * alpha * v_checked * torch.as_tensor(max_input_norm, dtype=torch.float64)


class MarginStatisticsState(NamedTuple):
    """Sufficient statistics of the margin quantities over a set of points (float64 scalars).

    Attributes:
        log_n_loss: lambda = log(n L) (combines by logsumexp).
        min_margin: min_i q_i (combines by min).
        count: n (combines by sum).
        n_correct: points with q_i > 0 (combines by sum).
        max_input_norm: max_i ||x_i|| (combines by max).
    """

    log_n_loss: Tensor
    min_margin: Tensor
    count: Tensor  # type: ignore[assignment]  # a field named like tuple.count, as the states it mirrors
    n_correct: Tensor
    max_input_norm: Tensor


class MarginSummary(NamedTuple):
    """The margin quantities of section 6 on a set of points, as Python floats (float64).

    Attributes:
        loss: L = (1/n) sum_i l(q_i) (Eq. 2).
        log_loss: log L, finite when L underflows.
        accuracy: share of points with q_i > 0.
        normalized: Eq. (4), min_i q_i / ||theta||^degree (-inf for ||theta|| = 0).
        smoothed: Eq. (5).
        assumption_6_1: 1.0 if L < 1/n (Assumption 6.1), else 0.0.
        theorem_6_2_threshold: sqrt(k) alpha v max_i ||x_i|| (Theorem 6.2, assumption 3).
        above_threshold: 1.0 if the smoothed margin exceeds that threshold, else 0.0.
    """

    loss: float
    log_loss: float
    accuracy: float
    normalized: float
    smoothed: float
    assumption_6_1: float
    theorem_6_2_threshold: float
    above_threshold: float


def _margin_update(q: Tensor, x_norm: Tensor) -> MarginStatisticsState:
    """Statistics of one non-empty batch of float64 margins q (n,) and input norms ||x|| (n,)."""
    return MarginStatisticsState(
        log_n_loss=_log_sum_loss_update(q),
        min_margin=q.min(),
        count=torch.tensor(float(q.shape[0]), dtype=_F64, device=q.device),
        n_correct=(q > 0).sum().to(_F64),
        max_input_norm=x_norm.max(),
    )


def _margin_compute(
    stats: MarginStatisticsState, param_norm: float, degree: int, k: int, alpha: float, v: float
) -> MarginSummary:
    """Every margin quantity from the reduced statistics (Eq. 2, 4, 5, Assumption 6.1, Theorem 6.2)."""
    count = float(stats.count)
    log_loss = float(stats.log_n_loss) - math.log(count)
    smoothed = float(smoothed_margin_from_log_sum_loss(stats.log_n_loss, param_norm, degree))
    threshold = float(theorem_6_2_threshold(k, alpha, v, stats.max_input_norm))
    return MarginSummary(
        loss=math.exp(log_loss),
        log_loss=log_loss,
        accuracy=float(stats.n_correct) / count,
        normalized=divide_by_power(float(stats.min_margin), float(param_norm), degree) if param_norm > 0 else -math.inf,
        smoothed=smoothed,
        assumption_6_1=float(satisfies_assumption_6_1(stats.log_n_loss)),
        theorem_6_2_threshold=threshold,
        above_threshold=float(smoothed > threshold),
    )


def margin_summary(
    q: Tensor, x_norm: Tensor, param_norm: float, *, k: int, alpha: float, v: float = 1.0, degree: int = 1
) -> MarginSummary:
    """Loss, accuracy, Eq. (4), Eq. (5), Assumption 6.1 and Theorem 6.2's threshold of one set of points.

    Args:
        q: margins y_i N(x_i), shape (n,).
        x_norm: ||x_i|| of the same points (with the bias coordinate if the network has one), shape (n,).
        param_norm: ||theta|| (see :func:`normalized_margin`); 0 gives a normalized margin of -inf.
        k: the group size (the larger one for groups of unequal size).
        alpha: the Leaky-ReLU slope.
        v: the output weight.
        degree: homogeneity degree of the network in theta.

    Example:
        >>> import torch
        >>> s = margin_summary(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 3.0]), 1.0, k=1, alpha=0.5)
        >>> s.accuracy, s.normalized, s.theorem_6_2_threshold
        (0.5, -1.0, 1.5)
    """
    q64 = _check_margins(q)
    norms = check_tensor(x_norm, "x_norm").to(_F64)
    if norms.shape != q64.shape:
        raise ValueError(f"`x_norm` must have shape {tuple(q64.shape)}, one norm per margin, got {tuple(norms.shape)}.")
    norm = check_float(param_norm, "param_norm", minimum=0.0)
    return _margin_compute(_margin_update(q64, norms), norm, _check_degree(degree), k, check_alpha(alpha), v)
