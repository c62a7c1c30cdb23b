"""Matplotlib figures of a two-layer Leaky-ReLU network: its neurons and its decision boundary.

Pure figure builders (no Lightning): they take the neuron groups of Eq. (1) as tensors and return a
:class:`matplotlib.figure.Figure` drawn on an Agg canvas. The figures are created without pyplot, so
they are never registered with a GUI backend or pyplot's figure list, need no display and are freed
like any Python object (nothing to close).

* :func:`neuron_figure`: the normalized neurons, w-group and u-group in two colours (Figure 1c/d,
  Figure 3b), optionally with the neuron directions of the Eq. (7) solution.
* :func:`decision_boundary_figure`: sign N(x) on a grid over 2-D points, the points by label and the
  linear classifier of Theorem 5.1 (Figure 1a/b, Figure 3a, Figure 4a), optionally with the boundary
  the Eq. (7) solution predicts.
* :func:`diagnostic_curves_figure`: the monitored quantities over epochs, one panel per figure of the
  paper (Figure 2: points outside the linear region; Figure 7: cluster radius and angles; Figure 8:
  neurons in the PAR; Figure 9: NAR disagreement; the margins of section 6).
"""

from __future__ import annotations

from pathlib import Path

import os
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from torch import Tensor

from lt_teacher.functional._checks import check_alpha, check_groups, check_matrix, check_positive, signed_labels
from lt_teacher.functional.clustering import linear_direction
from lt_teacher.functional.network import network_output

W_COLOR = "tab:blue"
U_COLOR = "tab:orange"
PAR_COLOR = "tab:green"
# sign N(x) = -1, 0, +1: blue, grey, orange (the colours of Figure 4).
_REGION_COLORS = ListedColormap(["#9ecae1", "#d9d9d9", "#fdd0a2"])
_POINT_COLORS = {1.0: "#d94801", -1.0: "#08519c"}

__all__ = ["decision_boundary_figure", "diagnostic_curves_figure", "neuron_figure", "projection_plane", "save_png"]


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas: rendering never needs a display
    return fig


def _unit_rows(neurons: Tensor) -> tuple[Tensor, int]:
    """Rows scaled to unit norm; rows of norm 0 have no direction and are left out (returned count)."""
    norms = neurons.norm(dim=1)
    keep = norms > 0
    return neurons[keep] / norms[keep, None], int((~keep).sum())


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
    units = torch.cat([_unit_rows(w64)[0], _unit_rows(u64)[0]])
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


