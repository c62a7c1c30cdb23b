"""Curves over epochs and heat maps: the monitored quantities (:func:`diagnostic_curves_figure`, the curves of
``lt-teacher fit``) and the reproduction's figures (means over seeds with a shaded spread, heat maps of a
sweep, neuron distances). Pure matplotlib on an Agg canvas (:mod:`lt_teacher.plotting._canvas`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ._canvas import PALETTE, U_COLOR, W_COLOR, new_figure


@dataclass(frozen=True)
class Series:
    """One curve: the mean over seeds per evaluation and its spread (shaded mean +- std)."""

    label: str
    epochs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    style: str = "-"
    color: int | None = None  # index into PALETTE; default: the series' position


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    series: Sequence[Series]
    ylim: tuple[float, float] | None = None
    logy: bool = False
    clip: tuple[float, float] | None = None  # shade within these bounds (e.g. fractions in [0, 1])
    hline: float | None = None  # a threshold line
    logx: bool = False  # symmetric-log epoch axis (linear below 1), for changes in the first epochs
    symlogy: bool = False  # symmetric-log y axis (linear below 1): counts that fall to 0


def curves_figure(panels: Sequence[Panel], suptitle: str, *, width: float = 4.2, height: float = 3.2) -> Figure:
    """Panels side by side; each series drawn as its mean with a shaded mean +- std band over seeds."""
    fig = new_figure((width * len(panels), height))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        for i, s in enumerate(panel.series):
            color = PALETTE[(i if s.color is None else s.color) % len(PALETTE)]
            lo, hi = s.mean - s.std, s.mean + s.std
            if panel.clip is not None:
                lo, hi = np.clip(lo, *panel.clip), np.clip(hi, *panel.clip)
            if panel.logy:
                floor = np.nanmin(s.mean[s.mean > 0]) / 10 if np.any(s.mean > 0) else 1e-12
                lo = np.maximum(lo, floor)
            ax.plot(s.epochs, s.mean, s.style, color=color, label=s.label, linewidth=1.4, marker=".", markersize=3)
            ax.fill_between(s.epochs, lo, hi, color=color, alpha=0.2, linewidth=0)
        if panel.hline is not None:
            ax.axhline(panel.hline, color="black", linestyle=":", linewidth=0.8)
        if panel.logy:
            ax.set_yscale("log")
        if panel.logx:
            ax.set_xscale("symlog", linthresh=1.0)
        if panel.symlogy:
            ax.set_yscale("symlog", linthresh=1.0)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", loc="best", framealpha=0.8)
    fig.suptitle(suptitle, fontsize="medium")
    return fig


def heatmap_figure(
    row_values: Sequence[float],
    col_values: Sequence[float],
    maps: Sequence[tuple[str, np.ndarray, bool]],
    *,
    row_label: str,
    col_label: str,
    suptitle: str,
    fmt: str = "{:.2g}",
) -> Figure:
    """One heat map per ``(title, matrix[row, col], log_scale)``, each cell annotated with its value."""
    fig = new_figure((4.6 * len(maps), 0.45 * len(row_values) + 2.2))
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, (title, matrix, log_scale) in zip(axes, maps):
        data = np.asarray(matrix, dtype=float)
        norm = None
        if log_scale:
            positive = data[data > 0]
            floor = float(positive.min()) if positive.size else 1e-6
            norm = LogNorm(vmin=floor, vmax=max(float(np.nanmax(data)), floor * 10))
            data = np.where(data > 0, data, floor)
        image = ax.imshow(data, cmap="viridis", aspect="auto", origin="lower", norm=norm)
        fig.colorbar(image, ax=ax, shrink=0.85)
        for (i, j), value in np.ndenumerate(np.asarray(matrix, dtype=float)):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=6.5, color="white" if data[i, j] < np.nanmean(data) else "black")
        ax.set_xticks(range(len(col_values)), [f"{c:g}" for c in col_values], rotation=45, fontsize="x-small")
        ax.set_yticks(range(len(row_values)), [f"{r:g}" for r in row_values], fontsize="x-small")
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ax.set_title(title, fontsize="medium")
    fig.suptitle(suptitle, fontsize="medium")
    return fig


def distances_figure(runs: Sequence[tuple[str, Sequence[Sequence[float]], float]], suptitle: str) -> Figure:
    """Each neuron's distance from its group mean / ||w_bar - u_bar||, largest first, one line per seed.

    ``runs``: (title, per-seed sorted distance ratios, median |cos(x, w_bar - u_bar)|) per panel. The
    dashed line at half that median is the r / ||w_bar - u_bar|| below which half the points are inside
    Theorem 5.1's region (Eq. 6): the largest distance (rank 1) is r.
    """
    fig = new_figure((max(8.5, 5.0 * len(runs)), 4.2))  # >= 600 px wide at the reports' DPI
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, (title, per_seed, median_cos) in zip(axes, runs):
        for s, ratios in enumerate(per_seed):
            ranks = np.arange(1, len(ratios) + 1)
            ax.plot(ranks, np.maximum(np.asarray(ratios, dtype=float), 1e-12), color=PALETTE[s % len(PALETTE)],
                    linestyle=("-", "--", ":", "-.")[s % 4], marker="o", markersize=2.5, linewidth=1.2, label=f"seed {s}")
        ax.axhline(median_cos / 2.0, color="black", linestyle="--", linewidth=1.0, label="½ median |cos(x, w̄−ū)|")
        ax.set_yscale("log")
        ax.set_xlabel("neuron rank by distance (1 = r)")
        ax.set_ylabel("‖neuron − group mean‖ / ‖w̄−ū‖")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(suptitle, fontsize=10)
    return fig


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
    fig = new_figure((4.0 * ncols, 3.0 * nrows))
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
