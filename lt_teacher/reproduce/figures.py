"""The reproduction's figures: curves over epochs averaged over seeds with a shaded spread, heat maps,
and the Leaky-ReLU vs ReLU landscape. Pure matplotlib on an Agg canvas (no pyplot, no display); the
2-D decision boundaries and neuron pictures come from :mod:`lt_teacher.plotting`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from .measures import two_neuron_output

# The colours of lt_teacher.plotting (sign N = -1, 0, +1: blue, grey, orange as in Figure 4).
REGION_COLORS = ListedColormap(["#9ecae1", "#d9d9d9", "#fdd0a2"])
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
DPI = 150  # the narrowest figure (4 in, a neuron picture) is 600 px wide
PNG_COLORS = 96  # the committed PNGs are palette images: a quarter of the size, no visible loss for these plots


def save_compact_png(fig: Figure, path: Path, *, dpi: int = DPI) -> Path:
    """Render ``fig`` with Agg and write it as an optimized palette PNG (``PNG_COLORS`` colours)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT).save(path, format="PNG", optimize=True)
    return path


def new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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


def landscape_figure(
    panels: Sequence[tuple[str, torch.Tensor, torch.Tensor, float]], *, extent: float = 2.0, grid: int = 201, suptitle: str = ""
) -> Figure:
    """sign N(x) on [-extent, extent]^2 for networks ``(title, w, u, alpha)`` (alpha = 0: ReLU), Figure 4 colours."""
    fig = new_figure((4.0 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    axis = torch.linspace(-extent, extent, grid, dtype=torch.float64)
    mesh = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    for ax, (title, w, u, alpha) in zip(axes, panels):
        signs = torch.sign(two_neuron_output(mesh, w, u, alpha)).reshape(grid, grid)
        ax.imshow(signs.numpy(), origin="lower", extent=(-extent, extent, -extent, extent), cmap=REGION_COLORS, vmin=-1, vmax=1, interpolation="nearest")
        for vector, name, color in ((w[0], "w", "tab:red"), (u[0], "u", "tab:blue")):
            ax.annotate("", xy=(float(vector[0]), float(vector[1])), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5})
            ax.text(float(vector[0]) * 1.08, float(vector[1]) * 1.08, name, color=color)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    handles = [Patch(color=REGION_COLORS(1.0), label="N(x) > 0"), Patch(color=REGION_COLORS(0.0), label="N(x) < 0"), Patch(color=REGION_COLORS(0.5), label="N(x) = 0")]
    axes[-1].legend(handles=handles, loc="lower right", fontsize="x-small")
    if suptitle:
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
