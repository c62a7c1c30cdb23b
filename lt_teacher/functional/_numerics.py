"""Numerical helpers shared by the functional modules (no paper formula lives here)."""

from __future__ import annotations

import torch
from torch import Tensor


def divide_where_positive(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator where denominator > 0, else 0: the direction of a zero vector is taken as 0.

    Used for w_hat . x = (w . x) / ||w|| (a neuron of norm 0 classifies nothing, Definition 6.2) and for
    cosines with a zero vector (Figure 3b); ``denominator`` broadcasts against ``numerator``.
    """
    positive = denominator > 0
    return torch.where(positive, numerator / torch.where(positive, denominator, 1.0), 0.0)


def unit_directions(rows: Tensor) -> tuple[Tensor, int]:
    """The rows of ``rows`` scaled to unit norm, and how many rows were left out for having norm 0.

    A neuron of norm 0 has no direction: it is dropped rather than divided by 0 (the in-group angles
    of supplementary 11.4 and the neuron pictures of Figures 1 and 3 both read directions this way).
    """
    norms = rows.norm(dim=1)
    keep = norms > 0
    if bool(keep.all()):  # the usual case: no copy of the rows
        return rows / norms[:, None], 0
    return rows[keep] / norms[keep, None], int((~keep).sum())