def _project(units: Tensor, basis: Tensor) -> np.ndarray:
    return (units @ basis.T).numpy()


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
    w_units, w_zero = _unit_rows(w64)
    u_units, u_zero = _unit_rows(u64)
    fig = _new_figure(size)
    ax = fig.add_subplot()
    circle = np.linspace(0.0, 2.0 * np.pi, 361)
    ax.plot(np.cos(circle), np.sin(circle), color="0.75", linestyle="--", linewidth=0.8)
    _draw_directions(ax, _project(w_units, basis), W_COLOR, f"w-neurons ({w64.shape[0]})")
    _draw_directions(ax, _project(u_units, basis), U_COLOR, f"u-neurons ({u64.shape[0]})")
    handles, labels = ax.get_legend_handles_labels()
    gap = linear_direction(w64, u64)
    if gap.norm() > 0:
        gx, gy = _project((gap / gap.norm())[None], basis)[0]
        ax.annotate("", xy=(gx, gy), xytext=(0.0, 0.0), arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        handles.append(Line2D([], [], color="black", linewidth=1.5))
        labels.append(r"$\bar w - \bar u$ (Theorem 5.1)")
    if par_solution is not None:
        for vector in _par_vectors(par_solution, w64.shape[1]):
            if vector.norm() > 0:
                px, py = _project((vector / vector.norm())[None], basis)[0]
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
    scale: float,
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
        scale: the output weight v > 0.
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
    scale = check_positive(scale, "scale")
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 2:
        raise ValueError(f"`grid_size` must be an int >= 2, got {grid_size!r}.")
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
    signs = torch.sign(network_output(mesh, w64, u64, alpha, scale)).reshape(grid_size, grid_size)

    fig = _new_figure(size)
    ax = fig.add_subplot()
    ax.imshow(
        signs.numpy(), origin="lower", extent=(*xlim, *ylim), cmap=_REGION_COLORS, vmin=-1.0, vmax=1.0,
        interpolation="nearest", aspect="auto",
    )
    handles: list[object] = [Patch(color=_REGION_COLORS(1.0), label="N(x) > 0"), Patch(color=_REGION_COLORS(0.0), label="N(x) < 0")]
    for label, marker in ((1.0, "o"), (-1.0, "s")):
        chosen = points[labels.numpy() == label]
        ax.scatter(chosen[:, 0], chosen[:, 1], s=12, marker=marker, color=_POINT_COLORS[label], edgecolors="white",
                   linewidths=0.3, zorder=3)
        handles.append(Line2D([], [], marker=marker, linestyle="", color=_POINT_COLORS[label], label=f"y = {label:+.0f}"))
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


def save_png(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG file (rendered by Agg), creating the parent folder; returns the path.

    The file is written atomically (a temporary file in the same folder, then renamed): a reader never
    sees half a picture.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            fig.savefig(f, format="png", dpi=dpi)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# Line styles tell the splits and the groups apart without colour (train solid, val dotted, test dashed).
SPLIT_STYLES = {"train": "-", "val": ":", "test": "--"}
GROUP_STYLES = {"w": "-", "u": "--"}

# (title, y label, [(key, label, style, colour)], y limits or None): the panels of diagnostic_curves_figure.
_CURVE_PANELS: tuple[tuple[str, str, tuple[tuple[str, str, str, str], ...], tuple[float, float] | None], ...] = (
    ("Outside the linear region (Fig. 2)", "fraction of points",
     tuple((f"linear_region/outside_fraction/{s}", s, SPLIT_STYLES[s], c) for s, c in (("train", "tab:blue"), ("val", "tab:green"), ("test", "tab:red"))),
     (-0.02, 1.02)),
    ("Cluster radius (Fig. 7a)", "r / ||w_bar - u_bar||", (("cluster/radius_ratio", "r / gap", "-", "tab:purple"),), None),
    ("Largest angle in a group (Fig. 7b)", "radians",
     (("cluster/max_angle_w", "w-neurons", GROUP_STYLES["w"], W_COLOR), ("cluster/max_angle_u", "u-neurons", GROUP_STYLES["u"], U_COLOR)), None),
    ("Neurons in the PAR (Fig. 8)", "fraction of neurons",
     (("par/fraction_w", "w-neurons", GROUP_STYLES["w"], W_COLOR), ("par/fraction_u", "u-neurons", GROUP_STYLES["u"], U_COLOR)), (-0.02, 1.02)),
    ("NAR disagreement (Fig. 9c)", "max n_diff",
     (("nar/max_disagreement_w", "w-neurons", GROUP_STYLES["w"], W_COLOR), ("nar/max_disagreement_u", "u-neurons", GROUP_STYLES["u"], U_COLOR)), None),
    ("Margins (sec. 6)", "margin",
     (("margin/smoothed", "smoothed (Eq. 5)", "-", "tab:blue"), ("margin/normalized", "normalized (Eq. 4)", "--", "tab:orange"),
      ("margin/theorem_6_2_threshold", "Thm 6.2 threshold", ":", "black")), None),
)


def diagnostic_curves_figure(history: Sequence[Mapping[str, float]], *, title: str = "", columns: int = 3) -> Figure:
    """The monitored quantities over epochs, in the style of the paper's Figures 2, 7, 8 and 9.

    Args:
        history: evaluations in order, each ``{"epoch": e, key: value, ...}`` with the keys of
            :class:`~lt_teacher.callbacks.LinearTeacherMonitor` (its :attr:`history`). With several
            networks the ``<key>/std`` columns are drawn as a shaded mean +- std band.
        title: the figure's title (e.g. the data set and the network).
        columns: panels per row.

    Returns:
        A figure with one panel per group of quantities present in ``history`` (groups with no value
        are left out); train/val/test and the w/u groups differ by line style as well as colour.

    Raises:
        ValueError: ``history`` is empty or holds none of the monitored keys.
    """
    rows = [row for row in history if "epoch" in row]
    if not rows:
        raise ValueError("`history` holds no evaluation (each row needs an 'epoch' and monitored keys).")
    panels = [(t, yl, [c for c in curves if any(c[0] in row for row in rows)], ylim) for t, yl, curves, ylim in _CURVE_PANELS]
    panels = [p for p in panels if p[2]]
    if not panels:
        raise ValueError(f"`history` holds none of the monitored keys; found {sorted(rows[-1])[:8]}.")
    ncols = min(columns, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = _new_figure((4.0 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (panel_title, ylabel, curves, ylim) in zip(axes, panels):
        for key, label, style, color in curves:
            points = [(row["epoch"], row[key], row.get(f"{key}/std", 0.0)) for row in rows if key in row]
            epochs, mean, std = (np.array(column, dtype=np.float64) for column in zip(*points))
            ax.plot(epochs, mean, style, color=color, label=label, linewidth=1.5, marker="." if len(epochs) < 30 else None)
            if np.any(std > 0):
                ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(panel_title, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best", framealpha=0.8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig

