"""Normalized margin (Eq. 4), smoothed margin (Eq. 5), Assumption 6.1 and the Theorem 6.2 threshold.

Late in training the per-point losses underflow float32 and then float64 (q = y N(x) of several
hundred and beyond). The smoothed margin therefore never forms n L directly: it takes
lambda = log(n L) = logsumexp_i log l(q_i) (:func:`log_logistic_loss`), which is also the
sufficient statistic that reduces across batches and processes by logsumexp, and evaluates
-log(expm1(n L)) from lambda without cancellation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_positive, check_tensor
from lt_teacher.functional.network import log_logistic_loss


def _check_margins(q: object) -> Tensor:
    t = check_tensor(q, "q")
    if t.ndim != 1 or t.shape[0] == 0:
        raise ValueError(f"`q` must be a non-empty 1-D tensor of margins y_i N(x_i), got shape {tuple(t.shape)}.")
    t64 = t.to(torch.float64)
    if not bool(torch.isfinite(t64).all()):
        raise ValueError("`q` contains NaN or Inf; margins y_i N(x_i) must be finite.")
    return t64


def _check_degree(degree: object) -> int:
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"`degree` must be the homogeneity degree, an int >= 1, got {degree!r}.")
    return degree


def log_sum_loss(q: Tensor) -> Tensor:
    """lambda = log(sum_i l(q_i)) = log(n L) in float64, exact when every l(q_i) underflows."""
    return torch.logsumexp(log_logistic_loss(_check_margins(q)), dim=0)


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
    return neg_log_expm1_exp(log_n_loss) / norm**degree


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
    return q64.min() / norm ** _check_degree(degree)


def smoothed_margin(q: Tensor, param_norm: float | Tensor, degree: int = 1) -> Tensor:
    """Eq. (5): gamma_tilde = log(1 / (exp(n L) - 1)) / ||theta||^degree (Lyu & Li 2020, Remark A.4).

    n L = sum_i log(1 + exp(-q_i)). Finite for any finite margins: it stays accurate when every
    per-point loss underflows (q ~ 1e4) and when the loss is huge (q ~ -1e3). gamma_tilde <= gamma_bar,
    and gamma_tilde > 0 exactly when Assumption 6.1 (L < 1/n) holds.

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


def theorem_6_2_threshold(k: int, alpha: float, scale: float, max_input_norm: float | Tensor) -> Tensor:
    """Theorem 6.2, assumption 3: the smoothed margin must exceed sqrt(k) alpha v max_i ||x_i||.

    For groups of unequal size (a learned output layer) pass the larger group size: the bound
    ||(||u_1||, ..., ||u_k||)||_1 <= sqrt(k) ||...||_2 of Eq. (30) is applied per group.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a group size >= 1, got {k!r}.")
    alpha = check_alpha(alpha)
    scale = check_positive(scale, "scale")
    return math.sqrt(k) * alpha * scale * torch.as_tensor(max_input_norm, dtype=torch.float64)
