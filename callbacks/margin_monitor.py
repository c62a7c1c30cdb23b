"""MarginMonitor: the loss, Eq. (4), Eq. (5), Assumption 6.1 and Theorem 6.2's margin threshold."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lightning.pytorch import LightningModule
from torch import nn

from ._verify import Features, OutputFn
from ._data import BatchToXY
from .linear_teacher_monitor import LinearTeacherMonitor


class MarginMonitor(LinearTeacherMonitor):
    """On the training points: loss, normalized and smoothed margins and the conditions of section 6.

    Logged metrics: ``margin/loss``, ``margin/log_loss``, ``margin/accuracy``, ``margin/normalized`` (Eq. 4),
    ``margin/smoothed`` (Eq. 5, accurate when the loss underflows), ``margin/assumption_6_1`` (L < 1/n),
    ``margin/theorem_6_2_threshold`` (sqrt(k) alpha v max ||x||) and ``margin/above_threshold``.
    Margins divide by ||W|| for the fixed-output network and by ||theta||^2 for a learned output layer.

    Args:
        every_n_epochs, max_samples, data, batch_to_xy, network_fn, batch_size, sample_seed, features, output_fn: as in
            :class:`LinearTeacherMonitor`.
    """

    def __init__(
        self,
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
            ("margin",), every_n_epochs=every_n_epochs, max_samples=max_samples, data=data,
            batch_to_xy=batch_to_xy, network_fn=network_fn, batch_size=batch_size, sample_seed=sample_seed, features=features, output_fn=output_fn,
        )
