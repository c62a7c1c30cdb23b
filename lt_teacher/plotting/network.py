"""Matplotlib figures of a two-layer Leaky-ReLU network: its neurons and its decision boundary.

Pure figure builders (no Lightning): they take the neuron groups of Eq. (1) as tensors and return a
:class:`matplotlib.figure.Figure` drawn on an Agg canvas (:mod:`lt_teacher.plotting._canvas`).

* :func:`neuron_figure`: the normalized neurons, w-group and u-group in two colours (Figure 1c/d,
  Figure 3b), optionally with the neuron directions of the Eq. (7) solution.
* :func:`decision_boundary_figure`: sign N(x) on a grid over 2-D points, the points by label and the
  linear classifier of Theorem 5.1 (Figure 1a/b, Figure 3a, Figure 4a), optionally with the boundary
  the Eq. (7) solution predicts.
* :func:`landscape_figure`: sign N(x) of fixed networks on a square, also for alpha = 0 (ReLU,
  supplementary Figure 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from lt_teacher._validation import check_int
from lt_teacher.functional._checks import check_alpha, check_groups, check_matrix, check_positive, signed_labels
from lt_teacher.functional.clustering import linear_direction
from lt_teacher.functional._numerics import unit_directions
from lt_teacher.functional.network import network_output

from ._canvas import PAR_COLOR, POINT_COLORS, U_COLOR, W_COLOR, draw_sign_regions, new_figure, sign_region_handles
from .projection import project, projection_plane


def _draw_directions(ax: Axes, points: np.ndarray, color: str, label: str, *, width: float = 0.8) -> None:
    segments = [[(0.0, 0.0), (float(px), float(py))] for px, py in points]
    ax.add_collection(LineCollection(segments, colors=color, alpha=0.5, linewidths=width))
    ax.scatter(points[:, 0], points[:, 1], s=14, color=color, label=label, zorder=3)


def neuron_figure(
    w: Tensor,
    u: Tensor,
    *,
    par_solution: tuple[Tensor, Tensor] | None = None,
    title: str | None = None,
    size: tuple[float, float] = (5.0, 5.0),
) -> Figure:
    """The neurons normalized to unit norm, w-neurons and u-neurons in two colours (Figures 1c/d, 3b).

    Each neuron is a line from the origin to its direction; for inputs of width 2 the directions lie
    on the unit circle, for wider inputs they are projected on the plane of :func:`projection_plane`
    (a projected direction lies inside the unit disk, on the circle only if it lies in the plane).
    The normalized linear classifier w_bar - u_bar of Theorem 5.1 is drawn as a black arrow. Neurons of
    norm 0 have no direction: they are left out and counted in the title.

    Args:
        w: w-neurons (output weight +v), shape (k_w, d').
        u: u-neurons (output weight -v), shape (k_u, d').
        par_solution: optional ``(w_svm, u_svm)`` of Eq. (7) (:func:`lt_teacher.functional.par_svm`), whose
            normalized directions are drawn as green arrows (the "theoretical PAR solutions" of Figure 3b).
        title: the figure title; a default names the projection.
        size: figure size in inches.

    Returns:
        A :class:`matplotlib.figure.Figure` on an Agg canvas.

    Example:
        >>> import torch
        >>> fig = neuron_figure(torch.tensor([[1.0, 0.1], [1.0, -0.1]]), torch.tensor([[-1.0, 0.0]]))
        >>> len(fig.axes)
        1
    """
    w, u = check_groups(w, u)
    w64, u64 = w.detach().cpu().to(torch.float64), u.detach().cpu().to(torch.float64)
    basis, (x_label, y_label) = projection_plane(w64, u64)
    w_units, w_zero = unit_directions(w64)
    u_units, u_zero = unit_directions(u64)
    fig = new_figure(size)
    ax = fig.add_subplot()
    circle = np.linspace(0.0, 2.0 * np.pi, 361)
    ax.plot(np.cos(circle), np.sin(circle), color="0.75", linestyle="--", linewidth=0.8)
    _draw_directions(ax, project(w_units, basis), W_COLOR, f"w-neurons ({w64.shape[0]})")
    _draw_directions(ax, project(u_units, basis), U_COLOR, f"u-neurons ({u64.shape[0]})")
    handles, labels = ax.get_legend_handles_labels()
    gap = linear_direction(w64, u64)
    if gap.norm() > 0:
        gx, gy = project((gap / gap.norm())[None], basis)[0]
        ax.annotate("", xy=(gx, gy), xytext=(0.0, 0.0), arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        handles.append(Line2D([], [], color="black", linewidth=1.5))
        labels.append(r"$\bar w - \bar u$ (Theorem 5.1)")
    if par_solution is not None:
        for vector in _par_vectors(par_solution, w64.shape[1]):
            if vector.norm() > 0:
                px, py = project((vector / vector.norm())[None], basis)[0]
                ax.annotate("", xy=(px, py), xytext=(0.0, 0.0), arrowprops={"arrowstyle": "-|>", "color": PAR_COLOR, "lw": 2.0})
        handles.append(Line2D([], [], color=PAR_COLOR, linewidth=2.0))
        labels.append(r"Eq. (7) directions $\hat w, \hat u$")
    ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.8)
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_aspect("equal")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    zero = w_zero + u_zero
    default = "normalized neurons" if w64.shape[1] <= 2 else f"normalized neurons, projected from {w64.shape[1]}-D"
    ax.set_title((title or default) + (f" ({zero} of norm 0 left out)" if zero else ""), fontsize="medium")
    return fig


def _par_vectors(par_solution: tuple[Tensor, Tensor], width: int) -> tuple[Tensor, Tensor]:
    if len(par_solution) != 2:
        raise ValueError(f"`par_solution` must be a pair (w_svm, u_svm), got {len(par_solution)} items.")
    w_svm, u_svm = (torch.as_tensor(t).detach().cpu().to(torch.float64).reshape(-1) for t in par_solution)
    if w_svm.numel() != width or u_svm.numel() != width:
        raise ValueError(
            f"`par_solution` vectors must have {width} entries like the neurons, got {w_svm.numel()} and {u_svm.numel()}."
        )
    return w_svm, u_svm


def _grid_limits(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = 0.1 * (hi - lo) if hi > lo else max(1.0, abs(lo))
    return lo - pad, hi + pad


def _line_points(c: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray | None:
    """Two points of the line c1 x1 + c2 x2 + c0 = 0 spanning the box; None if c1 = c2 = 0."""
    c1, c2, c0 = c
    if c1 == 0 and c2 == 0:
        return None
    if abs(c2) >= abs(c1):
        xs = np.array(xlim)
        return np.stack([xs, -(c0 + c1 * xs) / c2], axis=1)
    ys = np.array(ylim)
    return np.stack([-(c0 + c2 * ys) / c1, ys], axis=1)


def _line_coefficients(direction: Tensor) -> np.ndarray:
    """(c1, c2, c0) of direction . (x1, x2[, 1]) = 0."""
    d = direction.numpy()
    return np.array([d[0], d[1], d[2] if d.shape[0] == 3 else 0.0])


def decision_boundary_figure(
    w: Tensor,
    u: Tensor,
    alpha: float,
    v: float,
    x: Tensor,
    y: Tensor,
    *,
    grid_size: int = 200,
    par_solution: tuple[Tensor, Tensor] | None = None,
    title: str | None = None,
    size: tuple[float, float] = (5.0, 5.0),
) -> Figure:
    """sign N(x) over 2-D points, the points by label and Theorem 5.1's line (Figures 1a/b, 3a, 4a).

    The network of Eq. (1) is evaluated in float64 on a ``grid_size`` x ``grid_size`` grid covering the
    points (their bounding box, padded by 10% per side): orange where N(x) > 0, blue where N(x) < 0,
    grey where N(x) = 0. The black line is (w_bar - u_bar) . x = 0, the linear classifier of
    Theorem 5.1 (absent if w_bar = u_bar). Neurons of width 3 act on (x1, x2, 1): a first-layer
    bias (supplementary 8.1).

    Args:
        w: w-neurons, shape (k_w, 2) or (k_w, 3) with a bias coordinate.
        u: u-neurons, same width as ``w``.
        alpha: the Leaky-ReLU slope, in (0, 1).
        v: the output weight v > 0 of Eq. (1).
        x: the points, shape (n, 2).
        y: their labels, {0, 1} or {-1, +1}, shape (n,).
        grid_size: grid points per axis, >= 2.
        par_solution: optional ``(w_svm, u_svm)`` of Eq. (7); the boundary it predicts,
            (w_svm - u_svm) . x = 0, is drawn dashed in green (Figure 3a).
        title: the figure title.
        size: figure size in inches.

    Returns:
        A :class:`matplotlib.figure.Figure` on an Agg canvas.

    Raises:
        ValueError: the points are not 2-D, the neuron width is neither 2 nor 3, or a value is out of range.

    Example:
        >>> import torch
        >>> w, u = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> x, y = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([1, -1])
        >>> len(decision_boundary_figure(w, u, 0.1, 1.0, x, y, grid_size=20).axes)
        1
    """
    w, u = check_groups(w, u)
    x = check_matrix(x, "x", columns=2)
    labels = signed_labels(y, x.shape[0]).detach().cpu().to(torch.float64)
    alpha = check_alpha(alpha)
    v = check_positive(v, "v")
    grid_size = check_int(grid_size, "grid_size", minimum=2)
    width = w.shape[1]
    if width not in (2, 3):
        raise ValueError(
            f"The neurons must have width 2 (inputs in R^2) or 3 (R^2 plus a bias coordinate) to draw a 2-D "
            f"decision boundary, got width {width}."
        )
    w64, u64 = w.detach().cpu().to(torch.float64), u.detach().cpu().to(torch.float64)
    x64 = x.detach().cpu().to(torch.float64)
    points = x64.numpy()
    xlim, ylim = _grid_limits(points[:, 0]), _grid_limits(points[:, 1])
    g1 = torch.linspace(xlim[0], xlim[1], grid_size, dtype=torch.float64)
    g2 = torch.linspace(ylim[0], ylim[1], grid_size, dtype=torch.float64)
    mesh = torch.stack(torch.meshgrid(g1, g2, indexing="xy"), dim=-1).reshape(-1, 2)  # (grid^2, 2)
    if width == 3:
        mesh = torch.cat([mesh, torch.ones(mesh.shape[0], 1, dtype=torch.float64)], dim=1)
    signs = torch.sign(network_output(mesh, w64, u64, alpha, v)).reshape(grid_size, grid_size)

    fig = new_figure(size)
    ax = fig.add_subplot()
    draw_sign_regions(ax, signs.numpy(), (*xlim, *ylim), aspect="auto")
    handles: list[object] = list(sign_region_handles())
    for label, marker in ((1.0, "o"), (-1.0, "s")):
        chosen = points[labels.numpy() == label]
        ax.scatter(chosen[:, 0], chosen[:, 1], s=12, marker=marker, color=POINT_COLORS[label], edgecolors="white",
                   linewidths=0.3, zorder=3)
        handles.append(Line2D([], [], marker=marker, linestyle="", color=POINT_COLORS[label], label=f"y = {label:+.0f}"))
    line = _line_points(_line_coefficients(linear_direction(w64, u64)), xlim, ylim)
    if line is not None:
        ax.plot(line[:, 0], line[:, 1], color="black", linewidth=1.5)
        handles.append(Line2D([], [], color="black", label=r"$(\bar w - \bar u)\cdot x = 0$ (Thm. 5.1)"))
    if par_solution is not None:
        w_svm, u_svm = _par_vectors(par_solution, width)
        par_line = _line_points(_line_coefficients(w_svm - u_svm), xlim, ylim)
        if par_line is not None:
            ax.plot(par_line[:, 0], par_line[:, 1], color=PAR_COLOR, linewidth=2.0, linestyle="--")
            handles.append(Line2D([], [], color=PAR_COLOR, linestyle="--", label="Eq. (7) prediction"))
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.8)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "sign N(x)", fontsize="medium")
    return fig


def landscape_figure(
    panels: Sequence[tuple[str, Tensor, Tensor, float]], *, extent: float = 2.0, grid: int = 201, suptitle: str = ""
) -> Figure:
    """sign N(x) on [-extent, extent]^2 for networks ``(title, w, u, alpha)`` (alpha = 0: ReLU), Figure 4 colours.

    Each network has output weight v = 1 (:func:`lt_teacher.functional.network_output`); its first
    w- and u-neuron are drawn as arrows.
    """
    fig = new_figure((4.0 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    axis = torch.linspace(-extent, extent, grid, dtype=torch.float64)
    mesh = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    for ax, (title, w, u, alpha) in zip(axes, panels):
        signs = torch.sign(network_output(mesh, w.to(torch.float64), u.to(torch.float64), alpha)).reshape(grid, grid)
        draw_sign_regions(ax, signs.numpy(), (-extent, extent, -extent, extent))
        for vector, name, color in ((w[0], "w", "tab:red"), (u[0], "u", "tab:blue")):
            ax.annotate("", xy=(float(vector[0]), float(vector[1])), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5})
            ax.text(float(vector[0]) * 1.08, float(vector[1]) * 1.08, name, color=color)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    axes[-1].legend(handles=sign_region_handles(with_zero=True), loc="lower right", fontsize="x-small")
    if suptitle:
        fig.suptitle(suptitle, fontsize="medium")
    return fig
