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
    return evaluate_prepared(x64, labels, x64.norm(dim=1), neurons, w.shape[0], alpha, v_checked)


def evaluate_prepared(
    x64: Tensor, labels: Tensor, x_norm: Tensor, neurons: Tensor, k_w: int, alpha: float, v: float
) -> EvaluationBatch:
    """:func:`evaluate_batch` on inputs already checked and prepared: float64 points, labels +-1, their norms,
    and the stacked neurons [w; u] ((k_w + k_u) x d, float64). One matrix product serves both groups.
    """
    h = x64 @ neurons.T  # (n, k_w + k_u)
    h_w, h_u = h[:, :k_w], h[:, k_w:]
    return EvaluationBatch(h_w, h_u, x_norm, labels, output_from_preactivations(h_w, h_u, alpha, v))
