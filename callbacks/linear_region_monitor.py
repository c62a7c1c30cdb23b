"""LinearRegionMonitor: the share of points outside Theorem 5.1's provably linear region (Figure 2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lt_teacher.evaluation_data import SPLITS

from .linear_teacher_monitor import LinearTeacherMonitor

__all__ = ["LinearRegionMonitor"]


class LinearRegionMonitor(LinearTeacherMonitor):
    """Per split: the share of points with |(w_bar - u_bar) . x| < 2 r ||x|| (outside Theorem 5.1's
    region), and the share where sign N(x) differs from the linear classifier (the real disagreement,
    which the certificate bounds from above).

    Logged metrics: ``linear_region/outside_fraction/<split>`` and ``linear_region/disagreement/<split>``
    for each split among ``splits`` that the run has.

    Args:
        splits: a subset of ``("train", "val", "test")``.
        **kwargs: the other keyword arguments of :class:`LinearTeacherMonitor` (``every_n_epochs``,
            ``max_samples``, ``data``, ``network_fn``, ...) except ``groups``; LightningCLI lists them from there.

    Example:
        >>> LinearRegionMonitor(("train", "test")).splits
        ('train', 'test')
    """

    def __init__(self, splits: Sequence[str] = SPLITS, **kwargs: Any) -> None:
        super().__init__(("linear_region",), splits=splits, **kwargs)
