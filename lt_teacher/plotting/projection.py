"""The plane on which the neurons of a network with inputs wider than 2 are drawn (:func:`projection_plane`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lt_teacher.functional._checks import check_groups
from lt_teacher.functional._numerics import unit_directions
from lt_teacher.functional.clustering import linear_direction


def _top_direction(rows: Tensor, scale: float) -> Tensor | None:
    """The top right singular vector of ``rows`` (uncentred principal direction), None if rows ~ 0."""
    if rows.shape[0] == 0:
        return None
    _, s, vh = torch.linalg.svd(rows, full_matrices=False)
    if s[0] <= 1e-12 * max(1.0, scale):
        return None
    return vh[0]


def _orthogonal_fallback(e1: Tensor) -> Tensor:
    """A deterministic unit vector orthogonal to ``e1``: the coordinate axis least aligned with it."""
    axis = torch.zeros_like(e1)
    axis[int(e1.abs().argmin())] = 1.0
    e2 = axis - (axis @ e1) * e1
    return e2 / e2.norm()


def _positive_sign(e: Tensor) -> Tensor:
    """Fix the sign of a direction: its largest-magnitude entry is positive."""
    return e if e[int(e.abs().argmax())] >= 0 else -e


def projection_plane(w: Tensor, u: Tensor) -> tuple[Tensor, tuple[str, str]]:
    """The plane on which :func:`neuron_figure` draws the normalized neurons, and its axis labels.

    For neurons of width 2 it is the input plane itself. For width d' > 2 the first axis is
    e1 = (w_bar - u_bar) / ||w_bar - u_bar|| (Theorem 5.1's classifier, :func:`linear_direction`), the
    second the top principal direction of all normalized neurons after removing their e1 component
    (the top right singular vector of the residuals, uncentred: a common offset of a whole group
    away from e1 counts). Degenerate cases: if w_bar = u_bar, e1 is the top principal direction of
    the normalized neurons; if every neuron is parallel to e1 (or all are 0), e2 is the coordinate
    axis least aligned with e1, made orthogonal to it. For d' = 1 the second axis is 0.

    Args:
        w: w-neurons, shape (k_w, d').
        u: u-neurons, shape (k_u, d').

    Returns:
        ``(basis, labels)``: an orthonormal (2, d') float64 basis (second row 0 when d' = 1) and the
        names of its two axes.
    """
    w, u = check_groups(w, u)
    w64, u64 = w.detach().cpu().to(torch.float64), u.detach().cpu().to(torch.float64)
    width = w64.shape[1]
    if width == 2:
        return torch.eye(2, dtype=torch.float64), ("$x_1$", "$x_2$")
    if width == 1:
        return torch.tensor([[1.0], [0.0]], dtype=torch.float64), ("$x_1$", "")
    units = torch.cat([unit_directions(w64)[0], unit_directions(u64)[0]])
    gap = linear_direction(w64, u64)
    if gap.norm() > 0:
        e1, first = gap / gap.norm(), r"$(\bar w - \bar u)\,/\,\|\bar w - \bar u\|$"
    else:
        top = _top_direction(units, 1.0)
        e1 = _positive_sign(top) if top is not None else torch.eye(width, dtype=torch.float64)[0]
        first = r"top principal direction ($\bar w = \bar u$)"
    residual = units - (units @ e1)[:, None] * e1
    e2 = _top_direction(residual, 1.0)
    if e2 is None:
        e2, second = _orthogonal_fallback(e1), "an orthogonal axis (neurons lie on the first)"
    else:
        e2 = e2 - (e2 @ e1) * e1
        e2, second = _positive_sign(e2 / e2.norm()), r"top principal direction $\perp$ first axis"
    return torch.stack([e1, e2]), (first, second)


def project(units: Tensor, basis: Tensor) -> np.ndarray:
    return (units @ basis.T).numpy()


