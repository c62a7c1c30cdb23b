"""LinearRegionMonitor: the share of points outside Theorem 5.1's provably linear region (Figure 2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lightning.pytorch import LightningModule
from torch import nn

from ._verify import Features, OutputFn
from ._data import SPLITS, BatchToXY
from .linear_teacher_monitor import LinearTeacherMonitor


class LinearRegionMonitor(LinearTeacherMonitor):
    """Per split: the share of points with |(w_bar - u_bar) . x| < 2 r ||x|| (outside Theorem 5.1's
    region), and the share where sign N(x) differs from the linear classifier (the real disagreement,
    which the certificate bounds from above).

    Logged metrics: ``linear_region/outside_fraction/<split>`` and ``linear_region/disagreement/<split>``
    for each split among ``splits`` that the run has.

    Args:
        splits: a subset of ``("train", "val", "test")``.
        every_n_epochs, max_samples, data, batch_to_xy, network_fn, batch_size, sample_seed, features, output_fn: as in
            :class:`LinearTeacherMonitor`.
    """

    def __init__(
        self,
        splits: Sequence[str] = SPLITS,
        *,
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        data: Mapping[str, Any] | None = None,
        batch_to_xy: BatchToXY | None = None,
        network_fn: Callable[[LightningModule], nn.Module] | None = None,
        batch_size: int = 4096,
        sample_seed: int = 0,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
    ) -> None:
        super().__init__(
            ("linear_region",), splits=splits, every_n_epochs=every_n_epochs, max_samples=max_samples, data=data,
            batch_to_xy=batch_to_xy, network_fn=network_fn, batch_size=batch_size, sample_seed=sample_seed, features=features, output_fn=output_fn,
        )
