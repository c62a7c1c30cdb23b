"""Numerical helpers shared by the functional modules (no paper formula lives here)."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import Tensor

_Value = TypeVar("_Value", float, Tensor)


#: Norms torch computes from the plain sum of squares are accurate between these bounds (the squares neither
#: overflow nor fall below float64's normal range); rows outside are recomputed scaled.
_PLAIN_NORM_RANGE = (2.0**-460, 2.0**500)


def row_norms(rows: Tensor) -> Tensor:
    """||row|| of every row of a float64 matrix (n, d), accurate at any magnitude a float64 holds.

    torch's norm sums the squares: a row with entries beyond about 2^511 (1e154) gives inf and one below
    about 2^-511 loses its digits or gives 0, so a neuron of 1e-170 would look like a zero neuron and one
    of 1e160 like an infinite one. Those rows (norm outside 2^-460 .. 2^500, or 0) are recomputed divided by
    a power of two within a factor 2 of their largest entry (finite up to float64's largest), which is exact; rows in the usual range keep torch's value
    bit for bit (one min/max over the n norms decides).
    """
    norms = rows.norm(dim=1)
    if norms.numel() == 0:
        return norms
    low, high = torch.aminmax(norms)
    if float(low) > _PLAIN_NORM_RANGE[0] and float(high) < _PLAIN_NORM_RANGE[1]:
        return norms
    redo = ~((norms > _PLAIN_NORM_RANGE[0]) & (norms < _PLAIN_NORM_RANGE[1]))
    part = rows[redo]
    peak = part.abs().amax(dim=1, keepdim=True)
    finite_peak = torch.isfinite(peak) & (peak > 0)
    scale = torch.where(finite_peak, torch.ldexp(torch.ones_like(peak), torch.frexp(peak)[1] - 1), 1.0)  # peak/2 < 2^(e-1) <= peak: finite
    norms = norms.clone()
    norms[redo] = (part / scale).norm(dim=1) * scale[:, 0]
    return norms


def vector_norm(t: Tensor) -> Tensor:
    """||t|| over all entries (float64 scalar), accurate at any magnitude (:func:`row_norms`)."""
    return row_norms(t.reshape(1, -1).to(torch.float64))[0]


def divide_by_power(value: _Value, base: _Value, degree: int) -> _Value:
    """value / base**degree, dividing ``degree`` times: base**degree itself may overflow where the quotient
    does not (a margin of 1e200 over ||theta||^2 = 1e155 * 1e155). Division by a zero base gives +-inf or nan,
    as the single division would (tensors; Python floats raise ZeroDivisionError)."""
    for _ in range(degree):
        value = value / base
    return value


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
    norms = row_norms(rows)
    keep = norms > 0
    if bool(keep.all()):  # the usual case: no copy of the rows
        return rows / norms[:, None], 0
    return rows[keep] / norms[keep, None], int((~keep).sum())
