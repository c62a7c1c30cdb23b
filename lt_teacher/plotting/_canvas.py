"""What every figure of the package shares: the Agg canvas, the colours, the sign-region drawing and PNG writing.

Figures are created without pyplot, so they are never registered with a GUI backend or pyplot's
figure list, need no display and are freed like any Python object (nothing to close).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

W_COLOR = "tab:blue"
U_COLOR = "tab:orange"
PAR_COLOR = "tab:green"
# sign N(x) = -1, 0, +1: blue, grey, orange (the colours of Figure 4).
REGION_COLORS = ListedColormap(["#9ecae1", "#d9d9d9", "#fdd0a2"])
POINT_COLORS = {1.0: "#d94801", -1.0: "#08519c"}
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
REPORT_DPI = 150  # the reports' narrowest figure (4 in, a neuron picture) is 600 px wide
PNG_COLORS = 96  # the committed report PNGs are palette images: a quarter of the size, no visible loss for these plots


def new_figure(size: tuple[float, float]) -> Figure:
    """An empty figure of ``size`` inches with constrained layout, on an Agg canvas (rendering never needs a display)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_sign_regions(ax: Axes, signs: np.ndarray, extent: tuple[float, float, float, float], *, aspect: Literal["equal", "auto"] | None = None) -> None:
    """sign N(x) on a grid (rows: x2, columns: x1) as coloured regions: orange +1, grey 0, blue -1."""
    ax.imshow(signs, origin="lower", extent=extent, cmap=REGION_COLORS, vmin=-1.0, vmax=1.0, interpolation="nearest", aspect=aspect)


def sign_region_handles(*, with_zero: bool = False) -> list[Patch]:
    """Legend entries of :func:`draw_sign_regions`: N(x) > 0, N(x) < 0 (and N(x) = 0)."""
    handles = [Patch(color=REGION_COLORS(1.0), label="N(x) > 0"), Patch(color=REGION_COLORS(0.0), label="N(x) < 0")]
    if with_zero:
        handles.append(Patch(color=REGION_COLORS(0.5), label="N(x) = 0"))
    return handles


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


def save_compact_png(fig: Figure, path: Path, *, dpi: int = REPORT_DPI) -> Path:
    """Render ``fig`` with Agg and write it as an optimized palette PNG (``PNG_COLORS`` colours): the reports' figures."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT).save(path, format="PNG", optimize=True)
    return path
