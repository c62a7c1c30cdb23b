"""NeuronPlotMonitor: pictures of the neurons and of the decision boundary during training (Figures 1, 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from matplotlib.figure import Figure
from torch import Tensor
from typing_extensions import override

from lt_teacher._validation import check_int, check_optional_int, check_optional_path
from lt_teacher.evaluation_data import BatchToXY
from lt_teacher.plotting import decision_boundary_figure, neuron_figure, save_png
from lt_teacher.view import NetworkStateError

from ._analysed_network import AnalysedNetwork, NetworkFn
from ._data import all_training_points
from ._verify import Features, OutputFn, head_inputs
from ._wandb import wandb_loggers

__all__ = ["NeuronPlotMonitor"]

PLOTS = ("neurons", "decision_boundary")


class NeuronPlotMonitor(AnalysedNetwork, Callback):
    r"""Draws the normalized neurons and, for 2-D inputs, the decision boundary, every n epochs.

    Two figures, built by the pure matplotlib functions of :mod:`lt_teacher.plotting` (Agg, no display):

    * ``neurons`` (any input width): every neuron normalized to unit norm, w-neurons and u-neurons in
      two colours, like Figure 1c/d. For inputs of width 2 the directions lie on the unit circle; for
      wider inputs (or a first-layer bias, which adds a coordinate) they are projected on the plane
      spanned by w_bar - u_bar and the top principal direction of all normalized neurons orthogonal
      to it (:func:`lt_teacher.plotting.projection_plane`, which also handles w_bar = u_bar and
      neurons that all lie on one line). Neurons of norm 0 are left out and counted in the title.
    * ``decision_boundary`` (only when the network's inputs are 2-D, with or without a bias
      coordinate; skipped otherwise): sign N(x) on a ``grid_size`` x ``grid_size`` grid covering the
      training points, the points scattered by label and the line (w_bar - u_bar) . x = 0 of
      Theorem 5.1, like Figure 1a/b and 3a.

    Outputs, written by global rank zero only (the figures need no communication, so no collective
    ever runs on one rank alone):

    ======================================================  ==============================================
    output                                                  meaning
    ======================================================  ==============================================
    ``<save_dir>/neurons_epoch{NNNN}.png``                  the neuron figure after epoch NNNN (1-based)
    ``<save_dir>/decision_boundary_epoch{NNNN}.png``        the decision boundary figure (2-D inputs only)
    W&B image ``plots/neurons``                             the same PNG, to every ``WandbLogger``
    W&B image ``plots/decision_boundary``                   the same PNG, to every ``WandbLogger``
    ======================================================  ==============================================

    Logged metrics: none through ``pl_module.log``. Images go to each ``WandbLogger`` with
    ``log_image(key, images=[png_path], step=trainer.global_step)``; the step is the trainer's global
    step, which never decreases (also across a resume). :attr:`saved_files` lists every PNG written,
    in order, and survives a resume through ``state_dict``.

    Args:
        every_n_epochs: draw after every n-th training epoch.
        max_points: scatter at most this many training points (a fixed, seeded subset); None: all.
        save_dir: folder of the PNG files; default ``<trainer.log_dir or default_root_dir>/lt_teacher_plots``.
        network_fn: returns the two-layer sub-module of the LightningModule to draw.
        data: optional ``{"train": (x, y) | Dataset | DataLoader}`` instead of the trainer's training data.
        batch_to_xy: turns a batch into ``(x, y)``; default: tuples ``(x, y, ...)`` and dicts with x/y keys.
        grid_size: grid points per axis of the decision boundary, >= 2.
        plots: which figures to draw, a non-empty subset of ``("neurons", "decision_boundary")``.
        sample_seed: seed of the ``max_points`` subset.
        dpi: resolution of the PNG files.
        features: ``features(module, x)`` maps inputs to the inputs of the drawn two-layer head (see
            :class:`LinearTeacherMonitor`); the decision boundary is then drawn in the feature plane.
        output_fn: how to obtain the module's logit for the network check (see :class:`LinearTeacherMonitor`).

    Raises:
        ValueError: an argument is out of range (at construction); the network or the data do not fit
            (at ``setup`` / the start of training).
        TypeError: ``data`` is not a mapping, or ``batch_to_xy``/``network_fn`` is not callable.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[NeuronPlotMonitor(every_n_epochs=10)])  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        max_points: int | None = 500,
        save_dir: str | Path | None = None,
        network_fn: NetworkFn | None = None,
        data: Mapping[str, Any] | None = None,
        batch_to_xy: BatchToXY | None = None,
        grid_size: int = 200,
        *,
        plots: Sequence[str] = PLOTS,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
        sample_seed: int = 0,
        dpi: int = 100,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_int(every_n_epochs, "every_n_epochs", minimum=1, owner=owner)
        check_optional_int(max_points, "max_points", minimum=1, owner=owner)
        check_int(dpi, "dpi", minimum=1, owner=owner)
        check_int(grid_size, "grid_size", minimum=2, owner=owner)
        check_optional_path(save_dir, "save_dir", owner=owner)
        if isinstance(plots, str) or not plots or any(p not in PLOTS for p in plots):
            raise ValueError(f"{owner}: `plots` must be a non-empty subset of {PLOTS}, got {plots!r}.")
        self._set_network_arguments(owner, batch_to_xy=batch_to_xy, network_fn=network_fn, features=features, output_fn=output_fn)
        self._set_training_data_arguments(owner, data=data, sample_seed=sample_seed)
        self.every_n_epochs = every_n_epochs
        self.max_points = max_points
        self.save_dir = save_dir
        self.grid_size = grid_size
        self.plots = tuple(p for p in PLOTS if p in plots)
        self.dpi = dpi
        self.saved_files: list[str] = []
        self._dir: Path | None = None
        self._points: tuple[Tensor, Tensor] | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.view(pl_module)  # fails now, not after training, if the structure is unsupported

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # trainer.log_dir broadcasts from rank zero: every process must ask for it.
        root = self.save_dir if self.save_dir is not None else Path(trainer.log_dir or trainer.default_root_dir) / "lt_teacher_plots"
        self._dir = Path(root)
        self._points = None
        views = self._start_views(trainer, pl_module)
        if views is None:  # resumed with a network that cannot be analysed: pictures without the training points
            return
        view = views[0]
        owner = type(self).__name__
        boundary = "decision_boundary" in self.plots and view.input_dim == 2
        error: Exception | None = None
        x: Tensor | None = None
        try:  # read on every process, so a data problem raises everywhere, not on rank zero alone
            x, y = all_training_points(
                trainer, self.data, self.batch_to_xy, max_samples=self.max_points if boundary else 256,
                sample_seed=self.sample_seed, batch_size=4096, owner=owner,
            )
            if boundary:
                if self.features is None and (x.ndim < 2 or x[0].numel() != 2):
                    raise ValueError(f"{owner}: the training inputs must have 2 features like the network, got shape {tuple(x.shape)}.")
                points = head_inputs(pl_module, self.features, x, view, owner)[:, :2].cpu()
                self._points = (points, y)
        except (TypeError, ValueError) as err:
            error = err
        self._verify(trainer, pl_module, [view], x, error)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        if not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch + 1
        try:
            drawn = self.draw(pl_module, epoch)
        except NetworkStateError as err:  # training broke the network (NaN): no picture, and the run goes on
            rank_zero_warn(f"{type(self).__name__}: no pictures after epoch {epoch} ({err}).")
            return
        for name, path in drawn.items():
            self.saved_files.append(str(path))
            for logger in wandb_loggers(trainer):
                logger.log_image(key=f"plots/{name}", images=[str(path)], step=trainer.global_step, caption=[f"epoch {epoch}"])

    def figures(self, pl_module: LightningModule, epoch: int) -> dict[str, Figure]:
        """The figures of the network as it is now, by name (``"neurons"``, ``"decision_boundary"``)."""
        view = self.view(pl_module)
        w, u = view.w.cpu(), view.u.cpu()
        figures: dict[str, Figure] = {}
        if "neurons" in self.plots:
            figures["neurons"] = neuron_figure(w, u)
        if "decision_boundary" in self.plots and self._points is not None:
            x, y = self._points
            figures["decision_boundary"] = decision_boundary_figure(w, u, view.alpha, view.v, x, y, grid_size=self.grid_size)
        for figure in figures.values():
            figure.suptitle(f"epoch {epoch}", fontsize="small")
        return figures

    def draw(self, pl_module: LightningModule, epoch: int) -> dict[str, Path]:
        """Write the figures after ``epoch`` as PNG files; returns their paths by name."""
        if self._dir is None:
            raise RuntimeError(f"{type(self).__name__}: the output folder is set at the start of training; draw after it.")
        written: dict[str, Path] = {}
        for name, figure in self.figures(pl_module, epoch).items():
            written[name] = save_png(figure, self._dir / f"{name}_epoch{epoch:04d}.png", dpi=self.dpi)
            figure.clear()  # drawn without pyplot: nothing is registered; dropping the artists frees it
        return written

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"saved_files": list(self.saved_files)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.saved_files = [str(p) for p in state_dict.get("saved_files", [])]
