"""Measures the reproduction needs beyond the monitors: how far a 2-D decision boundary is from linear.

A network without bias is positively 1-homogeneous (Eq. 1), so sign N(x) depends only on the direction
of x: in the plane its decision regions are cones. Its boundary is linear (a line through the origin)
exactly when sign N on the unit circle equals sign(cos(phi - theta)) for some theta. The *angular
nonlinearity* is the smallest share of directions on which sign N differs from any such linear
classifier: 0 for a linear boundary, 0.125 for the ReLU network of supplementary Figure 4.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lt_teacher.functional.network import network_output


def circle_directions(resolution: int) -> tuple[Tensor, Tensor]:
    """``resolution`` equally spaced angles phi_j = (j + 1/2) 2 pi / resolution and the unit vectors (cos, sin)."""
    if resolution < 8:
        raise ValueError(f"`resolution` must be >= 8, got {resolution}.")
    phi = (torch.arange(resolution, dtype=torch.float64) + 0.5) * (2.0 * math.pi / resolution)
    return phi, torch.stack([phi.cos(), phi.sin()], dim=1)


def angular_nonlinearity(signs: Tensor) -> float:
    """min over theta of the share of directions phi_j where ``signs[j]`` != sign(cos(phi_j - theta)).

    ``signs`` holds sign N on :func:`circle_directions` (-1, 0 or +1; a 0 never matches a linear
    classifier, which is +-1 off its boundary). theta runs over the same grid shifted by half a step,
    so no direction lies on a candidate boundary.
    """
    m = signs.shape[0]
    phi, _ = circle_directions(m)
    theta = phi - math.pi / m  # boundaries between grid directions
    linear = torch.sign(torch.cos(phi[None, :] - theta[:, None]))  # (theta, phi)
    mismatch = (linear != signs.to(torch.float64)[None, :]).to(torch.float64).mean(dim=1)
    return float(mismatch.min())


def network_nonlinearity(
    w: Tensor, u: Tensor, alpha: float, v: float = 1.0, resolution: int = 1440, zero_as: float | None = None
) -> float:
    """:func:`angular_nonlinearity` of the 2-D network (w, u) without bias (see the module docstring).

    ``zero_as``: where N(x) = 0 on a whole cone (ReLU), count those directions as this label (+1 or -1);
    None counts them as mismatches of every linear classifier.
    """
    if w.shape[1] != 2 or u.shape[1] != 2:
        raise ValueError(
            f"the angular nonlinearity needs neurons of width 2 (inputs in R^2 without bias), got widths "
            f"{w.shape[1]} and {u.shape[1]}."
        )
    if zero_as not in (None, 1.0, -1.0):
        raise ValueError(f"`zero_as` must be None, 1.0 or -1.0, got {zero_as!r}.")
    _, points = circle_directions(resolution)
    signs = torch.sign(network_output(points, w.to(torch.float64), u.to(torch.float64), alpha, v))
    if zero_as is not None:
        signs = torch.where(signs == 0, torch.full_like(signs, zero_as), signs)
    return angular_nonlinearity(signs)
