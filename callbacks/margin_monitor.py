"""MarginMonitor: the loss, Eq. (4), Eq. (5), Assumption 6.1 and Theorem 6.2's margin threshold."""

from __future__ import annotations

from typing import Any

from .linear_teacher_monitor import LinearTeacherMonitor

__all__ = ["MarginMonitor"]


class MarginMonitor(LinearTeacherMonitor):
    """On the training points: loss, normalized and smoothed margins and the conditions of section 6.

    Logged metrics: ``margin/loss``, ``margin/log_loss``, ``margin/accuracy``, ``margin/normalized`` (Eq. 4),
    ``margin/smoothed`` (Eq. 5, accurate when the loss underflows), ``margin/assumption_6_1`` (L < 1/n),
    ``margin/theorem_6_2_threshold`` (sqrt(k) alpha v max ||x||) and ``margin/above_threshold``.
    Margins divide by ||W|| for the fixed-output network and by ||theta||^2 for a learned output layer.

    Args:
        **kwargs: the keyword arguments of :class:`LinearTeacherMonitor` (``every_n_epochs``, ``max_samples``,
            ``data``, ``batch_to_xy``, ``network_fn``, ``batch_size``, ``sample_seed``, ``features``,
            ``output_fn``, ...) except ``groups``; LightningCLI lists them from there.

    Example:
        >>> MarginMonitor(every_n_epochs=5).groups
        ('margin',)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(("margin",), **kwargs)
