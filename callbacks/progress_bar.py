"""LinearTeacherProgressBar: Lightning's progress bar with the run's two key diagnostics."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar
from typing_extensions import override

# progress-bar name -> logged key (LinearTeacherMonitor): Figure 2's quantity and Figure 7a's.
PROGRESS_KEYS = {"outside": "linear_region/outside_fraction/train", "r/gap": "cluster/radius_ratio"}


class LinearTeacherProgressBar(TQDMProgressBar):
    r"""A :class:`~lightning.pytorch.callbacks.TQDMProgressBar` that also shows, once they are logged,

    ============  ===========================================  ========================================
    shown as      logged key                                   meaning
    ============  ===========================================  ========================================
    ``outside``   ``linear_region/outside_fraction/train``     training points outside Theorem 5.1's region
    ``r/gap``     ``cluster/radius_ratio``                     r / ||w_bar - u_bar|| (Figure 7a)
    ============  ===========================================  ========================================

    (the values of the latest evaluation of :class:`LinearTeacherMonitor`; with several networks,
    their mean). The W&B/CSV version number ``v_num`` is left out. Every argument is
    :class:`~lightning.pytorch.callbacks.TQDMProgressBar`'s.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[LinearTeacherProgressBar()])  # doctest: +SKIP
    """

    @override
    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        items = dict(super().get_metrics(trainer, pl_module))
        items.pop("v_num", None)
        for name, key in PROGRESS_KEYS.items():
            value = trainer.callback_metrics.get(key)
            if value is not None and value.numel() == 1:
                items[name] = f"{float(value):.3g}"
        return items
