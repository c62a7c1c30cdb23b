"""CurvePlotMonitor: the monitored quantities over epochs as one PNG (the paper's Figures 2, 7, 8, 9)."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from typing_extensions import override

from lt_teacher.plotting import diagnostic_curves_figure, save_png

from lt_teacher._validation import check_int, check_optional_int, check_optional_path
from ._evaluation_callback import EvaluationCallback
from ._wandb import wandb_loggers


class CurvePlotMonitor(Callback):
    r"""Draws the curves of every evaluating monitor of the Trainer (e.g. :class:`LinearTeacherMonitor`).

    It reads the float64 :attr:`history` of the monitors (it computes nothing itself), so its place in
    the callback list does not matter: at the end of training it draws every evaluation. With
    ``every_n_epochs`` it also redraws during training (the latest evaluation may then be one epoch
    behind when it runs before the monitor in the callback list).

    Outputs (global rank zero only):

    ======================================  ====================================================
    output                                  meaning
    ======================================  ====================================================
    ``<save_dir>/curves.png``               one panel per group of quantities, against the epoch
    W&B image ``plots/curves``              the same PNG, to every ``WandbLogger``
    ======================================  ====================================================

    Panels: outside fraction of the linear region per split (Figure 2), r/||w_bar - u_bar|| (Figure 7a),
    the largest angle per group (Figure 7b), the PAR fraction per group (Figure 8), the NAR
    disagreement per group (Figure 9c) and the margins with Theorem 6.2's threshold. Splits and groups
    differ by line style; with several networks a band shows mean +- std.

    Args:
        every_n_epochs: also redraw after every n-th training epoch; None: only at the end of training.
        save_dir: folder of the PNG; default ``<trainer.log_dir or default_root_dir>/lt_teacher_plots``
            (where :class:`NeuronPlotMonitor` writes its snapshots).
        filename: name of the PNG file.
        dpi: resolution of the PNG (the figure is 12 x 6 inches for six panels).

    Raises:
        ValueError: an argument is out of range.
        TypeError: ``save_dir`` or ``filename`` has the wrong type.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> from lt_teacher.callbacks import LinearTeacherMonitor
        >>> trainer = Trainer(callbacks=[LinearTeacherMonitor(), CurvePlotMonitor()])  # doctest: +SKIP
    """

    def __init__(self, every_n_epochs: int | None = None, save_dir: str | Path | None = None, filename: str = "curves.png", dpi: int = 100) -> None:
        super().__init__()
        owner = type(self).__name__
        check_optional_int(every_n_epochs, "every_n_epochs", minimum=1, owner=owner)
        check_int(dpi, "dpi", minimum=1, owner=owner)
        check_optional_path(save_dir, "save_dir", owner=owner)
        if not isinstance(filename, str):
            raise TypeError(f"{owner}: `filename` must be a str, a file name ending in .png, got {type(filename).__name__}.")
        if not filename.endswith(".png") or "/" in filename:
            raise ValueError(f"{owner}: `filename` must be a file name ending in .png, got {filename!r}.")
        self.every_n_epochs = every_n_epochs
        self.save_dir = save_dir
        self.filename = filename
        self.dpi = dpi
        self.saved_files: list[str] = []
        self._dir: Path | None = None

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # trainer.log_dir broadcasts from rank zero: every process must ask for it.
        root = self.save_dir if self.save_dir is not None else Path(trainer.log_dir or trainer.default_root_dir) / "lt_teacher_plots"
        self._dir = Path(root)

    @staticmethod
    def history(trainer: Trainer) -> list[dict[str, float]]:
        """The evaluations of every monitor of ``trainer``, merged by epoch."""
        merged: dict[float, dict[str, float]] = {}
        for callback in trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(callback, EvaluationCallback):
                for row in callback.history:
                    merged.setdefault(row["epoch"], {}).update(row)
        return [merged[epoch] for epoch in sorted(merged)]

    def draw(self, trainer: Trainer, pl_module: LightningModule) -> Path | None:
        """Write the PNG now (rank zero) and send it to W&B; returns its path, None when there is nothing to draw."""
        history = self.history(trainer)
        if not trainer.is_global_zero or not history or self._dir is None:
            return None
        title = f"{type(pl_module).__name__}, epochs 1-{int(history[-1]['epoch'])}"
        try:
            figure = diagnostic_curves_figure(history, title=title)
        except ValueError:  # the monitors log none of the drawn quantities (e.g. only PARSolutionMonitor)
            return None
        path = save_png(figure, self._dir / self.filename, dpi=self.dpi)
        if str(path) not in self.saved_files:
            self.saved_files.append(str(path))
        for logger in wandb_loggers(trainer):
            logger.log_image(key="plots/curves", images=[str(path)], step=trainer.global_step)
        return path

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.every_n_epochs is not None and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.draw(trainer, pl_module)

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.draw(trainer, pl_module)
