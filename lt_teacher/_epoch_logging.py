"""One epoch value logged from ``training_step`` through Lightning's result collection, without ``self.log``'s cost.

``LightningModule.log`` re-validates its arguments, builds and compares a ``_Metadata`` and moves the stored
``_ResultMetric`` to the value's device on every call: about half a millisecond on a CPU (the device move
deep-copies the metadata), a sixth of the fused engine's epoch at n = 2000. :class:`EpochValueLogger` calls
``self.log`` once per fit, the first time, and afterwards hands the value to the ``_ResultMetric`` that call
registered, through the same ``update_metrics`` call ``self.log`` ends with (after the same reset of the hook's
values at an epoch's first call, skipped when Lightning's reset at the previous epoch's end left nothing to reset),
provided that metric is still the one stored under its key and on the value's device. Everything downstream is Lightning's own: the epoch
reduction, ``callback_metrics`` and the progress bar from ``on_train_epoch_end`` on, the loggers' epoch row
at Lightning's step, ``ModelCheckpoint``/``EarlyStopping`` monitoring. When anything it relies on is missing
(another Lightning version, ``Trainer(barebones=True)``, a new trainer or result collection) it calls
``self.log`` again.
"""

from __future__ import annotations

from typing import Any, cast

from lightning.pytorch import LightningModule
from torch import Tensor


class EpochValueLogger:
    """Logs ``name`` as ``module.log(name, value, on_step=False, on_epoch=True, prog_bar=prog_bar, batch_size=1)``
    does, from ``training_step``, at a fraction of its cost after the first call (see the module docstring).

    Args:
        name: the logged key.
        prog_bar: whether the progress bar shows it.

    Raises:
        TypeError: ``name`` is not a string or ``prog_bar`` not a bool.
    """

    def __init__(self, name: str, *, prog_bar: bool) -> None:
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, got {type(name).__name__}.")
        if not isinstance(prog_bar, bool):
            raise TypeError(f"`prog_bar` must be a bool, got {type(prog_bar).__name__}.")
        self.name = name
        self.prog_bar = prog_bar
        # (Lightning's _ResultCollection, a dict; the key; its _ResultMetric) of the last self.log
        self._registered: tuple[dict[str, Any], str, Any] | None = None
        self.fast_calls = 0  # calls that skipped self.log (tests check the fast path is taken)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled or deep-copied with the module (DDP spawn, checkpoints of the whole object): not the trainer's
        result collection, which the copy registers anew with its first ``self.log``."""
        return {**self.__dict__, "_registered": None}

    def log(self, module: LightningModule, value: Tensor) -> None:
        """Log ``value`` (a floating tensor of one element) for the current epoch; call it from ``training_step``."""
        if not isinstance(value, Tensor):
            raise TypeError(f"`value` must be a torch.Tensor, got {type(value).__name__}.")
        if value.numel() == 1:
            scalar = value if value.ndim == 0 and not value.requires_grad else value.detach().reshape(())  # no copy needed
            if self._update_registered_metric(module, scalar):
                self.fast_calls += 1
                return
        module.log(self.name, value, on_step=False, on_epoch=True, prog_bar=self.prog_bar, batch_size=1)
        self._remember_registered_metric(module)

    def _remember_registered_metric(self, module: LightningModule) -> None:
        """After ``module.log``: the result collection and ``_ResultMetric`` it stored the value in, if any."""
        results = getattr(module.trainer, "_results", None)
        key = f"{module._current_fx_name}.{self.name}"
        metric = results.get(key) if isinstance(results, dict) else None
        self._registered = (cast(dict[str, Any], results), key, metric) if metric is not None else None

    def _update_registered_metric(self, module: LightningModule, value: Tensor) -> bool:
        """What ``module.log`` does after its checks, on the metric it registered; False when that is not possible."""
        if self._registered is None or module._trainer is None:
            return False
        results, key, metric = self._registered
        trainer = module.trainer
        connector = getattr(trainer, "_logger_connector", None)
        fx = module._current_fx_name
        same_metric = getattr(trainer, "_results", None) is results and results.get(key) is metric
        if not same_metric or key != f"{fx}.{self.name}" or getattr(results, "dataloader_idx", 0) is not None or connector is None:
            return False
        if getattr(metric, "value", None) is None or metric.value.device != value.device:
            return False
        collection: Any = results
        if connector.should_reset_tensors(fx) and not _reset_since_updated(collection, fx):  # as in module.log
            collection.reset(metrics=False, fx=fx)
        collection.update_metrics(key, value, 1)
        connector._current_fx = fx
        return True


def _reset_since_updated(results: Any, fx: str | None) -> bool:
    """Whether every tensor value logged from hook ``fx`` was reset and not updated since (``has_reset``, as Lightning
    leaves them all at an epoch's end): ``results.reset(metrics=False, fx=fx)`` would then change nothing but cost
    two tensor copies per value (torchmetrics' ``Metric.reset``)."""
    return all(item.has_reset for item in results.values() if item.is_tensor and item.meta.fx == fx)
