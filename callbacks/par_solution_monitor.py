"""PARSolutionMonitor: does the network agree with the solution of Eq. (7) (Theorem 6.2, Figures 3/4)?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from typing_extensions import override

from lt_teacher._validation import check_float, check_int, check_optional_int
from lt_teacher.evaluation_data import BatchToXY
from lt_teacher.functional.par_solution import par_solution_cosines
from lt_teacher.functional.par_svm import PARSolution, par_svm

from ._analysed_network import AnalysedNetwork, NetworkFn
from ._data import all_training_points
from ._evaluation_callback import EvaluationCallback
from ._verify import Features, OutputFn, head_inputs
from ._wandb import define_epoch_axis

__all__ = ["PARSolutionMonitor"]


class PARSolutionMonitor(AnalysedNetwork, EvaluationCallback):
    r"""Compares the learned network with the solution (w_svm, u_svm) of Eq. (7), epoch by epoch.

    Theorem 6.2: once gradient flow is in the PAR, the network converges to perfectly clustered
    neurons whose directions w_hat, u_hat are those of the solution (w_svm, u_svm) of the convex
    program of Eq. (7). Figures 3/4 show the learned boundary and neurons agreeing with it. At the
    start of training this callback solves Eq. (7) once with :func:`lt_teacher.functional.par_svm` on
    the training points (after :meth:`TwoLayerView.prepare_inputs`, so a first-layer bias is one more
    coordinate of w and u, supplementary 8.1); each evaluation then compares the network with it.

    Logged metrics (once per evaluation, against the epoch, to the loggers and ``trainer.callback_metrics``):

    ==================================  ==================================================================
    key                                 meaning
    ==================================  ==================================================================
    ``par_solution/cosine_w``           cos(w_bar, w_svm): mean w-neuron vs the Eq. (7) w-direction
    ``par_solution/cosine_u``           cos(u_bar, u_svm): mean u-neuron vs the Eq. (7) u-direction
    ``par_solution/cosine_direction``   cos(w_bar - u_bar, w_svm - u_svm): Theorem 5.1's linear classifier
                                        (:func:`~lt_teacher.functional.clustering.linear_direction`) vs the
                                        boundary Eq. (7) predicts (the green arrow of Figure 3a)
    ``par_solution/min_cosine_w``       min over w-neurons of cos(w_i, w_svm) (every neuron, Figure 3b)
    ``par_solution/min_cosine_u``       min over u-neurons of cos(u_i, u_svm)
    ==================================  ==================================================================

    All values lie in [-1, 1] and tend to 1 when the network converges to the PAR solution. A vector
    of norm 0 has no direction: its cosine is defined as 0. :attr:`history` keeps every value in
    float64 and is saved in checkpoints; :attr:`solution` holds the :class:`PARSolution`.

    Distributed training: every process reads *all* training points (``make_source`` with
    ``world_size=1``, not a shard), solves the same problem and computes identical values, so every
    rank publishes the same keys and values.

    Cost: Eq. (7) is a hard-margin SVM in 2d' variables with one constraint per point, solved by NNLS
    once per run (and again after a resume); for many points or wide inputs this is the slow
    monitor. It is off by default in the configs; ``max_samples`` caps the points (the PAR
    solution of a subset is then the reference).

    Args:
        every_n_epochs: evaluate after every n-th training epoch.
        max_samples: use at most this many training points (a fixed, seeded subset); None: all.
        data: optional ``{"train": (x, y) | Dataset | DataLoader}`` instead of the trainer's training data.
        batch_to_xy: turns a batch into ``(x, y)``; default: tuples ``(x, y, ...)`` and dicts with x/y keys.
        network_fn: returns the two-layer sub-module of the LightningModule to analyse.
        batch_size: batch size when reading the training points.
        sample_seed: seed of the ``max_samples`` subset.
        tol: KKT tolerance the Eq. (7) solution must meet (see :func:`par_svm`).
        features: ``features(module, x)`` maps inputs to the inputs of the analysed two-layer head; Eq. (7) is
            then solved once on the features at the start of training (see :class:`LinearTeacherMonitor`).
        output_fn: how to obtain the module's logit for the network check (see :class:`LinearTeacherMonitor`).

    Raises:
        ValueError: an argument is out of range (at construction); the network or the data do not fit,
            or the data are not separable in the PAR features (at the start of training).
        TypeError: ``data`` is not a mapping, or ``batch_to_xy``/``network_fn`` is not callable.
        RuntimeError: the Eq. (7) solver did not reach ``tol``.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[PARSolutionMonitor(every_n_epochs=10)], logger=False)  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        data: Mapping[str, Any] | None = None,
        batch_to_xy: BatchToXY | None = None,
        network_fn: NetworkFn | None = None,
        *,
        batch_size: int = 4096,
        sample_seed: int = 0,
        tol: float = 1e-6,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_int(every_n_epochs, "every_n_epochs", minimum=1, owner=owner)
        check_int(batch_size, "batch_size", minimum=1, owner=owner)
        check_optional_int(max_samples, "max_samples", minimum=1, owner=owner)
        self._set_network_arguments(owner, batch_to_xy=batch_to_xy, network_fn=network_fn, features=features, output_fn=output_fn)
        self._set_training_data_arguments(owner, data=data, sample_seed=sample_seed)
        if not 0.0 < check_float(tol, "tol", owner=owner) < 1.0:
            raise ValueError(f"{owner}: `tol` must be a number in (0, 1), got {tol!r}.")
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self.batch_size = batch_size
        self.tol = float(tol)
        self.solution: PARSolution | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(max_samples=self.max_samples, sample_seed=self.sample_seed)

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.view(pl_module)  # fails now, not after training, if the structure is unsupported
        define_epoch_axis(trainer, ["par_solution"])

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        owner = type(self).__name__
        views = self._start_views(trainer, pl_module)
        if views is None:
            return
        view = views[0]
        error: Exception | None = None
        x_raw: Tensor | None = None
        try:
            x_raw, y = all_training_points(
                trainer, self.data, self.batch_to_xy, max_samples=self.max_samples, sample_seed=self.sample_seed,
                batch_size=self.batch_size, owner=owner,
            )
            try:
                x = torch.cat([
                    head_inputs(pl_module, self.features, x_raw[i : i + self.batch_size], view, owner).cpu()
                    for i in range(0, x_raw.shape[0], self.batch_size)
                ])
            except ValueError as err:
                raise ValueError(f"{owner}: the training data does not fit the network: {err}") from err
        except (TypeError, ValueError) as err:
            error = err
        self._verify(trainer, pl_module, [view], x_raw, error)
        try:
            self.solution = par_svm(x, y, view.alpha, tol=self.tol)
        except ValueError as err:
            raise ValueError(f"{owner}: cannot solve Eq. (7) on the training points: {err}") from err

    @override
    @torch.no_grad()
    def compute(self, pl_module: LightningModule) -> dict[str, float]:
        """One evaluation: every key of the table as a float64 Python float, identical on every process."""
        if self.solution is None:
            raise RuntimeError(f"{type(self).__name__}: Eq. (7) is solved at the start of training; call `compute` after it.")
        view = self.view(pl_module)
        cosines = par_solution_cosines(view.w.cpu(), view.u.cpu(), self.solution)
        return {f"par_solution/{name}": value for name, value in cosines._asdict().items()}
