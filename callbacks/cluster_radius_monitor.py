"""ClusterRadiusMonitor: r, r / ||w_bar - u_bar|| and the in-group angles (section 5, supplementary 11.4)."""

from __future__ import annotations

from collections.abc import Callable

from lightning.pytorch import LightningModule
from torch import nn

from ._verify import Features, OutputFn
from .linear_teacher_monitor import LinearTeacherMonitor


class ClusterRadiusMonitor(LinearTeacherMonitor):
    """Logs how tightly the neurons of each group cluster; needs no data.

    Logged metrics: ``cluster/radius``, ``cluster/radius_w``, ``cluster/radius_u``, ``cluster/mean_gap``,
    ``cluster/radius_ratio``, ``cluster/max_angle_w``, ``cluster/max_angle_u`` (radians); see
    :class:`LinearTeacherMonitor` for their meaning.

    Args:
        every_n_epochs: evaluate after every n-th training epoch.
        network_fn: returns the two-layer sub-module of the LightningModule to analyse.
        features, output_fn: as in :class:`LinearTeacherMonitor`; the cluster values need no data, but the
            network is verified on a few training inputs before the first training step.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[ClusterRadiusMonitor()])  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        network_fn: Callable[[LightningModule], nn.Module] | None = None,
        *,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
    ) -> None:
        super().__init__(("cluster",), every_n_epochs=every_n_epochs, network_fn=network_fn, features=features, output_fn=output_fn)
