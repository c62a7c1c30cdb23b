"""NeuralAgreementMonitor: max(n_diff), agreement, the NAR flag and PAR fractions (Definitions 6.2, 6.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lightning.pytorch import LightningModule
from torch import nn

from ._verify import Features, OutputFn
from ._data import BatchToXY
from .linear_teacher_monitor import LinearTeacherMonitor


class NeuralAgreementMonitor(LinearTeacherMonitor):
    """On the training points: how much the neurons of each group agree, and how many are in the PAR.

    Logged metrics: ``nar/max_disagreement_w``, ``nar/max_disagreement_u`` (Figure 9c),
    ``nar/agreement_fraction``, ``nar/agreement_fraction_w``, ``nar/agreement_fraction_u``, ``nar/in_nar``,
    ``par/fraction_w``, ``par/fraction_u`` (Figure 8).

    Args:
        beta: the margin of Definitions 6.2/6.3, >= 0 (0: sign agreement; a zero pre-activation never agrees).
        every_n_epochs, max_samples, data, batch_to_xy, network_fn, batch_size, sample_seed, features, output_fn: as in
            :class:`LinearTeacherMonitor`.
    """

    def __init__(
        self,
        beta: float = 0.0,
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
            ("agreement", "par"), beta=beta, every_n_epochs=every_n_epochs, max_samples=max_samples, data=data,
            batch_to_xy=batch_to_xy, network_fn=network_fn, batch_size=batch_size, sample_seed=sample_seed, features=features, output_fn=output_fn,
        )
