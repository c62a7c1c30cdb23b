"""What every analysing monitor shares: which sub-network it analyses, how, and its check before training."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lt_teacher._validation import all_finite, check_callable, check_int, check_train_data
from lt_teacher._batch import default_batch_to_xy
from lt_teacher.evaluation_data import BatchToXY
from lt_teacher.view import NetworkStateError, TwoLayerView, num_seeds, seed_views, two_layer_view

from ._verify import Features, OutputFn, decide_jointly, verify_network

NetworkFn = Callable[[LightningModule], nn.Module]


class AnalysedNetwork:
    """Mixin: ``network_fn``, ``features``, ``output_fn`` and ``batch_to_xy`` of a monitor, checked once.

    ``view``/``views`` give the analysed network in the form of Eq. (1); :meth:`_verify` ends the start of
    training: every process decides jointly on the error it met reading its data, then the network is
    verified against the module (:func:`~lt_teacher.callbacks._verify.verify_network`).
    """

    network_fn: NetworkFn | None
    _reread: bool  # EvaluationCallback's: read the data again at the next evaluation
    features: Features | None
    output_fn: OutputFn | None
    batch_to_xy: BatchToXY

    def _set_network_arguments(
        self,
        owner: str,
        *,
        batch_to_xy: BatchToXY | None,
        network_fn: NetworkFn | None,
        features: Features | None,
        output_fn: OutputFn | None,
    ) -> None:
        for name, fn in (("batch_to_xy", batch_to_xy), ("network_fn", network_fn), ("features", features), ("output_fn", output_fn)):
            check_callable(fn, name, owner=owner)
        self.batch_to_xy = batch_to_xy or default_batch_to_xy
        self.network_fn = network_fn
        self.features = features
        self.output_fn = output_fn

    def _set_training_data_arguments(self, owner: str, *, data: Mapping[str, Any] | None, sample_seed: int) -> None:
        """``data`` (only a ``"train"`` key) and the seed of the subset of training points, for the monitors
        that read every training point on every process (the PAR solution, the pictures)."""
        check_train_data(data, owner=owner)
        check_int(sample_seed, "sample_seed", minimum=0, owner=owner)
        self.data = data
        self.sample_seed = sample_seed

    def _network(self, pl_module: LightningModule) -> nn.Module:
        return self.network_fn(pl_module) if self.network_fn is not None else pl_module

    def view(self, pl_module: LightningModule, seed: int = 0) -> TwoLayerView:
        """The analysed network (one seed of it) in the form of Eq. (1)."""
        try:
            return two_layer_view(self._network(pl_module), seed)
        except (TypeError, ValueError) as err:
            raise _named(err, type(self).__name__) from err

    def views(self, pl_module: LightningModule) -> list[TwoLayerView]:
        """One view per seed of a module that trains several networks (``num_seeds``)."""
        try:
            network = self._network(pl_module)
            return [two_layer_view(network, s) for s in range(num_seeds(network))]
        except (TypeError, ValueError) as err:
            raise _named(err, type(self).__name__) from err

    def _start_views(self, trainer: Trainer, pl_module: LightningModule) -> list[TwoLayerView] | None:
        """The views the start of training reads the data with and verifies: every network at the start of a fit
        (a network that cannot be analysed is an error then); when resuming or continuing a fit, those that can be
        (a diverged network of a grid is NaN in the logs), or None when none can: the start is then retried at the
        next evaluation (``_reread``), which logs NaN until the network can be analysed again."""
        owner = type(self).__name__
        fresh = trainer.state.fn != TrainerFn.FITTING or (trainer.current_epoch == 0 and trainer.global_step == 0)
        try:
            every = seed_views(self._network(pl_module))
        except NetworkStateError as err:
            if fresh:
                raise _named(err, owner) from err
            rank_zero_warn(f"{owner}: the network cannot be analysed when training resumes ({err}); reading the data and "
                           "checking the network wait for the first evaluation where it can be.")
            self._reread = True
            return None
        views = [view for view in every if view is not None]
        if fresh and len(views) < len(every):
            broken = [s for s, view in enumerate(every) if view is None]
            raise NetworkStateError(f"{owner}: network(s) {broken} cannot be analysed at the start of training (NaN weights, "
                                    "or an empty neuron group): fix their initialization.")
        return views

    def _verify(
        self, trainer: Trainer, pl_module: LightningModule, views: Sequence[TwoLayerView], sample: Tensor | None,
        error: Exception | None,
    ) -> None:
        """Stop every process alike on a data error, then check that the view computes what the module computes
        (not when some network of the module cannot be analysed now: a resumed run whose network diverged)."""
        decide_jointly(trainer, error)
        network = self._network(pl_module)
        if not all(all_finite(p.detach()) for p in network.parameters() if p.is_floating_point()):
            rank_zero_warn(f"{type(self).__name__}: the network was not checked against the module at this start: some of "
                           "its networks cannot be analysed now (diverged).")
            return
        verify_network(
            trainer, pl_module, self._network(pl_module), list(views), sample, features=self.features,
            output_fn=self.output_fn, owner=type(self).__name__,
        )


def _named(err: Exception, owner: str) -> Exception:
    """``err`` (same class) with its message starting with the monitor's name, unless it already does."""
    message = str(err)
    return err if message.startswith(owner) else type(err)(f"{owner}: {message}")
