"""One evaluation pass: the pre-activations H = X W^T from which every diagnostic derives.

Every quantity of sections 5 and 6 evaluated on data is a function of H (split into the w- and
u-groups), ||x|| and the labels, so a monitor computes :class:`EvaluationBatch` once per batch and
feeds every statistic from it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_groups, check_matrix, output_weight, signed_labels
from lt_teacher.functional._numerics import row_norms
from lt_teacher.functional.agreement import (
    AgreementStatisticsState,
    PARStatisticsState,
    _agreement_from_normalized,
    _par_fraction_update,
    normalized_preactivations,
)
from lt_teacher.functional.clustering import LinearRegionStatisticsState, _linear_region_update
from lt_teacher.functional.margins import MarginStatisticsState, _margin_update
from lt_teacher.functional.network import output_from_preactivations


class EvaluationBatch(NamedTuple):
    """Pre-activations and outputs of one batch, float64.

    Attributes:
        h_w: w . x for every point and w-neuron, (n, k_w).
        h_u: u . x for every point and u-neuron, (n, k_u).
        x_norm: ||x||, (n,).
        y: labels +-1, (n,).
        output: N(x), (n,) (Eq. 1).
    """

    h_w: Tensor
    h_u: Tensor
    x_norm: Tensor
    y: Tensor
    output: Tensor

    @property
    def margins(self) -> Tensor:
        """q = y N(x) (section 3)."""
        return self.y * self.output


def evaluate_batch(
    x: Tensor, y: Tensor, w: Tensor, u: Tensor, alpha: float, v: float | None = None, *, scale: float | None = None
) -> EvaluationBatch:
    """Compute the pre-activations and outputs of a batch once, in float64 (Eq. 1).

    Args:
        x: points, (n, d) (already extended by the bias coordinate if the network has one).
        y: labels in {0, 1} or {-1, +1}, (n,).
        w: w-neurons, (k_w, d).
        u: u-neurons, (k_u, d).
        alpha: Leaky-ReLU slope, 0 < alpha < 1.
        v: the output weight (default 1).
        scale: deprecated name of ``v``.

    Example:
        >>> import torch
        >>> batch = evaluate_batch(torch.tensor([[1.0, -1.0]]), torch.tensor([1]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 0.5)
        >>> batch.margins
        tensor([1.5000], dtype=torch.float64)
    """
    w, u = check_groups(w, u)
    x = check_matrix(x, "x", columns=w.shape[1], allow_empty=True)
    alpha = check_alpha(alpha)
    v_checked = output_weight(v, scale, "evaluate_batch")
    x64 = x.to(torch.float64)
    labels = signed_labels(y, x.shape[0]).to(x64.device)
    neurons = torch.cat([w, u]).to(torch.float64)
    return evaluate_prepared(x64, labels, row_norms(x64), neurons, w.shape[0], alpha, v_checked)


def evaluate_prepared(
    x64: Tensor, labels: Tensor, x_norm: Tensor, neurons: Tensor, k_w: int, alpha: float, v: float
) -> EvaluationBatch:
    """:func:`evaluate_batch` on inputs already checked and prepared: float64 points, labels +-1, their norms,
    and the stacked neurons [w; u] ((k_w + k_u) x d, float64). One matrix product serves both groups.
    """
    h = x64 @ neurons.T  # (n, k_w + k_u)
    h_w, h_u = h[:, :k_w], h[:, k_w:]
    return EvaluationBatch(h_w, h_u, x_norm, labels, output_from_preactivations(h_w, h_u, alpha, v))


class BatchStatistics(NamedTuple):
    """The sufficient statistics of one batch for every metric of :mod:`lt_teacher.metrics` (None: not asked for).

    Each field is what the metric's ``update`` adds for the batch: :class:`LinearRegionStatistics`
    (Theorem 5.1), :class:`AgreementStatistics` (Definition 6.2), :class:`PARStatistics` (Definition 6.3),
    :class:`MarginStatistics` (Eq. 2, 4, 5). Pass a field to the metric's ``update`` in place of the batch.
    """

    linear_region: LinearRegionStatisticsState | None
    agreement: AgreementStatisticsState | None
    par: PARStatisticsState | None
    margin: MarginStatisticsState | None


def batch_statistics(
    batch: EvaluationBatch,
    w_norms: Tensor,
    u_norms: Tensor,
    *,
    radius: Tensor | None = None,
    beta: float = 0.0,
    agreement: bool = True,
    par: bool = True,
    margin: bool = True,
) -> BatchStatistics:
    """The statistics of every metric from one batch of pre-activations (the reference of the fast pass).

    Args:
        batch: the batch (:func:`evaluate_batch`); w_norms, u_norms: ||w_l|| and ||u_l|| of the neurons.
        radius: the cluster radius r for Theorem 5.1's region (None: no region statistics).
        beta: the margin of Definitions 6.2/6.3.
        agreement, par, margin: which other statistics to compute.
    """
    region = _linear_region_update(batch.h_w, batch.h_u, batch.x_norm, radius, batch.output) if radius is not None else None
    agreement_state = par_state = None
    if agreement or par:  # w_hat . x once for both
        h_w_hat, h_u_hat = normalized_preactivations(batch.h_w, w_norms), normalized_preactivations(batch.h_u, u_norms)
        if agreement:
            agreement_state = _agreement_from_normalized(batch.h_w, batch.h_u, h_w_hat, h_u_hat, beta)
        if par and batch.y.shape[0] > 0:
            par_state = _par_fraction_update(h_w_hat, h_u_hat, batch.y)
    margin_state = _margin_update(batch.margins, batch.x_norm) if margin and batch.y.shape[0] > 0 else None
    return BatchStatistics(region, agreement_state, par_state, margin_state)


def evaluate_statistics(
    x64: Tensor, labels: Tensor, x_norm: Tensor, neurons: Tensor, k_w: int, alpha: float, v: float, *,
    radius: Tensor | None = None, beta: float = 0.0, agreement: bool = True, par: bool = True, margin: bool = True,
) -> tuple[BatchStatistics, EvaluationBatch]:
    """:func:`batch_statistics` of the float64 pass :func:`evaluate_prepared` (neurons ((k_w + k_u), d) stacked [w; u]),
    and the batch."""
    batch = evaluate_prepared(x64, labels, x_norm, neurons, k_w, alpha, v)
    norms = row_norms(neurons)
    statistics = batch_statistics(
        batch, norms[:k_w], norms[k_w:], radius=radius, beta=beta, agreement=agreement, par=par, margin=margin
    )
    return statistics, batch
