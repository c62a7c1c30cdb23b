"""Matplotlib figures of a two-layer Leaky-ReLU network and of its monitored quantities: the one home of plotting.

Pure figure builders (no Lightning, no pyplot): they return a :class:`matplotlib.figure.Figure` on an
Agg canvas, which needs no display and is freed like any Python object.

* :mod:`~lt_teacher.plotting.network`: the neurons (:func:`neuron_figure`) and the decision regions
  (:func:`decision_boundary_figure`, :func:`landscape_figure`) of Eq. (1);
* :mod:`~lt_teacher.plotting.projection`: the plane on which neurons wider than 2 are drawn;
* :mod:`~lt_teacher.plotting.curves`: quantities over epochs (:func:`diagnostic_curves_figure`,
  :func:`curves_figure`) and heat maps;
* :mod:`~lt_teacher.plotting._canvas`: the canvas, colours and PNG writing every figure shares.
"""

from ._canvas import save_compact_png, save_png
from .curves import Panel, Series, curves_figure, diagnostic_curves_figure, distances_figure, heatmap_figure
from .network import decision_boundary_figure, landscape_figure, neuron_figure
from .projection import projection_plane

__all__ = [
    "Panel",
    "Series",
    "curves_figure",
    "decision_boundary_figure",
    "diagnostic_curves_figure",
    "distances_figure",
    "heatmap_figure",
    "landscape_figure",
    "neuron_figure",
    "projection_plane",
    "save_compact_png",
    "save_png",
]
